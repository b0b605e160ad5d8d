//! The transactional outbox: each change's event, appended in the same
//! transaction as the change. Publishing the rows through Dapr is the relay's job.

use prost::Message;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use shared::{
    auth::UserId,
    proto::{json, time::date_time, todo::task::v1 as pb},
};

use super::entities::outbox;
use crate::domain::to_micros;

/// One event to append, as the service built it from the change it made.
pub struct NewEvent {
    pub event: pb::TaskEvent,
    /// e.g. `todo.task.completed.v1`.
    pub event_type: &'static str,
    /// The W3C trace context of the request that made the change.
    pub traceparent: Option<String>,
}

/// Appends `new` to the outbox (in the caller's transaction, beside the
/// change itself).
pub async fn append(conn: &impl ConnectionTrait, topic: &str, new: NewEvent) -> Result<(), DbErr> {
    // Nothing is read back: RETURNING the row would send its payload back too.
    outbox::Entity::insert(row(topic, new)?).exec_without_returning(conn).await?;
    Ok(())
}

/// `new` as its outbox row: every column but the id set. Both forms of the
/// event are encoded once, here: the feed serves the protobuf, the relay
/// publishes the JSON as it is.
pub fn row(topic: &str, new: NewEvent) -> Result<outbox::ActiveModel, DbErr> {
    let NewEvent { event, event_type, traceparent } = new;
    let payload = event.encode_to_vec();
    let data_json = json::encoded_to_raw::<pb::TaskEvent>(&payload)
        .map_err(|e| DbErr::Custom(format!("event {}: {e}", event.event_id)))?;
    Ok(outbox::ActiveModel {
        id: NotSet,
        create_time: Set(event.occur_time.as_ref().and_then(date_time).map_or(0, to_micros)),
        event_id: Set(event.event_id),
        event_type: Set(event_type.to_owned()),
        topic: Set(topic.to_owned()),
        user_id: Set(event.user_id),
        task_id: Set(event.task_id),
        revision: Set(event.revision),
        payload: Set(payload),
        data_json: Set(Some(data_json.get().to_owned())),
        traceparent: Set(traceparent),
        publish_time: Set(None),
        quarantine_time: Set(None),
        quarantine_reason: Set(None),
    })
}

/// [`row`] of `new` without the event's revision fields (`TaskEvent.revision`,
/// and the snapshot's `revision` and `etag`), for a statement that allocates
/// the revision and adds them (`task_event_revised` and
/// `task_event_json_revised`, migration m20261202_000001).
pub fn row_without_revision(topic: &str, mut new: NewEvent) -> Result<outbox::ActiveModel, DbErr> {
    new.event.revision = 0;
    if let Some(task) = new.event.task.as_mut() {
        task.revision = 0;
        task.etag.clear();
    }
    row(topic, new)
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
