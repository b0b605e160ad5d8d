//! A task's recurrence rule as stored and validated: its shape, its
//! validation (with the offending field named) and its storage form. The
//! date math it hands over to is the parent module's [`Rule`].

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{End, Frequency, MissingDatePolicy, MonthlyBy, Pattern, Rule, RuleError};
use crate::validation::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
    Cron,
}

/// Where the next occurrence is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    #[default]
    DueDate,
    CompletionDate,
    /// Instances are created on schedule, regardless of completion.
    Schedule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    #[default]
    Clamp,
    Skip,
}

/// What a client asked for, before validation.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub frequency: Option<Freq>,
    pub interval: Option<i32>,
    pub weekdays: Vec<Weekday>,
    pub day_of_month: Option<i32>,
    pub nth_weekday: Option<(i32, Weekday)>,
    pub cron: String,
    pub until: Option<NaiveDate>,
    pub count: Option<i32>,
    pub anchor: Anchor,
    pub time_zone: Option<Tz>,
    pub missing: Missing,
}

/// A valid rule, in the form stored with the task (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurrenceSpec {
    pub frequency: Freq,
    pub interval: u32,
    /// ISO weekday numbers, Monday = 1.
    pub weekdays: Vec<u8>,
    pub day_of_month: Option<i8>,
    pub nth_weekday: Option<(i8, u8)>,
    pub cron: Option<String>,
    pub until: Option<NaiveDate>,
    pub count: Option<u32>,
    pub anchor: Anchor,
    /// IANA name; None means the due's zone (UTC for a whole-day due).
    pub time_zone: Option<String>,
    pub missing: Missing,
    /// The series' first occurrence, which later ones are counted from.
    #[serde(default)]
    pub series_start: Option<chrono::NaiveDateTime>,
}

impl RecurrenceSpec {
    /// Validates the rule on its own; [`RecurrenceSpec::check_due`] checks it
    /// against the task's due once both are known.
    pub fn validate(input: RuleInput) -> Result<Self, Invalid> {
        let frequency = input
            .frequency
            .ok_or_else(|| Invalid::new("frequency", "must be DAILY, WEEKLY, MONTHLY, YEARLY or CRON"))?;
        if input.until.is_some() && input.count.is_some() {
            return Err(Invalid::new("count", "set either until_date or count, not both"));
        }
        let count = match input.count {
            Some(n) if n < 1 => return Err(Invalid::new("count", "must be at least 1")),
            Some(n) => Some(n.unsigned_abs()),
            None => None,
        };
        let interval = match input.interval {
            None => 1,
            Some(n) if n < 1 => return Err(Invalid::new("interval", "must be at least 1")),
            Some(n) => n.unsigned_abs(),
        };
        if input.day_of_month.is_some() && input.nth_weekday.is_some() {
            return Err(Invalid::new("nth_weekday", "set either day_of_month or nth_weekday, not both"));
        }
        let cron = input.cron.trim();
        if frequency == Freq::Cron {
            if cron.is_empty() {
                return Err(Invalid::new("cron", "a CRON rule needs a cron expression"));
            }
            if input.interval.is_some()
                || !input.weekdays.is_empty()
                || input.day_of_month.is_some()
                || input.nth_weekday.is_some()
            {
                return Err(Invalid::new("frequency", "a CRON rule takes no interval, weekdays or monthly fields"));
            }
        } else {
            if !cron.is_empty() {
                return Err(Invalid::new("cron", "only a CRON rule takes a cron expression"));
            }
        }
        let spec = RecurrenceSpec {
            frequency,
            interval,
            weekdays: input.weekdays.iter().map(|d| d.number_from_monday() as u8).collect(),
            day_of_month: input.day_of_month.map(|d| d.clamp(-128, 127) as i8),
            nth_weekday: input.nth_weekday.map(|(n, d)| (n.clamp(-128, 127) as i8, d.number_from_monday() as u8)),
            cron: (frequency == Freq::Cron).then(|| cron.to_owned()),
            until: input.until,
            count,
            anchor: input.anchor,
            time_zone: input.time_zone.map(|z| z.name().to_owned()),
            missing: input.missing,
            series_start: None,
        };
        // The date-math engine has the final word on what is valid.
        spec.rule(None)?;
        Ok(spec)
    }

    /// Every pattern but cron counts from the task's due date.
    pub fn check_due(&self, has_due: bool) -> Result<(), Invalid> {
        if self.frequency != Freq::Cron && !has_due {
            return Err(Invalid::new("", "a repeating task needs a due date to count from (or use a CRON rule)"));
        }
        Ok(())
    }

    /// The rule the date-math engine evaluates, in the rule's zone or else `due_zone` or else UTC.
    pub fn rule(&self, due_zone: Option<Tz>) -> Result<Rule, Invalid> {
        let zone = match &self.time_zone {
            Some(name) => name.parse().map_err(|_| Invalid::new("time_zone", "is not an IANA time zone"))?,
            None => due_zone.unwrap_or(Tz::UTC),
        };
        let pattern = match self.frequency {
            Freq::Cron => Pattern::Cron(self.cron.clone().unwrap_or_default()),
            calendar => Pattern::Calendar {
                frequency: match calendar {
                    Freq::Daily => Frequency::Daily,
                    Freq::Weekly => Frequency::Weekly,
                    Freq::Monthly => Frequency::Monthly,
                    _ => Frequency::Yearly,
                },
                interval: self.interval,
                weekdays: self.weekdays.iter().filter_map(|n| weekday(*n)).collect(),
                monthly_by: match (self.day_of_month, self.nth_weekday) {
                    (Some(day), _) => Some(MonthlyBy::DayOfMonth(day)),
                    (None, Some((n, day))) => weekday(day).map(|weekday| MonthlyBy::NthWeekday { n, weekday }),
                    (None, None) => None,
                },
            },
        };
        let end = match (self.until, self.count) {
            (Some(date), _) => End::Until(date),
            (None, Some(n)) => End::Count(n),
            (None, None) => End::Never,
        };
        let missing = match self.missing {
            Missing::Clamp => MissingDatePolicy::Clamp,
            Missing::Skip => MissingDatePolicy::Skip,
        };
        Rule::new(pattern, end, zone, missing).map_err(|err| self.invalid(&err))
    }

    /// The engine names fields by its own vocabulary; this names the API's
    /// field that holds the wrong value.
    fn invalid(&self, err: &RuleError) -> Invalid {
        let field = match err.field() {
            "monthly_by.day_of_month" => "day_of_month",
            "monthly_by.nth_weekday" => "nth_weekday.n",
            "monthly_by" if self.nth_weekday.is_some() => "nth_weekday",
            "monthly_by" => "day_of_month",
            "end" => "count",
            other => other,
        };
        Invalid::new(field, err.to_string())
    }
}

fn weekday(n: u8) -> Option<Weekday> {
    Weekday::try_from(n.checked_sub(1)?).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn daily() -> RuleInput {
        RuleInput { frequency: Some(Freq::Daily), ..RuleInput::default() }
    }

    #[test]
    fn interval_zero_count_and_until_together_and_bad_cron_name_their_field() {
        let field = |input: RuleInput| RecurrenceSpec::validate(input).unwrap_err().field;
        assert_eq!(field(RuleInput { interval: Some(0), ..daily() }), "interval");
        assert_eq!(field(RuleInput { count: Some(3), until: NaiveDate::from_ymd_opt(2027, 1, 1), ..daily() }), "count");
        assert_eq!(field(RuleInput { count: Some(0), ..daily() }), "count");
        assert_eq!(
            field(RuleInput { frequency: Some(Freq::Cron), cron: "not a cron".into(), ..RuleInput::default() }),
            "cron"
        );
        assert_eq!(field(RuleInput { frequency: None, ..daily() }), "frequency");
        assert_eq!(
            field(RuleInput { frequency: Some(Freq::Monthly), day_of_month: Some(32), ..RuleInput::default() }),
            "day_of_month"
        );
        let sixth_monday = Some((6, Weekday::Mon));
        let monthly = RuleInput { frequency: Some(Freq::Monthly), nth_weekday: sixth_monday, ..RuleInput::default() };
        assert_eq!(field(monthly), "nth_weekday.n", "the position is what is wrong, not the day of month");
        assert_eq!(field(RuleInput { nth_weekday: Some((1, Weekday::Mon)), ..daily() }), "nth_weekday");
    }

    #[test]
    fn a_calendar_rule_needs_a_due_date_but_cron_does_not() {
        assert!(RecurrenceSpec::validate(daily()).unwrap().check_due(false).is_err());
        let cron = RuleInput { frequency: Some(Freq::Cron), cron: "0 9 * * MON".into(), ..RuleInput::default() };
        assert!(RecurrenceSpec::validate(cron).unwrap().check_due(false).is_ok());
    }

    #[test]
    fn the_zone_defaults_to_the_dues_and_round_trips_through_json() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let spec = RecurrenceSpec::validate(daily()).unwrap();
        assert_eq!(spec.time_zone, None);
        assert_eq!(spec.rule(Some(berlin)).unwrap().time_zone(), berlin);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<RecurrenceSpec>(&json).unwrap(), spec);
    }
}
