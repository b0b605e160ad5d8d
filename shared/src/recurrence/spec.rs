//! A task's recurrence rule, valid, in the form stored with the task: made
//! only from the wire message ([`super::wire::parse_rule`], which validates
//! it) or from storage. The date math it hands over to is the parent
//! module's [`Rule`].

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
    use crate::{proto::todo::task::v1 as pb, recurrence::wire::parse_rule};

    fn rule(frequency: pb::recurrence_rule::Frequency, cron: &str) -> RecurrenceSpec {
        parse_rule(&pb::RecurrenceRule { frequency: frequency as i32, cron: cron.into(), ..Default::default() })
            .unwrap()
    }

    #[test]
    fn a_calendar_rule_needs_a_due_date_but_cron_does_not() {
        use pb::recurrence_rule::Frequency as F;
        assert!(rule(F::Daily, "").check_due(false).is_err());
        assert!(rule(F::Cron, "0 9 * * MON").check_due(false).is_ok());
    }

    #[test]
    fn the_zone_defaults_to_the_dues_and_round_trips_through_json() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let spec = rule(pb::recurrence_rule::Frequency::Daily, "");
        assert_eq!(spec.time_zone, None);
        assert_eq!(spec.rule(Some(berlin)).unwrap().time_zone(), berlin);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<RecurrenceSpec>(&json).unwrap(), spec);
    }
}
