//! `migrate`: applies or reverts every service's schema.
//!
//! ```text
//! DATABASE_URL=postgres://... migrate up        # apply pending migrations
//! DATABASE_URL=postgres://... migrate down [N]  # revert the last N (default 1)
//! DATABASE_URL=postgres://... migrate status    # list applied / pending
//! ```
//! The Helm chart runs `migrate up` as a pre-install/pre-upgrade hook.

use anyhow::{Context, bail};
use migrations::MigratorTrait;
use sea_orm_migration::sea_orm::Database;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL must be set")?;
    let db = Database::connect(&url).await.context("cannot connect to DATABASE_URL")?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["up"] | [] => migrations::task::Migrator::up(&db, None).await?,
        ["down"] => migrations::task::Migrator::down(&db, Some(1)).await?,
        ["down", n] => migrations::task::Migrator::down(&db, Some(n.parse().context("N must be a number")?)).await?,
        ["status"] => migrations::task::Migrator::status(&db).await?,
        _ => bail!("usage: migrate [up | down [N] | status]"),
    }
    Ok(())
}
