//! Which instance of a series comes next, and when. Pure: the rule, its
//! parsing and its date math are the recurrence contract's
//! ([`shared::recurrence`]), the same code the task service validates with.

use chrono::{DateTime, Utc};
use shared::proto::todo::task::v1 as pb;
use shared::recurrence::{
    due::Due,
    spec::{Anchor, RecurrenceSpec},
    wire,
};

/// The next instance to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NextInstance {
    /// Its content (title, description, priority, tags, reminders, rule) and due date.
    pub task: pb::Task,
    /// Its index in the series.
    pub index: i32,
}

#[derive(Debug, thiserror::Error)]
#[error("the task's recurrence cannot be evaluated: {0}")]
pub struct PlanError(String);

/// A task's rule and due, parsed.
struct Parsed {
    spec: RecurrenceSpec,
    due: Option<Due>,
}

fn parse(task: &pb::Task) -> Result<Option<Parsed>, PlanError> {
    let Some(raw) = task.recurrence.as_ref() else { return Ok(None) };
    let mut spec = wire::parse_recurrence(Some(raw))
        .map_err(|e| PlanError(e.to_string()))?
        .ok_or_else(|| PlanError("no rule".into()))?;
    spec.series_start = Due::parse_local(&raw.series_start).ok();
    let due = wire::parse_due(task.due.as_ref()).map_err(|e| PlanError(e.to_string()))?;
    Ok(Some(Parsed { spec, due }))
}

/// Whether the task belongs to a schedule-driven series.
pub fn is_scheduled(task: &pb::Task) -> bool {
    task.recurrence.as_ref().is_some_and(|r| r.anchor == pb::recurrence_rule::Anchor::Schedule as i32)
}

/// The instance after `task`, completed at `completed_at`; None when the
/// task does not repeat on completion or its series has ended.
pub fn after_completion(task: &pb::Task, completed_at: DateTime<Utc>) -> Result<Option<NextInstance>, PlanError> {
    let Some(Parsed { spec, due }) = parse(task)? else { return Ok(None) };
    let rule = spec.rule(due.and_then(|d| d.zone())).map_err(|e| PlanError(e.to_string()))?;
    let zone = rule.time_zone();
    let current = due.map(|d| d.local()).unwrap_or_else(|| completed_at.with_timezone(&zone).naive_local());
    let start = spec.series_start.unwrap_or(current);
    let so_far = u32::try_from(task.occurrence_index).unwrap_or(0) + 1;
    let next = match spec.anchor {
        Anchor::Schedule => return Ok(None),
        Anchor::DueDate => rule.next_after(start, current),
        Anchor::CompletionDate => rule.next_from_completion(start, completed_at, so_far),
    };
    Ok(next.map(|occurrence| NextInstance {
        task: instance(task, due, occurrence.local, zone),
        index: task.occurrence_index + 1,
    }))
}

/// Instances of a schedule-driven series, from `next_index` on, whose time
/// has come by `now` (at most `limit`).
pub fn due_by(
    template: &pb::Task,
    next_index: i32,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<NextInstance>, PlanError> {
    let Some(Parsed { spec, due }) = parse(template)? else { return Ok(vec![]) };
    let rule = spec.rule(due.and_then(|d| d.zone())).map_err(|e| PlanError(e.to_string()))?;
    let Some(start) = spec.series_start.or(due.map(|d| d.local())) else { return Ok(vec![]) };
    let zone = rule.time_zone();
    Ok(rule
        .occurrences(start)
        .skip_while(|o| (o.index as i64) < i64::from(next_index))
        .take_while(|o| o.instant <= now)
        .take(limit)
        .map(|o| NextInstance { task: instance(template, due, o.local, zone), index: o.index as i32 })
        .collect())
}

/// `task`'s content with the due moved to `local` (a whole day stays a whole day).
fn instance(task: &pb::Task, due: Option<Due>, local: chrono::NaiveDateTime, zone: chrono_tz::Tz) -> pb::Task {
    let due = match due {
        Some(Due::Date(_)) => pb::due::Value::Date(local.date().format("%Y-%m-%d").to_string()),
        Some(Due::DateTime { zone, .. }) => pb::due::Value::DateTime(pb::ZonedDateTime {
            local_time: local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: zone.name().to_owned(),
        }),
        None => pb::due::Value::DateTime(pb::ZonedDateTime {
            local_time: local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: zone.name().to_owned(),
        }),
    };
    pb::Task {
        title: task.title.clone(),
        description: task.description.clone(),
        priority: task.priority,
        tags: task.tags.clone(),
        due: Some(pb::Due { value: Some(due) }),
        reminders: task.reminders.iter().map(|r| pb::Reminder { id: String::new(), trigger: r.trigger }).collect(),
        recurrence: task.recurrence.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::recurrence_rule::{Anchor as A, Frequency as F};

    fn zoned(local: &str, zone: &str) -> Option<pb::Due> {
        Some(pb::Due {
            value: Some(pb::due::Value::DateTime(pb::ZonedDateTime {
                local_time: local.into(),
                time_zone: zone.into(),
            })),
        })
    }

    fn repeating(frequency: F, anchor: A, due: Option<pb::Due>) -> pb::Task {
        pb::Task {
            title: "water plants".into(),
            priority: pb::Priority::High as i32,
            tags: vec!["tags/x".into()],
            due,
            recurrence: Some(pb::RecurrenceRule {
                frequency: frequency as i32,
                anchor: anchor as i32,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn local_due(task: &pb::Task) -> String {
        match task.due.as_ref().and_then(|d| d.value.clone()) {
            Some(pb::due::Value::DateTime(z)) => z.local_time,
            Some(pb::due::Value::Date(d)) => d,
            None => String::new(),
        }
    }

    #[test]
    fn a_daily_task_moves_one_day_and_keeps_its_content() {
        let task = repeating(F::Daily, A::DueDate, zoned("2026-03-28T09:00:00", "Europe/Berlin"));
        let next = after_completion(&task, Utc::now()).unwrap().unwrap();
        assert_eq!(local_due(&next.task), "2026-03-29T09:00:00", "09:00 local across the DST change");
        assert_eq!((next.task.title.as_str(), next.task.priority, next.index), ("water plants", task.priority, 1));
        assert_eq!(next.task.tags, task.tags);
    }

    #[test]
    fn completion_anchored_rules_count_from_the_completion_date_at_the_series_time() {
        let task = repeating(F::Daily, A::CompletionDate, zoned("2026-01-10T09:00:00", "UTC"));
        let completed = DateTime::parse_from_rfc3339("2026-01-15T22:30:00Z").unwrap().with_timezone(&Utc);
        let next = after_completion(&task, completed).unwrap().unwrap();
        assert_eq!(local_due(&next.task), "2026-01-16T09:00:00");
    }

    #[test]
    fn month_ends_do_not_drift_and_counts_end_the_series() {
        let mut task = repeating(F::Monthly, A::DueDate, zoned("2027-02-28T09:00:00", "UTC"));
        let rule = task.recurrence.as_mut().unwrap();
        rule.day_of_month = Some(31);
        rule.series_start = "2027-01-31T09:00:00".into();
        rule.count = Some(3);
        task.occurrence_index = 1;
        let next = after_completion(&task, Utc::now()).unwrap().unwrap();
        assert_eq!(local_due(&next.task), "2027-03-31T09:00:00", "from the series start, not the clamped 28th");
        let mut last = next.task.clone();
        last.occurrence_index = 2;
        assert!(after_completion(&last, Utc::now()).unwrap().is_none(), "count 3 reached");
    }

    #[test]
    fn non_repeating_and_schedule_driven_tasks_get_nothing_on_completion() {
        assert!(after_completion(&pb::Task::default(), Utc::now()).unwrap().is_none());
        let scheduled = repeating(F::Weekly, A::Schedule, zoned("2026-01-05T09:00:00", "UTC"));
        assert!(after_completion(&scheduled, Utc::now()).unwrap().is_none());
        assert!(is_scheduled(&scheduled));
    }

    #[test]
    fn a_schedule_catches_up_every_missed_instance_up_to_now() {
        let template = repeating(F::Weekly, A::Schedule, zoned("2026-01-05T09:00:00", "UTC"));
        let now = DateTime::parse_from_rfc3339("2026-01-27T12:00:00Z").unwrap().with_timezone(&Utc);
        let due = due_by(&template, 1, now, 100).unwrap();
        let got: Vec<(i32, String)> = due.iter().map(|i| (i.index, local_due(&i.task))).collect();
        assert_eq!(
            got,
            [(1, "2026-01-12T09:00:00".into()), (2, "2026-01-19T09:00:00".into()), (3, "2026-01-26T09:00:00".into())]
        );
        assert!(due_by(&template, 4, now, 100).unwrap().is_empty());
    }
}
