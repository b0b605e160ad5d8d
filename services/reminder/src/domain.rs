//! The rules of reminders, pure: when a reminder fires, what a task event
//! means for the task's jobs, and the identities that make firing
//! idempotent. No I/O here; `events` and `fire` apply the decisions.
//!
//! # When a reminder fires
//! Exactly as the task service computes it (`Trigger::fire_time` and
//! `Due::instant` in `services/task/src/domain`): an absolute reminder at
//! its instant; a `before_due` reminder at the due instant minus the
//! duration, where a whole-day due counts from 00:00 UTC and a wall-clock
//! due is read in its zone (the earlier instant when the time happens
//! twice, shifted forward across a spring-forward gap). A relative reminder
//! of a task without a (valid) due date never fires.
//!
//! # What an event does to the jobs ([`plan`])
//! A task's reminders are wanted while the task is open and not deleted.
//! The plan compares the reminders wanted after the event with what the
//! service knew before it (the last applied event):
//!
//! - a wanted reminder in the future is scheduled when it is new, its fire
//!   time changed, or the task came back (reopened, undeleted); an
//!   unchanged one keeps its job untouched;
//! - a reminder no longer wanted (removed, task completed or deleted) has
//!   its job cancelled;
//! - **a reminder whose time has already passed** fires **at once** if
//!   this event added it or changed its time (including a task created or
//!   edited late, or an event processed late), but only within
//!   `max_lateness` of its time, so replaying old history does not send
//!   stale reminders. A past reminder the event did not touch (an unrelated
//!   edit, or a reopen after the time went by while the task was done) is
//!   not fired again; if its job is still pending it is left alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use shared::proto::{time::date_time, todo::task::v1 as pb};

/// Every reminder job's name starts with this.
pub const JOB_PREFIX: &str = "reminder-";

/// The job of one reminder of one task: deterministic, so rescheduling
/// overwrites it and cancelling finds it.
pub fn job_name(task_id: &str, reminder_id: &str) -> String {
    format!("{JOB_PREFIX}{task_id}-{reminder_id}")
}

/// The `reminder.due` event id of one firing: the same task, reminder and
/// fire time always give the same id, so a job that fires twice (or a
/// reminder moved away and back) publishes one event as far as consumers
/// are concerned.
pub fn event_id(task_id: &str, reminder_id: &str, fire_time: DateTime<Utc>) -> String {
    let key = format!("todo.reminder.due/{task_id}/{reminder_id}/{}", fire_time.timestamp_micros());
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string()
}

/// The instant a task is due, or None when it has no due date or the one
/// it has cannot be read (the task service never emits such a date).
pub fn due_instant(due: Option<&pb::Due>) -> Option<DateTime<Utc>> {
    match due?.value.as_ref()? {
        pb::due::Value::Date(date) => {
            let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
            Some(date.and_time(NaiveTime::MIN).and_utc())
        }
        pb::due::Value::DateTime(zoned) => {
            let raw = zoned.local_time.trim();
            let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M"))
                .ok()?;
            let zone: Tz = zoned.time_zone.trim().parse().ok()?;
            Some(resolve_local(local, zone))
        }
    }
}

/// A wall-clock time in `zone` as an instant: the earlier one when the time
/// happens twice, and shifted by the gap when it does not exist (the task
/// service's rule).
fn resolve_local(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        chrono::LocalResult::None => {
            // In a spring-forward gap: read the time with the offset in force before it.
            let offset = match zone.from_local_datetime(&(local - Duration::hours(24))) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                    t.offset().fix().local_minus_utc()
                }
                chrono::LocalResult::None => 0,
            };
            (local - Duration::seconds(i64::from(offset))).and_utc()
        }
    }
}

/// When `reminder` fires for a task due at `due` (None: it never does).
pub fn fire_time(reminder: &pb::Reminder, due: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match reminder.trigger.as_ref()? {
        pb::reminder::Trigger::AbsoluteTime(at) => date_time(at).map(truncate_to_micros),
        pb::reminder::Trigger::BeforeDue(lead) => {
            // An event is data from the broker: a lead out of range never fires.
            let lead =
                Duration::try_seconds(lead.seconds)?.checked_add(&Duration::nanoseconds(i64::from(lead.nanos)))?;
            due?.checked_sub_signed(lead).map(truncate_to_micros)
        }
    }
}

/// Times are kept to the microsecond, like the task service stores them.
fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// What the service remembers of a task: the last event applied and the
/// reminders (id → fire time in microseconds) it implied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReminders {
    pub user_id: String,
    pub task_id: String,
    /// The revision of the last event applied; older or equal ones are ignored.
    pub revision: i64,
    /// Open and not deleted: its reminders are wanted.
    pub active: bool,
    pub title: String,
    /// The task's due date as proto3 JSON (`todo.task.v1.Due`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<serde_json::Value>,
    /// Reminder id → fire time (µs since the epoch), of every reminder that
    /// has one, whether or not the task is active.
    pub reminders: BTreeMap<String, i64>,
}

impl TaskReminders {
    /// What `event` says about its task (None when it carries no snapshot).
    pub fn from_event(event: &pb::TaskEvent) -> Option<Self> {
        let task = event.task.as_ref()?;
        let due = due_instant(task.due.as_ref());
        let reminders = task
            .reminders
            .iter()
            .filter(|r| !r.id.is_empty())
            .filter_map(|r| Some((r.id.clone(), fire_time(r, due)?.timestamp_micros())))
            .collect();
        let deleted = task.delete_time.is_some() || matches!(event.change, Some(pb::task_event::Change::Deleted(_)));
        let completed = task.state == pb::State::Completed as i32
            || matches!(event.change, Some(pb::task_event::Change::Completed(_)));
        Some(Self {
            user_id: event.user_id.clone(),
            task_id: event.task_id.clone(),
            revision: event.revision,
            active: !deleted && !completed,
            title: task.title.clone(),
            due: task.due.as_ref().and_then(|d| shared::proto::json::to_value(d).ok()),
            reminders,
        })
    }

    /// The fire time of reminder `id`, if the task has it.
    pub fn fire_time_of(&self, id: &str) -> Option<DateTime<Utc>> {
        self.reminders.get(id).and_then(|micros| DateTime::from_timestamp_micros(*micros))
    }
}

/// A job to (re)schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub reminder_id: String,
    pub fire_time: DateTime<Utc>,
    /// The time has passed: fire as soon as possible.
    pub at_once: bool,
}

/// What to do to the task's jobs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub schedule: Vec<Schedule>,
    /// Reminder ids whose jobs are cancelled.
    pub cancel: Vec<String>,
    /// Past reminders not fired (too late, or untouched by the event).
    pub skipped: Vec<String>,
}

/// Compares what was known before an event (`before`, None for a task seen
/// for the first time) with what the event says (`after`). See the module
/// docs for the rules.
pub fn plan(before: Option<&TaskReminders>, after: &TaskReminders, now: DateTime<Utc>, max_lateness: Duration) -> Plan {
    let mut plan = Plan::default();
    let known = |id: &str, micros: i64| before.is_some_and(|b| b.reminders.get(id) == Some(&micros));
    let was_scheduled = |id: &str, micros: i64| before.is_some_and(|b| b.active) && known(id, micros);
    let mut kept = Vec::new();
    if after.active {
        for (id, &micros) in &after.reminders {
            let Some(at) = DateTime::from_timestamp_micros(micros) else { continue };
            if at > now {
                if was_scheduled(id, micros) {
                    kept.push(id.clone());
                } else {
                    plan.schedule.push(Schedule { reminder_id: id.clone(), fire_time: at, at_once: false });
                }
            } else if !known(id, micros) && now - at <= max_lateness {
                plan.schedule.push(Schedule { reminder_id: id.clone(), fire_time: at, at_once: true });
            } else if was_scheduled(id, micros) {
                // Due or firing right now: cancelling could lose it.
                kept.push(id.clone());
            } else {
                plan.skipped.push(id.clone());
            }
        }
    }
    if let Some(before) = before.filter(|b| b.active) {
        plan.cancel = before
            .reminders
            .keys()
            .filter(|id| !kept.contains(id) && !plan.schedule.iter().any(|s| &s.reminder_id == *id))
            .cloned()
            .collect();
    }
    plan
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    fn absolute(id: &str, at: &str) -> pb::Reminder {
        let at = ts(at);
        pb::Reminder {
            id: id.into(),
            trigger: Some(pb::reminder::Trigger::AbsoluteTime(prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: 0,
            })),
        }
    }

    fn before_due(id: &str, seconds: i64) -> pb::Reminder {
        pb::Reminder {
            id: id.into(),
            trigger: Some(pb::reminder::Trigger::BeforeDue(prost_types::Duration { seconds, nanos: 0 })),
        }
    }

    fn date(d: &str) -> pb::Due {
        pb::Due { value: Some(pb::due::Value::Date(d.into())) }
    }

    fn zoned(local: &str, zone: &str) -> pb::Due {
        pb::Due {
            value: Some(pb::due::Value::DateTime(pb::ZonedDateTime {
                local_time: local.into(),
                time_zone: zone.into(),
            })),
        }
    }

    #[test]
    fn absolute_reminders_fire_at_their_instant() {
        let r = absolute("a", "2026-12-01T08:00:00Z");
        assert_eq!(fire_time(&r, None), Some(ts("2026-12-01T08:00:00Z")));
    }

    #[test]
    fn relative_reminders_count_back_from_the_due_instant() {
        let r = before_due("b", 3600);
        // A whole day is due at its UTC midnight.
        let whole_day = due_instant(Some(&date("2026-12-01")));
        assert_eq!(fire_time(&r, whole_day), Some(ts("2026-11-30T23:00:00Z")));
        // A wall-clock time follows its zone's offset (CET in winter, CEST in summer).
        let winter = due_instant(Some(&zoned("2026-01-15T09:00", "Europe/Berlin")));
        assert_eq!(fire_time(&r, winter), Some(ts("2026-01-15T07:00:00Z")));
        let summer = due_instant(Some(&zoned("2026-07-15T09:00:00", "Europe/Berlin")));
        assert_eq!(fire_time(&r, summer), Some(ts("2026-07-15T06:00:00Z")));
        // Without a due date a relative reminder never fires.
        assert_eq!(fire_time(&r, None), None);
        assert_eq!(due_instant(Some(&zoned("2026-01-15T09:00", "Mars/Olympus"))), None);
    }

    #[test]
    fn dst_gaps_move_forward_and_repeated_times_take_the_earlier_instant() {
        let gap = due_instant(Some(&zoned("2026-03-08T02:30", "America/New_York")));
        assert_eq!(gap, Some(ts("2026-03-08T07:30:00Z")));
        let overlap = due_instant(Some(&zoned("2026-11-01T01:30", "America/New_York")));
        assert_eq!(overlap, Some(ts("2026-11-01T05:30:00Z")));
    }

    #[test]
    fn event_ids_and_job_names_are_deterministic() {
        let t = ts("2026-12-01T08:00:00Z");
        assert_eq!(event_id("t1", "r1", t), event_id("t1", "r1", t));
        assert_ne!(event_id("t1", "r1", t), event_id("t1", "r1", t + Duration::seconds(1)));
        assert_ne!(event_id("t1", "r1", t), event_id("t1", "r2", t));
        assert_eq!(job_name("t1", "r1"), "reminder-t1-r1");
    }

    fn state(active: bool, reminders: &[(&str, &str)]) -> TaskReminders {
        TaskReminders {
            user_id: "alice".into(),
            task_id: "t1".into(),
            revision: 1,
            active,
            title: "t".into(),
            due: None,
            reminders: reminders.iter().map(|(id, at)| ((*id).to_owned(), ts(at).timestamp_micros())).collect(),
        }
    }

    const NOW: &str = "2026-06-01T12:00:00Z";
    const LATENESS: Duration = Duration::hours(24);

    fn ids(schedule: &[Schedule]) -> Vec<(&str, bool)> {
        schedule.iter().map(|s| (s.reminder_id.as_str(), s.at_once)).collect()
    }

    #[test]
    fn new_and_changed_reminders_are_scheduled_unchanged_ones_kept_removed_ones_cancelled() {
        let before = state(
            true,
            &[("keep", "2026-06-02T00:00:00Z"), ("move", "2026-06-03T00:00:00Z"), ("drop", "2026-06-04T00:00:00Z")],
        );
        let after = state(
            true,
            &[("keep", "2026-06-02T00:00:00Z"), ("move", "2026-06-05T00:00:00Z"), ("new", "2026-06-06T00:00:00Z")],
        );
        let plan = plan(Some(&before), &after, ts(NOW), LATENESS);
        assert_eq!(ids(&plan.schedule), [("move", false), ("new", false)]);
        assert_eq!(plan.cancel, ["drop"]);
    }

    #[test]
    fn completing_cancels_everything_and_reopening_restores_future_reminders_only() {
        let open = state(true, &[("past", "2026-06-01T11:00:00Z"), ("future", "2026-06-02T00:00:00Z")]);
        let done = state(false, &[("past", "2026-06-01T11:00:00Z"), ("future", "2026-06-02T00:00:00Z")]);
        let completed = plan(Some(&open), &done, ts(NOW), LATENESS);
        assert!(completed.schedule.is_empty());
        assert_eq!(completed.cancel, ["future", "past"]);
        let reopened = plan(Some(&done), &open, ts(NOW), LATENESS);
        assert_eq!(ids(&reopened.schedule), [("future", false)]);
        assert_eq!(reopened.skipped, ["past"], "a time that went by while the task was done is not fired");
        assert!(reopened.cancel.is_empty());
    }

    #[test]
    fn a_past_reminder_fires_at_once_only_when_the_event_set_it_and_not_too_late() {
        let after = state(true, &[("recent", "2026-06-01T11:00:00Z"), ("ancient", "2026-05-01T00:00:00Z")]);
        let created = plan(None, &after, ts(NOW), LATENESS);
        assert_eq!(ids(&created.schedule), [("recent", true)]);
        assert_eq!(created.skipped, ["ancient"]);
        // An unrelated update later: the past reminder's job is left alone, not fired again.
        let unrelated = plan(Some(&after), &after, ts(NOW), LATENESS);
        assert!(unrelated.schedule.is_empty() && unrelated.cancel.is_empty());
    }
}
