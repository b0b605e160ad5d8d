//! CloudEvents the way daprd builds and unpacks them (dapr-contract.md §2).
//!
//! Publishing ([`envelope`]):
//! - a raw payload is wrapped in a CloudEvent 1.0 envelope: `id` (new UUIDv4
//!   unless `cloudevent.id`), `source` (publisher app id unless
//!   `cloudevent.source`), `type` (`com.dapr.event.sent` unless
//!   `cloudevent.type`), `specversion`, `datacontenttype` (empty over gRPC
//!   means `text/plain`), `topic`, `pubsubname`, `time` (RFC 3339, seconds),
//!   `traceid`/`traceparent`/`tracestate`, optional `subject` and
//!   `expiration` (from `ttlInSeconds`). JSON bodies become JSON `data`
//!   (invalid JSON silently stays a string), `application/octet-stream`
//!   becomes `data_base64`, anything else a string;
//! - a body published as `application/cloudevents+json` is parsed (invalid
//!   JSON fails the publish), `topic`/`pubsubname` are overwritten, `time`,
//!   the trace fields, `source`, `type` and `specversion` are filled only if
//!   missing, the `id` is **not** generated and `cloudevent.*` overrides are
//!   ignored.
//!
//! Delivering ([`topic_event_request`], [`bulk_ce_request`]): the CE fields
//! map onto `TopicEventRequest`; `data` is the decoded `data_base64`, the
//! string for `text/*`/`application/xml`, re-serialised JSON for JSON types
//! and **empty for every other content type**; `extensions` holds every
//! attribute except id, source, type, specversion, datacontenttype, data and
//! data_base64.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{SecondsFormat, Utc};
use dapr::dapr::proto::runtime::v1::{TopicEventCeRequest, TopicEventRequest};
use serde_json::{Map, Value};
use tonic::Status;

/// The default CloudEvent type daprd uses.
pub const DEFAULT_TYPE: &str = "com.dapr.event.sent";
/// Content type of a structured CloudEvent.
pub const CLOUDEVENT_JSON: &str = "application/cloudevents+json";

/// A CloudEvent as a JSON object.
pub type CloudEvent = Map<String, Value>;

/// Everything [`envelope`] needs from a publish call.
pub struct PublishInput<'a> {
    pub app_id: &'a str,
    pub pubsub: &'a str,
    pub topic: &'a str,
    pub data: &'a [u8],
    pub content_type: &'a str,
    pub metadata: &'a HashMap<String, String>,
    /// `traceparent` / `tracestate` of the incoming gRPC call.
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
}

fn lower(ct: &str) -> String {
    ct.trim().to_ascii_lowercase()
}

/// `application/json…` or `application/cloudevents+json…` (parameters allowed).
pub fn is_json(ct: &str) -> bool {
    let ct = lower(ct);
    ct.starts_with("application/json") || ct.starts_with(CLOUDEVENT_JSON)
}

/// `text/*` and `application/xml` travel as strings.
pub fn is_string(ct: &str) -> bool {
    let ct = lower(ct);
    ct.starts_with("text/") || ct.starts_with("application/xml")
}

fn is_binary(ct: &str) -> bool {
    let ct = lower(ct);
    ct.starts_with("application/octet-stream") || ct.starts_with("application/cloudevents+protobuf")
}

/// Publish metadata lookup, case-insensitive like daprd's.
fn meta<'m>(metadata: &'m HashMap<String, String>, key: &str) -> Option<&'m str> {
    metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Builds the CloudEvent daprd would publish for this request.
///
/// # Errors
/// `INVALID_ARGUMENT` when a structured CloudEvent is not a JSON object.
pub fn envelope(input: &PublishInput<'_>) -> Result<CloudEvent, Status> {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let md = input.metadata;
    let content_type = if input.content_type.is_empty() { "text/plain" } else { input.content_type };

    if lower(content_type).starts_with(CLOUDEVENT_JSON) {
        let mut ce: CloudEvent = match serde_json::from_slice(input.data) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(Status::invalid_argument("cloudevent is not a JSON object")),
            Err(e) => return Err(Status::invalid_argument(format!("cannot create cloudevent: {e}"))),
        };
        ce.insert("topic".into(), input.topic.into());
        ce.insert("pubsubname".into(), input.pubsub.into());
        ce.entry("time").or_insert_with(|| now.clone().into());
        if !ce.contains_key("traceid")
            && let Some(tp) = input.traceparent
        {
            ce.insert("traceid".into(), tp.into());
            ce.insert("traceparent".into(), tp.into());
        }
        if let Some(ts) = input.tracestate {
            ce.entry("tracestate").or_insert_with(|| ts.into());
        }
        ce.entry("source").or_insert_with(|| "Dapr".into());
        ce.entry("type").or_insert_with(|| DEFAULT_TYPE.into());
        ce.entry("specversion").or_insert_with(|| "1.0".into());
        return Ok(ce);
    }

    let mut ce = CloudEvent::new();
    let id = meta(md, "cloudevent.id").map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    ce.insert("id".into(), id.into());
    ce.insert("source".into(), meta(md, "cloudevent.source").unwrap_or(input.app_id).into());
    ce.insert("type".into(), meta(md, "cloudevent.type").unwrap_or(DEFAULT_TYPE).into());
    ce.insert("specversion".into(), "1.0".into());
    ce.insert("datacontenttype".into(), content_type.into());
    ce.insert("topic".into(), input.topic.into());
    ce.insert("pubsubname".into(), input.pubsub.into());
    ce.insert("time".into(), now.into());
    let trace = meta(md, "cloudevent.traceparent").or_else(|| meta(md, "cloudevent.traceid")).or(input.traceparent);
    if let Some(tp) = trace {
        ce.insert("traceid".into(), tp.into());
        ce.insert("traceparent".into(), tp.into());
    }
    if let Some(ts) = meta(md, "cloudevent.tracestate").or(input.tracestate) {
        ce.insert("tracestate".into(), ts.into());
    }
    if let Some(subject) = meta(md, "cloudevent.subject") {
        ce.insert("subject".into(), subject.into());
    }
    if let Some(ttl) = meta(md, "ttlInSeconds").or_else(|| meta(md, "ttl"))
        && let Some(ttl) = crate::schedule::go_duration(ttl).and_then(|d| chrono::Duration::from_std(d).ok())
    {
        ce.insert("expiration".into(), (Utc::now() + ttl).to_rfc3339_opts(SecondsFormat::Secs, true).into());
    }
    let data = if is_json(content_type) {
        serde_json::from_slice(input.data).unwrap_or_else(|_| Value::String(lossy(input.data)))
    } else if is_binary(content_type) {
        ce.insert("data_base64".into(), base64::engine::general_purpose::STANDARD.encode(input.data).into());
        return Ok(ce);
    } else {
        Value::String(lossy(input.data))
    };
    ce.insert("data".into(), data);
    Ok(ce)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Go's `json.Marshal`: like serde_json, plus HTML-safe escaping of `<`, `>`, `&`.
pub fn go_json(value: &Value) -> Vec<u8> {
    let text = serde_json::to_string(value).unwrap_or_default();
    text.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026").into_bytes()
}

fn str_field(ce: &CloudEvent, key: &str) -> String {
    ce.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Why a CloudEvent cannot be turned into a request (daprd retries these).
#[derive(Debug)]
pub struct UnexpectedData;

/// The `data` bytes daprd sends for this event.
fn data_bytes(ce: &CloudEvent, decode_base64: bool) -> Result<Vec<u8>, UnexpectedData> {
    let content_type = str_field(ce, "datacontenttype");
    if let Some(b64) = ce.get("data_base64").filter(|v| !v.is_null()) {
        if !decode_base64 {
            return Ok(Vec::new());
        }
        let text = b64.as_str().ok_or(UnexpectedData)?;
        return base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| UnexpectedData);
    }
    let Some(data) = ce.get("data").filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    if is_string(&content_type) {
        return data.as_str().map(|s| s.as_bytes().to_vec()).ok_or(UnexpectedData);
    }
    if is_json(&content_type) {
        return Ok(go_json(data));
    }
    Ok(Vec::new())
}

/// Every attribute that has no field of its own in the request.
pub fn extensions(ce: &CloudEvent) -> prost_types::Struct {
    const OWN_FIELDS: [&str; 7] = ["id", "source", "datacontenttype", "type", "specversion", "data", "data_base64"];
    let fields = ce
        .iter()
        .filter(|(k, _)| !OWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), json_to_proto(v)))
        .collect();
    prost_types::Struct { fields }
}

/// `serde_json::Value` → `google.protobuf.Value`.
pub fn json_to_proto(value: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(json_to_proto).collect() })
        }
        Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map.iter().map(|(k, v)| (k.clone(), json_to_proto(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// The `OnTopicEvent` request for `ce`, received on `topic` of `pubsub` and routed to `path`.
///
/// # Errors
/// [`UnexpectedData`] when `data_base64` is not base64 or a string type carries non-string data.
pub fn topic_event_request(
    ce: &CloudEvent,
    topic: &str,
    pubsub: &str,
    path: &str,
) -> Result<TopicEventRequest, UnexpectedData> {
    Ok(TopicEventRequest {
        id: str_field(ce, "id"),
        source: str_field(ce, "source"),
        r#type: str_field(ce, "type"),
        spec_version: str_field(ce, "specversion"),
        data_content_type: str_field(ce, "datacontenttype"),
        data: data_bytes(ce, true)?,
        topic: topic.to_owned(),
        pubsub_name: pubsub.to_owned(),
        path: path.to_owned(),
        extensions: Some(extensions(ce)),
    })
}

/// A bulk entry's CloudEvent; as in daprd, `data_base64` is not decoded in bulk mode.
///
/// # Errors
/// As [`topic_event_request`].
pub fn bulk_ce_request(ce: &CloudEvent) -> Result<TopicEventCeRequest, UnexpectedData> {
    Ok(TopicEventCeRequest {
        id: str_field(ce, "id"),
        source: str_field(ce, "source"),
        r#type: str_field(ce, "type"),
        spec_version: str_field(ce, "specversion"),
        data_content_type: str_field(ce, "datacontenttype"),
        data: data_bytes(ce, false)?,
        extensions: Some(extensions(ce)),
    })
}

/// The synthetic CloudEvent daprd builds for a `rawPayload` subscription:
/// the bytes as `data_base64` and a fresh random id on every delivery.
pub fn from_raw_payload(bytes: &[u8], topic: &str, pubsub: &str) -> CloudEvent {
    let mut ce = CloudEvent::new();
    ce.insert("id".into(), uuid::Uuid::new_v4().to_string().into());
    ce.insert("source".into(), "Dapr".into());
    ce.insert("type".into(), DEFAULT_TYPE.into());
    ce.insert("specversion".into(), "1.0".into());
    ce.insert("datacontenttype".into(), "application/octet-stream".into());
    ce.insert("data_base64".into(), base64::engine::general_purpose::STANDARD.encode(bytes).into());
    ce.insert("topic".into(), topic.into());
    ce.insert("pubsubname".into(), pubsub.into());
    ce
}

/// Whether the event's `expiration` has passed.
pub fn has_expired(ce: &CloudEvent) -> bool {
    ce.get("expiration")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t < Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(data: &[u8], ct: &str, md: &[(&str, &str)]) -> Result<CloudEvent, Status> {
        let metadata: HashMap<String, String> = md.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        envelope(&PublishInput {
            app_id: "pub",
            pubsub: "ps",
            topic: "t",
            data,
            content_type: ct,
            metadata: &metadata,
            traceparent: Some("00-aa-bb-01"),
            tracestate: None,
        })
    }

    #[test]
    fn raw_json_is_wrapped_with_overrides() {
        let ce = publish(br#"{"b":1,"a":"x"}"#, "application/json", &[("CloudEvent.Type", "my.type")]).unwrap();
        assert_eq!(ce["source"], "pub");
        assert_eq!(ce["type"], "my.type");
        assert_eq!(ce["traceparent"], "00-aa-bb-01");
        assert_eq!(ce["data"]["b"], 1);
        let req = topic_event_request(&ce, "t", "ps", "").unwrap();
        assert_eq!(req.data, br#"{"a":"x","b":1}"#);
        assert!(req.extensions.unwrap().fields.contains_key("time"));
    }

    #[test]
    fn empty_content_type_is_text_and_invalid_json_stays_a_string() {
        let ce = publish(b"{x", "", &[]).unwrap();
        assert_eq!(ce["datacontenttype"], "text/plain");
        let ce = publish(b"{x", "application/json", &[]).unwrap();
        assert_eq!(ce["data"], "{x");
        assert_eq!(topic_event_request(&ce, "t", "ps", "").unwrap().data, br#""{x""#);
    }

    #[test]
    fn structured_events_keep_id_and_ignore_overrides() {
        let body = br#"{"id":"e1","type":"t.v1","specversion":"1.0","source":"s","datacontenttype":"application/json","data":{"k":2},"topic":"other"}"#;
        let ce = publish(body, CLOUDEVENT_JSON, &[("cloudevent.type", "ignored")]).unwrap();
        assert_eq!(
            (ce["id"].as_str(), ce["type"].as_str(), ce["topic"].as_str()),
            (Some("e1"), Some("t.v1"), Some("t"))
        );
        let bare = publish(br#"{"data":1}"#, CLOUDEVENT_JSON, &[]).unwrap();
        assert!(!bare.contains_key("id"));
        assert_eq!(bare["source"], "Dapr");
        assert!(publish(b"nope", CLOUDEVENT_JSON, &[]).is_err());
    }

    #[test]
    fn binary_and_other_types() {
        let ce = publish(&[0, 1, 2], "application/octet-stream", &[]).unwrap();
        assert_eq!(topic_event_request(&ce, "t", "ps", "").unwrap().data, vec![0, 1, 2]);
        let ce = publish(&[8, 1], "application/x-protobuf", &[]).unwrap();
        assert!(topic_event_request(&ce, "t", "ps", "").unwrap().data.is_empty());
    }
}
