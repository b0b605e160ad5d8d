//! Publish → CloudEvent → delivery, with daprd's outcome rules.

use std::{collections::HashMap, time::Duration};

use dapr::dapr::proto::runtime::v1::{TopicRoutes, TopicRule};
use local_dapr::partition_for_key;
use tonic::{Code, Status};

use crate::helpers::*;

fn ext(event: &dapr::dapr::proto::runtime::v1::TopicEventRequest, key: &str) -> Option<String> {
    use prost_types::value::Kind;
    match event.extensions.as_ref()?.fields.get(key)?.kind.as_ref()? {
        Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A raw JSON publish arrives as the CloudEvent daprd builds.
#[tokio::test]
async fn raw_json_publish_arrives_as_a_daprd_cloudevent() {
    let app = TestApp::start(Recorder::new(vec![sub("orders")])).await;
    let h = Harness::start(vec![Attach::new("shop", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut client = h.client("shop").await;
    let mut request = tonic::Request::new(publish_req(
        "orders",
        br#"{ "b": 2, "a": "x" }"#,
        "application/json",
        &[("cloudevent.type", "shop.order.created.v1"), ("partitionKey", "alice")],
    ));
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    request.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    client.publish_event(request).await.unwrap();

    eventually(5, "event delivered", || async { app.rec.events().len() == 1 }).await;
    let (event, md) = app.rec.events.lock().unwrap()[0].clone();
    assert_eq!(uuid::Uuid::parse_str(&event.id).unwrap().get_version_num(), 4);
    assert_eq!(event.source, "shop");
    assert_eq!(event.r#type, "shop.order.created.v1");
    assert_eq!(event.spec_version, "1.0");
    assert_eq!(event.data_content_type, "application/json");
    assert_eq!(event.data, br#"{"a":"x","b":2}"#, "JSON is re-serialised");
    assert_eq!((event.topic.as_str(), event.pubsub_name.as_str(), event.path.as_str()), ("orders", "pubsub", ""));
    assert_eq!(ext(&event, "traceparent").as_deref(), Some(traceparent));
    assert_eq!(ext(&event, "traceid").as_deref(), Some(traceparent));
    assert_eq!(ext(&event, "topic").as_deref(), Some("orders"));
    assert!(ext(&event, "time").is_some());
    let header = |k: &str| md.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("traceparent").as_deref(), Some(traceparent));
    assert_eq!(header("pubsubname").as_deref(), Some("pubsub"));
    assert_eq!(header("__key").as_deref(), Some("alice"));
    assert_eq!(header("__partition"), Some(partition_for_key("alice", 4).to_string()));
    assert_eq!(header("__topic").as_deref(), Some("orders"));
    assert!(header("__offset").is_some());
    assert_eq!(header("partitionkey").as_deref(), Some("alice"), "publish metadata travels as headers");
    h.runtime.shutdown().await;
}

/// A structured CloudEvent keeps its id and type; protobuf data arrives empty.
#[tokio::test]
async fn full_cloudevent_keeps_id_and_type_and_protobuf_data_arrives_empty() {
    let app = TestApp::start(Recorder::new(vec![sub("t")])).await;
    let h = Harness::start(vec![Attach::new("pub", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut client = h.client("pub").await;
    let ce = br#"{"specversion":"1.0","id":"evt-1","source":"task","type":"todo.task.created.v1","datacontenttype":"application/json","data":{"task":"t1"}}"#;
    client
        .publish_event(publish_req("t", ce, "application/cloudevents+json", &[("cloudevent.type", "ignored")]))
        .await
        .unwrap();
    client.publish_event(publish_req("t", &[8, 150, 1], "application/x-protobuf", &[])).await.unwrap();
    let err = client.publish_event(publish_req("t", b"not json", "application/cloudevents+json", &[])).await;
    assert_eq!(err.unwrap_err().code(), Code::InvalidArgument);

    eventually(5, "two events", || async { app.rec.events().len() == 2 }).await;
    let mut events = app.rec.events();
    events.sort_by_key(|e| e.data_content_type.clone());
    let (json, proto) = (&events[0], &events[1]);
    assert_eq!(
        (json.id.as_str(), json.r#type.as_str(), json.source.as_str()),
        ("evt-1", "todo.task.created.v1", "task")
    );
    assert_eq!(json.data, br#"{"task":"t1"}"#);
    assert_eq!(proto.data_content_type, "application/x-protobuf");
    assert!(proto.data.is_empty(), "daprd delivers other content types with empty data");
    h.runtime.shutdown().await;
}

/// Rules pick the path in order; a non-matching event is dropped and dead-lettered.
#[tokio::test]
async fn routing_rules_pick_the_path_and_unmatched_events_go_to_the_dead_letter_topic() {
    let mut routed = sub("orders");
    routed.routes = Some(TopicRoutes {
        rules: vec![
            TopicRule { r#match: r#"event.type == "created""#.into(), path: "on-created".into() },
            TopicRule {
                r#match: r#"event.type == "cancelled" || event.type == "voided""#.into(),
                path: "on-cancel".into(),
            },
        ],
        default: String::new(),
    });
    routed.dead_letter_topic = "orders-dlq".into();
    let app = TestApp::start(Recorder::new(vec![routed, sub("orders-dlq")])).await;
    let h = Harness::start(vec![Attach::new("shop", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut client = h.client("shop").await;
    for ty in ["created", "voided", "shipped"] {
        client
            .publish_event(publish_req(
                "orders",
                b"{}",
                "application/json",
                &[("cloudevent.type", ty), ("partitionKey", "k")],
            ))
            .await
            .unwrap();
    }
    eventually(5, "two routed and one dead-lettered", || async {
        app.rec.events_on("orders").len() == 2 && app.rec.events_on("orders-dlq").len() == 1
    })
    .await;
    let paths: Vec<_> = app.rec.events_on("orders").iter().map(|e| (e.r#type.clone(), e.path.clone())).collect();
    assert_eq!(paths, vec![("created".into(), "on-created".into()), ("voided".into(), "on-cancel".into())]);
    let dead = &app.rec.events_on("orders-dlq")[0];
    assert_eq!(dead.r#type, "shipped");
    assert_eq!(ext(dead, "topic").as_deref(), Some("orders"), "the original message is copied as is");
    h.runtime.shutdown().await;
}

/// RETRY then SUCCESS: redelivered after a backoff, acknowledged once.
#[tokio::test]
async fn retry_then_success_is_redelivered_with_backoff() {
    let app = TestApp::start(Recorder::new(vec![sub("t")])).await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = calls.clone();
    app.rec.on_topic(move |_| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(if n < 2 { RETRY } else { SUCCESS })
    });
    let mut policy = fast_policy();
    policy.initial_backoff = Duration::from_millis(100);
    policy.max_backoff = Duration::from_millis(400);
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), policy).await;
    let started = tokio::time::Instant::now();
    h.client("a").await.publish_event(publish_req("t", b"1", "text/plain", &[])).await.unwrap();
    eventually(5, "three attempts", || async { app.rec.events().len() == 3 }).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "100ms + 200ms of backoff");
    let ids: Vec<_> = app.rec.events().iter().map(|e| e.id.clone()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "the same event each time");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.rec.events().len(), 3, "no delivery after SUCCESS");
    h.runtime.shutdown().await;
}

/// Keys on different partitions than `poison`.
fn keys_off_partition_of(poison: &str, n: usize) -> Vec<String> {
    let p = partition_for_key(poison, 4);
    (0..).map(|i| format!("user-{i}")).filter(|k| partition_for_key(k, 4) != p).take(n).collect()
}

async fn poison_case(answer: i32) {
    let mut poisoned = sub("t");
    poisoned.dead_letter_topic = "t-dlq".into();
    let app = TestApp::start(Recorder::new(vec![poisoned, sub("t-dlq")])).await;
    app.rec.on_topic(move |e| Ok(if e.topic == "t" && e.data == b"poison" { answer } else { SUCCESS }));
    let mut policy = fast_policy();
    policy.initial_backoff = Duration::from_millis(200);
    policy.max_backoff = Duration::from_millis(200);
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), policy).await;
    let mut client = h.client("a").await;
    client.publish_event(publish_req("t", b"poison", "text/plain", &[("partitionKey", "poison")])).await.unwrap();
    for key in keys_off_partition_of("poison", 5) {
        client.publish_event(publish_req("t", b"fine", "text/plain", &[("partitionKey", &key)])).await.unwrap();
    }
    // Other partitions flow while the poison message is still being retried.
    eventually(5, "healthy partitions delivered", || async {
        app.rec.events_on("t").iter().filter(|e| e.data == b"fine").count() == 5
    })
    .await;
    eventually(5, "poison message dead-lettered", || async { app.rec.events_on("t-dlq").len() == 1 }).await;
    let attempts = app.rec.events_on("t").iter().filter(|e| e.data == b"poison").count();
    let expected = if answer == DROP { 1 } else { 3 };
    assert_eq!(attempts, expected, "attempts before the dead-letter topic");
    assert_eq!(app.rec.events_on("t-dlq")[0].data, b"poison");
    h.runtime.shutdown().await;
}

#[tokio::test]
async fn a_handler_that_always_retries_ends_in_the_dead_letter_topic_while_other_partitions_flow() {
    poison_case(RETRY).await;
}

#[tokio::test]
async fn a_handler_that_drops_sends_to_the_dead_letter_topic_at_once() {
    poison_case(DROP).await;
}

/// UNIMPLEMENTED acks without a dead-letter copy; other errors retry.
#[tokio::test]
async fn unimplemented_acks_without_dead_letter_and_errors_retry() {
    let mut s = sub("t");
    s.dead_letter_topic = "t-dlq".into();
    let app = TestApp::start(Recorder::new(vec![s, sub("t-dlq")])).await;
    app.rec.on_topic(|e| match e.data.as_slice() {
        b"unimpl" => Err(Status::unimplemented("no")),
        b"boom" => Err(Status::internal("boom")),
        _ => Ok(SUCCESS),
    });
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut client = h.client("a").await;
    client.publish_event(publish_req("t", b"unimpl", "text/plain", &[("partitionKey", "x")])).await.unwrap();
    client.publish_event(publish_req("t", b"boom", "text/plain", &[("partitionKey", "x")])).await.unwrap();
    eventually(5, "boom dead-lettered", || async { app.rec.events_on("t-dlq").len() == 1 }).await;
    assert_eq!(app.rec.events_on("t-dlq")[0].data, b"boom");
    let unimpl = app.rec.events_on("t").iter().filter(|e| e.data == b"unimpl").count();
    assert_eq!(unimpl, 1, "acked after one Unimplemented");
    assert_eq!(app.rec.events_on("t").iter().filter(|e| e.data == b"boom").count(), 3);
    h.runtime.shutdown().await;
}

/// 200 messages over 3 keys: each key's messages arrive in publish order.
#[tokio::test]
async fn per_partition_order_holds_for_200_messages_over_3_keys() {
    let app = TestApp::start(Recorder::new(vec![sub("t")])).await;
    // Occasional RETRYs must not reorder anything.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen2 = seen.clone();
    app.rec.on_topic(move |e| {
        let first_time = seen2.lock().unwrap().insert(e.id.clone());
        Ok(if first_time && e.data.ends_with(b"7") { RETRY } else { SUCCESS })
    });
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut client = h.client("a").await;
    let keys = ["alice", "bob", "carol"];
    for i in 0..200 {
        let key = keys[i % 3];
        client
            .publish_event(publish_req("t", format!("{key}:{i}").as_bytes(), "text/plain", &[("partitionKey", key)]))
            .await
            .unwrap();
    }
    // 200 messages, plus one redelivery of each of the 20 that were retried.
    eventually(20, "all 200 acknowledged", || async { app.rec.events().len() == 220 }).await;
    assert_eq!(seen.lock().unwrap().len(), 200);
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut successes: HashMap<String, usize> = HashMap::new();
    for event in app.rec.events() {
        let text = String::from_utf8(event.data).unwrap();
        let (key, n) = text.split_once(':').unwrap();
        let n: i64 = n.parse().unwrap();
        let prev = last.insert(key.to_owned(), n).unwrap_or(-1);
        assert!(n >= prev, "{key}: {n} arrived after {prev}");
        *successes.entry(key.to_owned()).or_default() += 1;
    }
    assert_eq!(successes.values().sum::<usize>(), 200 + 20, "200 messages + 20 retried once");
    h.runtime.shutdown().await;
}

/// An app that is down when events are published gets them once it starts.
#[tokio::test]
async fn an_app_down_at_publish_time_gets_its_events_when_it_starts() {
    let publisher = TestApp::start(Recorder::new(vec![])).await;
    let subscriber_addr = free_addr().await;
    let h = Harness::start(
        vec![Attach::new("pub", publisher.addr), Attach::new("sub", subscriber_addr)],
        PUBSUB_YAML,
        &temp_db(),
        fast_policy(),
    )
    .await;
    let mut client = h.client("pub").await;
    for i in 0..5 {
        client.publish_event(publish_req("t", format!("{i}").as_bytes(), "text/plain", &[])).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let subscriber = TestApp::start_on(std::sync::Arc::new(Recorder::new(vec![sub("t")])), subscriber_addr).await;
    eventually(10, "all five delivered", || async { subscriber.rec.events().len() == 5 }).await;
    assert!(publisher.rec.events().is_empty(), "the publisher did not subscribe");
    h.runtime.shutdown().await;
}

/// Stop the app mid-stream: nothing is lost, delivery resumes when it returns.
#[tokio::test]
async fn an_app_that_goes_away_gets_everything_when_it_returns() {
    let rec = std::sync::Arc::new(Recorder::new(vec![sub("t")]));
    let app = TestApp::start_on(rec.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let addr = app.addr;
    let h = Harness::start(vec![Attach::new("a", addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut client = h.client("a").await;
    client.publish_event(publish_req("t", b"before", "text/plain", &[])).await.unwrap();
    eventually(5, "first delivered", || async { rec.events().len() == 1 }).await;
    app.stop().await;
    for i in 0..10 {
        client.publish_event(publish_req("t", format!("{i}").as_bytes(), "text/plain", &[])).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = TestApp::start_on(rec.clone(), addr).await;
    eventually(10, "all delivered after return", || async { rec.events().len() == 11 }).await;
    let mut ids: Vec<_> = rec.events().iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 11, "no duplicates for an app that acknowledges");
    h.runtime.shutdown().await;
    app.stop().await;
}

/// A runtime restart redelivers unacknowledged messages, never acknowledged ones.
#[tokio::test]
async fn a_runtime_restart_redelivers_unacked_messages_but_not_acked_ones() {
    let app = TestApp::start(Recorder::new(vec![sub("t")])).await;
    app.rec.on_topic(|e| Ok(if e.data == b"stuck" { RETRY } else { SUCCESS }));
    let db = temp_db();
    let mut policy = fast_policy();
    policy.max_attempts = None; // retry forever: the message stays unacked
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &db, policy).await;
    let mut client = h.client("a").await;
    client.publish_event(publish_req("t", b"done", "text/plain", &[("partitionKey", "k")])).await.unwrap();
    client.publish_event(publish_req("t", b"stuck", "text/plain", &[("partitionKey", "k")])).await.unwrap();
    client.publish_event(publish_req("t", b"after", "text/plain", &[("partitionKey", "k")])).await.unwrap();
    eventually(5, "stuck is being retried", || async {
        app.rec.events().iter().filter(|e| e.data == b"stuck").count() >= 2
    })
    .await;
    h.runtime.shutdown().await;
    let before = app.rec.events().len();
    assert!(app.rec.events().iter().all(|e| e.data != b"after"), "blocked behind stuck");

    app.rec.on_topic(|_| Ok(SUCCESS));
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &db, policy).await;
    eventually(5, "stuck and after delivered", || async { app.rec.events().iter().any(|e| e.data == b"after") }).await;
    let again: Vec<_> = app.rec.events()[before..].iter().map(|e| e.data.clone()).collect();
    assert_eq!(again, vec![b"stuck".to_vec(), b"after".to_vec()], "acked 'done' is not redelivered");
    h.runtime.shutdown().await;
}

/// Unknown pub/sub names fail like daprd's ERR_PUBSUB_NOT_FOUND.
#[tokio::test]
async fn publishing_to_an_unknown_pubsub_is_invalid_argument() {
    let app = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut req = publish_req("t", b"x", "text/plain", &[]);
    req.pubsub_name = "nope".into();
    let err = h.client("a").await.publish_event(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    h.runtime.shutdown().await;
}

/// Declarative subscriptions load for scoped apps; bulk ones fall back to Alpha1.
#[tokio::test]
async fn declarative_bulk_subscription_is_delivered_through_the_alpha1_fallback() {
    let yaml = format!(
        "{PUBSUB_YAML}
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {{ name: bulk }}
spec:
  pubsubname: pubsub
  topic: many
  routes: {{ default: batch }}
  bulkSubscribe: {{ enabled: true, maxMessagesCount: 10 }}
scopes: [a]
"
    );
    let app = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], &yaml, &temp_db(), fast_policy()).await;
    let mut client = h.client("a").await;
    for i in 0..6 {
        client
            .publish_event(publish_req(
                "many",
                format!("{{\"n\":{i}}}").as_bytes(),
                "application/json",
                &[("partitionKey", "k")],
            ))
            .await
            .unwrap();
    }
    eventually(5, "six entries in bulk", || async {
        app.rec.bulk.lock().unwrap().iter().map(|b| b.entries.len()).sum::<usize>() == 6
    })
    .await;
    let batches = app.rec.bulk.lock().unwrap().clone();
    assert!(batches.iter().all(|b| b.path == "batch" && b.r#type == "com.dapr.event.sent.bulk"));
    assert_eq!(batches[0].entries[0].entry_id, "0");
    h.runtime.shutdown().await;
}
