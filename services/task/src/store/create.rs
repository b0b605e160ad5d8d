//! CreateTask on PostgreSQL in one statement: the user's next revision, the
//! task and its event in one round trip, where a transaction takes five
//! (BEGIN, revision, task, event, COMMIT). A statement is a transaction of
//! its own, so the guarantees are the same: all three rows or none, and the
//! lock on the user's revision row orders that user's writes.
//!
//! The revision is known only inside the statement, so the event is stored
//! without it and the statement adds it (see migration m20261202_000001).
//! Tasks with tags, and SQLite (no data-modifying CTEs), take the
//! transaction instead.

use std::sync::LazyLock;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, IdenStatic, Iterable, ModelTrait, Statement, Value};

use super::{entities::tasks, outbox::Encoded, tasks::to_row};
use crate::domain::task::Task;

/// Writes `task` (its revision ignored) and `event` (encoded without its
/// revision) and returns the revision they were given. A repeated request
/// id fails with a unique violation, as the transaction's insert does.
pub async fn insert_with_event(
    conn: &impl ConnectionTrait,
    task: &Task,
    request_id: Option<&str>,
    topic: &str,
    event: Encoded,
) -> Result<i64, DbErr> {
    let mut row = to_row(task)?;
    row.create_request_id = request_id.map(str::to_owned);
    let mut values: Vec<Value> = vec![task.user.as_str().into()];
    values.extend(tasks::Column::iter().filter(|c| !is_revision(*c)).map(|c| row.get(c)));
    values.extend([
        event.event_id.into(),
        event.event_type.into(),
        topic.into(),
        event.user_id.into(),
        event.task_id.into(),
        event.payload.into(),
        event.data_json.into(),
        event.traceparent.into(),
        event.create_time.into(),
    ]);
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, &*SQL, values);
    let written = conn.query_one(statement).await?;
    written.ok_or_else(|| DbErr::RecordNotInserted)?.try_get("", "revision")
}

/// `$1` the user; then every task column but the revision, in the entity's
/// order; then the event's columns.
static SQL: LazyLock<String> = LazyLock::new(|| {
    let mut next = 1;
    let mut param = || {
        next += 1;
        format!("${next}")
    };
    let (mut columns, mut task_values) = (Vec::new(), Vec::new());
    for column in tasks::Column::iter() {
        columns.push(column.as_str().to_owned());
        task_values.push(if is_revision(column) { "revision.revision".to_owned() } else { param() });
    }
    let [event_id, event_type, topic, user_id, task_id, payload, json, traceparent, create_time] =
        std::array::from_fn(|_| param());
    format!(
        "WITH revision AS (INSERT INTO user_revisions (user_id, revision) VALUES ($1, 1) \
           ON CONFLICT (user_id) DO UPDATE SET revision = user_revisions.revision + 1 RETURNING revision), \
         task AS (INSERT INTO tasks ({columns}) SELECT {task_values} FROM revision RETURNING revision) \
         INSERT INTO outbox (event_id, event_type, topic, user_id, task_id, revision, payload, data_json, \
           traceparent, create_time, publish_time) \
         SELECT {event_id}, {event_type}, {topic}, {user_id}, {task_id}, task.revision, \
           task_event_revised({payload}, task.revision), task_event_json_revised({json}, task.revision), \
           {traceparent}, {create_time}, NULL FROM task \
         RETURNING revision",
        columns = columns.join(", "),
        task_values = task_values.join(", "),
    )
});

fn is_revision(column: tasks::Column) -> bool {
    matches!(column, tasks::Column::Revision)
}
