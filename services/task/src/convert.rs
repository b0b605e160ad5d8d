//! Conversions between the wire contracts (`todo.task.v1`) and the domain.
//! Parsing a field validates it; the error names the field relative to the
//! message it is in, and callers prefix the request path.

use chrono::{DateTime, Duration, Utc};
use shared::{
    proto::{
        time::{date_time, timestamp},
        todo::task::v1 as pb,
    },
    recurrence::wire,
};

/// The due and the rule are the recurrence contract's (`shared::recurrence`).
pub use shared::recurrence::wire::{parse_due, parse_recurrence, parse_rule};

use crate::domain::{
    Invalid,
    reminder::{self, Reminder, Trigger},
    tag::{Tag, TagId},
    task::{Change, Description, Priority, Task, TaskState, Title},
};

// === domain → wire ===

/// The wire form of `task`, which it is made from (its texts move, not copied).
pub fn task(task: Task) -> pb::Task {
    let etag = task.etag();
    let Task { id, content: c, state, create_time, update_time, complete_time, delete_time, revision, series, .. } =
        task;
    pb::Task {
        name: id.name(),
        title: c.title.into_string(),
        description: c.description.into_string(),
        state: match state {
            TaskState::Open => pb::State::Open,
            TaskState::Completed => pb::State::Completed,
        } as i32,
        priority: c.priority as i32,
        tags: c.tags.iter().map(TagId::name).collect(),
        due: c.due.as_ref().map(wire::due),
        reminders: c.reminders.iter().map(reminder).collect(),
        recurrence: c.recurrence.as_ref().map(wire::rule),
        create_time: Some(timestamp(create_time)),
        update_time: Some(timestamp(update_time)),
        complete_time: complete_time.map(timestamp),
        delete_time: delete_time.map(timestamp),
        etag,
        revision,
        series_id: series.map(|s| s.id.as_stored()).unwrap_or_default(),
        occurrence_index: series.map_or(0, |s| i32::try_from(s.index).unwrap_or(i32::MAX)),
    }
}

fn reminder(r: &Reminder) -> pb::Reminder {
    let trigger = match r.trigger {
        Trigger::At { micros } => {
            DateTime::from_timestamp_micros(micros).map(|t| pb::reminder::Trigger::AbsoluteTime(timestamp(t)))
        }
        Trigger::BeforeDue { seconds } => {
            Some(pb::reminder::Trigger::BeforeDue(prost_types::Duration { seconds, nanos: 0 }))
        }
    };
    pb::Reminder { id: r.id.clone(), trigger }
}

pub fn tag(tag: &Tag) -> pb::Tag {
    pb::Tag {
        name: tag.id.name(),
        display_name: tag.name.as_str().to_owned(),
        color: tag.color.as_str().to_owned(),
        create_time: Some(timestamp(tag.create_time)),
        update_time: Some(timestamp(tag.update_time)),
        etag: tag.etag(),
    }
}

/// The event of `change`, carrying the task as it is after the change.
pub fn task_event(event_id: &str, t: &Task, change: &Change, at: DateTime<Utc>) -> pb::TaskEvent {
    use pb::task_event::Change as C;
    let change = match change {
        Change::Created { request_id } => {
            C::Created(pb::TaskCreated { request_id: request_id.clone().unwrap_or_default() })
        }
        Change::Updated { paths } => C::Updated(pb::TaskUpdated { changed_paths: paths.clone() }),
        Change::Completed => C::Completed(pb::TaskCompleted {}),
        Change::Reopened => C::Reopened(pb::TaskReopened {}),
        Change::Deleted => C::Deleted(pb::TaskDeleted {}),
        Change::Restored => C::Restored(pb::TaskRestored {}),
    };
    pb::TaskEvent {
        event_id: event_id.to_owned(),
        user_id: t.user.as_str().to_owned(),
        task_id: t.id.as_stored(),
        revision: t.revision,
        occur_time: Some(timestamp(at)),
        task: Some(task(t.clone())),
        change: Some(change),
    }
}

// === wire → domain, one field at a time ===

pub fn parse_title(raw: &str) -> Result<Title, Invalid> {
    Title::parse(raw).map_err(|e| e.under("title"))
}

pub fn parse_description(raw: &str) -> Result<Description, Invalid> {
    Description::parse(raw).map_err(|e| e.under("description"))
}

pub fn parse_priority(raw: i32) -> Result<Priority, Invalid> {
    if raw == pb::Priority::Unspecified as i32 {
        return Ok(Priority::None);
    }
    Priority::from_number(raw)
        .ok_or_else(|| Invalid::new("priority", format!("{raw} is not a priority; see ListPriorities")))
}

/// Tag names, de-duplicated. Whether they exist is the store's question.
/// The task's tags; each may appear once (the API says so), so a repeat is
/// an error naming it rather than silently dropped.
pub fn parse_tags(raw: &[String]) -> Result<Vec<TagId>, Invalid> {
    let mut tags: Vec<TagId> = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        let id = TagId::from_name(name).map_err(|e| e.under(&format!("tags[{i}]")))?;
        if let Some(first) = tags.iter().position(|t| *t == id) {
            return Err(Invalid::new(
                format!("tags[{i}]"),
                format!("repeats tags[{first}]: each tag appears at most once"),
            ));
        }
        tags.push(id);
    }
    Ok(tags)
}

pub fn parse_reminders(raw: &[pb::Reminder]) -> Result<Vec<Reminder>, Invalid> {
    let mut reminders = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let at = |e: Invalid| e.under(&format!("reminders[{i}]"));
        let trigger = match &r.trigger {
            None => return Err(at(Invalid::new("", "set absolute_time or before_due"))),
            Some(pb::reminder::Trigger::AbsoluteTime(ts)) => {
                Trigger::at(date_time(ts).ok_or_else(|| at(Invalid::new("absolute_time", "is not a valid timestamp")))?)
            }
            Some(pb::reminder::Trigger::BeforeDue(d)) => {
                // Out-of-range seconds are as wrong as a negative lead.
                let lead = Duration::try_seconds(d.seconds)
                    .and_then(|s| s.checked_add(&Duration::nanoseconds(i64::from(d.nanos))))
                    .unwrap_or(Duration::MIN);
                Trigger::before_due(lead).map_err(at)?
            }
        };
        // The id is output only: the server assigns it.
        reminders.push(Reminder { id: String::new(), trigger });
    }
    reminder::validate(reminders).map_err(|e| e.under("reminders"))
}
