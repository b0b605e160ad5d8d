//! The API's `Due` and `RecurrenceRule` messages ↔ [`Due`] and
//! [`RecurrenceSpec`]. Parsing checks each field's own shape and names it
//! (`due.date_time.time_zone`, `recurrence.weekdays[2]`); then the rule's
//! fields are checked against each other and by the date-math engine
//! ([`RecurrenceSpec::rule`]). There is no unvalidated rule type: the wire
//! message is parsed straight into the valid one.

use chrono::Weekday;

use super::{
    due::Due,
    spec::{Anchor, Freq, Missing, RecurrenceSpec},
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
    parse_rule(rule).map(Some).map_err(|e| e.under("recurrence"))
}

/// A wire rule as the valid rule it stands for: each field checked for its
/// own shape, then the fields against each other, then by the date-math
/// engine, which has the final word. Errors name the rule's field.
pub fn parse_rule(rule: &pb::RecurrenceRule) -> Result<RecurrenceSpec, Invalid> {
    use pb::recurrence_rule::{Anchor as A, Frequency as F, MissingDatePolicy as M};
    let frequency = match F::try_from(rule.frequency) {
        Ok(F::Daily) => Freq::Daily,
        Ok(F::Weekly) => Freq::Weekly,
        Ok(F::Monthly) => Freq::Monthly,
        Ok(F::Yearly) => Freq::Yearly,
        Ok(F::Cron) => Freq::Cron,
        Ok(F::Unspecified) | Err(_) => {
            return Err(Invalid::new("frequency", "must be DAILY, WEEKLY, MONTHLY, YEARLY or CRON"));
        }
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
            nth.n.clamp(-128, 127) as i8,
            weekday(nth.weekday).ok_or_else(|| Invalid::new("nth_weekday.weekday", "must be MONDAY..SUNDAY"))?,
        )),
    };
    let until = match rule.until_date.trim() {
        "" => None,
        date => Some(Due::parse_date(date).map_err(|e| e.under("until_date"))?),
    };
    let time_zone = match rule.time_zone.trim() {
        "" => None,
        zone => Some(Due::parse_zone(zone).map_err(|e| e.under("time_zone"))?.name().to_owned()),
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
    if until.is_some() && rule.count.is_some() {
        return Err(Invalid::new("count", "set either until_date or count, not both"));
    }
    let count = match rule.count {
        Some(n) if n < 1 => return Err(Invalid::new("count", "must be at least 1")),
        n => n.map(i32::unsigned_abs),
    };
    let interval = match rule.interval {
        Some(n) if n < 1 => return Err(Invalid::new("interval", "must be at least 1")),
        n => n.map_or(1, i32::unsigned_abs),
    };
    if rule.day_of_month.is_some() && nth_weekday.is_some() {
        return Err(Invalid::new("nth_weekday", "set either day_of_month or nth_weekday, not both"));
    }
    let cron = rule.cron.trim();
    if frequency == Freq::Cron {
        if cron.is_empty() {
            return Err(Invalid::new("cron", "a CRON rule needs a cron expression"));
        }
        if rule.interval.is_some() || !weekdays.is_empty() || rule.day_of_month.is_some() || nth_weekday.is_some() {
            return Err(Invalid::new("frequency", "a CRON rule takes no interval, weekdays or monthly fields"));
        }
    } else if !cron.is_empty() {
        return Err(Invalid::new("cron", "only a CRON rule takes a cron expression"));
    }
    let spec = RecurrenceSpec {
        frequency,
        interval,
        weekdays: weekdays.iter().map(|d| d.number_from_monday() as u8).collect(),
        day_of_month: rule.day_of_month.map(|d| d.clamp(-128, 127) as i8),
        nth_weekday: nth_weekday.map(|(n, d)| (n, d.number_from_monday() as u8)),
        cron: (frequency == Freq::Cron).then(|| cron.to_owned()),
        until,
        count,
        anchor,
        time_zone,
        missing,
        series_start: None,
    };
    spec.rule(None)?;
    Ok(spec)
}

fn weekday(n: i32) -> Option<Weekday> {
    u8::try_from(n).ok()?.checked_sub(1).and_then(|n| Weekday::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pb::recurrence_rule::{Frequency as F, NthWeekday};

    fn daily() -> pb::RecurrenceRule {
        pb::RecurrenceRule { frequency: F::Daily as i32, ..Default::default() }
    }

    fn field(rule: pb::RecurrenceRule) -> String {
        parse_rule(&rule).unwrap_err().field
    }

    #[test]
    fn each_invalid_rule_names_its_field() {
        assert_eq!(field(pb::RecurrenceRule { interval: Some(0), ..daily() }), "interval");
        assert_eq!(field(pb::RecurrenceRule { count: Some(3), until_date: "2027-01-01".into(), ..daily() }), "count");
        assert_eq!(field(pb::RecurrenceRule { count: Some(0), ..daily() }), "count");
        let cron = |expression: &str| pb::RecurrenceRule {
            frequency: F::Cron as i32,
            cron: expression.into(),
            ..Default::default()
        };
        assert_eq!(field(cron("not a cron")), "cron");
        assert_eq!(field(cron("")), "cron");
        assert_eq!(field(pb::RecurrenceRule { interval: Some(2), ..cron("0 9 * * MON") }), "frequency");
        assert_eq!(field(pb::RecurrenceRule { cron: "0 9 * * MON".into(), ..daily() }), "cron");
        assert_eq!(field(pb::RecurrenceRule { frequency: 0, ..daily() }), "frequency");
        assert_eq!(field(pb::RecurrenceRule { weekdays: vec![1, 9], ..daily() }), "weekdays[1]");
        let monthly = pb::RecurrenceRule { frequency: F::Monthly as i32, ..Default::default() };
        assert_eq!(field(pb::RecurrenceRule { day_of_month: Some(32), ..monthly.clone() }), "day_of_month");
        let nth = |n| Some(NthWeekday { n, weekday: 1 });
        let sixth_monday = pb::RecurrenceRule { nth_weekday: nth(6), ..monthly.clone() };
        assert_eq!(field(sixth_monday), "nth_weekday.n", "the position is what is wrong, not the day of month");
        let both = pb::RecurrenceRule { nth_weekday: nth(1), day_of_month: Some(3), ..monthly };
        assert_eq!(field(both), "nth_weekday");
        assert_eq!(field(pb::RecurrenceRule { nth_weekday: nth(1), ..daily() }), "nth_weekday");
        assert_eq!(field(pb::RecurrenceRule { time_zone: "Mars/Olympus".into(), ..daily() }), "time_zone");
    }

    #[test]
    fn a_valid_rule_round_trips_through_the_wire_form() {
        let rule = pb::RecurrenceRule {
            frequency: F::Weekly as i32,
            interval: Some(2),
            weekdays: vec![1, 3],
            count: Some(5),
            time_zone: "Europe/Berlin".into(),
            ..Default::default()
        };
        let spec = parse_rule(&rule).unwrap();
        assert_eq!((spec.interval, spec.count, spec.weekdays.as_slice()), (2, Some(5), [1, 3].as_slice()));
        assert_eq!(parse_rule(&super::rule(&spec)).unwrap(), spec);
    }
}
