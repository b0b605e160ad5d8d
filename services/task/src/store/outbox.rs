//! The transactional outbox: each change's event, appended in the same
//! transaction as the change. Publishing the rows through Dapr is the relay's job.

use prost::Message;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
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
    let encoded = Encoded::of(new)?;
    let row = outbox::ActiveModel {
        event_id: Set(encoded.event_id),
        event_type: Set(encoded.event_type.to_owned()),
        topic: Set(topic.to_owned()),
        user_id: Set(encoded.user_id),
        task_id: Set(encoded.task_id),
        revision: Set(encoded.revision),
        payload: Set(encoded.payload),
        data_json: Set(Some(encoded.data_json)),
        traceparent: Set(encoded.traceparent),
        create_time: Set(encoded.create_time),
        publish_time: Set(None),
        ..Default::default()
    };
    // Nothing is read back: RETURNING the row would send its payload back too.
    outbox::Entity::insert(row).exec_without_returning(conn).await?;
    Ok(())
}

/// An event as an outbox row stores it. Both forms are encoded once, here:
/// the feed serves the protobuf, the relay publishes the JSON as it is.
pub struct Encoded {
    pub event_id: String,
    pub event_type: &'static str,
    pub user_id: String,
    pub task_id: String,
    pub revision: i64,
    pub payload: Vec<u8>,
    pub data_json: String,
    pub traceparent: Option<String>,
    pub create_time: i64,
}

impl Encoded {
    pub fn of(new: NewEvent) -> Result<Self, DbErr> {
        let NewEvent { event, event_type, traceparent } = new;
        let payload = event.encode_to_vec();
        let data_json = json::encoded_to_raw::<pb::TaskEvent>(&payload)
            .map_err(|e| DbErr::Custom(format!("event {}: {e}", event.event_id)))?
            .get()
            .to_owned();
        Ok(Self {
            create_time: event.occur_time.as_ref().and_then(date_time).map_or(0, to_micros),
            event_id: event.event_id,
            event_type,
            user_id: event.user_id,
            task_id: event.task_id,
            revision: event.revision,
            payload,
            data_json,
            traceparent,
        })
    }

    /// `new` without its revision fields (`TaskEvent.revision`, and the
    /// snapshot's `revision` and `etag`), for a statement that allocates the
    /// revision and adds them (`task_event_revised` and
    /// `task_event_json_revised`, migration m20261202_000001).
    pub fn without_revision(mut new: NewEvent) -> Result<Self, DbErr> {
        new.event.revision = 0;
        if let Some(task) = new.event.task.as_mut() {
            task.revision = 0;
            task.etag.clear();
        }
        Self::of(new)
    }
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
