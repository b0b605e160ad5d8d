//! Time formats Dapr borrows from Go: durations (`1m30s`, `200ms`) and the
//! schedules shared by the cron binding and the Jobs API.
//!
//! - [`go_duration`] parses Go's `time.ParseDuration` syntax (units `ns`,
//!   `us`/`µs`, `ms`, `s`, `m`, `h`, fractions allowed) plus a bare number of
//!   seconds, which the resiliency and TTL fields also accept.
//! - [`Schedule`] is `@every <duration>`, a descriptor (`@hourly`, `@daily`,
//!   …) or a 5- or 6-field cron (seconds first when there are six), evaluated
//!   with croner. A `CRON_TZ=Area/City` prefix is accepted and ignored: times
//!   follow the runtime's local zone, as daprd's do.

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Local, Utc};
use croner::Cron;

/// Parses a Go duration such as `1h30m`, `200ms` or `-1s` (negative values
/// are rejected), or a plain number of seconds.
pub fn go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs));
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Some(Duration::from_secs_f64(total))
}

/// When something repeats.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// `@every 15s`: a fixed period, counted from the previous firing.
    Every(Duration),
    /// A cron expression (or a descriptor croner understands).
    Cron(Box<Cron>),
}

impl Schedule {
    /// Parses `@every <go duration>`, `@hourly`-style descriptors and 5/6-field cron.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut text = text.trim();
        if let Some(rest) = text.strip_prefix("CRON_TZ=").or_else(|| text.strip_prefix("TZ=")) {
            text = rest.split_once(' ').map(|(_, expr)| expr.trim()).unwrap_or("");
        }
        if let Some(period) = text.strip_prefix("@every") {
            let period = go_duration(period).ok_or_else(|| anyhow::anyhow!("invalid @every duration in {text:?}"))?;
            anyhow::ensure!(!period.is_zero(), "@every needs a positive duration");
            return Ok(Self::Every(period));
        }
        // `@midnight` and `@annually` are Go cron aliases croner may not know.
        let text = match text {
            "@midnight" => "@daily",
            "@annually" => "@yearly",
            other => other,
        };
        let cron = Cron::from_str(text).map_err(|e| anyhow::anyhow!("invalid cron {text:?}: {e}"))?;
        Ok(Self::Cron(Box::new(cron)))
    }

    /// The first firing strictly after `after`, or `None` if there is none.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Every(period) => Some(after + chrono::Duration::from_std(*period).ok()?),
            Self::Cron(cron) => {
                let local = after.with_timezone(&Local);
                cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
            }
        }
    }
}

/// Parses an RFC 3339 timestamp, or a Go duration counted from `now`.
pub fn time_or_offset(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(at.with_timezone(&Utc));
    }
    go_duration(text).and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| now + d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(go_duration("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(go_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(go_duration("5x"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn schedules_accept_every_descriptors_and_both_cron_widths() {
        let now = Utc::now();
        let every = Schedule::parse("@every 15s").unwrap();
        assert_eq!(every.next_after(now), Some(now + chrono::Duration::seconds(15)));
        for expr in ["@daily", "@hourly", "@midnight", "*/5 * * * *", "0 30 * * * *", "CRON_TZ=UTC 0 * * * *"] {
            let next = Schedule::parse(expr).unwrap().next_after(now).unwrap();
            assert!(next > now, "{expr}");
        }
        assert!(Schedule::parse("not a cron").is_err());
    }
}
