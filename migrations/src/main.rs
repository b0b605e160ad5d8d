//! `migrate`: applies or reverts every service's schema.
//!
//! ```text
//! DATABASE_URL=postgres://... migrate up        # apply pending migrations
//! DATABASE_URL=postgres://... migrate down [N]  # revert the last N (default 1)
//! DATABASE_URL=postgres://... migrate status    # list applied / pending
//! ```
//! `SERVICE=task` (or `audit`) limits it to one service's schema. The Helm
//! chart runs `migrate up` as a pre-install/pre-upgrade hook.

use anyhow::{Context, bail};
use migrations::MigratorTrait;
use sea_orm_migration::sea_orm::Database;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL must be set")?;
    let db = Database::connect(&url).await.context("cannot connect to DATABASE_URL")?;
    // Each service's schema has its own history table; SERVICE picks one
    // (the Helm job of each service sets it), default: all of them.
    let service = std::env::var("SERVICE").unwrap_or_default();
    let all = service.is_empty();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if all || service == "task" {
        run::<migrations::task::Migrator>(&db, &args).await?;
    }
    if all || service == "audit" {
        run::<migrations::audit::Migrator>(&db, &args).await?;
    }
    if all || service == "notification" {
        run::<migrations::notification::Migrator>(&db, &args).await?;
    }
    Ok(())
}

async fn run<M: MigratorTrait>(
    db: &sea_orm_migration::sea_orm::DatabaseConnection,
    args: &[&str],
) -> anyhow::Result<()> {
    match args {
        ["up"] | [] => M::up(db, None).await?,
        ["down"] => M::down(db, Some(1)).await?,
        ["down", n] => M::down(db, Some(n.parse().context("N must be a number")?)).await?,
        ["status"] => M::status(db).await?,
        _ => bail!("usage: [SERVICE=task|audit] migrate [up | down [N] | status]"),
    }
    Ok(())
}
