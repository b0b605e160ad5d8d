//! Settings, from environment variables with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AUDIT_GRPC_ADDR` | `127.0.0.1:50055` | the gRPC API and the Dapr app callback |
//! | `DATABASE_URL` | `sqlite://data/audit.db?mode=rwc` | `postgres://…` or `sqlite://…` |
//! | `DATABASE_AUTO_MIGRATE` | `true` for SQLite | apply migrations at start-up |
//! | `PUBSUB_NAME` | `pubsub` | the Dapr pub/sub component |
//! | `TASK_EVENTS_TOPIC` | `task-events` | the topic audited |
//! | `AUDIT_DEAD_LETTER_TOPIC` | `task-events-dlq` | where events that can never be recorded go |
//! | `PAGE_TOKEN_SECRET`, `AUTH_*`, `APP_API_TOKEN`, `SHUTDOWN_GRACE_SECONDS`, `GRPC_*`, `RATE_LIMIT_*` | as the task service |
//! | `METRICS_ADDR` | `127.0.0.1:9205` | where Prometheus scrapes `/metrics` (`off`: nowhere) | |

use std::{net::SocketAddr, time::Duration};

use shared::auth::AuthConfig;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The tokens between the app and its sidecar (`DAPR_API_TOKEN`, `APP_API_TOKEN`).
    pub dapr_tokens: shared::config::DaprTokens,
    pub grpc_addr: SocketAddr,
    pub database_url: String,
    pub auto_migrate: bool,
    pub pubsub: String,
    pub topic: String,
    pub dead_letter_topic: String,
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
        let database_url = shared::config::string("DATABASE_URL", "sqlite://data/audit.db?mode=rwc");
        Ok(Self {
            dapr_tokens: shared::config::DaprTokens::from_env(),
            grpc_addr: shared::config::addr("AUDIT_GRPC_ADDR", "127.0.0.1:50055")?,
            auto_migrate: shared::config::auto_migrate(&database_url)?,
            database_url,
            pubsub: shared::config::string("PUBSUB_NAME", "pubsub"),
            topic: shared::config::string("TASK_EVENTS_TOPIC", "task-events"),
            dead_letter_topic: shared::config::string("AUDIT_DEAD_LETTER_TOPIC", "task-events-dlq"),
            page_token_secret: shared::config::secret("PAGE_TOKEN_SECRET", "insecure-development-page-token-secret"),
            shutdown_grace: shared::config::shutdown_grace()?,
            limits: shared::grpc::Limits::from_env()?,
            metrics_addr: shared::config::metrics_addr("127.0.0.1:9205")?,
            auth: AuthConfig::from_env(),
        })
    }

    /// Port 0 on loopback, the given database, HS256 with `secret`.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests(database_url: &str, secret: &str) -> Self {
        Self {
            dapr_tokens: shared::config::DaprTokens::default(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_owned(),
            auto_migrate: true,
            pubsub: "pubsub".to_owned(),
            topic: "task-events".to_owned(),
            dead_letter_topic: "task-events-dlq".to_owned(),
            page_token_secret: shared::config::Secret::new("test"),
            shutdown_grace: Duration::from_secs(5),
            limits: shared::grpc::Limits::default().unthrottled(),
            metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            auth: AuthConfig::hs256(secret),
        }
    }
}
