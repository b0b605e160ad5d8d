//! `PublishEvent` and `BulkPublishEvent`: wrap like daprd, store durably, answer.
//!
//! The pub/sub name must be a `pubsub.*` component the app loads; otherwise
//! the call fails with `INVALID_ARGUMENT` ("pubsub … is not found"), which is
//! what daprd answers (`ERR_PUBSUB_NOT_FOUND`, HTTP 400). The message is in
//! the database before the call returns OK.

use std::collections::HashMap;

use dapr::dapr::proto::runtime::v1 as rt;
use tonic::Status;

use crate::{
    api::Sidecar,
    broker::Outgoing,
    cloudevent::{self, PublishInput},
    subscriptions::go_bool,
};

fn header<'a>(metadata: &'a tonic::metadata::MetadataMap, key: &str) -> Option<&'a str> {
    metadata.get(key).and_then(|v| v.to_str().ok())
}

fn meta<'a>(metadata: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

struct One<'a> {
    pubsub: &'a str,
    topic: &'a str,
    data: &'a [u8],
    content_type: &'a str,
    metadata: &'a HashMap<String, String>,
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

async fn publish_one(sidecar: &Sidecar, one: One<'_>) -> Result<(), Status> {
    let app_id = &sidecar.app.id;
    if one.pubsub.is_empty() {
        return Err(Status::invalid_argument("pubsub name is empty"));
    }
    if sidecar.shared.component(app_id, "pubsub", one.pubsub).is_none() {
        return Err(Status::invalid_argument(format!("pubsub {} is not found", one.pubsub)));
    }
    if one.topic.is_empty() {
        return Err(Status::invalid_argument(format!("topic is empty in pubsub {}", one.pubsub)));
    }
    let raw = meta(one.metadata, "rawPayload").is_some_and(go_bool);
    let (payload, content_type) = if raw {
        (one.data.to_vec(), one.content_type.to_owned())
    } else {
        let ce = cloudevent::envelope(&PublishInput {
            app_id,
            pubsub: one.pubsub,
            topic: one.topic,
            data: one.data,
            content_type: one.content_type,
            metadata: one.metadata,
            traceparent: one.traceparent,
            tracestate: one.tracestate,
        })?;
        (serde_json::to_vec(&ce).unwrap_or_default(), cloudevent::CLOUDEVENT_JSON.to_owned())
    };
    let key = meta(one.metadata, "partitionKey").or_else(|| meta(one.metadata, "__key"));
    let partition = meta(one.metadata, "partitionNumber").and_then(|p| p.parse().ok());
    sidecar
        .shared
        .broker
        .publish(Outgoing {
            pubsub: one.pubsub,
            topic: one.topic,
            key,
            partition,
            content_type: &content_type,
            raw,
            payload,
            metadata: one.metadata.clone(),
        })
        .await
        .map_err(|e| {
            Status::internal(format!("error when publish to topic {} in pubsub {}: {e}", one.topic, one.pubsub))
        })?;
    Ok(())
}

pub async fn publish_event(
    sidecar: &Sidecar,
    request: tonic::Request<rt::PublishEventRequest>,
) -> Result<tonic::Response<()>, Status> {
    let headers = request.metadata().clone();
    let req = request.into_inner();
    publish_one(
        sidecar,
        One {
            pubsub: &req.pubsub_name,
            topic: &req.topic,
            data: &req.data,
            content_type: &req.data_content_type,
            metadata: &req.metadata,
            traceparent: header(&headers, "traceparent"),
            tracestate: header(&headers, "tracestate"),
        },
    )
    .await?;
    Ok(tonic::Response::new(()))
}

/// Publishes each entry; entries that fail are reported, the rest are stored.
pub async fn bulk_publish_event(
    sidecar: &Sidecar,
    request: tonic::Request<rt::BulkPublishRequest>,
) -> Result<tonic::Response<rt::BulkPublishResponse>, Status> {
    let headers = request.metadata().clone();
    let req = request.into_inner();
    if sidecar.shared.component(&sidecar.app.id, "pubsub", &req.pubsub_name).is_none() {
        return Err(Status::invalid_argument(format!("pubsub {} is not found", req.pubsub_name)));
    }
    let mut failed_entries = Vec::new();
    for entry in &req.entries {
        let mut metadata = req.metadata.clone();
        metadata.extend(entry.metadata.clone());
        let result = publish_one(
            sidecar,
            One {
                pubsub: &req.pubsub_name,
                topic: &req.topic,
                data: &entry.event,
                content_type: &entry.content_type,
                metadata: &metadata,
                traceparent: header(&headers, "traceparent"),
                tracestate: header(&headers, "tracestate"),
            },
        )
        .await;
        if let Err(status) = result {
            failed_entries.push(rt::BulkPublishResponseFailedEntry {
                entry_id: entry.entry_id.clone(),
                error: status.message().to_owned(),
            });
        }
    }
    Ok(tonic::Response::new(rt::BulkPublishResponse { failed_entries }))
}
