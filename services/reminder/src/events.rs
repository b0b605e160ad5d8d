//! The `task-events` subscription: keeps each task's jobs in line with its
//! reminders.
//!
//! Per event: read the task's state (with its ETag), ignore the event if
//! its revision is not newer than the last one applied (a redelivery or a
//! stale event changes nothing), [`plan`] the jobs, schedule and cancel
//! them, then save the new state with the ETag. Jobs go first: if the save
//! fails the event is redelivered and the (idempotent, overwriting) job
//! calls are made again; a job that fires before the save finds the state
//! behind its revision and is retried by the scheduler (see [`crate::fire`]).
//!
//! **Why the Dapr state store and not a database of our own:** every other
//! effect of this service already goes through the sidecar (jobs, publish),
//! the state is one small document per task read and written by key with
//! optimistic concurrency (ETags) — exactly the state API — and the
//! platform's `statestore` component is scoped to this app. One dependency
//! fewer, no migrations, and the same code against daprd and the local
//! runtime.

use chrono::Utc;
use shared::{
    Error,
    dapr::{Event, Subscription},
    proto::todo::task::v1 as pb,
};

use crate::{
    App,
    domain::{self, TaskReminders, plan},
    jobs,
};

pub fn subscription(app: App) -> Subscription {
    let settings = app.settings.clone();
    Subscription::new(&settings.pubsub, &settings.task_topic).dead_letter(&settings.dead_letter_topic).default_route(
        "reminders",
        // Every task event type: the plan does not depend on which change it was.
        shared::event_types::TASK_EVENTS,
        move |event: Event| {
            let app = app.clone();
            async move { apply(&app, &event).await }
        },
    )
}

/// Applies one task event to the task's jobs and state.
pub async fn apply(app: &App, event: &Event) -> Result<(), Error> {
    let task_event: pb::TaskEvent = event.decode()?;
    if task_event.user_id.is_empty() || task_event.task_id.is_empty() {
        return Err(Error::malformed(format!("event {} has no user or task id", event.id)));
    }
    let after = TaskReminders::from_event(&task_event)
        .ok_or_else(|| Error::malformed(format!("event {} carries no task snapshot", event.id)))?;
    let stored = app.dapr.load(&task_event.task_id).await?;
    if let Some(before) = &stored.state {
        if before.user_id != after.user_id {
            return Err(Error::malformed(format!("event {} names another owner for task {}", event.id, after.task_id)));
        }
        if before.revision >= after.revision {
            tracing::debug!(event_id = %event.id, task = %after.task_id, revision = after.revision,
                applied = before.revision, "stale or repeated task event: ignored");
            return Ok(());
        }
    }
    let plan = plan(stored.state.as_ref(), &after, Utc::now(), app.settings.max_lateness);
    for schedule in &plan.schedule {
        app.dapr.schedule(jobs::build(&after, schedule, app.settings.job_retry)?).await?;
        tracing::info!(task = %after.task_id, reminder = %schedule.reminder_id, fire_time = %schedule.fire_time,
            at_once = schedule.at_once, "reminder scheduled");
    }
    for reminder_id in &plan.cancel {
        app.dapr.cancel(&domain::job_name(&after.task_id, reminder_id)).await?;
        tracing::info!(task = %after.task_id, reminder = %reminder_id, "reminder cancelled");
    }
    for reminder_id in &plan.skipped {
        tracing::info!(task = %after.task_id, reminder = %reminder_id, "past reminder not fired (not set by this event, or later than the lateness limit)");
    }
    app.dapr.save(&after, stored.etag).await
}
