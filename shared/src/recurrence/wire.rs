//! The API's `Due` and `RecurrenceRule` messages ↔ [`Due`] and
//! [`RecurrenceSpec`]. Parsing checks each field's own shape and names it
//! (`due.date_time.time_zone`, `recurrence.weekdays[2]`); the rule as a
//! whole is then validated by [`RecurrenceSpec::validate`].

use chrono::Weekday;

use super::{
    due::Due,
    spec::{Anchor, Freq, Missing, RecurrenceSpec, RuleInput},
};
use crate::{proto::todo::task::v1 as pb, validation::Invalid};

/// A due as the API shows it.
pub fn due(d: &Due) -> pb::Due {
    let value = match d {
        Due::Date(date) => pb::due::Value::Date(date.format("%Y-%m-%d").to_string()),
        Due::DateTime { local, zone } => pb::due::Value::DateTime(pb::ZonedDateTime {
            local_time: local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: zone.name().to_owned(),
        }),
    };
    pb::Due { value: Some(value) }
}

/// A rule as the API shows it.
pub fn rule(spec: &RecurrenceSpec) -> pb::RecurrenceRule {
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

/// A request's `due`, parsed (None when unset).
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

/// A request's `recurrence`, parsed and validated (None when unset).
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
