//! The transactional outbox: each change's event, appended in the same
//! transaction as the change. Publishing the rows through Dapr is the relay's job.

use chrono::{DateTime, Utc};
use prost::Message;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use shared::auth::UserId;

use super::entities::outbox;
use crate::{
    convert,
    domain::{
        task::{Change, Task},
        to_micros,
    },
};

/// Appends the event of `change` to `task` (already applied) and returns its id.
pub async fn append(
    conn: &impl ConnectionTrait,
    topic: &str,
    task: &Task,
    change: &Change,
    now: DateTime<Utc>,
    traceparent: Option<String>,
) -> Result<String, DbErr> {
    let event_id = uuid::Uuid::now_v7().to_string();
    let event = convert::task_event(&event_id, task, change, now);
    outbox::ActiveModel {
        event_id: Set(event_id.clone()),
        event_type: Set(change.event_type().to_owned()),
        topic: Set(topic.to_owned()),
        user_id: Set(task.user.as_str().to_owned()),
        task_id: Set(task.id.as_stored()),
        revision: Set(task.revision),
        payload: Set(event.encode_to_vec()),
        traceparent: Set(traceparent),
        create_time: Set(to_micros(now)),
        publish_time: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(event_id)
}

/// Encoded events of `user` with a revision above `after`, oldest first.
/// The outbox keeps published rows, so it doubles as the change feed.
pub async fn after_revision(
    conn: &impl ConnectionTrait,
    user: &UserId,
    after: i64,
    limit: u64,
) -> Result<(Vec<Vec<u8>>, bool), DbErr> {
    let mut rows: Vec<Vec<u8>> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Payload)
        .filter(outbox::Column::UserId.eq(user.as_str()))
        .filter(outbox::Column::Revision.gt(after))
        .order_by_asc(outbox::Column::Revision)
        .limit(limit + 1)
        .into_tuple()
        .all(conn)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}
