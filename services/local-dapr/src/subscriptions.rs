//! Which topics an app subscribes to, as daprd decides it (contract §1).
//!
//! daprd asks the app once, `ListTopicSubscriptions`, retrying a failure 3
//! times with backoff from 500 ms (`Unimplemented` means "none"), and merges
//! the answer with the declarative `Subscription` resources scoped to the app:
//! for the same pub/sub and topic the programmatic one replaces the
//! declarative one, and among declarative ones the first loaded wins. A
//! subscription whose `match` rules do not compile, or that names a pub/sub
//! the app does not have, is skipped with an error in the log.

use std::{collections::HashMap, sync::Arc, time::Duration};

use dapr::dapr::proto::runtime::v1::{TopicSubscription, app_callback_client::AppCallbackClient};

use crate::{
    app::App,
    resources::{BulkConfig, DeclaredSubscription},
    routing::{Rule, compile_rules},
    runtime::Shared,
};

/// One active subscription of one app.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub pubsub: String,
    pub topic: String,
    pub rules: Vec<Rule>,
    /// The rule paths as given, for `GetMetadata`.
    pub paths: Vec<String>,
    /// Empty = none.
    pub dead_letter_topic: String,
    pub metadata: HashMap<String, String>,
    pub bulk: Option<BulkConfig>,
    /// `metadata.rawPayload = true`: messages are not CloudEvents.
    pub raw_payload: bool,
    /// The pub/sub component asks new subscribers to start at the end of the log.
    pub start_newest: bool,
}

/// The subscription as a source-neutral description, before compiling.
struct Spec {
    pubsub: String,
    topic: String,
    rules: Vec<(String, String)>,
    default_route: String,
    dead_letter_topic: String,
    metadata: HashMap<String, String>,
    bulk: Option<BulkConfig>,
}

impl From<&DeclaredSubscription> for Spec {
    fn from(d: &DeclaredSubscription) -> Self {
        Self {
            pubsub: d.pubsub_name.clone(),
            topic: d.topic.clone(),
            rules: d.rules.clone(),
            default_route: d.default_route.clone(),
            dead_letter_topic: d.dead_letter_topic.clone(),
            metadata: d.metadata.clone(),
            bulk: d.bulk,
        }
    }
}

impl From<TopicSubscription> for Spec {
    fn from(t: TopicSubscription) -> Self {
        let routes = t.routes.unwrap_or_default();
        Self {
            pubsub: t.pubsub_name,
            topic: t.topic,
            rules: routes.rules.into_iter().map(|r| (r.r#match, r.path)).collect(),
            default_route: routes.default,
            dead_letter_topic: t.dead_letter_topic,
            metadata: t.metadata,
            bulk: t.bulk_subscribe.map(|b| BulkConfig {
                enabled: b.enabled,
                max_messages_count: b.max_messages_count,
                max_await_duration_ms: b.max_await_duration_ms,
            }),
        }
    }
}

/// Asks the app once (with daprd's initialisation retries) and merges with
/// the declarative subscriptions.
pub async fn discover(shared: &Shared, app: &App) -> Vec<Arc<Subscription>> {
    let mut merged: Vec<Spec> = Vec::new();
    for declared in shared.declared_subscriptions(&app.id) {
        if !merged.iter().any(|s| s.pubsub == declared.pubsub_name && s.topic == declared.topic) {
            merged.push(declared.into());
        }
    }
    for programmatic in list_from_app(app).await {
        let spec = Spec::from(programmatic);
        merged.retain(|s| !(s.pubsub == spec.pubsub && s.topic == spec.topic));
        merged.push(spec);
    }
    let mut out = Vec::new();
    for spec in merged {
        let Some(component) = shared.component(&app.id, "pubsub", &spec.pubsub) else {
            tracing::error!(app = %app.id, pubsub = %spec.pubsub, topic = %spec.topic, "subscription names an unknown pub/sub; skipped");
            continue;
        };
        let rules = match compile_rules(&spec.rules, &spec.default_route) {
            Ok(rules) => rules,
            Err(e) => {
                tracing::error!(app = %app.id, topic = %spec.topic, error = %e, "routing rule does not compile; subscription not loaded");
                continue;
            }
        };
        let raw_payload = spec.metadata.iter().any(|(k, v)| k.eq_ignore_ascii_case("rawPayload") && go_bool(v));
        out.push(Arc::new(Subscription {
            paths: rules.iter().map(|r| r.path.clone()).collect(),
            rules,
            raw_payload,
            start_newest: component.meta("initialOffset").is_some_and(|v| v.eq_ignore_ascii_case("newest")),
            pubsub: spec.pubsub,
            topic: spec.topic,
            dead_letter_topic: spec.dead_letter_topic,
            metadata: spec.metadata,
            bulk: spec.bulk.filter(|b| b.enabled),
        }));
    }
    out
}

/// Go's `strconv.ParseBool` truthy values.
pub fn go_bool(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

async fn list_from_app(app: &App) -> Vec<TopicSubscription> {
    let mut client = AppCallbackClient::new(app.channel.clone());
    let mut wait = Duration::from_millis(500);
    for attempt in 0..=3 {
        match client.list_topic_subscriptions(app.request(())).await {
            Ok(response) => return response.into_inner().subscriptions,
            Err(status) if status.code() == tonic::Code::Unimplemented => return Vec::new(),
            Err(status) if attempt == 3 => {
                tracing::error!(app = %app.id, %status, "failed to subscribe to topics: ListTopicSubscriptions kept failing; not asking again");
            }
            Err(status) => {
                tracing::warn!(app = %app.id, %status, "ListTopicSubscriptions failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
    Vec::new()
}
