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
use crate::domain::{
    task::{etag_at, etag_of},
    to_micros,
};

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
    let payload = new.event.encode_to_vec();
    let data_json = json_of(&payload, &new.event.event_id)?;
    Ok(model(topic, new, payload, data_json))
}

/// [`row`] of `new` for a statement that allocates the revision: the
/// protobuf without the event's revision fields (`TaskEvent.revision`, and
/// the snapshot's `revision` and `etag`), which the statement appends
/// (`task_event_revised`, migration m20261202_000001); the JSON with
/// [`REVISION_MARK`] where the revision goes, which the statement replaces.
pub fn row_without_revision(topic: &str, mut new: NewEvent) -> Result<outbox::ActiveModel, DbErr> {
    set_revision(&mut new.event, UNREVISED);
    let mut json = json_of(&new.event.encode_to_vec(), &new.event.event_id)?;
    for (unrevised, marked) in &*MARKS {
        if !json.contains(unrevised.as_str()) {
            return Err(DbErr::Custom(format!("event {}: no {unrevised} in its JSON", new.event.event_id)));
        }
        json = json.replace(unrevised, marked);
    }
    set_revision(&mut new.event, 0);
    let payload = new.event.encode_to_vec();
    Ok(model(topic, new, payload, json))
}

/// Where the JSON of an event stored by [`row_without_revision`] takes its
/// revision: a control character, which JSON text never holds unescaped.
pub const REVISION_MARK: char = '\u{1}';

/// The revision such an event is encoded with first, to find its places in
/// the JSON: no write gives it (revisions start at 1), and no user text can
/// produce `"revision":"<it>"`, whose quotes a string's JSON escapes.
const UNREVISED: i64 = i64::MIN;

/// The JSON members that hold [`UNREVISED`] (the revisions, as proto3 JSON
/// writes an int64, and the etag, the quoted revision), and the same with
/// the mark.
static MARKS: std::sync::LazyLock<[(String, String); 2]> = std::sync::LazyLock::new(|| {
    // The etag is a string holding quotes, which its JSON escapes.
    let revision = |r: &str| format!("\"revision\":\"{r}\"");
    let etag = |r: &str| format!("\"etag\":\"{}\"", etag_of(r).replace('"', "\\\""));
    let (unrevised, mark) = (UNREVISED.to_string(), REVISION_MARK.to_string());
    [(revision(&unrevised), revision(&mark)), (etag(&unrevised), etag(&mark))]
});

/// The event's revision fields (the snapshot's etag is its quoted revision;
/// 0 clears them all).
fn set_revision(event: &mut pb::TaskEvent, revision: i64) {
    event.revision = revision;
    if let Some(task) = event.task.as_mut() {
        task.revision = revision;
        task.etag = if revision == 0 { String::new() } else { etag_at(revision) };
    }
}

fn json_of(payload: &[u8], event_id: &str) -> Result<String, DbErr> {
    let json =
        json::encoded_to_raw::<pb::TaskEvent>(payload).map_err(|e| DbErr::Custom(format!("event {event_id}: {e}")))?;
    Ok(json.get().to_owned())
}

fn model(topic: &str, new: NewEvent, payload: Vec<u8>, data_json: String) -> outbox::ActiveModel {
    let NewEvent { event, event_type, traceparent } = new;
    outbox::ActiveModel {
        id: NotSet,
        create_time: Set(event.occur_time.as_ref().and_then(date_time).map_or(0, to_micros)),
        event_id: Set(event.event_id),
        event_type: Set(event_type.to_owned()),
        topic: Set(topic.to_owned()),
        user_id: Set(event.user_id),
        task_id: Set(event.task_id),
        revision: Set(event.revision),
        payload: Set(payload),
        data_json: Set(Some(data_json)),
        traceparent: Set(traceparent),
        publish_time: Set(None),
        quarantine_time: Set(None),
        quarantine_reason: Set(None),
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
