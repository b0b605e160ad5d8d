//! The CloudEvent `type`s of the platform: the contract between the apps
//! that publish events and the apps that route on them, written once.

pub const TASK_CREATED: &str = "todo.task.created.v1";
pub const TASK_UPDATED: &str = "todo.task.updated.v1";
pub const TASK_COMPLETED: &str = "todo.task.completed.v1";
pub const TASK_REOPENED: &str = "todo.task.reopened.v1";
pub const TASK_DELETED: &str = "todo.task.deleted.v1";
pub const TASK_RESTORED: &str = "todo.task.restored.v1";
/// Published by the recurrence service: a completed instance and its next one.
pub const TASK_RECURRED: &str = "todo.task.recurred.v1";

/// Every task event type on `task-events`.
pub const TASK_EVENTS: &[&str] =
    &[TASK_CREATED, TASK_UPDATED, TASK_COMPLETED, TASK_REOPENED, TASK_DELETED, TASK_RESTORED, TASK_RECURRED];

/// Published by the reminder service on `reminders`.
pub const REMINDER_DUE: &str = "todo.reminder.due.v1";
