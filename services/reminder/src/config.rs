//! Settings, from environment variables with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REMINDER_GRPC_ADDR` | `127.0.0.1:50053` | gRPC: health, reflection and the Dapr app callback |
//! | `DAPR_GRPC_ENDPOINT` / `DAPR_GRPC_PORT` | `http://127.0.0.1:50001` | the sidecar (as daprd's injector sets them) |
//! | `DAPR_API_TOKEN`, `APP_API_TOKEN` | unset | tokens to and from the sidecar |
//! | `APP_ID` | `reminder` | the CloudEvent `source` of published events |
//! | `PUBSUB_NAME` | `pubsub` | the Dapr pub/sub component |
//! | `TASK_EVENTS_TOPIC` | `task-events` | the topic consumed |
//! | `REMINDER_DEAD_LETTER_TOPIC` | `task-events-dlq` | where task events that can never be applied go |
//! | `REMINDERS_TOPIC` | `reminders` | where `reminder.due` goes |
//! | `STATE_STORE_NAME` | `statestore` | the Dapr state store |
//! | `REMINDER_MAX_LATENESS_SECONDS` | `86400` | a past reminder set by an event fires at once only this late at most |
//! | `REMINDER_JOB_RETRY_INTERVAL_MS` | `5000` | scheduler retry interval after a transient callback failure |
//! | `REMINDER_JOB_MAX_RETRIES` | `720` | …and how many times (default: an hour) |
//! | `SHUTDOWN_GRACE_SECONDS` | `20` | drain time after SIGTERM |
//! | `GRPC_REQUEST_TIMEOUT_SECONDS`, `GRPC_MAX_CONCURRENT_STREAMS`, `GRPC_MAX_MESSAGE_BYTES`, `RATE_LIMIT_PER_USER`, `RATE_LIMIT_BURST` | `30`, `200`, 1 MiB, `100`, twice the rate | limits of every call ([`shared::grpc::Limits`]) |
//! | `METRICS_ADDR` | `127.0.0.1:9203` | where Prometheus scrapes `/metrics` (`off`: nowhere) |
//! | `RUST_LOG`, `LOG_FORMAT`, `OTEL_EXPORTER_OTLP_ENDPOINT` | | logs and traces |

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;

use crate::jobs::RetryPolicy;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The tokens between the app and its sidecar (`DAPR_API_TOKEN`, `APP_API_TOKEN`).
    pub dapr_tokens: shared::config::DaprTokens,
    pub grpc_addr: SocketAddr,
    pub sidecar: String,
    pub app_id: String,
    pub pubsub: String,
    pub task_topic: String,
    pub dead_letter_topic: String,
    pub reminders_topic: String,
    pub state_store: String,
    pub max_lateness: chrono::Duration,
    pub job_retry: RetryPolicy,
    pub shutdown_grace: Duration,
    /// Call time limit, streams per connection, message size, per-user rate.
    pub limits: shared::grpc::Limits,
    /// Where `/metrics` is served (None: not at all).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            dapr_tokens: shared::config::DaprTokens::from_env(),
            grpc_addr: shared::config::addr("REMINDER_GRPC_ADDR", "127.0.0.1:50053")?,
            sidecar: shared::config::sidecar_address().unwrap_or_else(|| "http://127.0.0.1:50001".to_owned()),
            app_id: shared::config::string("APP_ID", "reminder"),
            pubsub: shared::config::string("PUBSUB_NAME", "pubsub"),
            task_topic: shared::config::string("TASK_EVENTS_TOPIC", "task-events"),
            dead_letter_topic: shared::config::string("REMINDER_DEAD_LETTER_TOPIC", "task-events-dlq"),
            reminders_topic: shared::config::string("REMINDERS_TOPIC", "reminders"),
            state_store: shared::config::string("STATE_STORE_NAME", "statestore"),
            max_lateness: chrono::Duration::seconds(
                i64::try_from(shared::config::parse::<u64>("REMINDER_MAX_LATENESS_SECONDS", 86_400)?)
                    .context("too large")?,
            ),
            job_retry: RetryPolicy {
                interval: Duration::from_millis(shared::config::parse::<u64>("REMINDER_JOB_RETRY_INTERVAL_MS", 5000)?),
                max_retries: u32::try_from(shared::config::parse::<u64>("REMINDER_JOB_MAX_RETRIES", 720)?)
                    .context("too large")?,
            },
            shutdown_grace: shared::config::shutdown_grace()?,
            limits: shared::grpc::Limits::from_env()?,
            metrics_addr: shared::config::metrics_addr("127.0.0.1:9203")?,
        })
    }

    /// Port 0 on loopback, the given sidecar, fast job retries.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests(sidecar: &str) -> Self {
        Self {
            dapr_tokens: shared::config::DaprTokens::default(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            sidecar: sidecar.to_owned(),
            app_id: "reminder".to_owned(),
            pubsub: "pubsub".to_owned(),
            task_topic: "task-events".to_owned(),
            dead_letter_topic: "task-events-dlq".to_owned(),
            reminders_topic: "reminders".to_owned(),
            state_store: "statestore".to_owned(),
            max_lateness: chrono::Duration::hours(24),
            job_retry: RetryPolicy { interval: Duration::from_millis(200), max_retries: 50 },
            shutdown_grace: Duration::from_secs(5),
            limits: shared::grpc::Limits::default().unthrottled(),
            metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        }
    }
}
