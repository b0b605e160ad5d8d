//! The reminder service: keeps every task's reminders scheduled as Dapr
//! Jobs and, when one fires, publishes `reminder.due` (topic `reminders`,
//! CloudEvent type `todo.reminder.due.v1`, partition key = user id) — once
//! per reminder and fire time, even if the job fires twice.
//!
//! - Subscribes to `task-events`. One job per reminder, named
//!   `reminder-{task}-{reminder}`, due at the reminder's fire time;
//!   rescheduled (overwritten) when the due date or the reminder changes,
//!   cancelled when the task is completed or deleted or the reminder
//!   removed, scheduled again on reopen and undelete. Stale and repeated
//!   events (revision not newer than the last applied) change nothing.
//! - **Past reminders:** a reminder whose time has already passed when an
//!   event sets it (new, or its time changed) fires at once, if it is at
//!   most `REMINDER_MAX_LATENESS_SECONDS` (24 h) late; past reminders the
//!   event did not touch are not fired again (see [`domain`]).
//! - The job callback publishes only if the job still matches the task and
//!   the reminder was not published before; the event id is a UUIDv5 of
//!   task, reminder and fire time, so consumers deduplicate a repeat.
//!
//! No public API beyond the standard gRPC health and reflection services.
//!
//! # Layout
//! - [`domain`]: fire times, the job plan for an event, names and ids — pure.
//! - [`jobs`]: a reminder's Dapr job and its data.
//! - [`sidecar`]: state, jobs and publishing through the Dapr sidecar.
//! - [`events`]: the `task-events` subscription.
//! - [`fire`]: the job callback.
//! - [`config`], [`app`]: settings and the builder `main` and tests share.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod fire;
pub mod jobs;
pub mod sidecar;

pub use app::{App, Application};
pub use config::Settings;
