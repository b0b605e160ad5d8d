//! What a topic handler receives.

use std::collections::HashMap;

use dapr::dapr::proto::runtime::v1::{TopicEventCeRequest, TopicEventRequest};
use prost::{Message, Name};

use crate::{error::Error, proto::json};

/// A CloudEvent as daprd delivers it (`TopicEventRequest`, docs/dapr.md
/// §2), plus the gRPC metadata that came with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub spec_version: String,
    pub data_content_type: String,
    pub data: Vec<u8>,
    pub topic: String,
    pub pubsub_name: String,
    /// The route that matched ("" without routing rules).
    pub path: String,
    /// Every other CloudEvent attribute: `traceparent`, `time`, `subject`, …
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// gRPC metadata: `traceparent`, Kafka's `__key`, `__partition`, …
    pub metadata: HashMap<String, String>,
}

impl Event {
    pub(crate) fn from_request(request: TopicEventRequest, metadata: HashMap<String, String>) -> Self {
        Self {
            id: request.id,
            source: request.source,
            event_type: request.r#type,
            spec_version: request.spec_version,
            data_content_type: request.data_content_type,
            data: request.data,
            topic: request.topic,
            pubsub_name: request.pubsub_name,
            path: request.path,
            extensions: request.extensions.map(struct_to_json).unwrap_or_default(),
            metadata,
        }
    }

    pub(crate) fn from_bulk_entry(
        ce: TopicEventCeRequest,
        topic: &str,
        pubsub_name: &str,
        path: &str,
        metadata: HashMap<String, String>,
    ) -> Self {
        Self {
            id: ce.id,
            source: ce.source,
            event_type: ce.r#type,
            spec_version: ce.spec_version,
            data_content_type: ce.data_content_type,
            data: ce.data,
            topic: topic.to_owned(),
            pubsub_name: pubsub_name.to_owned(),
            path: path.to_owned(),
            extensions: ce.extensions.map(struct_to_json).unwrap_or_default(),
            metadata,
        }
    }

    /// The W3C trace context the handling continues: the delivery's gRPC
    /// metadata (daprd's delivery span, itself a child of the publisher's),
    /// else the CloudEvent's `traceparent` attribute (the publisher's).
    pub fn traceparent(&self) -> Option<&str> {
        let metadata = self.metadata.get("traceparent").map(String::as_str);
        let attribute = self.extensions.get("traceparent").and_then(serde_json::Value::as_str);
        metadata.filter(|t| !t.is_empty()).or(attribute).filter(|t| !t.is_empty())
    }

    /// `data` as proto3 JSON of `M`. Unknown fields are ignored; anything
    /// that is not JSON of `M` is poison: [`Error::Malformed`] (DROP).
    pub fn decode<M: Message + Name + Default>(&self) -> Result<M, Error> {
        if self.data.is_empty() {
            return Err(Error::malformed(format!("event {} has no data", self.id)));
        }
        json::from_slice(&self.data)
            .map_err(|e| Error::malformed_by(format!("event {} is not JSON of {}", self.id, M::full_name()), e))
    }
}

fn struct_to_json(s: prost_types::Struct) -> serde_json::Map<String, serde_json::Value> {
    s.fields.into_iter().map(|(k, v)| (k, value_to_json(v))).collect()
}

fn value_to_json(v: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, Into::into),
        Some(Kind::StringValue(s)) => s.into(),
        Some(Kind::BoolValue(b)) => b.into(),
        Some(Kind::StructValue(s)) => struct_to_json(s).into(),
        Some(Kind::ListValue(l)) => l.values.into_iter().map(value_to_json).collect(),
    }
}
