//! Settings, from environment variables with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TASK_GRPC_ADDR` | `127.0.0.1:50051` | where the gRPC API (and, later, the Dapr app callback) listens |
//! | `DATABASE_URL` | `sqlite://data/tasks.db?mode=rwc` | `postgres://…` or `sqlite://…` |
//! | `DATABASE_AUTO_MIGRATE` | `true` for SQLite, `false` otherwise | apply migrations at start-up (production runs the `migrate` job instead) |
//! | `TASK_EVENTS_TOPIC` | `task-events` | topic of task events in the outbox |
//! | `PAGE_TOKEN_SECRET` | a development value | HMAC key of page tokens; the same on every replica |
//! | `SHUTDOWN_GRACE_SECONDS` | `20` | how long in-flight calls may take to finish after SIGTERM |
//! | `GRPC_REQUEST_TIMEOUT_SECONDS`, `GRPC_MAX_CONCURRENT_STREAMS`, `GRPC_MAX_MESSAGE_BYTES`, `RATE_LIMIT_PER_USER`, `RATE_LIMIT_BURST` | `30`, `200`, 1 MiB, `100`, twice the rate | limits of every call ([`shared::grpc::Limits`]) |
//! | `METRICS_ADDR` | `127.0.0.1:9201` | where Prometheus scrapes `/metrics` (`off`: nowhere) |
//! | `DAPR_GRPC_ENDPOINT` / `DAPR_GRPC_PORT` | unset | the sidecar; when set, the outbox relay publishes through it |
//! | `DAPR_API_TOKEN`, `APP_API_TOKEN` | unset | tokens toward and from the sidecar |
//! | `PUBSUB_NAME` | `pubsub` | the Dapr pub/sub component events go to |
//! | `APP_ID` | `task` | the Dapr app id, the `source` of events |
//! | `AUTH_HS256_SECRET`, `AUTH_JWKS_URL`, `AUTH_ISSUER`, `AUTH_AUDIENCE` | see [`shared::auth`] | token verification |
//! | `RUST_LOG`, `LOG_FORMAT`, `OTEL_EXPORTER_OTLP_ENDPOINT` | see [`shared::telemetry`] | logs and traces |

use std::{net::SocketAddr, time::Duration};

use shared::auth::AuthConfig;

pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/tasks.db?mode=rwc";
const DEV_PAGE_TOKEN_SECRET: &str = "insecure-development-page-token-secret";

#[derive(Debug, Clone)]
pub struct Settings {
    /// The tokens between the app and its sidecar (`DAPR_API_TOKEN`, `APP_API_TOKEN`).
    pub dapr_tokens: shared::config::DaprTokens,
    pub grpc_addr: SocketAddr,
    pub database_url: String,
    pub auto_migrate: bool,
    pub topic: String,
    pub page_token_secret: shared::config::Secret,
    pub shutdown_grace: Duration,
    /// Call time limit, streams per connection, message size, per-user rate.
    pub limits: shared::grpc::Limits,
    /// Where `/metrics` is served (None: not at all).
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub auth: AuthConfig,
    /// Publishing through Dapr; None runs without a sidecar (events stay in the outbox).
    pub dapr: Option<DaprSettings>,
}

#[derive(Debug, Clone)]
pub struct DaprSettings {
    /// e.g. `http://127.0.0.1:50001`.
    pub sidecar: String,
    pub pubsub: String,
    pub app_id: String,
    /// The relay's longest wait between attempts while the sidecar is down.
    pub max_backoff: Duration,
    /// How often the relay counts the outbox backlog (log and metrics).
    pub backlog_report_interval: Duration,
}

impl DaprSettings {
    pub fn new(sidecar: impl Into<String>) -> Self {
        Self {
            sidecar: sidecar.into(),
            pubsub: "pubsub".to_owned(),
            app_id: "task".to_owned(),
            max_backoff: Duration::from_secs(5),
            backlog_report_interval: Duration::from_secs(10),
        }
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let database_url = shared::config::string("DATABASE_URL", DEFAULT_DATABASE_URL);
        let auto_migrate = shared::config::auto_migrate(&database_url)?;
        Ok(Self {
            dapr_tokens: shared::config::DaprTokens::from_env(),
            grpc_addr: shared::config::addr("TASK_GRPC_ADDR", DEFAULT_GRPC_ADDR)?,
            database_url,
            auto_migrate,
            topic: shared::config::string("TASK_EVENTS_TOPIC", "task-events"),
            page_token_secret: shared::config::secret("PAGE_TOKEN_SECRET", DEV_PAGE_TOKEN_SECRET),
            shutdown_grace: shared::config::shutdown_grace()?,
            limits: shared::grpc::Limits::from_env()?,
            metrics_addr: shared::config::metrics_addr("127.0.0.1:9201")?,
            auth: AuthConfig::from_env(),
            dapr: shared::config::sidecar_address().map(|sidecar| DaprSettings {
                sidecar,
                pubsub: shared::config::string("PUBSUB_NAME", "pubsub"),
                app_id: shared::config::string("APP_ID", "task"),
                max_backoff: Duration::from_secs(5),
                backlog_report_interval: Duration::from_secs(10),
            }),
        })
    }

    /// Settings for tests: port 0 on loopback, the given database, HS256 with `secret`.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests(database_url: &str, secret: &str) -> Self {
        Self {
            dapr_tokens: shared::config::DaprTokens::default(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_owned(),
            auto_migrate: true,
            topic: "task-events".to_owned(),
            page_token_secret: shared::config::Secret::new("test-page-token-secret"),
            shutdown_grace: Duration::from_secs(5),
            limits: shared::grpc::Limits::default().unthrottled(),
            metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            auth: AuthConfig::hs256(secret),
            dapr: None,
        }
    }
}
