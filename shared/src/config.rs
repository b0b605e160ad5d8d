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

/// A secret setting (a key, a token). Its `Debug` never shows the value, so
/// settings that hold one can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `name` as a [`Secret`], or `default`.
pub fn secret(name: &str, default: &str) -> Secret {
    Secret(string(name, default))
}

/// The sidecar's gRPC address, as daprd's injector sets it:
/// `DAPR_GRPC_ENDPOINT`, else `http://127.0.0.1:$DAPR_GRPC_PORT`; None when
/// neither is set (the app runs without a sidecar).
pub fn sidecar_address() -> Option<String> {
    var("DAPR_GRPC_ENDPOINT").or_else(|| var("DAPR_GRPC_PORT").map(|port| format!("http://127.0.0.1:{port}")))
}

/// The tokens between an app and its sidecar, as daprd's injector sets them.
#[derive(Debug, Clone, Default)]
pub struct DaprTokens {
    /// `DAPR_API_TOKEN`: sent on every call to the sidecar.
    pub dapr_api_token: Option<Secret>,
    /// `APP_API_TOKEN`: what the sidecar must send on every callback.
    pub app_api_token: Option<Secret>,
}

impl DaprTokens {
    pub fn from_env() -> Self {
        Self { dapr_api_token: var("DAPR_API_TOKEN").map(Secret), app_api_token: var("APP_API_TOKEN").map(Secret) }
    }
}

/// How a process logs and exports telemetry.
#[derive(Debug, Clone, Default)]
pub struct TelemetrySettings {
    /// `LOG_FORMAT=json`: one JSON object per line (else compact text).
    pub json_logs: bool,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: where traces and metrics go (None: nowhere).
    pub otlp_endpoint: Option<String>,
    /// Whether log lines are printed at all (tests print them only with `TEST_LOG`).
    pub print_logs: bool,
    /// `RUST_LOG`: which lines, as an `EnvFilter` directive (default `info`).
    pub log_filter: String,
}

impl TelemetrySettings {
    pub fn from_env() -> Self {
        Self {
            json_logs: var("LOG_FORMAT").is_some_and(|f| f.trim().eq_ignore_ascii_case("json")),
            otlp_endpoint: var("OTEL_EXPORTER_OTLP_ENDPOINT"),
            print_logs: true,
            log_filter: string("RUST_LOG", "info"),
        }
    }

    /// Tests: as [`TelemetrySettings::from_env`], printing only when `TEST_LOG` is set.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests() -> Self {
        Self { print_logs: var("TEST_LOG").is_some(), ..Self::from_env() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let tokens = DaprTokens { dapr_api_token: Some(Secret::new("s3cr3t")), app_api_token: None };
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("s3cr3t") && printed.contains("redacted"), "{printed}");
        assert_eq!(tokens.dapr_api_token.unwrap().expose(), "s3cr3t");
    }
}
