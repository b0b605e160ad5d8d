//! Settings, from environment variables with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RECURRENCE_GRPC_ADDR` | `127.0.0.1:50052` | the Dapr app callback (and health) |
//! | `DAPR_GRPC_ENDPOINT` / `DAPR_GRPC_PORT` | required | the sidecar |
//! | `PUBSUB_NAME` | `pubsub` | pub/sub component |
//! | `TASK_EVENTS_TOPIC` | `task-events` | where completions come from and `task.recurred` goes |
//! | `RECURRENCE_DEAD_LETTER_TOPIC` | `task-events-dlq` | events that can never be handled |
//! | `STATE_STORE` | `statestore` | the schedule registry |
//! | `TASK_APP_ID` | `task` | the task service's Dapr app id |
//! | `SWEEP_BINDING` | `recurrence-sweep` | the cron input binding |
//! | `SHUTDOWN_GRACE_SECONDS` | `20` | drain time |
//! | `GRPC_REQUEST_TIMEOUT_SECONDS`, `GRPC_MAX_CONCURRENT_STREAMS`, `GRPC_MAX_MESSAGE_BYTES`, `RATE_LIMIT_PER_USER`, `RATE_LIMIT_BURST` | `30`, `200`, 1 MiB, `100`, twice the rate | limits of every call ([`shared::grpc::Limits`]) |
//! | `METRICS_ADDR` | `127.0.0.1:9202` | where Prometheus scrapes `/metrics` (`off`: nowhere) |

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The tokens between the app and its sidecar (`DAPR_API_TOKEN`, `APP_API_TOKEN`).
    pub dapr_tokens: shared::config::DaprTokens,
    pub grpc_addr: SocketAddr,
    pub sidecar: String,
    pub pubsub: String,
    pub topic: String,
    pub dead_letter_topic: String,
    pub state_store: String,
    pub task_app_id: String,
    pub sweep_binding: String,
    pub sidecar_wait: Duration,
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
            grpc_addr: shared::config::addr("RECURRENCE_GRPC_ADDR", "127.0.0.1:50052")?,
            sidecar: shared::config::sidecar_address().context(
                "DAPR_GRPC_ENDPOINT or DAPR_GRPC_PORT must be set: the recurrence service works through Dapr",
            )?,
            pubsub: shared::config::string("PUBSUB_NAME", "pubsub"),
            topic: shared::config::string("TASK_EVENTS_TOPIC", "task-events"),
            dead_letter_topic: shared::config::string("RECURRENCE_DEAD_LETTER_TOPIC", "task-events-dlq"),
            state_store: shared::config::string("STATE_STORE", "statestore"),
            task_app_id: shared::config::string("TASK_APP_ID", "task"),
            sweep_binding: shared::config::string("SWEEP_BINDING", "recurrence-sweep"),
            sidecar_wait: Duration::from_secs(60),
            shutdown_grace: shared::config::shutdown_grace()?,
            limits: shared::grpc::Limits::from_env()?,
            metrics_addr: shared::config::metrics_addr("127.0.0.1:9202")?,
        })
    }

    /// Port 0 on loopback, the given sidecar.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests(sidecar: &str) -> Self {
        Self {
            dapr_tokens: shared::config::DaprTokens::default(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            sidecar: sidecar.to_owned(),
            pubsub: "pubsub".to_owned(),
            topic: "task-events".to_owned(),
            dead_letter_topic: "task-events-dlq".to_owned(),
            state_store: "statestore".to_owned(),
            task_app_id: "task".to_owned(),
            sweep_binding: "recurrence-sweep".to_owned(),
            sidecar_wait: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(5),
            limits: shared::grpc::Limits::default().unthrottled(),
            metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        }
    }
}
