//! Reminders: a fixed instant, or a duration before the task's due time.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Invalid, due::Due};

/// At most this many reminders per task.
pub const MAX_REMINDERS: usize = 20;
/// A reminder at most this long before its due time.
pub const MAX_LEAD: Duration = Duration::days(366);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// Stable within the task: index-free, so reminders can be reordered.
    pub id: String,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// Microseconds since the epoch.
    At { micros: i64 },
    /// Seconds before due.
    BeforeDue { seconds: i64 },
}

impl Trigger {
    pub fn at(instant: DateTime<Utc>) -> Self {
        Trigger::At { micros: instant.timestamp_micros() }
    }

    /// A positive lead time of at most [`MAX_LEAD`].
    pub fn before_due(lead: Duration) -> Result<Self, Invalid> {
        if lead <= Duration::zero() || lead > MAX_LEAD {
            return Err(Invalid::new("before_due", "must be a positive duration of at most 366 days"));
        }
        Ok(Trigger::BeforeDue { seconds: lead.num_seconds() })
    }

    /// When the reminder fires, given the task's due (None when it needs a due that is missing).
    pub fn fire_time(&self, due: Option<&Due>) -> Option<DateTime<Utc>> {
        match self {
            Trigger::At { micros } => DateTime::from_timestamp_micros(*micros),
            Trigger::BeforeDue { seconds } => {
                due.and_then(|d| d.instant().checked_sub_signed(Duration::try_seconds(*seconds)?))
            }
        }
    }
}

/// Checks a task's reminder list on its own, and gives new reminders ids.
pub fn validate(reminders: Vec<Reminder>) -> Result<Vec<Reminder>, Invalid> {
    if reminders.len() > MAX_REMINDERS {
        return Err(Invalid::new("", format!("at most {MAX_REMINDERS} reminders per task")));
    }
    Ok(reminders
        .into_iter()
        .map(|mut reminder| {
            if reminder.id.is_empty() {
                reminder.id = new_reminder_id();
            }
            reminder
        })
        .collect())
}

/// Relative reminders need a due date.
pub fn check_against_due(reminders: &[Reminder], due: Option<&Due>) -> Result<(), Invalid> {
    match reminders.iter().position(|r| matches!(r.trigger, Trigger::BeforeDue { .. })) {
        Some(i) if due.is_none() => Err(Invalid::new(
            format!("[{i}].before_due"),
            "a reminder relative to the due time needs the task to have a due date",
        )),
        _ => Ok(()),
    }
}

/// Short, unique within a task, time-ordered.
fn new_reminder_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
