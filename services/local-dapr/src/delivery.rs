//! Delivering a subscription's messages to its app, the way daprd over Kafka
//! does (contract §2.1, §3, §4).
//!
//! One task per (app, subscription, partition) reads the log after the app's
//! acknowledged position and hands over **one message at a time**, in order:
//! a message that keeps failing blocks its partition (head-of-line, like
//! Kafka) while other partitions flow. Each message ends in one of:
//!
//! | app answer | what happens |
//! |---|---|
//! | `SUCCESS` | ack |
//! | `DROP` | copy to the dead-letter topic if set, ack |
//! | `RETRY`, an unknown status, any error but `UNIMPLEMENTED` | retry with exponential backoff; after `max_attempts` copy to the dead-letter topic and ack; **without a dead-letter topic retry forever** (the Kafka component's default) |
//! | `UNIMPLEMENTED` | ack, no dead-letter copy (daprd drops it) |
//! | app not reachable | wait for it and redeliver; no attempt is used up |
//!
//! Before the app is called, daprd may already decide: an expired event
//! (`expiration`) or one no routing rule matches is acked (and copied to the
//! dead-letter topic if set); an event that is not a CloudEvent, or whose
//! rule cannot be evaluated, goes to the dead-letter topic — or, without one,
//! blocks the partition for good, as it would with Kafka.
//!
//! The request carries gRPC metadata like Kafka's consumer sets it: every
//! publish metadata entry (Kafka record headers), `__key`, `__partition`,
//! `__offset`, `__topic`, `__timestamp`, `pubsubname`, `traceparent` and
//! `tracestate` from the event, and `dapr-api-token` when an app token is set.

use std::{collections::HashMap, sync::Arc, time::Duration};

use dapr::dapr::proto::runtime::v1::{
    TopicEventBulkRequest, TopicEventBulkRequestEntry, TopicEventBulkResponse,
    app_callback_alpha_client::AppCallbackAlphaClient, app_callback_client::AppCallbackClient,
    topic_event_bulk_request_entry::Event,
};
use tonic::{
    Code,
    metadata::{MetadataKey, MetadataMap, MetadataValue},
};

use crate::{
    app::{App, is_transport_error, sleep_or_cancel},
    broker::{Message, Outgoing},
    cloudevent::{self, CloudEvent},
    routing,
    runtime::Shared,
    subscriptions::Subscription,
};

const FETCH_BATCH: u32 = 100;
const IDLE_POLL: Duration = Duration::from_secs(1);
const SUCCESS: i32 = 0;
const DROP: i32 = 2;

/// What daprd decides before calling the app.
enum Prepared {
    /// Deliver this event on this path.
    Ready(CloudEvent, String),
    /// Ack without calling the app; copy to the dead-letter topic if set.
    Skip(&'static str),
    /// Cannot be processed: dead-letter topic if set, else block forever.
    Broken(String),
}

struct Delivery {
    shared: Arc<Shared>,
    app: Arc<App>,
    sub: Arc<Subscription>,
}

/// Delivers one partition of one subscription until the sidecar stops.
pub async fn run(shared: Arc<Shared>, app: Arc<App>, sub: Arc<Subscription>, partition: u32) {
    let d = Delivery { shared, app, sub };
    let cancel = d.app.cancel.clone();
    let broker = &d.shared.broker;
    let mut head = broker.watch(&d.sub.pubsub, &d.sub.topic);
    let mut acked = loop {
        match broker.position(&d.app.id, &d.sub.pubsub, &d.sub.topic, partition, d.sub.start_newest).await {
            Ok(position) => break position,
            Err(e) => tracing::warn!(error = %e, "reading the subscriber position failed; retrying"),
        }
        if sleep_or_cancel(&cancel, IDLE_POLL).await {
            return;
        }
    };
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let batch = match broker.fetch(&d.sub.pubsub, &d.sub.topic, partition, acked, FETCH_BATCH).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "reading the log failed; retrying");
                if sleep_or_cancel(&cancel, IDLE_POLL).await {
                    return;
                }
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = head.changed() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
                () = cancel.cancelled() => return,
            }
            continue;
        }
        let chunks: Vec<&[Message]> = match d.sub.bulk {
            Some(bulk) => batch.chunks(usize::try_from(bulk.max_messages_count).unwrap_or(0).max(1)).collect(),
            None => batch.chunks(1).collect(),
        };
        for chunk in chunks {
            let done = if d.sub.bulk.is_some() { d.deliver_bulk(chunk).await } else { d.deliver(&chunk[0]).await };
            if !done {
                return; // stopping: not acked, redelivered after the next start
            }
            let last = chunk[chunk.len() - 1].id;
            while let Err(e) = broker.ack(&d.app.id, &d.sub.pubsub, &d.sub.topic, partition, last).await {
                tracing::warn!(error = %e, "storing the acknowledgement failed; retrying");
                tokio::time::sleep(IDLE_POLL).await;
            }
            acked = last;
        }
    }
}

impl Delivery {
    fn prepare(&self, msg: &Message) -> Prepared {
        let ce = if self.sub.raw_payload {
            cloudevent::from_raw_payload(&msg.payload, &msg.topic, &msg.pubsub)
        } else {
            match serde_json::from_slice::<serde_json::Value>(&msg.payload) {
                Ok(serde_json::Value::Object(ce)) => ce,
                _ => return Prepared::Broken("message is not a CloudEvent (subscribe with rawPayload)".into()),
            }
        };
        if cloudevent::has_expired(&ce) {
            return Prepared::Skip("expired");
        }
        match routing::route(&self.sub.rules, &ce) {
            Ok(Some(path)) => {
                let path = path.to_owned();
                Prepared::Ready(ce, path)
            }
            Ok(None) => Prepared::Skip("no routing rule matches"),
            Err(e) => Prepared::Broken(format!("evaluating routing rules: {e}")),
        }
    }

    /// Handles one message to its end; `false` when the sidecar is stopping.
    async fn deliver(&self, msg: &Message) -> bool {
        let (ce, path) = match self.prepare(msg) {
            Prepared::Ready(ce, path) => (ce, path),
            Prepared::Skip(why) => {
                tracing::debug!(id = msg.id, why, "dropping event");
                return self.dead_letter(msg).await;
            }
            Prepared::Broken(why) => return self.broken(msg, &why).await,
        };
        let request = match cloudevent::topic_event_request(&ce, &msg.topic, &msg.pubsub, &path) {
            Ok(request) => request,
            Err(_) => return self.broken(msg, "unexpected data for its content type").await,
        };
        let policy = self.shared.policy;
        let mut failures = 0u32;
        loop {
            if !self.app.wait_ready().await {
                return false;
            }
            let mut call = self.app.request(request.clone());
            self.add_metadata(call.metadata_mut(), msg, &ce);
            let mut client = AppCallbackClient::new(self.app.channel.clone());
            let failure = match client.on_topic_event(call).await {
                Ok(response) => match response.into_inner().status {
                    SUCCESS => return true,
                    DROP => {
                        tracing::warn!(app = %self.app.id, id = %request.id, "DROP status returned from app");
                        return self.dead_letter(msg).await;
                    }
                    other => format!("status {other} (RETRY)"),
                },
                Err(status) if status.code() == Code::Unimplemented => {
                    tracing::warn!(app = %self.app.id, id = %request.id, %status, "Unimplemented from app: event dropped");
                    return true;
                }
                Err(status) if is_transport_error(&status) && !self.app.reachable().await => {
                    tracing::info!(app = %self.app.id, "app unreachable; waiting to redeliver");
                    if !self.app.wait_reachable().await {
                        return false;
                    }
                    continue;
                }
                Err(status) => format!("error {status}"),
            };
            failures += 1;
            tracing::warn!(app = %self.app.id, topic = %msg.topic, id = %request.id, failures, %failure, "delivery failed");
            if self.attempts_exhausted(failures) {
                return self.dead_letter(msg).await;
            }
            if sleep_or_cancel(&self.app.cancel, policy.backoff(failures)).await {
                return false;
            }
        }
    }

    /// With a dead-letter topic and a bounded policy, the budget can run out.
    fn attempts_exhausted(&self, failures: u32) -> bool {
        !self.sub.dead_letter_topic.is_empty() && self.shared.policy.max_attempts.is_some_and(|max| failures >= max)
    }

    /// Dead-letter topic if set, else the partition stays blocked until the sidecar stops.
    async fn broken(&self, msg: &Message, why: &str) -> bool {
        tracing::error!(app = %self.app.id, topic = %msg.topic, id = msg.id, why, "cannot process message");
        if !self.sub.dead_letter_topic.is_empty() {
            return self.dead_letter(msg).await;
        }
        self.app.cancel.cancelled().await;
        false
    }

    /// Publishes the original message to the dead-letter topic (if any); `false` if stopping.
    async fn dead_letter(&self, msg: &Message) -> bool {
        if self.sub.dead_letter_topic.is_empty() {
            return true;
        }
        loop {
            let outgoing = Outgoing {
                pubsub: &msg.pubsub,
                topic: &self.sub.dead_letter_topic,
                key: msg.key.as_deref(),
                partition: None,
                content_type: &msg.content_type,
                raw: msg.raw,
                payload: msg.payload.clone(),
                metadata: msg.metadata.clone(),
            };
            match self.shared.broker.publish(outgoing).await {
                Ok(_) => {
                    tracing::info!(topic = %msg.topic, dead_letter = %self.sub.dead_letter_topic, id = msg.id, "sent to dead-letter topic");
                    return true;
                }
                Err(e) => tracing::warn!(error = %e, "publishing to the dead-letter topic failed; retrying"),
            }
            if sleep_or_cancel(&self.app.cancel, IDLE_POLL).await {
                return false;
            }
        }
    }

    fn add_metadata(&self, md: &mut MetadataMap, msg: &Message, ce: &CloudEvent) {
        let mut insert = |key: &str, value: &str| {
            if let (Ok(key), Ok(value)) =
                (MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes()), MetadataValue::try_from(value))
            {
                md.insert(key, value);
            }
        };
        for (key, value) in &msg.metadata {
            let lower = key.to_ascii_lowercase();
            if !(lower.starts_with("grpc-") || lower == "content-type" || lower == "te" || lower == "dapr-api-token") {
                insert(key, value);
            }
        }
        if let Some(key) = &msg.key {
            insert("__key", key);
        }
        insert("__partition", &msg.partition.to_string());
        insert("__offset", &msg.id.to_string());
        insert("__topic", &msg.topic);
        insert("__timestamp", &msg.published_at.to_string());
        insert("pubsubname", &msg.pubsub);
        let trace = ce.get("traceparent").or_else(|| ce.get("traceid")).and_then(serde_json::Value::as_str);
        if let Some(traceparent) = trace {
            insert("traceparent", traceparent);
        }
        if let Some(tracestate) = ce.get("tracestate").and_then(serde_json::Value::as_str) {
            insert("tracestate", tracestate);
        }
    }

    /// Bulk delivery of a chunk (contract §4); `false` when stopping.
    ///
    /// Entries are grouped by route path, ids are their index ("0", "1", …).
    /// `SUCCESS` and `DROP` (dead-letter copy) settle an entry; `RETRY`, an
    /// unknown status or a missing entry leave it pending; pending entries are
    /// re-sent with backoff and, once the budget runs out, dead-lettered (or
    /// retried forever without a dead-letter topic). `Unimplemented` from both
    /// `OnBulkTopicEvent` and `OnBulkTopicEventAlpha1` drops the whole batch.
    async fn deliver_bulk(&self, chunk: &[Message]) -> bool {
        let mut pending: Vec<(&Message, CloudEvent, String)> = Vec::new();
        for msg in chunk {
            match self.prepare(msg) {
                Prepared::Ready(ce, path) => pending.push((msg, ce, path)),
                Prepared::Skip(_) => {
                    if !self.dead_letter(msg).await {
                        return false;
                    }
                }
                Prepared::Broken(why) => {
                    if !self.broken(msg, &why).await {
                        return false;
                    }
                }
            }
        }
        let mut failures = 0u32;
        while !pending.is_empty() {
            if !self.app.wait_ready().await {
                return false;
            }
            let mut paths: Vec<String> = pending.iter().map(|(_, _, p)| p.clone()).collect();
            paths.dedup();
            let mut still_pending = Vec::new();
            let mut transport_down = false;
            for path in paths {
                let group: Vec<_> = pending.iter().filter(|(_, _, p)| *p == path).collect();
                let request = self.bulk_request(&group, &path);
                match self.call_bulk(request).await {
                    Ok(response) => {
                        let statuses: HashMap<String, i32> =
                            response.statuses.into_iter().map(|s| (s.entry_id, s.status)).collect();
                        for (index, entry) in group.into_iter().enumerate() {
                            match statuses.get(&index.to_string()) {
                                Some(&SUCCESS) => {}
                                Some(&DROP) => {
                                    if !self.dead_letter(entry.0).await {
                                        return false;
                                    }
                                }
                                _ => still_pending.push((*entry).clone()),
                            }
                        }
                    }
                    Err(status) if status.code() == Code::Unimplemented => {
                        tracing::warn!(app = %self.app.id, %status, "bulk event unimplemented: batch dropped");
                    }
                    Err(status) => {
                        if is_transport_error(&status) && !self.app.reachable().await {
                            transport_down = true;
                        }
                        still_pending.extend(group.into_iter().cloned());
                    }
                }
            }
            pending = still_pending;
            if pending.is_empty() {
                break;
            }
            if transport_down {
                if !self.app.wait_reachable().await {
                    return false;
                }
                continue;
            }
            failures += 1;
            if self.attempts_exhausted(failures) {
                for (msg, _, _) in &pending {
                    if !self.dead_letter(msg).await {
                        return false;
                    }
                }
                break;
            }
            if sleep_or_cancel(&self.app.cancel, self.shared.policy.backoff(failures)).await {
                return false;
            }
        }
        true
    }

    fn bulk_request(&self, group: &[&(&Message, CloudEvent, String)], path: &str) -> TopicEventBulkRequest {
        let entries = group
            .iter()
            .enumerate()
            .map(|(index, (msg, ce, _))| {
                let event = if self.sub.raw_payload {
                    Event::Bytes(msg.payload.clone())
                } else {
                    // Undecodable data travels empty rather than blocking the batch.
                    Event::CloudEvent(cloudevent::bulk_ce_request(ce).unwrap_or_default())
                };
                TopicEventBulkRequestEntry {
                    entry_id: index.to_string(),
                    content_type: msg.content_type.clone(),
                    metadata: msg.metadata.clone(),
                    event: Some(event),
                }
            })
            .collect();
        TopicEventBulkRequest {
            id: uuid::Uuid::new_v4().to_string(),
            entries,
            metadata: HashMap::from([("pubsubName".to_owned(), self.sub.pubsub.clone())]),
            topic: self.sub.topic.clone(),
            pubsub_name: self.sub.pubsub.clone(),
            r#type: "com.dapr.event.sent.bulk".into(),
            path: path.to_owned(),
        }
    }

    /// `OnBulkTopicEvent`, falling back to `OnBulkTopicEventAlpha1` on Unimplemented.
    async fn call_bulk(&self, request: TopicEventBulkRequest) -> Result<TopicEventBulkResponse, tonic::Status> {
        let mut stable = AppCallbackClient::new(self.app.channel.clone());
        match stable.on_bulk_topic_event(self.bulk_call(request.clone())).await {
            Err(status) if status.code() == Code::Unimplemented => {
                let mut alpha = AppCallbackAlphaClient::new(self.app.channel.clone());
                #[allow(deprecated)] // the Alpha1 name is what daprd falls back to
                alpha.on_bulk_topic_event_alpha1(self.bulk_call(request)).await.map(tonic::Response::into_inner)
            }
            other => other.map(tonic::Response::into_inner),
        }
    }

    fn bulk_call(&self, request: TopicEventBulkRequest) -> tonic::Request<TopicEventBulkRequest> {
        let mut call = self.app.request(request);
        if let Ok(value) = MetadataValue::try_from(self.sub.pubsub.as_str()) {
            call.metadata_mut().insert("pubsubname", value);
        }
        call
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_a_partition() {
        // Smoke check on the constants' meaning, matching the proto enum.
        use dapr::dapr::proto::runtime::v1::topic_event_response::TopicEventResponseStatus as S;
        assert_eq!((S::Success as i32, S::Drop as i32), (SUCCESS, DROP));
    }
}
