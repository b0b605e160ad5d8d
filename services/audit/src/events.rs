//! The audit subscription: every event on the task topic, recorded once.

use chrono::Utc;
use sea_orm::DatabaseConnection;
use shared::{
    Error,
    dapr::{Event, Subscription},
    proto::{json, todo::task::v1 as pb},
};

use crate::store::{self, Appended, NewEntry};

/// Subscribes to `topic` with a catch-all route: the audit log keeps every
/// event type, including ones newer than this build (stored as received).
pub fn subscription(db: DatabaseConnection, pubsub: &str, topic: &str, dead_letter: &str) -> Subscription {
    Subscription::new(pubsub, topic).dead_letter(dead_letter).default_route("audit", &[], move |event: Event| {
        let db = db.clone();
        async move { record(&db, event).await }
    })
}

async fn record(db: &DatabaseConnection, event: Event) -> Result<(), Error> {
    let task_event: pb::TaskEvent = event.decode()?;
    if task_event.user_id.is_empty() || task_event.event_id.is_empty() {
        return Err(Error::malformed(format!("event {} has no user or event id", event.id)));
    }
    // Re-serialised canonically, so the stored form (and its hash) does not
    // depend on the transport's whitespace or key order.
    let event_json = json::to_value(&task_event)
        .map(|v| v.to_string())
        .map_err(|e| Error::malformed_by(format!("event {} cannot be re-encoded", event.id), e))?;
    let occur_time = task_event
        .occur_time
        .map(|t| t.seconds.saturating_mul(1_000_000) + i64::from(t.nanos / 1000))
        .unwrap_or_default();
    let entry = NewEntry {
        user_id: task_event.user_id.clone(),
        event_id: task_event.event_id.clone(),
        event_type: event.event_type.clone(),
        task_id: task_event.task_id.clone(),
        revision: task_event.revision,
        occur_time,
        record_time: Utc::now().timestamp_micros(),
        event_json,
    };
    match store::append(db, &entry).await {
        Ok(Appended::New { sequence }) => {
            tracing::debug!(user = %entry.user_id, sequence, event_id = %entry.event_id, "audited");
            Ok(())
        }
        Ok(Appended::Duplicate) => {
            tracing::debug!(event_id = %entry.event_id, "already audited: redelivery ignored");
            Ok(())
        }
        Err(err) => Err(Error::unavailable(format!("the audit store (recording event {})", entry.event_id), err)),
    }
}
