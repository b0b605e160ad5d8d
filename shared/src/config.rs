//! Reading settings from environment variables, one way for every service:
//! a variable that is unset or blank takes its documented default; one that
//! is set but malformed is an error naming it, reported at start-up.

use std::{net::SocketAddr, str::FromStr, time::Duration};

#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub reason: String,
}

/// The value of `name`, if set and not blank.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The value of `name`, or `default`.
pub fn string(name: &str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_owned())
}

/// `name` parsed as `T`, or `default`.
pub fn parse<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => {
            raw.trim().parse().map_err(|e: T::Err| ConfigError { name: name.to_owned(), reason: e.to_string() })
        }
    }
}

/// `name` as `host:port`, or `default`.
pub fn addr(name: &str, default: &str) -> Result<SocketAddr, ConfigError> {
    let raw = string(name, default);
    raw.parse().map_err(|_| ConfigError { name: name.to_owned(), reason: format!("`{raw}` is not host:port") })
}

/// `name` as whole seconds, or `default_secs`.
pub fn seconds(name: &str, default_secs: u64) -> Result<Duration, ConfigError> {
    parse(name, default_secs).map(Duration::from_secs)
}

/// How long in-flight work may take to finish after SIGTERM
/// (`SHUTDOWN_GRACE_SECONDS`, default 20).
pub fn shutdown_grace() -> Result<Duration, ConfigError> {
    seconds("SHUTDOWN_GRACE_SECONDS", 20)
}

/// `DATABASE_AUTO_MIGRATE`, by default on for SQLite (`make dev`, tests)
/// and off for PostgreSQL, where the Helm hook runs the migrations.
pub fn auto_migrate(database_url: &str) -> Result<bool, ConfigError> {
    parse("DATABASE_AUTO_MIGRATE", database_url.starts_with("sqlite:"))
}

/// Where the service serves `/metrics`: `METRICS_ADDR` (`host:port`), else
/// `default`; `off` serves none.
pub fn metrics_addr(default: &str) -> Result<Option<SocketAddr>, ConfigError> {
    match var("METRICS_ADDR") {
        Some(value) if value.trim().eq_ignore_ascii_case("off") => Ok(None),
        _ => addr("METRICS_ADDR", default).map(Some),
    }
}
