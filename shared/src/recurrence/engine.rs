//! Recurrence date math: when is a repeating task due next?
//!
//! This module is pure computation (no I/O, no clock reads). A [`Rule`] describes a
//! repeating series; together with an *anchor* (`start`, the wall-clock time of the
//! first occurrence) it yields [`Occurrence`]s lazily.
//!
//! # Local time first, instants second
//!
//! Every occurrence is computed as a **local wall-clock time** in the rule's time zone
//! and only then converted to an instant. Fixed durations are never added, so a task due
//! daily at 09:00 stays at 09:00 local across daylight-saving changes (the instants of two
//! consecutive occurrences are then 23 h or 25 h apart).
//!
//! Converting a wall-clock time that does not map to exactly one instant:
//!
//! * **Gap** (spring forward; e.g. 02:30 on the day New York jumps from 02:00 to 03:00):
//!   the time is moved forward by the length of the gap (02:30 becomes 03:30). This is the
//!   instant a clock that did not jump would show as 02:30, i.e. the wall time read with
//!   the offset in force *before* the transition.
//! * **Overlap** (fall back; e.g. 01:30 happens twice): the **earlier** instant is used.
//!
//! [`Occurrence::local`] is the wall-clock time actually shown at the occurrence's instant
//! (03:30 in the gap example), so `local` and `instant` always agree.
//!
//! # Calendar patterns
//!
//! A [`Pattern::Calendar`] splits time into *periods* of `interval` days, weeks, months or
//! years, counted from the anchor. Occurrence dates are derived from the **anchor and the
//! period number**, never from the previous occurrence. That is why a monthly series on
//! the 31st goes Jan 31 → Feb 28 → Mar 31 (with [`MissingDatePolicy::Clamp`]) instead of
//! drifting to the 28th for good. Every occurrence keeps the anchor's time of day.
//!
//! * **The anchor is always occurrence 0**, even when it does not match the pattern
//!   (a weekly Mon/Wed/Fri series anchored on a Tuesday starts on that Tuesday). Dates of
//!   the first period that fall after the anchor follow as occurrences 1, 2, …; dates of
//!   the first period before the anchor are dropped.
//! * **Daily**: one date per period, `start + k * interval` days.
//! * **Weekly**: period `k` is the ISO week (Monday–Sunday) containing the anchor, plus
//!   `k * interval` weeks. Within a period the chosen weekdays come in Monday-first order
//!   (the list is sorted and de-duplicated; an empty list means the anchor's weekday).
//! * **Monthly**: the anchor's month plus `k * interval` months, on the day given by
//!   [`MonthlyBy`] (default: the anchor's day of month). `DayOfMonth(-1)` is the last day,
//!   `NthWeekday { n: -1, .. }` the last such weekday of the month.
//! * **Yearly**: the anchor's month and day, every `interval` years.
//!
//! When the wanted date does not exist (the 31st of a 30-day month, 29 February in a common
//! year, a fifth Monday) the [`MissingDatePolicy`] decides: `Clamp` uses the last valid
//! date (the last day of the month, the last such weekday), `Skip` drops that period.
//! Skipped periods consume neither an index nor a [`End::Count`].
//!
//! # Cron patterns
//!
//! A [`Pattern::Cron`] is a 5-field (`min hour dom mon dow`) or 6-field (seconds first)
//! expression, evaluated by the `croner` crate in the rule's time zone. Occurrence 0 is the
//! first match at or after the anchor (sub-second anchors are rounded up to the next whole
//! second). Across DST changes croner's own rules apply (see its documentation): a job at a
//! fixed time inside a gap runs at the first valid time after the gap (02:30 → 03:00, unlike
//! calendar patterns), and in an overlap a fixed-time job runs once, at the first pass.
//!
//! # Ends
//!
//! [`End::Count`]`(n)` allows exactly `n` occurrences (indices `0..n`, the anchor included).
//! [`End::Until`]`(date)` allows occurrences whose local date is on or before `date`
//! (an `Until` before the anchor simply yields nothing).
//!
//! # Repeating a task
//!
//! * [`Rule::next_after`] ("repeat from the due date"): the next occurrence of the *original*
//!   series after a given local time. The anchor never moves, so month-end clamping never
//!   drifts.
//! * [`Rule::next_from_completion`] ("repeat from completion"): re-anchors the series on the
//!   completion's local date (keeping the original time of day) and returns occurrence 1 of
//!   that re-anchored series; see the method for details.
//!
//! # Termination
//!
//! Iterators are lazy and may be infinite ([`End::Never`]). A calendar pattern that cannot
//! produce a date (for example `Skip` on the 31st every 12 months from April) stops after
//! scanning 10 000 consecutive periods without a hit, and every iterator stops at the edge of
//! the representable calendar instead of panicking.

use std::collections::VecDeque;

use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike,
    Utc, Weekday,
};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// How many consecutive periods without any occurrence a calendar iterator scans before it
/// concludes that the pattern cannot produce one and stops.
const MAX_EMPTY_PERIODS: u32 = 10_000;

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

/// The unit of a calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// Every `interval` days.
    Daily,
    /// Every `interval` ISO weeks (Monday to Sunday).
    Weekly,
    /// Every `interval` months.
    Monthly,
    /// Every `interval` years.
    Yearly,
}

/// Which day of the month a monthly series falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MonthlyBy {
    /// A day of the month, `1..=31`, or `-1` for the last day of the month.
    DayOfMonth(i8),
    /// The `n`-th `weekday` of the month: `n` in `1..=5`, or `-1` for the last one.
    NthWeekday {
        /// Which one: `1..=5`, or `-1` for the last.
        n: i8,
        /// The weekday counted.
        weekday: Weekday,
    },
}

/// What to do when the wanted date does not exist in a period (the 31st of a 30-day
/// month, 29 February in a common year, the fifth Monday of a month that has four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissingDatePolicy {
    /// Use the last valid date instead: the last day of the month, or the last such
    /// weekday of the month.
    Clamp,
    /// Leave that period out. It consumes neither an index nor a count.
    Skip,
}

/// When a series stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// Never.
    Never,
    /// After the last occurrence whose local date is on or before this date (inclusive).
    Until(NaiveDate),
    /// After this many occurrences in total, the first one included. Must be at least 1.
    Count(u32),
}

/// What a series repeats on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Calendar arithmetic in periods of `interval` days, weeks, months or years.
    Calendar {
        /// The unit of a period.
        frequency: Frequency,
        /// Length of a period in units of `frequency`; at least 1.
        interval: u32,
        /// Weekly only: the weekdays of each week. Empty means the anchor's weekday.
        weekdays: Vec<Weekday>,
        /// Monthly only: the day of each month. `None` means the anchor's day of month.
        monthly_by: Option<MonthlyBy>,
    },
    /// A 5-field (`min hour dom mon dow`) or 6-field (seconds first) cron expression,
    /// evaluated in the rule's time zone.
    Cron(String),
}

/// A validated recurrence rule. Build it with [`Rule::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pattern: Pattern,
    end: End,
    time_zone: Tz,
    missing: MissingDatePolicy,
    /// The pattern in the form the iterators work with, prepared once by [`Rule::new`].
    compiled: Compiled,
}

/// One occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Occurrence {
    /// 0-based position within the series (0 = the first occurrence).
    pub index: u32,
    /// Wall-clock time in the rule's time zone (after any DST gap adjustment).
    pub local: NaiveDateTime,
    /// The same moment as an instant.
    pub instant: DateTime<Utc>,
}

/// Why a rule is invalid. [`RuleError::field`] names the offending field.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// `interval` was 0.
    #[error("interval must be at least 1")]
    ZeroInterval,
    /// `weekdays` was non-empty for a non-weekly frequency.
    #[error("weekdays can only be given for a weekly rule, not {frequency:?}")]
    WeekdaysRequireWeekly {
        /// The rule's actual frequency.
        frequency: Frequency,
    },
    /// `monthly_by` was given for a non-monthly frequency.
    #[error("monthly_by can only be given for a monthly rule, not {frequency:?}")]
    MonthlyByRequiresMonthly {
        /// The rule's actual frequency.
        frequency: Frequency,
    },
    /// `MonthlyBy::DayOfMonth` outside `1..=31` and not `-1`.
    #[error("day of month must be 1..=31 or -1 (last day), got {day}")]
    InvalidDayOfMonth {
        /// The rejected day.
        day: i8,
    },
    /// `MonthlyBy::NthWeekday` with `n` outside `1..=5` and not `-1`.
    #[error("weekday position must be 1..=5 or -1 (last), got {n}")]
    InvalidNthWeekday {
        /// The rejected position.
        n: i8,
    },
    /// The cron expression does not parse (or has a field count other than 5 or 6).
    #[error("invalid cron expression {expression:?}: {reason}")]
    InvalidCron {
        /// The expression as given.
        expression: String,
        /// croner's explanation.
        reason: String,
    },
    /// `End::Count(0)`: the count includes the first occurrence, so 0 is contradictory.
    #[error("an occurrence count must be at least 1")]
    ZeroCount,
    /// The time zone name is not in the IANA database.
    #[error("unknown time zone {name:?}")]
    UnknownTimeZone {
        /// The name as given.
        name: String,
    },
}

impl RuleError {
    /// The name of the field that is wrong: `"interval"`, `"weekdays"`, `"monthly_by"`
    /// (or, more precisely, `"monthly_by.day_of_month"` / `"monthly_by.nth_weekday"`),
    /// `"cron"`, `"end"` or `"time_zone"`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ZeroInterval => "interval",
            Self::WeekdaysRequireWeekly { .. } => "weekdays",
            Self::MonthlyByRequiresMonthly { .. } => "monthly_by",
            Self::InvalidDayOfMonth { .. } => "monthly_by.day_of_month",
            Self::InvalidNthWeekday { .. } => "monthly_by.nth_weekday",
            Self::InvalidCron { .. } => "cron",
            Self::ZeroCount => "end",
            Self::UnknownTimeZone { .. } => "time_zone",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rule
// ---------------------------------------------------------------------------------------

impl Rule {
    /// Validates and builds a rule.
    ///
    /// Only structural problems are errors (see [`RuleError`]); a rule that happens to
    /// produce no occurrence for some anchor (e.g. `Until` before the anchor) is valid.
    pub fn new(pattern: Pattern, end: End, time_zone: Tz, missing: MissingDatePolicy) -> Result<Rule, RuleError> {
        if end == End::Count(0) {
            return Err(RuleError::ZeroCount);
        }
        let compiled = Compiled::from_pattern(&pattern)?;
        Ok(Rule { pattern, end, time_zone, missing, compiled })
    }

    /// Looks up an IANA time zone name such as `"Europe/Berlin"` (case-sensitive).
    pub fn parse_time_zone(name: &str) -> Result<Tz, RuleError> {
        name.parse::<Tz>().map_err(|_| RuleError::UnknownTimeZone { name: name.to_owned() })
    }

    /// The zone all wall-clock times of this rule are in.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The pattern as given to [`Rule::new`].
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// When the series stops.
    pub fn end(&self) -> &End {
        &self.end
    }

    /// What happens to dates that do not exist.
    pub fn missing(&self) -> MissingDatePolicy {
        self.missing
    }

    /// The occurrences of the series anchored at `start` (a wall-clock time in the rule's
    /// zone), lazily and in order, respecting [`End`].
    ///
    /// For calendar patterns `start` is always occurrence 0; for cron patterns occurrence 0
    /// is the first match at or after `start`.
    pub fn occurrences(&self, start: NaiveDateTime) -> impl Iterator<Item = Occurrence> + '_ {
        self.occurrences_until(start, self.end)
    }

    /// The first `n` occurrences (fewer if the series ends sooner).
    pub fn preview(&self, start: NaiveDateTime, n: usize) -> Vec<Occurrence> {
        self.occurrences(start).take(n).collect()
    }

    /// The first occurrence of the series anchored at `start` whose local time is strictly
    /// after `after_local`, or `None` when the series has ended by then.
    ///
    /// Used for "repeat from the due date": the anchor stays `start`, so month-end clamping
    /// never drifts and `Count` counts from the anchor. The cost grows with the number of
    /// occurrences between `start` and `after_local`, since indices must be counted.
    pub fn next_after(&self, start: NaiveDateTime, after_local: NaiveDateTime) -> Option<Occurrence> {
        self.occurrences(start).find(|occurrence| occurrence.local > after_local)
    }

    /// "Repeat from completion": when the task is due next after it was completed at
    /// `completed_at`, given that the series has had `occurrences_so_far` occurrences.
    ///
    /// * Calendar patterns: the series is re-anchored on the completion's **local date** at
    ///   the original time of day (from `start`), and occurrence 1 of that re-anchored
    ///   series is returned. A daily task completed at 22:00 is therefore due the next day
    ///   at the series' time; a task every 2 weeks on Mon/Wed/Fri completed on a Tuesday is
    ///   due that Wednesday. Anything the pattern takes from the anchor (the weekday of a
    ///   weekly rule without weekdays, the day of a monthly rule without `monthly_by`, the
    ///   day of a yearly rule) now comes from the completion date.
    /// * Cron patterns: the first match strictly after `completed_at`.
    ///
    /// The result has index `occurrences_so_far`. It is `None` when `End::Count` is
    /// already used up, or when the result falls after `End::Until`.
    pub fn next_from_completion(
        &self,
        start: NaiveDateTime,
        completed_at: DateTime<Utc>,
        occurrences_so_far: u32,
    ) -> Option<Occurrence> {
        let next = match &self.compiled {
            Compiled::Calendar(spec) => {
                let completed_on = completed_at.with_timezone(&self.time_zone).date_naive();
                let anchor = completed_on.and_time(start.time());
                // The re-anchored series has no end of its own; the real end is checked below.
                CalendarOccurrences::new(self, spec, anchor, End::Never).nth(1)?
            }
            Compiled::Cron(cron) => {
                // Whole seconds: croner works on seconds, and a match in the same second
                // but before the completion must not be returned.
                let completed_at = completed_at.with_nanosecond(0)?;
                let found = cron.find_next_occurrence(&completed_at.with_timezone(&self.time_zone), false).ok()?;
                occurrence_from_zoned(0, &found)
            }
        };
        let next = Occurrence { index: occurrences_so_far, ..next };
        end_allows(self.end, next.index, next.local.date()).then_some(next)
    }

    /// Like [`Rule::occurrences`] with an explicit end.
    fn occurrences_until(&self, start: NaiveDateTime, end: End) -> Occurrences<'_> {
        match &self.compiled {
            Compiled::Calendar(spec) => Occurrences::Calendar(CalendarOccurrences::new(self, spec, start, end)),
            Compiled::Cron(cron) => Occurrences::Cron(CronOccurrences::new(self, cron, start, end)),
        }
    }

    /// Builds the occurrence for a wall-clock time, resolving DST gaps and overlaps.
    fn occurrence_at(&self, index: u32, local: NaiveDateTime) -> Option<Occurrence> {
        let zoned = resolve_local(&self.time_zone, local)?;
        Some(occurrence_from_zoned(index, &zoned))
    }
}

/// Whether `end` still allows an occurrence with this index and local date.
fn end_allows(end: End, index: u32, local_date: NaiveDate) -> bool {
    match end {
        End::Never => true,
        End::Count(count) => index < count,
        End::Until(last_date) => local_date <= last_date,
    }
}

fn occurrence_from_zoned(index: u32, zoned: &DateTime<Tz>) -> Occurrence {
    Occurrence { index, local: zoned.naive_local(), instant: zoned.with_timezone(&Utc) }
}

// ---------------------------------------------------------------------------------------
// Local time → instant
// ---------------------------------------------------------------------------------------

/// Maps a wall-clock time to a zoned time: overlaps take the earlier instant, gaps are
/// crossed by moving forward by the gap's length. `None` only at the calendar's edges.
fn resolve_local(zone: &Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(zoned) => Some(zoned),
        LocalResult::Ambiguous(first, second) => Some(first.min(second)),
        LocalResult::None => cross_gap(zone, local),
    }
}

/// Reads a wall-clock time that falls in a DST gap with the UTC offset in force before
/// the gap. The result is the instant a clock that had not jumped would show as `local`,
/// which the zone displays as `local` plus the gap's length (02:30 → 03:30).
fn cross_gap(zone: &Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    // A day earlier is safely before the transition (gaps are hours long, transitions
    // months apart), so the offset there is the one in force before the gap.
    let before_gap = local.checked_sub_days(Days::new(1))?;
    let offset_before = zone.offset_from_utc_datetime(&before_gap).fix();
    let shift = TimeDelta::try_seconds(i64::from(offset_before.local_minus_utc()))?;
    let utc = local.checked_sub_signed(shift)?;
    Some(zone.from_utc_datetime(&utc))
}

// ---------------------------------------------------------------------------------------
// Validation: Pattern → Compiled
// ---------------------------------------------------------------------------------------

/// A pattern prepared for iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Compiled {
    Calendar(CalendarSpec),
    // Boxed: a parsed cron pattern is much larger than a calendar spec.
    Cron(Box<Cron>),
}

/// A validated calendar pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CalendarSpec {
    frequency: Frequency,
    interval: u32,
    /// Sorted Monday-first and de-duplicated; empty means the anchor's weekday.
    weekdays: Vec<Weekday>,
    /// Monthly only; `None` means the anchor's day of month.
    day: Option<DaySpec>,
}

/// The day wanted within a month, with the validated numbers already unsigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DaySpec {
    /// Day of month, 1..=31.
    Day(u32),
    LastDay,
    /// The n-th (1..=5) such weekday.
    Nth(u8, Weekday),
    LastWeekday(Weekday),
}

impl Compiled {
    fn from_pattern(pattern: &Pattern) -> Result<Compiled, RuleError> {
        match pattern {
            Pattern::Calendar { frequency, interval, weekdays, monthly_by } => {
                CalendarSpec::new(*frequency, *interval, weekdays, *monthly_by).map(Compiled::Calendar)
            }
            Pattern::Cron(expression) => parse_cron(expression).map(|cron| Compiled::Cron(Box::new(cron))),
        }
    }
}

impl CalendarSpec {
    fn new(
        frequency: Frequency,
        interval: u32,
        weekdays: &[Weekday],
        monthly_by: Option<MonthlyBy>,
    ) -> Result<CalendarSpec, RuleError> {
        if interval == 0 {
            return Err(RuleError::ZeroInterval);
        }
        if !weekdays.is_empty() && frequency != Frequency::Weekly {
            return Err(RuleError::WeekdaysRequireWeekly { frequency });
        }
        let day = match monthly_by {
            Some(_) if frequency != Frequency::Monthly => {
                return Err(RuleError::MonthlyByRequiresMonthly { frequency });
            }
            Some(by) => Some(DaySpec::from_monthly_by(by)?),
            None => None,
        };
        let mut weekdays = weekdays.to_vec();
        weekdays.sort_by_key(Weekday::num_days_from_monday);
        weekdays.dedup();
        Ok(CalendarSpec { frequency, interval, weekdays, day })
    }
}

impl DaySpec {
    fn from_monthly_by(by: MonthlyBy) -> Result<DaySpec, RuleError> {
        match by {
            MonthlyBy::DayOfMonth(-1) => Ok(DaySpec::LastDay),
            MonthlyBy::DayOfMonth(day @ 1..=31) => Ok(DaySpec::Day(u32::from(day.unsigned_abs()))),
            MonthlyBy::DayOfMonth(day) => Err(RuleError::InvalidDayOfMonth { day }),
            MonthlyBy::NthWeekday { n: -1, weekday } => Ok(DaySpec::LastWeekday(weekday)),
            MonthlyBy::NthWeekday { n: n @ 1..=5, weekday } => Ok(DaySpec::Nth(n.unsigned_abs(), weekday)),
            MonthlyBy::NthWeekday { n, .. } => Err(RuleError::InvalidNthWeekday { n }),
        }
    }
}

/// Parses a 5- or 6-field cron expression (seconds optional, years not allowed).
/// Parses a cron expression, refusing what would make every later search
/// for its next time expensive: croner accepts a field whose list is empty
/// (`* , * * * *`) and then searches seconds of CPU time for a match that
/// never comes, and a pattern that names impossible dates (`0 0 30 2 *`)
/// costs a bounded but wasted search each time. So: ASCII cron syntax only,
/// no empty list item, and the pattern must match at least once.
fn parse_cron(expression: &str) -> Result<Cron, RuleError> {
    let invalid =
        |reason: &str| RuleError::InvalidCron { expression: expression.to_owned(), reason: reason.to_owned() };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '#' | '?' | ' ' | '\t');
    if !expression.chars().all(allowed) {
        return Err(invalid("only digits, names, `* / , - # ?` and spaces between the fields"));
    }
    if expression.split_whitespace().any(|field| field.split(',').any(str::is_empty)) {
        return Err(invalid("a field has an empty list item"));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|error| invalid(&error.to_string()))?;
    let probe = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or_default(); // 2000-01-01
    cron.find_next_occurrence(&probe, false).map_err(|_| invalid("it never matches (no such date)"))?;
    Ok(cron)
}

// ---------------------------------------------------------------------------------------
// Calendar arithmetic
// ---------------------------------------------------------------------------------------

impl CalendarSpec {
    /// The dates of period `period` of the series anchored on `anchor`, ascending.
    ///
    /// Empty when the period's date does not exist and is skipped; `None` when the period
    /// lies beyond the representable calendar (the series cannot go on).
    fn period_dates(&self, anchor: NaiveDate, period: u64, missing: MissingDatePolicy) -> Option<Vec<NaiveDate>> {
        let units = period.checked_mul(u64::from(self.interval))?;
        match self.frequency {
            Frequency::Daily => Some(vec![anchor.checked_add_days(Days::new(units))?]),
            Frequency::Weekly => self.weekly_dates(anchor, units),
            Frequency::Monthly => {
                let day = self.day.unwrap_or(DaySpec::Day(anchor.day()));
                month_date(anchor, units, day, missing)
            }
            Frequency::Yearly => month_date(anchor, units.checked_mul(12)?, DaySpec::Day(anchor.day()), missing),
        }
    }

    /// The chosen weekdays of the ISO week `weeks` weeks after the anchor's week.
    fn weekly_dates(&self, anchor: NaiveDate, weeks: u64) -> Option<Vec<NaiveDate>> {
        let anchor_monday = anchor.checked_sub_days(Days::new(u64::from(anchor.weekday().num_days_from_monday())))?;
        let monday = anchor_monday.checked_add_days(Days::new(weeks.checked_mul(7)?))?;
        let anchor_weekday = [anchor.weekday()];
        let weekdays = if self.weekdays.is_empty() { &anchor_weekday[..] } else { &self.weekdays[..] };
        weekdays
            .iter()
            .map(|weekday| monday.checked_add_days(Days::new(u64::from(weekday.num_days_from_monday()))))
            .collect()
    }
}

/// The `day` of the month `months` months after the anchor's month, as a 0- or 1-element
/// list (empty when the day is missing and skipped). `None` beyond the calendar's range.
fn month_date(anchor: NaiveDate, months: u64, day: DaySpec, missing: MissingDatePolicy) -> Option<Vec<NaiveDate>> {
    let months = Months::new(u32::try_from(months).ok()?);
    let first = anchor.with_day(1)?.checked_add_months(months)?;
    Some(day_in_month(first, day, missing).into_iter().collect())
}

/// The wanted day of the month starting on `first`, or `None` when it does not exist
/// and `missing` is [`MissingDatePolicy::Skip`].
fn day_in_month(first: NaiveDate, day: DaySpec, missing: MissingDatePolicy) -> Option<NaiveDate> {
    match day {
        DaySpec::Day(day) => match first.with_day(day) {
            Some(date) => Some(date),
            None => fallback(last_day_of_month(first)?, missing),
        },
        DaySpec::LastDay => last_day_of_month(first),
        DaySpec::Nth(n, weekday) => {
            let weeks_later = u64::from(n.saturating_sub(1)) * 7;
            let nth = first_weekday_of_month(first, weekday)?.checked_add_days(Days::new(weeks_later))?;
            if nth.month() == first.month() {
                Some(nth)
            } else {
                fallback(last_weekday_of_month(first, weekday)?, missing)
            }
        }
        DaySpec::LastWeekday(weekday) => last_weekday_of_month(first, weekday),
    }
}

/// Applies the missing-date policy: `Clamp` takes the given substitute, `Skip` nothing.
fn fallback(clamped: NaiveDate, missing: MissingDatePolicy) -> Option<NaiveDate> {
    match missing {
        MissingDatePolicy::Clamp => Some(clamped),
        MissingDatePolicy::Skip => None,
    }
}

fn last_day_of_month(first: NaiveDate) -> Option<NaiveDate> {
    first.checked_add_months(Months::new(1))?.pred_opt()
}

fn first_weekday_of_month(first: NaiveDate, weekday: Weekday) -> Option<NaiveDate> {
    let ahead = days_between(first.weekday(), weekday);
    first.checked_add_days(Days::new(ahead))
}

fn last_weekday_of_month(first: NaiveDate, weekday: Weekday) -> Option<NaiveDate> {
    let last = last_day_of_month(first)?;
    let back = days_between(weekday, last.weekday());
    last.checked_sub_days(Days::new(back))
}

/// Days from weekday `from` forward to the next `to` (0 when equal).
fn days_between(from: Weekday, to: Weekday) -> u64 {
    let from = from.num_days_from_monday();
    let to = to.num_days_from_monday();
    u64::from((to + 7 - from) % 7)
}

// ---------------------------------------------------------------------------------------
// Iterators
// ---------------------------------------------------------------------------------------

/// The iterator behind [`Rule::occurrences`].
enum Occurrences<'a> {
    Calendar(CalendarOccurrences<'a>),
    Cron(CronOccurrences<'a>),
}

impl Iterator for Occurrences<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        match self {
            Occurrences::Calendar(inner) => inner.next(),
            Occurrences::Cron(inner) => inner.next(),
        }
    }
}

/// Walks a calendar pattern period by period.
struct CalendarOccurrences<'a> {
    rule: &'a Rule,
    spec: &'a CalendarSpec,
    end: End,
    start: NaiveDateTime,
    /// The next period whose dates have not been generated yet.
    next_period: u64,
    /// Dates generated but not yet returned, ascending.
    pending: VecDeque<NaiveDate>,
    next_index: u32,
    finished: bool,
}

impl<'a> CalendarOccurrences<'a> {
    fn new(rule: &'a Rule, spec: &'a CalendarSpec, start: NaiveDateTime, end: End) -> Self {
        CalendarOccurrences {
            rule,
            spec,
            end,
            start,
            next_period: 0,
            // The anchor is occurrence 0 whether or not it matches the pattern.
            pending: VecDeque::from([start.date()]),
            next_index: 0,
            finished: false,
        }
    }

    /// Generates the dates of the next period that has any. Returns `false` when the
    /// calendar's range is exhausted or too many periods in a row were empty.
    fn refill(&mut self) -> bool {
        let anchor = self.start.date();
        for _ in 0..MAX_EMPTY_PERIODS {
            let Some(dates) = self.spec.period_dates(anchor, self.next_period, self.rule.missing) else {
                return false;
            };
            self.next_period = self.next_period.saturating_add(1);
            // Only the first period can hold dates on or before the anchor: the anchor
            // itself is already queued, and earlier dates are not part of the series.
            self.pending.extend(dates.into_iter().filter(|date| *date > anchor));
            if !self.pending.is_empty() {
                return true;
            }
        }
        false
    }

    fn next_date(&mut self) -> Option<NaiveDate> {
        if self.pending.is_empty() && !self.refill() {
            return None;
        }
        self.pending.pop_front()
    }
}

impl Iterator for CalendarOccurrences<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        if self.finished {
            return None;
        }
        let occurrence = self
            .next_date()
            .and_then(|date| self.rule.occurrence_at(self.next_index, date.and_time(self.start.time())))
            .filter(|occurrence| end_allows(self.end, occurrence.index, occurrence.local.date()));
        advance(&mut self.next_index, &mut self.finished, occurrence.is_some());
        occurrence
    }
}

/// Walks a cron pattern match by match.
struct CronOccurrences<'a> {
    cron: &'a Cron,
    end: End,
    /// Where the next search starts: the anchor, then the previous match.
    cursor: Option<DateTime<Tz>>,
    /// Whether `cursor` itself may match (only for the anchor).
    inclusive: bool,
    next_index: u32,
    finished: bool,
}

impl<'a> CronOccurrences<'a> {
    fn new(rule: &'a Rule, cron: &'a Cron, start: NaiveDateTime, end: End) -> Self {
        CronOccurrences {
            cron,
            end,
            cursor: round_up_to_second(start).and_then(|start| resolve_local(&rule.time_zone, start)),
            inclusive: true,
            next_index: 0,
            finished: false,
        }
    }
}

impl Iterator for CronOccurrences<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        if self.finished {
            return None;
        }
        let found = self.cursor.as_ref().and_then(|cursor| self.cron.find_next_occurrence(cursor, self.inclusive).ok());
        let occurrence = found
            .as_ref()
            .map(|found| occurrence_from_zoned(self.next_index, found))
            .filter(|occurrence| end_allows(self.end, occurrence.index, occurrence.local.date()));
        self.cursor = found;
        self.inclusive = false;
        advance(&mut self.next_index, &mut self.finished, occurrence.is_some());
        occurrence
    }
}

/// Bookkeeping after an iterator step: count the occurrence, or finish for good (also
/// when the index space is exhausted), so the iterators are fused.
fn advance(next_index: &mut u32, finished: &mut bool, produced: bool) {
    match next_index.checked_add(1) {
        Some(next) if produced => *next_index = next,
        _ => *finished = true,
    }
}

/// Rounds up to a whole second, so "at or after `local`" holds for croner's
/// second-resolution matches.
fn round_up_to_second(local: NaiveDateTime) -> Option<NaiveDateTime> {
    let whole = local.with_nanosecond(0)?;
    if whole == local { Some(whole) } else { whole.checked_add_signed(TimeDelta::try_seconds(1)?) }
}

#[cfg(test)]
mod tests;
