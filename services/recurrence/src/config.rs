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

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;

#[derive(Debug, Clone)]
pub struct Settings {
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
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Self {
            grpc_addr: var("RECURRENCE_GRPC_ADDR")
                .as_deref()
                .unwrap_or("127.0.0.1:50052")
                .parse()
                .context("RECURRENCE_GRPC_ADDR must be host:port")?,
            sidecar: shared::dapr::sidecar::sidecar_address_from_env().context(
                "DAPR_GRPC_ENDPOINT or DAPR_GRPC_PORT must be set: the recurrence service works through Dapr",
            )?,
            pubsub: var("PUBSUB_NAME").unwrap_or_else(|| "pubsub".to_owned()),
            topic: var("TASK_EVENTS_TOPIC").unwrap_or_else(|| "task-events".to_owned()),
            dead_letter_topic: var("RECURRENCE_DEAD_LETTER_TOPIC").unwrap_or_else(|| "task-events-dlq".to_owned()),
            state_store: var("STATE_STORE").unwrap_or_else(|| "statestore".to_owned()),
            task_app_id: var("TASK_APP_ID").unwrap_or_else(|| "task".to_owned()),
            sweep_binding: var("SWEEP_BINDING").unwrap_or_else(|| "recurrence-sweep".to_owned()),
            sidecar_wait: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(
                var("SHUTDOWN_GRACE_SECONDS").map(|v| v.parse()).transpose().context("a number")?.unwrap_or(20),
            ),
        })
    }

    /// Port 0 on loopback, the given sidecar.
    pub fn for_tests(sidecar: &str) -> Self {
        Self {
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
        }
    }
}
