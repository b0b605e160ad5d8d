//! The date math's cases: calendar patterns, month ends, DST gaps and
//! overlaps, cron, ends, termination.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use chrono::Weekday::{Fri, Mon, Tue, Wed};

// ---- helpers -------------------------------------------------------------------

fn local(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .unwrap()
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn zone(name: &str) -> Tz {
    Rule::parse_time_zone(name).unwrap()
}

fn calendar(frequency: Frequency, interval: u32) -> Pattern {
    Pattern::Calendar { frequency, interval, weekdays: vec![], monthly_by: None }
}

fn weekly(interval: u32, weekdays: &[Weekday]) -> Pattern {
    Pattern::Calendar { frequency: Frequency::Weekly, interval, weekdays: weekdays.to_vec(), monthly_by: None }
}

fn monthly(by: Option<MonthlyBy>) -> Pattern {
    Pattern::Calendar { frequency: Frequency::Monthly, interval: 1, weekdays: vec![], monthly_by: by }
}

fn rule(pattern: Pattern, end: End, tz: &str, missing: MissingDatePolicy) -> Rule {
    Rule::new(pattern, end, zone(tz), missing).unwrap()
}

fn locals(occurrences: &[Occurrence]) -> Vec<NaiveDateTime> {
    occurrences.iter().map(|o| o.local).collect()
}

fn locals_of(texts: &[&str]) -> Vec<NaiveDateTime> {
    texts.iter().map(|t| local(t)).collect()
}

fn dates_of(occurrences: &[Occurrence]) -> Vec<String> {
    occurrences.iter().map(|o| o.local.date().format("%Y-%m-%d").to_string()).collect()
}

use MissingDatePolicy::{Clamp, Skip};

// ---- calendar patterns: local wall-clock sequences ---------------------------------

/// (name, rule, start, n, expected local date-times)
#[test]
fn calendar_sequences() {
    let cases: Vec<(&str, Rule, &str, usize, Vec<&str>)> = vec![
        (
            "daily",
            rule(calendar(Frequency::Daily, 1), End::Never, "UTC", Clamp),
            "2026-02-27 09:00",
            4,
            vec!["2026-02-27 09:00", "2026-02-28 09:00", "2026-03-01 09:00", "2026-03-02 09:00"],
        ),
        (
            "every 3 days",
            rule(calendar(Frequency::Daily, 3), End::Never, "UTC", Clamp),
            "2026-12-28 07:15",
            4,
            vec!["2026-12-28 07:15", "2026-12-31 07:15", "2027-01-03 07:15", "2027-01-06 07:15"],
        ),
        (
            "every 2 weeks Mon/Wed/Fri from a Wednesday",
            rule(weekly(2, &[Fri, Mon, Wed, Mon]), End::Never, "UTC", Clamp),
            "2026-01-07 18:00",
            8,
            vec![
                "2026-01-07 18:00", // Wed: anchor
                "2026-01-09 18:00", // Fri, same week (Mon 5th is before the anchor)
                "2026-01-19 18:00", // Mon, two weeks later
                "2026-01-21 18:00",
                "2026-01-23 18:00",
                "2026-02-02 18:00",
                "2026-02-04 18:00",
                "2026-02-06 18:00",
            ],
        ),
        (
            "weekly without weekdays uses the anchor's weekday",
            rule(calendar(Frequency::Weekly, 1), End::Never, "UTC", Clamp),
            "2026-01-01 10:00",
            3,
            vec!["2026-01-01 10:00", "2026-01-08 10:00", "2026-01-15 10:00"],
        ),
        (
            "weekly anchor off-pattern still counts as occurrence 0",
            rule(weekly(1, &[Mon]), End::Never, "UTC", Clamp),
            "2026-01-06 10:00", // Tuesday
            3,
            vec!["2026-01-06 10:00", "2026-01-12 10:00", "2026-01-19 10:00"],
        ),
        (
            "monthly 31st clamp, common year",
            rule(monthly(None), End::Never, "UTC", Clamp),
            "2026-01-31 09:00",
            13,
            vec![
                "2026-01-31 09:00",
                "2026-02-28 09:00",
                "2026-03-31 09:00",
                "2026-04-30 09:00",
                "2026-05-31 09:00",
                "2026-06-30 09:00",
                "2026-07-31 09:00",
                "2026-08-31 09:00",
                "2026-09-30 09:00",
                "2026-10-31 09:00",
                "2026-11-30 09:00",
                "2026-12-31 09:00",
                "2027-01-31 09:00",
            ],
        ),
        (
            "monthly 31st clamp, leap year",
            rule(monthly(None), End::Never, "UTC", Clamp),
            "2024-01-31 09:00",
            13,
            vec![
                "2024-01-31 09:00",
                "2024-02-29 09:00",
                "2024-03-31 09:00",
                "2024-04-30 09:00",
                "2024-05-31 09:00",
                "2024-06-30 09:00",
                "2024-07-31 09:00",
                "2024-08-31 09:00",
                "2024-09-30 09:00",
                "2024-10-31 09:00",
                "2024-11-30 09:00",
                "2024-12-31 09:00",
                "2025-01-31 09:00",
            ],
        ),
        (
            "monthly 31st skip, common year",
            rule(monthly(None), End::Until(date("2026-12-31")), "UTC", Skip),
            "2026-01-31 09:00",
            100,
            vec![
                "2026-01-31 09:00",
                "2026-03-31 09:00",
                "2026-05-31 09:00",
                "2026-07-31 09:00",
                "2026-08-31 09:00",
                "2026-10-31 09:00",
                "2026-12-31 09:00",
            ],
        ),
        (
            "monthly 31st skip, leap year (Feb 29 is still not the 31st)",
            rule(monthly(Some(MonthlyBy::DayOfMonth(31))), End::Until(date("2024-12-31")), "UTC", Skip),
            "2024-01-31 09:00",
            100,
            vec![
                "2024-01-31 09:00",
                "2024-03-31 09:00",
                "2024-05-31 09:00",
                "2024-07-31 09:00",
                "2024-08-31 09:00",
                "2024-10-31 09:00",
                "2024-12-31 09:00",
            ],
        ),
        (
            "monthly last day",
            rule(monthly(Some(MonthlyBy::DayOfMonth(-1))), End::Never, "UTC", Skip),
            "2024-01-31 09:00",
            5,
            vec!["2024-01-31 09:00", "2024-02-29 09:00", "2024-03-31 09:00", "2024-04-30 09:00", "2024-05-31 09:00"],
        ),
        (
            "monthly 30th clamps to Feb 28",
            rule(monthly(None), End::Never, "UTC", Clamp),
            "2026-01-30 09:00",
            4,
            vec!["2026-01-30 09:00", "2026-02-28 09:00", "2026-03-30 09:00", "2026-04-30 09:00"],
        ),
        (
            "monthly 30th skips February",
            rule(monthly(None), End::Never, "UTC", Skip),
            "2026-01-30 09:00",
            3,
            vec!["2026-01-30 09:00", "2026-03-30 09:00", "2026-04-30 09:00"],
        ),
        (
            "monthly explicit day after a mid-month anchor",
            rule(monthly(Some(MonthlyBy::DayOfMonth(15))), End::Never, "UTC", Clamp),
            "2026-01-03 09:00",
            3,
            vec!["2026-01-03 09:00", "2026-01-15 09:00", "2026-02-15 09:00"],
        ),
        (
            "every 3 months on the 31st, clamp",
            rule(
                Pattern::Calendar { frequency: Frequency::Monthly, interval: 3, weekdays: vec![], monthly_by: None },
                End::Never,
                "UTC",
                Clamp,
            ),
            "2026-01-31 09:00",
            4,
            vec!["2026-01-31 09:00", "2026-04-30 09:00", "2026-07-31 09:00", "2026-10-31 09:00"],
        ),
        (
            "second Tuesday",
            rule(monthly(Some(MonthlyBy::NthWeekday { n: 2, weekday: Tue })), End::Never, "UTC", Clamp),
            "2026-01-13 08:00",
            4,
            vec!["2026-01-13 08:00", "2026-02-10 08:00", "2026-03-10 08:00", "2026-04-14 08:00"],
        ),
        (
            "last Friday",
            rule(monthly(Some(MonthlyBy::NthWeekday { n: -1, weekday: Fri })), End::Never, "UTC", Skip),
            "2026-01-30 16:00",
            4,
            vec!["2026-01-30 16:00", "2026-02-27 16:00", "2026-03-27 16:00", "2026-04-24 16:00"],
        ),
        (
            "fifth Monday, clamp to the last Monday",
            rule(monthly(Some(MonthlyBy::NthWeekday { n: 5, weekday: Mon })), End::Never, "UTC", Clamp),
            "2026-03-30 08:00",
            6,
            vec![
                "2026-03-30 08:00",
                "2026-04-27 08:00",
                "2026-05-25 08:00",
                "2026-06-29 08:00",
                "2026-07-27 08:00",
                "2026-08-31 08:00",
            ],
        ),
        (
            "fifth Monday, skip months without one",
            rule(monthly(Some(MonthlyBy::NthWeekday { n: 5, weekday: Mon })), End::Never, "UTC", Skip),
            "2026-03-30 08:00",
            4,
            vec!["2026-03-30 08:00", "2026-06-29 08:00", "2026-08-31 08:00", "2026-11-30 08:00"],
        ),
        (
            "yearly on Feb 29, clamp",
            rule(calendar(Frequency::Yearly, 1), End::Never, "UTC", Clamp),
            "2024-02-29 12:00",
            9,
            vec![
                "2024-02-29 12:00",
                "2025-02-28 12:00",
                "2026-02-28 12:00",
                "2027-02-28 12:00",
                "2028-02-29 12:00",
                "2029-02-28 12:00",
                "2030-02-28 12:00",
                "2031-02-28 12:00",
                "2032-02-29 12:00",
            ],
        ),
        (
            "yearly on Feb 29, skip (8 years: leap years only)",
            rule(calendar(Frequency::Yearly, 1), End::Until(date("2032-02-29")), "UTC", Skip),
            "2024-02-29 12:00",
            100,
            vec!["2024-02-29 12:00", "2028-02-29 12:00", "2032-02-29 12:00"],
        ),
    ];
    for (name, rule, start, n, expected) in cases {
        let got = rule.preview(local(start), n);
        assert_eq!(locals(&got), locals_of(&expected), "{name}");
        let indices: Vec<u32> = got.iter().map(|o| o.index).collect();
        let expected_indices: Vec<u32> = (0..).take(expected.len()).collect();
        assert_eq!(indices, expected_indices, "{name}: indices are consecutive from 0");
    }
}

// ---- DST -------------------------------------------------------------------------

/// A daily 09:00 task stays at 09:00 local across both transitions; the instants are
/// 23 h apart across spring forward and 25 h apart across fall back.
#[test]
fn daily_nine_oclock_across_dst() {
    // (zone, spring-forward day, fall-back day, UTC instants at 09:00 on the days
    //  before spring, spring, before fall, fall)
    let cases = [
        (
            "Europe/Berlin",
            "2026-03-29",
            "2026-10-25",
            ["2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z"],
        ),
        (
            "America/New_York",
            "2026-03-08",
            "2026-11-01",
            ["2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z", "2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z"],
        ),
        (
            // Southern hemisphere: summer time starts in October and ends in April.
            "Australia/Sydney",
            "2026-10-04",
            "2026-04-05",
            ["2026-10-02T23:00:00Z", "2026-10-03T22:00:00Z", "2026-04-03T22:00:00Z", "2026-04-04T23:00:00Z"],
        ),
    ];
    for (tz, spring, fall, expected) in cases {
        let daily = rule(calendar(Frequency::Daily, 1), End::Never, tz, Clamp);
        for (day, before, after, hours) in
            [(spring, expected[0], expected[1], 23), (fall, expected[2], expected[3], 25)]
        {
            let start = date(day).pred_opt().unwrap().and_hms_opt(9, 0, 0).unwrap();
            let got = daily.preview(start, 2);
            assert_eq!(got[0].local, start, "{tz} {day}");
            assert_eq!(got[1].local, date(day).and_hms_opt(9, 0, 0).unwrap(), "{tz} {day}");
            assert_eq!(got[0].instant, instant(before), "{tz} {day}");
            assert_eq!(got[1].instant, instant(after), "{tz} {day}");
            assert_eq!(got[1].instant - got[0].instant, TimeDelta::hours(hours), "{tz} {day}");
        }
    }
}

#[test]
fn time_in_spring_forward_gap_moves_forward_by_the_gap() {
    let daily = rule(calendar(Frequency::Daily, 1), End::Never, "America/New_York", Clamp);
    let got = daily.preview(local("2026-03-07 02:30"), 3);
    assert_eq!(locals(&got), locals_of(&["2026-03-07 02:30", "2026-03-08 03:30", "2026-03-09 02:30"]));
    assert_eq!(got[1].instant, instant("2026-03-08T07:30:00Z"));
    assert_eq!(got[2].instant, instant("2026-03-09T06:30:00Z"));
}

#[test]
fn time_in_fall_back_overlap_takes_the_earlier_instant() {
    let daily = rule(calendar(Frequency::Daily, 1), End::Never, "America/New_York", Clamp);
    let got = daily.preview(local("2026-10-31 01:30"), 3);
    assert_eq!(locals(&got), locals_of(&["2026-10-31 01:30", "2026-11-01 01:30", "2026-11-02 01:30"]));
    assert_eq!(got[1].instant, instant("2026-11-01T05:30:00Z")); // EDT, not 06:30Z (EST)
    assert_eq!(got[2].instant, instant("2026-11-02T06:30:00Z"));
}

// ---- ends ------------------------------------------------------------------------

#[test]
fn count_yields_exactly_that_many() {
    let daily = rule(calendar(Frequency::Daily, 1), End::Count(5), "UTC", Clamp);
    let all: Vec<Occurrence> = daily.occurrences(local("2026-01-01 09:00")).collect();
    assert_eq!(all.len(), 5);
    assert_eq!(all[4].local, local("2026-01-05 09:00"));
    assert_eq!(all[4].index, 4);
    assert_eq!(daily.preview(local("2026-01-01 09:00"), 100).len(), 5);
}

#[test]
fn count_ignores_skipped_dates() {
    let rule = rule(monthly(None), End::Count(3), "UTC", Skip);
    let got = rule.preview(local("2026-01-31 09:00"), 10);
    assert_eq!(dates_of(&got), ["2026-01-31", "2026-03-31", "2026-05-31"]);
}

#[test]
fn until_is_inclusive_on_the_local_date() {
    // 23:30 in Berlin is already the next day in UTC: the local date decides.
    let daily = rule(calendar(Frequency::Daily, 1), End::Until(date("2026-01-03")), "Europe/Berlin", Clamp);
    let got: Vec<Occurrence> = daily.occurrences(local("2026-01-01 23:30")).collect();
    assert_eq!(dates_of(&got), ["2026-01-01", "2026-01-02", "2026-01-03"]);
    assert_eq!(got[2].instant, instant("2026-01-03T22:30:00Z"));
}

#[test]
fn until_before_start_is_valid_and_empty() {
    let daily = rule(calendar(Frequency::Daily, 1), End::Until(date("2025-12-31")), "UTC", Clamp);
    assert_eq!(daily.occurrences(local("2026-01-01 09:00")).count(), 0);
}

#[test]
fn impossible_skip_pattern_terminates() {
    // Every 12 months from April on the 31st: April never has a 31st.
    let rule = rule(
        Pattern::Calendar {
            frequency: Frequency::Monthly,
            interval: 12,
            weekdays: vec![],
            monthly_by: Some(MonthlyBy::DayOfMonth(31)),
        },
        End::Never,
        "UTC",
        Skip,
    );
    let got: Vec<Occurrence> = rule.occurrences(local("2026-04-30 09:00")).collect();
    assert_eq!(locals(&got), locals_of(&["2026-04-30 09:00"]));
}

// ---- repeating ---------------------------------------------------------------------

#[test]
fn next_after_keeps_the_original_anchor() {
    let clamp = rule(monthly(None), End::Never, "UTC", Clamp);
    let start = local("2026-01-31 09:00");
    let cases = [
        ("2026-01-31 09:00", "2026-02-28 09:00", 1),
        ("2026-02-28 09:00", "2026-03-31 09:00", 2), // not Mar 28
        ("2026-03-31 08:59", "2026-03-31 09:00", 2),
        ("2026-04-15 00:00", "2026-04-30 09:00", 3),
    ];
    for (after, expected, index) in cases {
        let next = clamp.next_after(start, local(after)).unwrap();
        assert_eq!((next.local, next.index), (local(expected), index), "after {after}");
    }
}

#[test]
fn next_after_respects_count() {
    let rule = rule(monthly(None), End::Count(2), "UTC", Clamp);
    let start = local("2026-01-31 09:00");
    assert_eq!(rule.next_after(start, local("2026-01-31 09:00")).map(|o| o.local), Some(local("2026-02-28 09:00")));
    assert_eq!(rule.next_after(start, local("2026-02-28 09:00")), None);
}

#[test]
fn next_from_completion_daily_uses_the_series_time_of_day() {
    let daily = rule(calendar(Frequency::Daily, 1), End::Never, "Europe/Berlin", Clamp);
    let start = local("2026-01-10 09:00");
    // Completed late, at 22:00 Berlin time (21:00Z) on Jan 12.
    let next = daily.next_from_completion(start, instant("2026-01-12T21:00:00Z"), 3).unwrap();
    assert_eq!(next.local, local("2026-01-13 09:00"));
    assert_eq!(next.instant, instant("2026-01-13T08:00:00Z"));
    assert_eq!(next.index, 3);
    // 23:30 Berlin is 22:30Z: the local date (Jan 12) is what counts, not the UTC date.
    let next = daily.next_from_completion(start, instant("2026-01-12T22:30:00Z"), 3).unwrap();
    assert_eq!(next.local, local("2026-01-13 09:00"));
}

#[test]
fn next_from_completion_calendar_cases() {
    let cases: Vec<(&str, Rule, &str, &str)> = vec![
        (
            "every 3 days",
            rule(calendar(Frequency::Daily, 3), End::Never, "UTC", Clamp),
            "2026-01-05T07:00:00Z",
            "2026-01-08 09:00",
        ),
        (
            "biweekly Mon/Wed/Fri completed on a Tuesday",
            rule(weekly(2, &[Mon, Wed, Fri]), End::Never, "UTC", Clamp),
            "2026-01-13T15:00:00Z",
            "2026-01-14 09:00",
        ),
        (
            "biweekly Mon/Wed/Fri completed on a Friday",
            rule(weekly(2, &[Mon, Wed, Fri]), End::Never, "UTC", Clamp),
            "2026-01-16T15:00:00Z",
            "2026-01-26 09:00",
        ),
        (
            "monthly re-anchors on the completion day",
            rule(monthly(None), End::Never, "UTC", Clamp),
            "2026-01-20T15:00:00Z",
            "2026-02-20 09:00",
        ),
        (
            "monthly on the 31st completed on Jan 31",
            rule(monthly(Some(MonthlyBy::DayOfMonth(31))), End::Never, "UTC", Clamp),
            "2026-01-31T15:00:00Z",
            "2026-02-28 09:00",
        ),
    ];
    for (name, rule, completed, expected) in cases {
        let next = rule.next_from_completion(local("2026-01-01 09:00"), instant(completed), 1).unwrap();
        assert_eq!(next.local, local(expected), "{name}");
    }
}

#[test]
fn next_from_completion_respects_end() {
    let start = local("2026-01-01 09:00");
    let counted = rule(calendar(Frequency::Daily, 1), End::Count(3), "UTC", Clamp);
    assert!(counted.next_from_completion(start, instant("2026-01-02T10:00:00Z"), 2).is_some());
    assert_eq!(counted.next_from_completion(start, instant("2026-01-03T10:00:00Z"), 3), None);
    let until = rule(calendar(Frequency::Daily, 1), End::Until(date("2026-01-05")), "UTC", Clamp);
    assert!(until.next_from_completion(start, instant("2026-01-04T10:00:00Z"), 4).is_some());
    assert_eq!(until.next_from_completion(start, instant("2026-01-05T10:00:00Z"), 5), None);
}

// ---- cron ------------------------------------------------------------------------

#[test]
fn cron_weekdays_in_berlin_stay_at_nine_across_dst() {
    let cron = rule(Pattern::Cron("0 9 * * MON-FRI".into()), End::Never, "Europe/Berlin", Clamp);
    // Thursday before the spring-forward Sunday (2026-03-29).
    let got = cron.preview(local("2026-03-26 09:00"), 4);
    assert_eq!(
        locals(&got),
        locals_of(&["2026-03-26 09:00", "2026-03-27 09:00", "2026-03-30 09:00", "2026-03-31 09:00"])
    );
    let instants: Vec<DateTime<Utc>> = got.iter().map(|o| o.instant).collect();
    assert_eq!(
        instants,
        [
            instant("2026-03-26T08:00:00Z"),
            instant("2026-03-27T08:00:00Z"),
            instant("2026-03-30T07:00:00Z"),
            instant("2026-03-31T07:00:00Z"),
        ]
    );
    assert_eq!(got.iter().map(|o| o.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[test]
fn cron_first_occurrence_is_first_match_at_or_after_start() {
    let cron = rule(Pattern::Cron("0 9 * * MON-FRI".into()), End::Never, "Europe/Berlin", Clamp);
    let got = cron.preview(local("2026-03-28 10:00"), 1); // Saturday
    assert_eq!(got[0].local, local("2026-03-30 09:00"));
    assert_eq!(got[0].index, 0);
}

#[test]
fn cron_with_seconds_field() {
    let cron = rule(Pattern::Cron("30 0 9 * * *".into()), End::Count(2), "UTC", Clamp);
    let got = cron.preview(local("2026-01-01 00:00"), 5);
    assert_eq!(locals(&got), locals_of(&["2026-01-01 09:00:30", "2026-01-02 09:00:30"]));
}

#[test]
fn cron_until_and_next_after() {
    let cron = rule(Pattern::Cron("0 12 * * *".into()), End::Until(date("2026-01-03")), "UTC", Clamp);
    let start = local("2026-01-01 00:00");
    assert_eq!(cron.occurrences(start).count(), 3);
    let next = cron.next_after(start, local("2026-01-02 12:00")).unwrap();
    assert_eq!((next.local, next.index), (local("2026-01-03 12:00"), 2));
    assert_eq!(cron.next_after(start, local("2026-01-03 12:00")), None);
}

#[test]
fn cron_next_from_completion_is_strictly_after() {
    let cron = rule(Pattern::Cron("0 9 * * *".into()), End::Never, "Europe/Berlin", Clamp);
    let start = local("2026-01-01 09:00");
    // Completed exactly at (and a fraction after) 09:00 Berlin: the next match is tomorrow.
    for completed in ["2026-01-05T08:00:00Z", "2026-01-05T08:00:00.250Z"] {
        let next = cron.next_from_completion(start, instant(completed), 4).unwrap();
        assert_eq!((next.local, next.index), (local("2026-01-06 09:00"), 4), "{completed}");
    }
    // Completed at 08:59:59.5 Berlin: today's 09:00 is still ahead.
    let next = cron.next_from_completion(start, instant("2026-01-05T07:59:59.500Z"), 4).unwrap();
    assert_eq!(next.local, local("2026-01-05 09:00"));
}

#[test]
fn cron_fixed_time_in_gap_follows_croner() {
    // Documented difference from calendar patterns: croner runs it right after the gap.
    let cron = rule(Pattern::Cron("30 2 * * *".into()), End::Never, "America/New_York", Clamp);
    let got = cron.preview(local("2026-03-08 00:00"), 1);
    assert_eq!(got[0].local, local("2026-03-08 03:00"));
    assert_eq!(got[0].instant, instant("2026-03-08T07:00:00Z"));
}

// ---- validation ------------------------------------------------------------------

#[test]
fn invalid_rules_name_the_offending_field() {
    let utc = zone("UTC");
    let cases: Vec<(Pattern, End, &str)> = vec![
        (calendar(Frequency::Daily, 0), End::Never, "interval"),
        (
            Pattern::Calendar { frequency: Frequency::Daily, interval: 1, weekdays: vec![Mon], monthly_by: None },
            End::Never,
            "weekdays",
        ),
        (monthly(Some(MonthlyBy::DayOfMonth(32))), End::Never, "monthly_by.day_of_month"),
        (monthly(Some(MonthlyBy::DayOfMonth(0))), End::Never, "monthly_by.day_of_month"),
        (monthly(Some(MonthlyBy::DayOfMonth(-2))), End::Never, "monthly_by.day_of_month"),
        (monthly(Some(MonthlyBy::NthWeekday { n: 0, weekday: Mon })), End::Never, "monthly_by.nth_weekday"),
        (monthly(Some(MonthlyBy::NthWeekday { n: 6, weekday: Mon })), End::Never, "monthly_by.nth_weekday"),
        (monthly(Some(MonthlyBy::NthWeekday { n: -2, weekday: Mon })), End::Never, "monthly_by.nth_weekday"),
        (
            Pattern::Calendar {
                frequency: Frequency::Yearly,
                interval: 1,
                weekdays: vec![],
                monthly_by: Some(MonthlyBy::DayOfMonth(1)),
            },
            End::Never,
            "monthly_by",
        ),
        (Pattern::Cron("not a cron".into()), End::Never, "cron"),
        (Pattern::Cron("61 * * * *".into()), End::Never, "cron"),
        (Pattern::Cron("0 0 9 * * * 2030".into()), End::Never, "cron"), // 7 fields
        (Pattern::Cron(String::new()), End::Never, "cron"),
        (calendar(Frequency::Daily, 1), End::Count(0), "end"),
    ];
    for (pattern, end, field) in cases {
        let error = Rule::new(pattern.clone(), end, utc, Clamp).expect_err(&format!("{pattern:?}"));
        assert_eq!(error.field(), field, "{pattern:?}: {error}");
    }
}

#[test]
fn cron_patterns_that_cannot_match_are_refused_at_once() {
    // Found by fuzzing: an empty hour list made every search take seconds.
    for expression in ["012 ,\x0c 2 * MON", "* , * * * *", "0 0 30 2 *", "0 0 31W 2 *", "0 0 1,,2 * *"] {
        let started = std::time::Instant::now();
        let error = Rule::new(Pattern::Cron(expression.into()), End::Never, zone("UTC"), Clamp).unwrap_err();
        assert_eq!(error.field(), "cron", "{expression:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{expression:?} took {:?}", started.elapsed());
    }
    assert!(Rule::new(Pattern::Cron("0 9 29 2 *".into()), End::Never, zone("UTC"), Clamp).is_ok(), "leap days exist");
}

#[test]
fn invalid_cron_message_includes_croners_reason() {
    let error = Rule::new(Pattern::Cron("61 * * * *".into()), End::Never, zone("UTC"), Clamp).unwrap_err();
    let RuleError::InvalidCron { reason, .. } = &error else { panic!("{error:?}") };
    assert!(!reason.is_empty());
    assert!(error.to_string().contains(reason.as_str()), "{error}");
}

#[test]
fn time_zone_names() {
    assert_eq!(Rule::parse_time_zone("Europe/Berlin"), Ok(chrono_tz::Europe::Berlin));
    let error = Rule::parse_time_zone("Mars/Olympus_Mons").unwrap_err();
    assert_eq!(error.field(), "time_zone");
    assert_eq!(error, RuleError::UnknownTimeZone { name: "Mars/Olympus_Mons".into() });
}

#[test]
fn accessors_return_what_was_given() {
    let pattern = weekly(1, &[Wed, Mon]);
    let rule = rule(pattern.clone(), End::Count(3), "Asia/Tokyo", Skip);
    assert_eq!(rule.pattern(), &pattern);
    assert_eq!(rule.end(), &End::Count(3));
    assert_eq!(rule.time_zone(), chrono_tz::Asia::Tokyo);
    assert_eq!(rule.missing(), Skip);
}
