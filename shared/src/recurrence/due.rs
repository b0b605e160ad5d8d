//! When a task is due: a whole day, or a wall-clock time in an IANA zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::validation::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// A whole day, with no time and no zone.
    Date(NaiveDate),
    /// A wall-clock time, read in `zone`: stays 09:00 when the offset changes.
    DateTime { local: NaiveDateTime, zone: Tz },
}

impl Due {
    /// `YYYY-MM-DD`.
    pub fn parse_date(raw: &str) -> Result<NaiveDate, Invalid> {
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| Invalid::new("", format!("`{raw}` is not a date of the form YYYY-MM-DD")))
    }

    /// `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`, no offset.
    pub fn parse_local(raw: &str) -> Result<NaiveDateTime, Invalid> {
        let raw = raw.trim();
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M"))
            .map_err(|_| {
                Invalid::new("", format!("`{raw}` is not a local date-time of the form YYYY-MM-DDTHH:MM[:SS]"))
            })
    }

    /// An IANA zone name such as `Europe/Berlin`.
    pub fn parse_zone(raw: &str) -> Result<Tz, Invalid> {
        raw.trim().parse::<Tz>().map_err(|_| Invalid::new("", format!("`{raw}` is not an IANA time zone")))
    }

    /// The instant the task is due. A whole day counts from its start in UTC.
    pub fn instant(&self) -> DateTime<Utc> {
        match self {
            Due::Date(date) => date.and_time(NaiveTime::MIN).and_utc(),
            Due::DateTime { local, zone } => resolve_local(*local, *zone),
        }
    }

    /// The wall-clock start of the due, for recurrence anchoring.
    pub fn local(&self) -> NaiveDateTime {
        match self {
            Due::Date(date) => date.and_time(NaiveTime::MIN),
            Due::DateTime { local, .. } => *local,
        }
    }

    /// The zone of a date-time due.
    pub fn zone(&self) -> Option<Tz> {
        match self {
            Due::Date(_) => None,
            Due::DateTime { zone, .. } => Some(*zone),
        }
    }
}

/// The instant of a wall-clock time in `zone`: the earlier one when the time
/// happens twice, and the time shifted by the gap when it does not exist.
pub fn resolve_local(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        chrono::LocalResult::None => {
            // In a spring-forward gap: read the time with the offset in force
            // just before the gap, which lands as far past the gap as the
            // wall clock was asked to be into it.
            let before = local - chrono::Duration::hours(24);
            let offset = match zone.from_local_datetime(&before) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                    t.offset().fix().local_minus_utc()
                }
                chrono::LocalResult::None => 0,
            };
            (local - chrono::Duration::seconds(i64::from(offset))).and_utc()
        }
    }
}

use chrono::Offset as _;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_whole_day_is_due_at_its_utc_midnight() {
        let due = Due::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(due.instant().to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }

    #[test]
    fn a_wall_clock_time_follows_its_zone_offset() {
        let zone = Due::parse_zone("Europe/Berlin").unwrap();
        let winter = Due::DateTime { local: Due::parse_local("2026-01-15T09:00").unwrap(), zone };
        let summer = Due::DateTime { local: Due::parse_local("2026-07-15T09:00:00").unwrap(), zone };
        assert_eq!(winter.instant().to_rfc3339(), "2026-01-15T08:00:00+00:00");
        assert_eq!(summer.instant().to_rfc3339(), "2026-07-15T07:00:00+00:00");
    }

    #[test]
    fn a_time_in_a_dst_gap_moves_forward_and_an_ambiguous_one_takes_the_earlier_instant() {
        let zone = Due::parse_zone("America/New_York").unwrap();
        let gap = resolve_local(Due::parse_local("2026-03-08T02:30").unwrap(), zone);
        assert_eq!(gap.to_rfc3339(), "2026-03-08T07:30:00+00:00");
        let overlap = resolve_local(Due::parse_local("2026-11-01T01:30").unwrap(), zone);
        assert_eq!(overlap.to_rfc3339(), "2026-11-01T05:30:00+00:00");
    }

    #[test]
    fn malformed_values_are_rejected() {
        assert!(Due::parse_date("2026-13-01").is_err());
        assert!(Due::parse_date("tomorrow").is_err());
        assert!(Due::parse_local("2026-12-01 09:00").is_err());
        assert!(Due::parse_zone("Mars/Olympus").is_err());
    }
}
