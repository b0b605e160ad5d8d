//! Conversions between the wire contracts (`todo.task.v1`) and the domain.
//! Parsing a field validates it; the error names the field relative to the
//! message it is in, and callers prefix the request path.

use chrono::{DateTime, Duration, Utc, Weekday};
use shared::proto::{
    time::{date_time, timestamp},
    todo::task::v1 as pb,
};

use crate::domain::{
    Invalid,
    due::Due,
    recurrence::{Anchor, Freq, Missing, RecurrenceSpec, RuleInput},
    reminder::{self, Reminder, Trigger},
    tag::{Tag, TagId},
    task::{Change, Description, Priority, Task, TaskState, Title},
};

// === domain → wire ===

pub fn task(task: &Task) -> pb::Task {
    let c = &task.content;
    pb::Task {
        name: task.id.name(),
        title: c.title.as_str().to_owned(),
        description: c.description.as_str().to_owned(),
        state: match task.state {
            TaskState::Open => pb::State::Open,
            TaskState::Completed => pb::State::Completed,
        } as i32,
        priority: c.priority as i32,
        tags: c.tags.iter().map(TagId::name).collect(),
        due: c.due.as_ref().map(due),
        reminders: c.reminders.iter().map(reminder).collect(),
        recurrence: c.recurrence.as_ref().map(recurrence),
        create_time: Some(timestamp(task.create_time)),
        update_time: Some(timestamp(task.update_time)),
        complete_time: task.complete_time.map(timestamp),
        delete_time: task.delete_time.map(timestamp),
        etag: task.etag(),
        revision: task.revision,
        series_id: task.series.map(|s| s.id.as_stored()).unwrap_or_default(),
        occurrence_index: task.series.map_or(0, |s| i32::try_from(s.index).unwrap_or(i32::MAX)),
    }
}

fn due(d: &Due) -> pb::Due {
    let value = match d {
        Due::Date(date) => pb::due::Value::Date(date.format("%Y-%m-%d").to_string()),
        Due::DateTime { local, zone } => pb::due::Value::DateTime(pb::ZonedDateTime {
            local_time: local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: zone.name().to_owned(),
        }),
    };
    pb::Due { value: Some(value) }
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

fn recurrence(spec: &RecurrenceSpec) -> pb::RecurrenceRule {
    use pb::recurrence_rule::{Anchor as A, Frequency as F, MissingDatePolicy as M, NthWeekday};
    pb::RecurrenceRule {
        frequency: match spec.frequency {
            Freq::Daily => F::Daily,
            Freq::Weekly => F::Weekly,
            Freq::Monthly => F::Monthly,
            Freq::Yearly => F::Yearly,
            Freq::Cron => F::Cron,
        } as i32,
        interval: (spec.frequency != Freq::Cron).then(|| spec.interval.min(i32::MAX as u32) as i32),
        weekdays: spec.weekdays.iter().map(|d| i32::from(*d)).collect(),
        day_of_month: spec.day_of_month.map(i32::from),
        nth_weekday: spec.nth_weekday.map(|(n, d)| NthWeekday { n: i32::from(n), weekday: i32::from(d) }),
        cron: spec.cron.clone().unwrap_or_default(),
        until_date: spec.until.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
        count: spec.count.map(|n| n.min(i32::MAX as u32) as i32),
        anchor: match spec.anchor {
            Anchor::DueDate => A::DueDate,
            Anchor::CompletionDate => A::CompletionDate,
            Anchor::Schedule => A::Schedule,
        } as i32,
        time_zone: spec.time_zone.clone().unwrap_or_default(),
        missing_date_policy: match spec.missing {
            Missing::Clamp => M::Clamp,
            Missing::Skip => M::Skip,
        } as i32,
        series_start: spec.series_start.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()).unwrap_or_default(),
    }
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
        task: Some(task(t)),
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

pub fn parse_due(raw: Option<&pb::Due>) -> Result<Option<Due>, Invalid> {
    let Some(value) = raw.and_then(|d| d.value.as_ref()) else {
        return Ok(None);
    };
    let due = match value {
        pb::due::Value::Date(date) => Due::Date(Due::parse_date(date).map_err(|e| e.under("due.date"))?),
        pb::due::Value::DateTime(zoned) => Due::DateTime {
            local: Due::parse_local(&zoned.local_time).map_err(|e| e.under("due.date_time.local_time"))?,
            zone: Due::parse_zone(&zoned.time_zone).map_err(|e| e.under("due.date_time.time_zone"))?,
        },
    };
    Ok(Some(due))
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

pub fn parse_recurrence(raw: Option<&pb::RecurrenceRule>) -> Result<Option<RecurrenceSpec>, Invalid> {
    let Some(rule) = raw else { return Ok(None) };
    let input = rule_input(rule).map_err(|e| e.under("recurrence"))?;
    RecurrenceSpec::validate(input).map(Some).map_err(|e| e.under("recurrence"))
}

/// The fields of a wire rule, each checked for its own shape.
pub fn rule_input(rule: &pb::RecurrenceRule) -> Result<RuleInput, Invalid> {
    use pb::recurrence_rule::{Anchor as A, Frequency as F, MissingDatePolicy as M};
    let frequency = match F::try_from(rule.frequency) {
        Ok(F::Daily) => Some(Freq::Daily),
        Ok(F::Weekly) => Some(Freq::Weekly),
        Ok(F::Monthly) => Some(Freq::Monthly),
        Ok(F::Yearly) => Some(Freq::Yearly),
        Ok(F::Cron) => Some(Freq::Cron),
        Ok(F::Unspecified) | Err(_) => None,
    };
    let weekdays = rule
        .weekdays
        .iter()
        .enumerate()
        .map(|(i, d)| {
            weekday(*d).ok_or_else(|| Invalid::new(format!("weekdays[{i}]"), format!("{d} is not a weekday")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nth_weekday = match &rule.nth_weekday {
        None => None,
        Some(nth) => Some((
            nth.n,
            weekday(nth.weekday).ok_or_else(|| Invalid::new("nth_weekday.weekday", "must be MONDAY..SUNDAY"))?,
        )),
    };
    let until = match rule.until_date.trim() {
        "" => None,
        date => Some(Due::parse_date(date).map_err(|e| e.under("until_date"))?),
    };
    let time_zone = match rule.time_zone.trim() {
        "" => None,
        zone => Some(Due::parse_zone(zone).map_err(|e| e.under("time_zone"))?),
    };
    let anchor = match A::try_from(rule.anchor) {
        Ok(A::Unspecified | A::DueDate) => Anchor::DueDate,
        Ok(A::CompletionDate) => Anchor::CompletionDate,
        Ok(A::Schedule) => Anchor::Schedule,
        Err(_) => return Err(Invalid::new("anchor", format!("{} is not an anchor", rule.anchor))),
    };
    let missing = match M::try_from(rule.missing_date_policy) {
        Ok(M::Unspecified | M::Clamp) => Missing::Clamp,
        Ok(M::Skip) => Missing::Skip,
        Err(_) => return Err(Invalid::new("missing_date_policy", "must be CLAMP or SKIP")),
    };
    Ok(RuleInput {
        frequency,
        interval: rule.interval,
        weekdays,
        day_of_month: rule.day_of_month,
        nth_weekday,
        cron: rule.cron.clone(),
        until,
        count: rule.count,
        anchor,
        time_zone,
        missing,
    })
}

fn weekday(n: i32) -> Option<Weekday> {
    u8::try_from(n).ok()?.checked_sub(1).and_then(|n| Weekday::try_from(n).ok())
}
