//! Wiring: [`Runtime::start`] turns a [`RuntimeConfig`] into running
//! sidecars, [`Runtime::shutdown`] stops them gracefully.
//!
//! One process serves one "sidecar" per app. For each [`AppSpec`] it serves
//! the Dapr API on the app's pre-bound listener and, in the background, runs
//! the app's lifecycle ([`crate::app`]): wait for the app, discover its
//! subscriptions and bindings, deliver events, fire cron bindings and jobs.
//! Everything durable lives in one database shared by all sidecars.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    app::App,
    broker::Broker,
    db::Db,
    resources::{Component, DeclaredSubscription, Resource},
};

/// One app and its sidecar.
#[derive(Debug)]
pub struct AppSpec {
    pub app_id: String,
    /// The app's gRPC (AppCallback) address.
    pub app_addr: SocketAddr,
    /// Pre-bound Dapr API listener for this app (tests bind port 0 first).
    pub api_listener: tokio::net::TcpListener,
    /// Sent to the app as `dapr-api-token` (daprd's `APP_API_TOKEN`).
    pub app_api_token: Option<String>,
    /// Required from the app on API calls when set (daprd's `DAPR_API_TOKEN`).
    pub dapr_api_token: Option<String>,
    /// Probe `AppCallbackHealthCheck/HealthCheck` before and while delivering.
    pub health_check: bool,
}

/// Everything [`Runtime::start`] needs.
#[derive(Debug)]
pub struct RuntimeConfig {
    pub apps: Vec<AppSpec>,
    /// Parsed resource YAML ([`crate::load_resources`]).
    pub resources: Vec<Resource>,
    /// `sqlite://…` or `postgres://…`: state, jobs and the pub/sub log.
    pub database_url: String,
    pub delivery: DeliveryPolicy,
}

/// How deliveries to subscribers are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryPolicy {
    /// Wait after the first failed attempt; doubles after each further one.
    pub initial_backoff: Duration,
    /// Cap of the wait.
    pub max_backoff: Duration,
    /// Attempts before the message goes to the dead-letter topic. Without a
    /// dead-letter topic, or with `None`, the message is retried forever
    /// (the Kafka component's default), blocking its partition.
    pub max_attempts: Option<u32>,
    /// Partitions of every topic.
    pub partitions: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_attempts: Some(5),
            partitions: 4,
        }
    }
}

impl DeliveryPolicy {
    /// The defaults, replaced by the inbound retry policy a `Resiliency`
    /// resource sets for a pub/sub component, when there is one: constant
    /// policies keep their `duration`, exponential ones start at 500 ms (or
    /// `duration`) and stop at `maxInterval`; `maxRetries: -1` retries forever.
    pub fn from_resources(resources: &[Resource]) -> Self {
        let mut policy = Self::default();
        let pubsubs: Vec<&str> = resources
            .iter()
            .filter_map(|r| match r {
                Resource::Component(c) if c.category() == "pubsub" => Some(c.name.as_str()),
                _ => None,
            })
            .collect();
        for resource in resources {
            let Resource::Resiliency(res) = resource else { continue };
            let Some(retry) =
                pubsubs.iter().find_map(|p| res.component_inbound_retry.get(*p)).and_then(|name| res.retries.get(name))
            else {
                continue;
            };
            policy.initial_backoff = retry.duration;
            policy.max_backoff = if retry.exponential { retry.max_interval } else { retry.duration };
            // maxRetries counts retries after the first attempt.
            policy.max_attempts =
                u32::try_from(retry.max_retries).ok().map(|n| n.saturating_add(1)).filter(|_| retry.max_retries >= 0);
            break;
        }
        policy
    }

    /// The wait after `failures` failed attempts (1-based).
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff.max(self.initial_backoff))
    }
}

/// State shared by every sidecar of the process.
pub(crate) struct Shared {
    pub db: Db,
    pub broker: Broker,
    pub resources: Vec<Resource>,
    pub apps: HashMap<String, Arc<App>>,
    pub policy: DeliveryPolicy,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
}

impl Shared {
    /// The components `app_id` loads (its scope), in load order.
    pub fn components<'a>(&'a self, app_id: &'a str) -> impl Iterator<Item = &'a Component> + 'a {
        self.resources.iter().filter(move |r| r.in_scope(app_id)).filter_map(|r| match r {
            Resource::Component(c) => Some(c),
            _ => None,
        })
    }

    /// The component `name` of `category` (`pubsub`, `state`, …) visible to `app_id`.
    pub fn component(&self, app_id: &str, category: &str, name: &str) -> Option<&Component> {
        self.resources.iter().filter(|r| r.in_scope(app_id)).find_map(|r| match r {
            Resource::Component(c) if c.name == name && c.category() == category => Some(c),
            _ => None,
        })
    }

    /// Declarative subscriptions scoped to `app_id`.
    pub fn declared_subscriptions<'a>(&'a self, app_id: &'a str) -> impl Iterator<Item = &'a DeclaredSubscription> {
        self.resources.iter().filter(move |r| r.in_scope(app_id)).filter_map(|r| match r {
            Resource::Subscription(s) => Some(s),
            _ => None,
        })
    }
}

/// A running runtime.
pub struct Runtime {
    shared: Arc<Shared>,
    api_addrs: HashMap<String, SocketAddr>,
}

impl Runtime {
    /// Connects the database, starts every sidecar's API server and, in the
    /// background, each app's lifecycle. Returns once the API listeners serve.
    ///
    /// # Errors
    /// The database cannot be opened, or two apps share an id.
    pub async fn start(config: RuntimeConfig) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url).await?;
        let broker = Broker::new(db.clone(), config.delivery.partitions);
        let cancel = CancellationToken::new();
        let mut apps = HashMap::new();
        let mut listeners = Vec::new();
        let mut api_addrs = HashMap::new();
        for spec in config.apps {
            anyhow::ensure!(!apps.contains_key(&spec.app_id), "app id {} given twice", spec.app_id);
            api_addrs.insert(spec.app_id.clone(), spec.api_listener.local_addr()?);
            let app = Arc::new(App::new(&spec, cancel.child_token()));
            listeners.push((app.clone(), spec.api_listener));
            apps.insert(spec.app_id, app);
        }
        let shared = Arc::new(Shared {
            db,
            broker,
            resources: config.resources,
            apps,
            policy: config.delivery,
            cancel,
            tracker: TaskTracker::new(),
        });
        for (app, listener) in listeners {
            crate::api::serve(shared.clone(), app.clone(), listener);
            let lifecycle_shared = shared.clone();
            shared.tracker.spawn(crate::app::run(lifecycle_shared, app));
        }
        Ok(Self { shared, api_addrs })
    }

    /// Where each app's Dapr API listens.
    pub fn api_addr(&self, app_id: &str) -> Option<SocketAddr> {
        self.api_addrs.get(app_id).copied()
    }

    /// The messages stored on a topic, as CloudEvent JSON (raw payloads as a
    /// JSON string), in publish order. A test and debugging hook.
    ///
    /// # Errors
    /// The database query failed.
    pub async fn published(&self, pubsub: &str, topic: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let messages = self.shared.broker.all(pubsub, topic).await?;
        Ok(messages
            .into_iter()
            .map(|m| {
                serde_json::from_slice(&m.payload)
                    .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&m.payload).into_owned()))
            })
            .collect())
    }

    /// Resolves when the runtime has been asked to stop (a `Shutdown` API call
    /// of every app, or [`Runtime::shutdown`]).
    pub async fn stopped(&self) {
        let waits: Vec<_> = self.shared.apps.values().map(|a| a.cancel.clone()).collect();
        for token in waits {
            token.cancelled().await;
        }
    }

    /// Stops accepting API calls, lets in-flight deliveries finish (up to 30 s)
    /// and returns. Unacknowledged messages are delivered after the next start.
    pub async fn shutdown(self) {
        self.shared.cancel.cancel();
        self.shared.tracker.close();
        if tokio::time::timeout(Duration::from_secs(30), self.shared.tracker.wait()).await.is_err() {
            tracing::warn!("in-flight work did not finish within 30s; stopping anyway");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = DeliveryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..DeliveryPolicy::default()
        };
        let waits: Vec<_> = (1..=4).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 350, 350]);
    }

    #[test]
    fn resiliency_inbound_policy_sets_the_defaults() {
        let resources = crate::resources::parse_resources(
            r"
kind: Component
metadata: { name: pubsub }
spec: { type: pubsub.kafka, version: v1 }
---
kind: Resiliency
metadata: { name: r }
spec:
  policies: { retries: { inbound: { policy: constant, duration: 1s, maxRetries: 2 } } }
  targets: { components: { pubsub: { inbound: { retry: inbound } } } }
",
        )
        .unwrap();
        let p = DeliveryPolicy::from_resources(&resources);
        assert_eq!(
            (p.initial_backoff, p.max_backoff, p.max_attempts),
            (Duration::from_secs(1), Duration::from_secs(1), Some(3))
        );
    }
}
