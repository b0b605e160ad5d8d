//! A reminder job fired: publish `reminder.due`, once.
//!
//! 1. Decode the job data (undecodable: logged and acknowledged — it can
//!    never succeed).
//! 2. Read the task's state. If it is behind the job's revision, the event
//!    that scheduled the job is still being applied: transient, so the
//!    scheduler retries (UNAVAILABLE; never NOT_FOUND, which daprd counts
//!    as delivered).
//! 3. If the task is no longer active or the reminder's fire time is no
//!    longer the job's, the job is stale (its cancellation raced with the
//!    firing): acknowledged, nothing published.
//! 4. The event id is derived from task, reminder and fire time
//!    ([`crate::domain::event_id`]). If a fired marker for it exists the
//!    reminder was published before: nothing more. Otherwise publish
//!    (partition key = user id), then record the marker.
//!
//! A crash between publishing and recording, or two replicas firing the
//! same job at once, can publish twice — with the same event id, which
//! consumers deduplicate on.

use chrono::{SecondsFormat, Utc};
use dapr::dapr::proto::runtime::v1::JobEventRequest;
use shared::{
    Error,
    dapr::OutgoingEvent,
    error::Outcome,
    proto::{
        json,
        time::{date_time, timestamp},
        todo::{reminder::v1 as pb, task::v1 as task_pb},
    },
};

use crate::{App, domain, jobs};

/// What one firing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    Published { event_id: String },
    AlreadyPublished { event_id: String },
    Stale,
}

/// Registers the reminder counters at 0, so that the first failure after a
/// start shows as an increase (what the alerts look for).
pub fn register_metrics() {
    for kind in ["transient", "permanent"] {
        metrics::counter!("tasks_reminder_failures_total", "kind" => kind).increment(0);
    }
    metrics::counter!("tasks_reminders_fired_total").increment(0);
}

/// Handles a fired job (see the module docs), counting the failures
/// (`tasks_reminder_failures_total{kind}`).
pub async fn on_job(app: &App, request: JobEventRequest) -> Result<Fired, Error> {
    let result = fire(app, request).await;
    if let Err(err) = &result {
        let kind = if err.outcome() == Outcome::Retry { "transient" } else { "permanent" };
        metrics::counter!("tasks_reminder_failures_total", "kind" => kind).increment(1);
    }
    result
}

async fn fire(app: &App, request: JobEventRequest) -> Result<Fired, Error> {
    let job = jobs::decode(request.data.as_ref())?;
    let fire_time = job
        .fire_time
        .as_ref()
        .and_then(date_time)
        .ok_or_else(|| Error::malformed("the job's fire time is out of range"))?;
    let state = match app.dapr.load(&job.task_id).await?.state {
        Some(state) if state.revision >= job.revision => state,
        _ => {
            let what = format!("the reminder state of task {} at revision {}", job.task_id, job.revision);
            return Err(Error::unavailable(what, "not written yet"));
        }
    };
    if !state.active || state.fire_time_of(&job.reminder_id) != Some(fire_time) {
        tracing::info!(job = %request.name, "stale reminder job (task done, deleted or reminder changed): ignored");
        return Ok(Fired::Stale);
    }
    let event_id = domain::event_id(&job.task_id, &job.reminder_id, fire_time);
    if app.dapr.already_fired(&event_id).await? {
        tracing::info!(job = %request.name, %event_id, "reminder already published: not again");
        return Ok(Fired::AlreadyPublished { event_id });
    }
    let now = Utc::now();
    let due: Option<task_pb::Due> =
        state.due.as_ref().and_then(|d| serde_json::to_vec(d).ok()).and_then(|bytes| json::from_slice(&bytes).ok());
    let due_time = domain::due_instant(due.as_ref()).map(timestamp);
    let message = pb::ReminderDue {
        event_id: event_id.clone(),
        user_id: state.user_id.clone(),
        task: format!("tasks/{}", state.task_id),
        task_title: state.title.clone(),
        reminder_id: job.reminder_id.clone(),
        fire_time: Some(timestamp(fire_time)),
        due,
        task_id: state.task_id.clone(),
        revision: job.revision,
        occur_time: Some(timestamp(now)),
        due_time,
    };
    let event = OutgoingEvent {
        id: event_id.clone(),
        event_type: shared::event_types::REMINDER_DUE.to_owned(),
        source: app.settings.app_id.clone(),
        subject: Some(message.task.clone()),
        time: now,
        traceparent: None,
        partition_key: state.user_id.clone(),
        data: json::to_raw(&message).map_err(Error::internal)?,
    };
    app.dapr.publish(&app.settings.reminders_topic, &event).await?;
    tracing::info!(job = %request.name, %event_id, user = %state.user_id, "reminder.due published");
    metrics::counter!("tasks_reminders_fired_total").increment(1);
    // How late the reminder went out: scheduler delay, retries, outages.
    metrics::histogram!("tasks_reminder_lag_seconds")
        .record((now - fire_time).num_milliseconds().max(0) as f64 / 1000.0);
    if let Err(err) = app.dapr.mark_fired(&event_id, &now.to_rfc3339_opts(SecondsFormat::Secs, true)).await {
        // Published already; a second firing would publish the same id again.
        tracing::warn!(%event_id, error = %err, "could not record the firing");
    }
    Ok(Fired::Published { event_id })
}
