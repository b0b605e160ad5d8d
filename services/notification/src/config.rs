//! Settings, from environment variables with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `NOTIFICATION_GRPC_ADDR` | `127.0.0.1:50054` | the gRPC API and the Dapr app callback |
//! | `DATABASE_URL` | `sqlite://data/notification.db?mode=rwc` | `postgres://…` or `sqlite://…` |
//! | `DATABASE_AUTO_MIGRATE` | `true` for SQLite | apply migrations at start-up |
//! | `DAPR_GRPC_ENDPOINT` / `DAPR_GRPC_PORT` | `http://127.0.0.1:50001` | the sidecar (for the email binding) |
//! | `DAPR_API_TOKEN`, `APP_API_TOKEN` | unset | tokens to and from the sidecar |
//! | `PUBSUB_NAME` | `pubsub` | the Dapr pub/sub component |
//! | `REMINDERS_TOPIC` | `reminders` | `reminder.due` events |
//! | `TASK_EVENTS_TOPIC` | `task-events` | task events (delivered when opted into) |
//! | `NOTIFICATION_DEAD_LETTER_TOPIC` | `notifications-dlq` | permanent failures, on both subscriptions |
//! | `EMAIL_BINDING_NAME` | `email` | the Dapr `bindings.smtp` output binding |
//! | `WEBHOOK_TIMEOUT_SECONDS` | `10` | per webhook request |
//! | `DELIVERY_LEASE_SECONDS` | `120` | how long an in-flight attempt holds its delivery |
//! | `PAGE_TOKEN_SECRET`, `AUTH_*`, `SHUTDOWN_GRACE_SECONDS`, `GRPC_*`, `RATE_LIMIT_*` | as the task service |
//! | `METRICS_ADDR` | `127.0.0.1:9204` | where Prometheus scrapes `/metrics` (`off`: nowhere) | |
//! | `RUST_LOG`, `LOG_FORMAT`, `OTEL_EXPORTER_OTLP_ENDPOINT` | | logs and traces |

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use shared::auth::AuthConfig;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The tokens between the app and its sidecar (`DAPR_API_TOKEN`, `APP_API_TOKEN`).
    pub dapr_tokens: shared::config::DaprTokens,
    pub grpc_addr: SocketAddr,
    pub database_url: String,
    pub auto_migrate: bool,
    pub sidecar: String,
    pub pubsub: String,
    pub reminders_topic: String,
    pub task_topic: String,
    pub dead_letter_topic: String,
    pub email_binding: String,
    pub webhook_timeout: Duration,
    pub lease: chrono::Duration,
    pub page_token_secret: shared::config::Secret,
    pub shutdown_grace: Duration,
    /// Call time limit, streams per connection, message size, per-user rate.
    pub limits: shared::grpc::Limits,
    /// Where `/metrics` is served (None: not at all).
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub auth: AuthConfig,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let database_url = shared::config::string("DATABASE_URL", "sqlite://data/notification.db?mode=rwc");
        Ok(Self {
            dapr_tokens: shared::config::DaprTokens::from_env(),
            grpc_addr: shared::config::addr("NOTIFICATION_GRPC_ADDR", "127.0.0.1:50054")?,
            auto_migrate: shared::config::auto_migrate(&database_url)?,
            database_url,
            sidecar: shared::config::sidecar_address().unwrap_or_else(|| "http://127.0.0.1:50001".to_owned()),
            pubsub: shared::config::string("PUBSUB_NAME", "pubsub"),
            reminders_topic: shared::config::string("REMINDERS_TOPIC", "reminders"),
            task_topic: shared::config::string("TASK_EVENTS_TOPIC", "task-events"),
            dead_letter_topic: shared::config::string("NOTIFICATION_DEAD_LETTER_TOPIC", "notifications-dlq"),
            email_binding: shared::config::string("EMAIL_BINDING_NAME", "email"),
            webhook_timeout: Duration::from_secs(shared::config::parse::<u64>("WEBHOOK_TIMEOUT_SECONDS", 10)?),
            lease: chrono::Duration::seconds(
                i64::try_from(shared::config::parse::<u64>("DELIVERY_LEASE_SECONDS", 120)?)
                    .context("DELIVERY_LEASE_SECONDS is too large")?,
            ),
            page_token_secret: shared::config::secret("PAGE_TOKEN_SECRET", "insecure-development-page-token-secret"),
            shutdown_grace: shared::config::shutdown_grace()?,
            limits: shared::grpc::Limits::from_env()?,
            metrics_addr: shared::config::metrics_addr("127.0.0.1:9204")?,
            auth: AuthConfig::from_env(),
        })
    }

    /// Port 0 on loopback, the given database and sidecar, HS256 with `secret`.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests(database_url: &str, sidecar: &str, secret: &str) -> Self {
        Self {
            dapr_tokens: shared::config::DaprTokens::default(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_owned(),
            auto_migrate: true,
            sidecar: sidecar.to_owned(),
            pubsub: "pubsub".to_owned(),
            reminders_topic: "reminders".to_owned(),
            task_topic: "task-events".to_owned(),
            dead_letter_topic: "notifications-dlq".to_owned(),
            email_binding: "email".to_owned(),
            webhook_timeout: Duration::from_secs(5),
            lease: chrono::Duration::seconds(30),
            page_token_secret: shared::config::Secret::new("test"),
            shutdown_grace: Duration::from_secs(5),
            limits: shared::grpc::Limits::default().unthrottled(),
            metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            auth: AuthConfig::hs256(secret),
        }
    }
}
