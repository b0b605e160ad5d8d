//! The app's connection to its Dapr sidecar, on the `dapr` crate's client:
//! waiting for the sidecar at start-up, publishing CloudEvents, invoking
//! other apps, state.
//!
//! We publish a complete CloudEvent (`application/cloudevents+json`), so
//! the event's own id is the CloudEvent id (daprd does not generate one for
//! a full CloudEvent, docs/dapr.md §3), the type names the change and its version, the
//! data is proto3 JSON (other content types reach subscribers empty, §2),
//! `traceparent`/`traceid` carry the trace of the request that caused it,
//! and `partitionKey` keeps one key's events in order on Kafka. The publish
//! call itself carries the current span's `traceparent` as gRPC metadata,
//! so daprd's own publish span joins the trace too (the `dapr` crate's
//! client cannot set call metadata, so publishing uses the generated
//! client on the same address).

use std::{collections::HashMap, time::Duration};

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, SecondsFormat, Utc};
use dapr::{
    client::{ClientOptions, TonicClientWithAuth},
    dapr::proto::runtime::v1::{PublishEventRequest, dapr_client::DaprClient},
};
use serde::Serialize;
use serde_json::value::RawValue;
use tonic::{metadata::MetadataValue, transport::Channel};

/// One event to publish.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    /// The CloudEvent id: the consumers' idempotency key.
    pub id: String,
    /// e.g. `todo.task.completed.v1`.
    pub event_type: String,
    /// The publishing app.
    pub source: String,
    /// e.g. the resource name `tasks/…`.
    pub subject: Option<String>,
    pub time: DateTime<Utc>,
    pub traceparent: Option<String>,
    /// Kafka record key: events with the same key stay in order.
    pub partition_key: String,
    /// Proto3 JSON of the event message, as text: published as it is.
    pub data: Box<RawValue>,
}

impl OutgoingEvent {
    /// The CloudEvent 1.0 JSON envelope, with `data` embedded as it is.
    pub fn to_cloud_event(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&Envelope {
            specversion: "1.0",
            id: &self.id,
            source: &self.source,
            event_type: &self.event_type,
            time: self.time.to_rfc3339_opts(SecondsFormat::Micros, true),
            datacontenttype: "application/json",
            subject: self.subject.as_deref(),
            // daprd keeps both only when `traceid` is present (docs/dapr.md §3).
            traceparent: self.traceparent.as_deref(),
            traceid: self.traceparent.as_deref(),
            data: &self.data,
        })
    }
}

/// The CloudEvent as it is sent.
#[derive(Serialize)]
struct Envelope<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    time: String,
    datacontenttype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceid: Option<&'a str>,
    data: &'a RawValue,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the sidecar at {address} is not reachable: {reason}")]
    Unreachable { address: String, reason: String },
    /// The sidecar did not acknowledge the event (down, broker down, or
    /// refused). The crate hides the gRPC status, so callers retry them all.
    #[error("the event was not acknowledged: {0}")]
    NotAcknowledged(String),
}

/// A connection to the sidecar. Cheap to clone (the channel is shared).
#[derive(Clone)]
pub struct Sidecar {
    client: dapr::Client<TonicClientWithAuth>,
    publisher: DaprClient<Channel>,
    api_token: Option<MetadataValue<tonic::metadata::Ascii>>,
    pubsub: String,
}

impl Sidecar {
    /// Connects to the sidecar at `address` (sending `api_token` on every
    /// call when given: `DAPR_API_TOKEN`, [`crate::config::DaprTokens`]),
    /// retrying with backoff for up to `wait`: the sidecar may start after
    /// the app, and the crate's client does not retry by itself.
    pub async fn connect(
        address: &str,
        pubsub: &str,
        wait: Duration,
        api_token: Option<&crate::config::Secret>,
    ) -> Result<Self, PublishError> {
        let unreachable = |reason: String| PublishError::Unreachable { address: address.to_owned(), reason };
        let token = api_token.map(|t| t.expose().to_owned()).filter(|t| !t.is_empty());
        let api_token = token
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| unreachable("DAPR_API_TOKEN is not ASCII".into()))?;
        let publisher = tonic::transport::Endpoint::from_shared(address.to_owned())
            .map_err(|e| unreachable(e.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect_lazy();
        let publisher = DaprClient::new(publisher);
        let mut options = ClientOptions::new().with_address(address).with_timeout(Duration::from_secs(2));
        if let Some(token) = &token {
            options = options.with_api_token(token.clone());
        }
        let attempt = || async {
            let mut client = dapr::Client::<TonicClientWithAuth>::from_options(options.clone()).await?;
            // Connected is not ready: metadata answers once components are up.
            client.get_metadata().await?;
            Ok::<_, dapr::error::Error>(client)
        };
        let client = attempt
            .retry(
                ExponentialBuilder::new()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_secs(2))
                    .with_total_delay(Some(wait))
                    .without_max_times(),
            )
            .notify(|err, _| tracing::debug!(%address, error = %err, "sidecar not ready yet"))
            .await
            .map_err(|err| unreachable(err.to_string()))?;
        Ok(Self { client, publisher, api_token, pubsub: pubsub.to_owned() })
    }

    /// Publishes `event` to `topic`; Ok once the sidecar acknowledged it.
    pub async fn publish(&self, topic: &str, event: &OutgoingEvent) -> Result<(), PublishError> {
        let body = event.to_cloud_event().map_err(|e| PublishError::NotAcknowledged(e.to_string()))?;
        let metadata = HashMap::from([("partitionKey".to_owned(), event.partition_key.clone())]);
        let mut request = tonic::Request::new(PublishEventRequest {
            pubsub_name: self.pubsub.clone(),
            topic: topic.to_owned(),
            data_content_type: "application/cloudevents+json".to_owned(),
            data: body,
            metadata,
        });
        if let Some(token) = &self.api_token {
            request.metadata_mut().insert("dapr-api-token", token.clone());
        }
        if let Some(traceparent) = crate::telemetry::current_traceparent().and_then(|t| t.parse().ok()) {
            request.metadata_mut().insert("traceparent", traceparent);
        }
        let mut publisher = self.publisher.clone();
        publisher
            .publish_event(request)
            .await
            .map(drop)
            .map_err(|status| PublishError::NotAcknowledged(status.to_string()))
    }

    /// The `dapr` crate client on this connection, for invocation and state.
    pub fn client(&self) -> dapr::Client<TonicClientWithAuth> {
        self.client.clone()
    }

    /// The pub/sub component events go to.
    pub fn pubsub(&self) -> &str {
        &self.pubsub
    }
}

/// A sidecar connection made on first use and then kept: an app starts
/// before its sidecar, so connecting at start-up would fail; a failed
/// attempt is tried again by the next call. Cheap to clone (one connection).
#[derive(Clone)]
pub struct LazySidecar {
    address: String,
    pubsub: String,
    api_token: Option<crate::config::Secret>,
    cell: std::sync::Arc<tokio::sync::OnceCell<Sidecar>>,
}

impl LazySidecar {
    pub fn new(address: &str, pubsub: &str, api_token: Option<crate::config::Secret>) -> Self {
        Self { address: address.to_owned(), pubsub: pubsub.to_owned(), api_token, cell: Default::default() }
    }

    /// The connection, made now if it is not yet (waiting up to 2 s).
    pub async fn get(&self) -> Result<&Sidecar, PublishError> {
        self.cell
            .get_or_try_init(|| {
                Sidecar::connect(&self.address, &self.pubsub, Duration::from_secs(2), self.api_token.as_ref())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_envelope_carries_id_type_trace_and_json_data() {
        let event = OutgoingEvent {
            id: "e1".into(),
            event_type: "todo.task.created.v1".into(),
            source: "task".into(),
            subject: Some("tasks/1".into()),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            partition_key: "alice".into(),
            data: serde_json::value::to_raw_value(&serde_json::json!({"taskId": "1"})).unwrap(),
        };
        let ce: serde_json::Value = serde_json::from_slice(&event.to_cloud_event().unwrap()).unwrap();
        assert_eq!(ce["id"], "e1");
        assert_eq!(ce["type"], "todo.task.created.v1");
        assert_eq!(ce["datacontenttype"], "application/json");
        assert_eq!(ce["traceparent"], ce["traceid"]);
        assert_eq!(ce["data"]["taskId"], "1");
        assert_eq!(ce["time"], "2023-11-14T22:13:20.000000Z");
    }
}
