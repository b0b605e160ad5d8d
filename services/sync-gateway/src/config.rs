//! Settings, from environment variables with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SYNC_GRPC_ADDR` | `127.0.0.1:50056` | gRPC `Watch` and the Dapr app callback |
//! | `SYNC_WS_ADDR` | `127.0.0.1:8086` | the WebSocket endpoint (`/v1/watch`) |
//! | `DAPR_GRPC_ENDPOINT` / `DAPR_GRPC_PORT` | unset | the sidecar, used to reach the task service |
//! | `TASK_SERVICE_ADDR` | unset | reach the task service directly instead (`http://host:port`) |
//! | `TASK_APP_ID` | `task` | the task service's Dapr app id |
//! | `PUBSUB_NAME`, `TASK_EVENTS_TOPIC` | `pubsub`, `task-events` | where changes come from |
//! | `SYNC_CONNECTION_BUFFER` | `256` | events a connection may lag before it must resync |
//! | `AUTH_*`, `APP_API_TOKEN`, `SHUTDOWN_GRACE_SECONDS`, `GRPC_*`, `RATE_LIMIT_*` | as the task service |
//! | `METRICS_ADDR` | `127.0.0.1:9206` | where Prometheus scrapes `/metrics` (`off`: nowhere) | |

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use shared::auth::AuthConfig;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The tokens between the app and its sidecar (`DAPR_API_TOKEN`, `APP_API_TOKEN`).
    pub dapr_tokens: shared::config::DaprTokens,
    pub grpc_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    /// `(endpoint, Some(app id))` through the sidecar, `(endpoint, None)` direct.
    pub task_feed: (String, Option<String>),
    pub pubsub: String,
    pub topic: String,
    pub connection_buffer: usize,
    pub shutdown_grace: Duration,
    /// Call time limit, streams per connection, message size, per-user rate.
    pub limits: shared::grpc::Limits,
    /// Where `/metrics` is served (None: not at all).
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub auth: AuthConfig,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let task_feed = match shared::config::var("TASK_SERVICE_ADDR") {
            Some(direct) => (direct, None),
            None => (
                shared::config::sidecar_address()
                    .context("set DAPR_GRPC_ENDPOINT/DAPR_GRPC_PORT or TASK_SERVICE_ADDR")?,
                Some(shared::config::string("TASK_APP_ID", "task")),
            ),
        };
        Ok(Self {
            dapr_tokens: shared::config::DaprTokens::from_env(),
            grpc_addr: shared::config::addr("SYNC_GRPC_ADDR", "127.0.0.1:50056")?,
            ws_addr: shared::config::addr("SYNC_WS_ADDR", "127.0.0.1:8086")?,
            task_feed,
            pubsub: shared::config::string("PUBSUB_NAME", "pubsub"),
            topic: shared::config::string("TASK_EVENTS_TOPIC", "task-events"),
            connection_buffer: shared::config::parse("SYNC_CONNECTION_BUFFER", 256)?,
            shutdown_grace: shared::config::shutdown_grace()?,
            limits: shared::grpc::Limits::from_env()?,
            metrics_addr: shared::config::metrics_addr("127.0.0.1:9206")?,
            auth: AuthConfig::from_env(),
        })
    }

    /// Ports 0 on loopback; the task service through `sidecar`.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests(sidecar: &str, secret: &str, connection_buffer: usize) -> Self {
        Self {
            dapr_tokens: shared::config::DaprTokens::default(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            task_feed: (sidecar.to_owned(), Some("task".to_owned())),
            pubsub: "pubsub".to_owned(),
            topic: "task-events".to_owned(),
            connection_buffer,
            shutdown_grace: Duration::from_secs(5),
            limits: shared::grpc::Limits::default().unthrottled(),
            metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            auth: AuthConfig::hs256(secret),
        }
    }
}
