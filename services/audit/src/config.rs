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
//! | `PAGE_TOKEN_SECRET`, `AUTH_*`, `APP_API_TOKEN`, `SHUTDOWN_GRACE_SECONDS` | as the task service | |

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use shared::auth::AuthConfig;

#[derive(Debug, Clone)]
pub struct Settings {
    pub grpc_addr: SocketAddr,
    pub database_url: String,
    pub auto_migrate: bool,
    pub pubsub: String,
    pub topic: String,
    pub dead_letter_topic: String,
    pub page_token_secret: String,
    pub shutdown_grace: Duration,
    pub auth: AuthConfig,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/audit.db?mode=rwc".to_owned());
        Ok(Self {
            grpc_addr: var("AUDIT_GRPC_ADDR")
                .as_deref()
                .unwrap_or("127.0.0.1:50055")
                .parse()
                .context("AUDIT_GRPC_ADDR must be host:port")?,
            auto_migrate: match var("DATABASE_AUTO_MIGRATE") {
                Some(v) => v.parse().context("DATABASE_AUTO_MIGRATE must be true or false")?,
                None => database_url.starts_with("sqlite:"),
            },
            database_url,
            pubsub: var("PUBSUB_NAME").unwrap_or_else(|| "pubsub".to_owned()),
            topic: var("TASK_EVENTS_TOPIC").unwrap_or_else(|| "task-events".to_owned()),
            dead_letter_topic: var("AUDIT_DEAD_LETTER_TOPIC").unwrap_or_else(|| "task-events-dlq".to_owned()),
            page_token_secret: var("PAGE_TOKEN_SECRET")
                .unwrap_or_else(|| "insecure-development-page-token-secret".to_owned()),
            shutdown_grace: Duration::from_secs(
                var("SHUTDOWN_GRACE_SECONDS").map(|v| v.parse()).transpose().context("a number")?.unwrap_or(20),
            ),
            auth: AuthConfig::from_env(),
        })
    }

    /// Port 0 on loopback, the given database, HS256 with `secret`.
    pub fn for_tests(database_url: &str, secret: &str) -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_owned(),
            auto_migrate: true,
            pubsub: "pubsub".to_owned(),
            topic: "task-events".to_owned(),
            dead_letter_topic: "task-events-dlq".to_owned(),
            page_token_secret: "test".to_owned(),
            shutdown_grace: Duration::from_secs(5),
            auth: AuthConfig::Hs256 { secret: secret.to_owned() },
        }
    }
}
