//! Persistence with sea-orm, on PostgreSQL or SQLite.
//!
//! Every mutation runs in one transaction that (1) takes the user's next
//! revision, which also serialises that user's writes, (2) writes the
//! change and (3) appends its event to the outbox. Either all three commit
//! or none does.

pub mod entities;
pub mod outbox;
pub mod tags;
pub mod tasks;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement};
use shared::auth::UserId;

/// Connects to `url` (`postgres://…` or `sqlite://…`).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false).connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // One writer at a time is all SQLite does; a small pool avoids busy waits.
        options.max_connections(if url.contains(":memory:") { 1 } else { 4 });
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers run beside the writer; busy_timeout queues writers.
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;").await?;
    }
    Ok(db)
}

/// Increments and returns `user`'s change counter. Call it first in a write
/// transaction: the row it locks orders that user's concurrent writes.
pub async fn next_revision(conn: &impl ConnectionTrait, user: &UserId) -> Result<i64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO user_revisions (user_id, revision) VALUES ($1, 1) \
             ON CONFLICT (user_id) DO UPDATE SET revision = user_revisions.revision + 1 RETURNING revision"
        }
        _ => {
            "INSERT INTO user_revisions (user_id, revision) VALUES (?, 1) \
             ON CONFLICT (user_id) DO UPDATE SET revision = user_revisions.revision + 1 RETURNING revision"
        }
    };
    let row = conn
        .query_one(Statement::from_sql_and_values(backend, sql, [user.as_str().into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("user_revisions RETURNING gave no row".into()))?;
    row.try_get("", "revision")
}

/// Whether `err` is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
