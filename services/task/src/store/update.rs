//! A task mutation's two writes on PostgreSQL in one statement: the task row
//! and its event, where separate statements take two round trips. It runs
//! in the mutation's transaction after the user's revision is taken (its
//! row lock orders that user's writes) and the task is read. Taking the
//! revision and reading the task stay two statements: one statement would
//! read the task as it was when the statement began, before waiting for
//! the lock, and miss a write committed meanwhile.
//! A change of tags, and SQLite, write the task and the event apart.

use std::sync::LazyLock;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, IdenStatic, Iterable, ModelTrait, Statement, Value};

use super::{
    create::{event_values, outbox_columns, placeholders_after_first},
    entities::{outbox, tasks},
    tasks::to_row,
};
use crate::domain::task::Task;

/// Writes every column of `task` (but its id and request id) and appends
/// `event` (a complete outbox row, `outbox::row`).
pub async fn update_with_event(
    conn: &impl ConnectionTrait,
    task: &Task,
    event: outbox::ActiveModel,
) -> Result<(), DbErr> {
    let row = to_row(task)?;
    let mut values: Vec<Value> = vec![row.id.clone().into()];
    values.extend(updated_columns().map(|c| row.get(c)));
    values.extend(event_values(&event, outbox_columns())?);
    let written = conn.execute(Statement::from_sql_and_values(DbBackend::Postgres, &*SQL, values)).await?;
    // The caller read the task under the revision lock: it is there.
    match written.rows_affected() {
        1 => Ok(()),
        _ => Err(DbErr::RecordNotUpdated),
    }
}

/// The task columns a mutation writes.
fn updated_columns() -> impl Iterator<Item = tasks::Column> {
    tasks::Column::iter().filter(|c| !matches!(c, tasks::Column::Id | tasks::Column::CreateRequestId))
}

/// `$1` the task id; then each of [`updated_columns`]; then every outbox
/// column, in the entity's order.
static SQL: LazyLock<String> = LazyLock::new(|| {
    let mut param = placeholders_after_first();
    let assignments: Vec<String> = updated_columns().map(|c| format!("{} = {}", c.as_str(), param())).collect();
    let event_columns: Vec<String> = outbox_columns().map(|c| c.as_str().to_owned()).collect();
    let event_values: Vec<String> = outbox_columns().map(|_| param()).collect();
    format!(
        "WITH task AS (UPDATE tasks SET {} WHERE id = $1 RETURNING id) INSERT INTO outbox ({}) SELECT {} FROM task",
        assignments.join(", "),
        event_columns.join(", "),
        event_values.join(", "),
    )
});
