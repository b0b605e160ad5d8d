//! CreateTask on PostgreSQL in one statement: the user's next revision, the
//! task and its event in one round trip, where a transaction takes five
//! (BEGIN, revision, task, event, COMMIT). A statement is a transaction of
//! its own, so the guarantees are the same: all three rows or none, and the
//! lock on the user's revision row orders that user's writes.
//!
//! The revision is known only inside the statement, so the event comes
//! without it and the statement adds it: appended to the protobuf
//! (`task_event_revised`, migration m20261202_000001), in place of the marks
//! in the JSON (`outbox::row_without_revision`).
//! Tasks with tags, and SQLite (no data-modifying CTEs), take the
//! transaction instead.

use std::sync::LazyLock;

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, IdenStatic, Iterable, ModelTrait, Statement, Value,
};

use super::{
    entities::{outbox, tasks},
    tasks::to_row,
};
use crate::domain::task::Task;

/// Writes `task` (its revision ignored) and `event` (the outbox row of its
/// event without the revision, `outbox::row_without_revision`) and returns
/// the revision they were given. A repeated request id fails with a unique
/// violation, as the transaction's insert does.
pub async fn insert_with_event(
    conn: &impl ConnectionTrait,
    task: &Task,
    request_id: Option<&str>,
    event: outbox::ActiveModel,
) -> Result<i64, DbErr> {
    let mut row = to_row(task)?;
    row.create_request_id = request_id.map(str::to_owned);
    let mut values: Vec<Value> = vec![task.user.as_str().into()];
    values.extend(tasks::Column::iter().filter(|c| !matches!(c, tasks::Column::Revision)).map(|c| row.get(c)));
    values.extend(event_values(&event, outbox_columns().filter(|c| !matches!(c, outbox::Column::Revision)))?);
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, &*SQL, values);
    let written = conn.query_one(statement).await?;
    written.ok_or_else(|| DbErr::RecordNotInserted)?.try_get("", "revision")
}

/// The outbox columns a row writes (the id is the database's).
pub(super) fn outbox_columns() -> impl Iterator<Item = outbox::Column> {
    outbox::Column::iter().filter(|c| !matches!(c, outbox::Column::Id))
}

/// The values of `event`'s `columns`, each of which must be set.
pub(super) fn event_values(
    event: &outbox::ActiveModel,
    columns: impl Iterator<Item = outbox::Column>,
) -> Result<Vec<Value>, DbErr> {
    columns
        .map(|column| {
            let value = event.get(column).into_value();
            value.ok_or_else(|| DbErr::Custom(format!("outbox column {} not set", column.as_str())))
        })
        .collect()
}

/// The placeholders after `$1`, one a call: `$2`, `$3`, …
pub(super) fn placeholders_after_first() -> impl FnMut() -> String {
    let mut next = 1;
    move || {
        next += 1;
        format!("${next}")
    }
}

/// `$1` the user; then every task column but the revision, in the entity's
/// order; then every outbox column but the revision, likewise.
static SQL: LazyLock<String> = LazyLock::new(|| {
    let mut param = placeholders_after_first();
    let (mut task_columns, mut task_values) = (Vec::new(), Vec::new());
    for column in tasks::Column::iter() {
        task_columns.push(column.as_str().to_owned());
        task_values.push(match column {
            tasks::Column::Revision => "revision.revision".to_owned(),
            _ => param(),
        });
    }
    let (mut event_columns, mut event_values) = (Vec::new(), Vec::new());
    for column in outbox_columns() {
        event_columns.push(column.as_str().to_owned());
        event_values.push(match column {
            outbox::Column::Revision => "task.revision".to_owned(),
            outbox::Column::Payload => format!("task_event_revised({}, task.revision)", param()),
            outbox::Column::DataJson => {
                format!("replace({}, chr({}), task.revision::text)", param(), u32::from(super::outbox::REVISION_MARK))
            }
            _ => param(),
        });
    }
    format!(
        "WITH revision AS (INSERT INTO user_revisions (user_id, revision) VALUES ($1, 1) \
           ON CONFLICT (user_id) DO UPDATE SET revision = user_revisions.revision + 1 RETURNING revision), \
         task AS (INSERT INTO tasks ({}) SELECT {} FROM revision RETURNING revision) \
         INSERT INTO outbox ({}) SELECT {} FROM task RETURNING revision",
        task_columns.join(", "),
        task_values.join(", "),
        event_columns.join(", "),
        event_values.join(", "),
    )
});
