//! The Dapr resource YAML this runtime reads: `Component`, `Subscription`
//! (`v1alpha1` with one `route`, `v2alpha1` with `routes`), `Resiliency` and
//! `Configuration`, from every `*.yaml`/`*.yml` file of a directory, several
//! documents per file allowed — the same files real Dapr loads.
//!
//! Unknown kinds are skipped. Component metadata is kept as name/value pairs
//! and each feature reads only the keys it needs, so broker addresses, SASL
//! settings and connection strings written for production are harmless here.
//! `scopes` is honoured by [`Resource::in_scope`]: a resource with scopes is
//! loaded only for those app ids.

use std::{collections::HashMap, path::Path, time::Duration};

use anyhow::Context as _;
use serde::Deserialize;
use serde_yaml::Value;

use crate::schedule::go_duration;

/// One parsed resource.
#[derive(Debug, Clone)]
pub enum Resource {
    Component(Component),
    Subscription(DeclaredSubscription),
    Resiliency(Resiliency),
    Configuration(Configuration),
}

impl Resource {
    /// The top-level `scopes`; empty means every app.
    pub fn scopes(&self) -> &[String] {
        match self {
            Self::Component(c) => &c.scopes,
            Self::Subscription(s) => &s.scopes,
            Self::Resiliency(r) => &r.scopes,
            Self::Configuration(_) => &[],
        }
    }

    /// Whether `app_id` loads this resource.
    pub fn in_scope(&self, app_id: &str) -> bool {
        let scopes = self.scopes();
        scopes.is_empty() || scopes.iter().any(|s| s == app_id)
    }
}

/// A `kind: Component`.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    /// `spec.type`, such as `pubsub.kafka` or `bindings.cron`.
    pub kind: String,
    pub version: String,
    pub metadata: Vec<MetadataItem>,
    /// `auth.secretStore`: where `secretKeyRef`s are resolved.
    pub secret_store: Option<String>,
    pub scopes: Vec<String>,
}

impl Component {
    /// The building block: `pubsub`, `state`, `bindings`, `secretstores`, …
    pub fn category(&self) -> &str {
        self.kind.split('.').next().unwrap_or("")
    }

    /// A plain metadata value (not a secret reference), by case-insensitive name.
    pub fn meta(&self, name: &str) -> Option<&str> {
        self.metadata.iter().find(|m| m.name.eq_ignore_ascii_case(name)).and_then(|m| m.value.as_deref())
    }
}

/// One `spec.metadata` entry: a value or a reference to a secret.
#[derive(Debug, Clone)]
pub struct MetadataItem {
    pub name: String,
    pub value: Option<String>,
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// `secretKeyRef: {name, key}`; `key` defaults to `name`.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretKeyRef {
    pub name: String,
    #[serde(default)]
    pub key: Option<String>,
}

/// A `kind: Subscription`, either API version, normalised.
#[derive(Debug, Clone, Default)]
pub struct DeclaredSubscription {
    pub name: String,
    pub pubsub_name: String,
    pub topic: String,
    /// `(match, path)` in order.
    pub rules: Vec<(String, String)>,
    pub default_route: String,
    pub dead_letter_topic: String,
    pub metadata: HashMap<String, String>,
    pub bulk: Option<BulkConfig>,
    pub scopes: Vec<String>,
}

/// `bulkSubscribe`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BulkConfig {
    pub enabled: bool,
    pub max_messages_count: i32,
    pub max_await_duration_ms: i32,
}

/// A `kind: Resiliency`, reduced to what delivery uses: retry policies and
/// which component inbound target uses which one.
#[derive(Debug, Clone, Default)]
pub struct Resiliency {
    pub name: String,
    pub retries: HashMap<String, RetryPolicy>,
    /// component name → retry policy name of its `inbound` target.
    pub component_inbound_retry: HashMap<String, String>,
    pub scopes: Vec<String>,
}

/// A resiliency retry policy with Dapr's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub exponential: bool,
    /// `duration` (constant policy); the first interval of an exponential one.
    pub duration: Duration,
    pub max_interval: Duration,
    /// `maxRetries`: -1 = forever.
    pub max_retries: i64,
}

/// A `kind: Configuration`, kept only so metadata can list it.
#[derive(Debug, Clone)]
pub struct Configuration {
    pub name: String,
}

/// Loads every `*.yaml`/`*.yml` file of `dir` (sorted by name, so "first
/// loaded wins" is deterministic).
///
/// # Errors
/// The directory cannot be read, a file is not YAML, or a known kind is malformed.
pub fn load_resources(dir: &Path) -> anyhow::Result<Vec<Resource>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading resources directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        out.extend(parse_resources(&text).with_context(|| format!("parsing {}", file.display()))?);
    }
    Ok(out)
}

/// Parses a (multi-document) YAML string.
///
/// # Errors
/// Invalid YAML, or a known kind with a malformed body.
pub fn parse_resources(text: &str) -> anyhow::Result<Vec<Resource>> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let raw: Raw = serde_yaml::from_value(value)?;
        let resource = match raw.kind.as_str() {
            "Component" => Resource::Component(component(raw)?),
            "Subscription" => Resource::Subscription(subscription(raw)?),
            "Resiliency" => Resource::Resiliency(resiliency(raw)?),
            "Configuration" => Resource::Configuration(Configuration { name: raw.metadata.name }),
            other => {
                tracing::debug!(kind = other, "ignoring resource of unknown kind");
                continue;
            }
        };
        out.push(resource);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: RawMeta,
    #[serde(default)]
    spec: Value,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    auth: Option<RawAuth>,
}

#[derive(Deserialize, Default)]
struct RawMeta {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct RawAuth {
    #[serde(rename = "secretStore", default)]
    secret_store: Option<String>,
}

#[derive(Deserialize)]
struct RawComponentSpec {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    version: Value,
    #[serde(default)]
    metadata: Vec<RawMetadataItem>,
}

#[derive(Deserialize)]
struct RawMetadataItem {
    name: String,
    #[serde(default)]
    value: Value,
    #[serde(rename = "secretKeyRef", default)]
    secret_key_ref: Option<SecretKeyRef>,
}

/// YAML scalars (`5`, `true`, `"x"`) as the string Dapr would see.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn component(raw: Raw) -> anyhow::Result<Component> {
    let spec: RawComponentSpec = serde_yaml::from_value(raw.spec).context("component spec")?;
    Ok(Component {
        name: raw.metadata.name,
        kind: spec.kind,
        version: scalar(&spec.version).unwrap_or_default(),
        metadata: spec
            .metadata
            .into_iter()
            .map(|m| MetadataItem { name: m.name, value: scalar(&m.value), secret_key_ref: m.secret_key_ref })
            .collect(),
        secret_store: raw.auth.and_then(|a| a.secret_store),
        scopes: raw.scopes,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSubscriptionSpec {
    #[serde(default)]
    pubsubname: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    routes: RawRoutes,
    #[serde(default)]
    dead_letter_topic: String,
    #[serde(default)]
    metadata: HashMap<String, Value>,
    #[serde(default)]
    bulk_subscribe: Option<RawBulk>,
}

#[derive(Deserialize, Default)]
struct RawRoutes {
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    default: String,
}

#[derive(Deserialize)]
struct RawRule {
    #[serde(rename = "match", default)]
    matches: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBulk {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    max_messages_count: i32,
    #[serde(default)]
    max_await_duration_ms: i32,
}

fn subscription(raw: Raw) -> anyhow::Result<DeclaredSubscription> {
    let spec: RawSubscriptionSpec = serde_yaml::from_value(raw.spec).context("subscription spec")?;
    anyhow::ensure!(!spec.pubsubname.is_empty() && !spec.topic.is_empty(), "subscription needs pubsubname and topic");
    // v1alpha1's single `route` is a default route.
    let default_route = if spec.routes.default.is_empty() { spec.route } else { spec.routes.default };
    Ok(DeclaredSubscription {
        name: raw.metadata.name,
        pubsub_name: spec.pubsubname,
        topic: spec.topic,
        rules: spec.routes.rules.into_iter().map(|r| (r.matches, r.path)).collect(),
        default_route,
        dead_letter_topic: spec.dead_letter_topic,
        metadata: spec.metadata.iter().filter_map(|(k, v)| Some((k.clone(), scalar(v)?))).collect(),
        bulk: spec.bulk_subscribe.map(|b| BulkConfig {
            enabled: b.enabled,
            max_messages_count: b.max_messages_count,
            max_await_duration_ms: b.max_await_duration_ms,
        }),
        scopes: raw.scopes,
    })
}

fn resiliency(raw: Raw) -> anyhow::Result<Resiliency> {
    let spec = &raw.spec;
    let mut retries = HashMap::new();
    if let Some(Value::Mapping(map)) = spec.get("policies").and_then(|p| p.get("retries")) {
        for (name, body) in map {
            let Some(name) = name.as_str() else { continue };
            let field = |key: &str| body.get(key).and_then(scalar);
            let exponential = field("policy").is_some_and(|p| p.eq_ignore_ascii_case("exponential"));
            // Dapr defaults: constant 5s; exponential starts at 500ms; maxInterval 60s; retry forever.
            let default_duration = if exponential { Duration::from_millis(500) } else { Duration::from_secs(5) };
            let policy = RetryPolicy {
                exponential,
                duration: field("duration").and_then(|d| go_duration(&d)).unwrap_or(default_duration),
                max_interval: field("maxInterval").and_then(|d| go_duration(&d)).unwrap_or(Duration::from_secs(60)),
                max_retries: field("maxRetries").and_then(|n| n.parse().ok()).unwrap_or(-1),
            };
            retries.insert(name.to_owned(), policy);
        }
    }
    let mut component_inbound_retry = HashMap::new();
    if let Some(Value::Mapping(map)) = spec.get("targets").and_then(|t| t.get("components")) {
        for (name, body) in map {
            let (Some(name), Some(retry)) =
                (name.as_str(), body.get("inbound").and_then(|i| i.get("retry")).and_then(scalar))
            else {
                continue;
            };
            component_inbound_retry.insert(name.to_owned(), retry);
        }
    }
    Ok(Resiliency { name: raw.metadata.name, retries, component_inbound_retry, scopes: raw.scopes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: pubsub }
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - { name: brokers, value: "localhost:9092" }
    - { name: maxMessageBytes, value: 1048576 }
    - name: saslPassword
      secretKeyRef: { name: kafka, key: password }
scopes: [task]
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: { name: s }
spec:
  pubsubname: pubsub
  topic: orders
  routes:
    rules: [ { match: 'event.type == "a"', path: a } ]
    default: d
  deadLetterTopic: dlq
  bulkSubscribe: { enabled: true, maxMessagesCount: 10 }
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: { name: old }
spec: { pubsubname: pubsub, topic: t, route: /x }
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: { name: r }
spec:
  policies:
    retries:
      pubsubRetry: { policy: exponential, maxInterval: 10s, maxRetries: 5 }
  targets:
    components:
      pubsub: { inbound: { retry: pubsubRetry } }
---
kind: HTTPEndpoint
metadata: { name: ignored }
"#;

    #[test]
    fn parses_every_known_kind_and_skips_the_rest() {
        let resources = parse_resources(YAML).unwrap();
        assert_eq!(resources.len(), 4);
        let Resource::Component(c) = &resources[0] else { panic!() };
        assert_eq!((c.name.as_str(), c.category(), c.meta("maxmessagebytes")), ("pubsub", "pubsub", Some("1048576")));
        assert!(resources[0].in_scope("task") && !resources[0].in_scope("audit"));
        let Resource::Subscription(s) = &resources[1] else { panic!() };
        assert_eq!(s.rules, vec![("event.type == \"a\"".to_owned(), "a".to_owned())]);
        assert_eq!((s.default_route.as_str(), s.dead_letter_topic.as_str()), ("d", "dlq"));
        assert_eq!(s.bulk.map(|b| b.max_messages_count), Some(10));
        let Resource::Subscription(old) = &resources[2] else { panic!() };
        assert_eq!(old.default_route, "/x");
        let Resource::Resiliency(r) = &resources[3] else { panic!() };
        let policy = r.retries["pubsubRetry"];
        assert!(policy.exponential && policy.max_retries == 5 && policy.max_interval == Duration::from_secs(10));
        assert_eq!(r.component_inbound_retry["pubsub"], "pubsubRetry");
    }
}
