//! The recurrence service.
//!
//! - **On completion**: when a repeating task (anchored on its due date or
//!   on its completion) is completed, the next instance is created through
//!   the task service's `TaskInternalService.CreateOccurrence` (gRPC through
//!   the sidecars, Dapr gRPC proxying), with
//!   the rule, tags, priority, description and reminders carried over and
//!   the due date moved by the rule. The task service derives the create's
//!   idempotency key from (series, index), so redeliveries and complete →
//!   reopen → complete never yield two next instances. A `task.recurred`
//!   event links the two instances.
//! - **On schedule**: series anchored on the schedule are registered (in
//!   the Dapr state store) from their first instance's events; a cron
//!   binding sweeps them and creates every instance whose time has come,
//!   catching up after downtime. Two replicas sweeping at once create
//!   nothing twice: creation is idempotent per (series, index).
//!
//! # Layout
//! - [`plan`]: which instance comes next, and when — pure.
//! - [`events`]: the task-event subscription.
//! - [`sweep`]: the cron binding and the schedule registry.
//! - [`tasks`]: calls to the task service through the sidecar.
//! - [`config`], [`app`]: settings and the builder.

pub mod app;
pub mod config;
pub mod events;
pub mod plan;
pub mod sweep;
pub mod tasks;

pub use app::Application;
pub use config::Settings;
