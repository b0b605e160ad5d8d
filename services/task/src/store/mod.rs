//! Persistence with sea-orm, on PostgreSQL or SQLite.
//!
//! Every mutation runs in one transaction that (1) takes the user's next
//! revision, which also serialises that user's writes, (2) writes the
//! change and (3) appends its event to the outbox. Either all three commit
//! or none does. On PostgreSQL a create without tags is that transaction as
//! a single statement ([`create`]); everything else is BEGIN … COMMIT, in
//! which a mutation that leaves the tags alone writes the task and its event
//! in one statement ([`update`]).

pub mod create;
pub mod entities;
mod list;
pub mod outbox;
pub mod reads;
pub mod tags;
pub mod tasks;
pub mod update;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use shared::auth::UserId;
pub use shared::db::{connect, is_unique_violation};

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
