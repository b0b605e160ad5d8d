#![allow(clippy::unwrap_used, clippy::expect_used, deprecated)] // daprd still calls the deprecated Alpha1 names
//! The callback router answers daprd as `docs/dapr.md` says it must.
//! Requests are shaped as daprd 1.16–1.18 sends them, over real gRPC.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use dapr::dapr::proto::{
    common::v1::{InvokeRequest, InvokeResponse},
    runtime::v1::{
        BindingEventRequest, JobEventRequest, TopicEventBulkRequest, TopicEventBulkRequestEntry, TopicEventCeRequest,
        TopicEventRequest, app_callback_alpha_client::AppCallbackAlphaClient, app_callback_client::AppCallbackClient,
        app_callback_health_check_client::AppCallbackHealthCheckClient, topic_event_bulk_request_entry,
        topic_event_response::TopicEventResponseStatus as S,
    },
};
use shared::status::reason_of;
use shared::{
    Error,
    dapr::{CallbackRouter, Event, Subscription},
    proto::{json, todo::task::v1 as pb},
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, transport::Channel};

const COMPLETED: &str = "todo.task.completed.v1";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// (route path, decoded event, traceparent) of each handled delivery.
type Handled = (String, pb::TaskEvent, Option<String>);

#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<Handled>>>);

fn router(seen: Seen, token: Option<&str>) -> CallbackRouter {
    let completed = seen.clone();
    let other = seen.clone();
    CallbackRouter::builder()
        .subscribe(
            Subscription::new("pubsub", "task-events")
                .dead_letter("task-events-dlq")
                .route(&format!("event.type == \"{COMPLETED}\""), "completed", &[COMPLETED], move |event: Event| {
                    let seen = completed.clone();
                    async move {
                        let task_event: pb::TaskEvent = event.decode()?;
                        if task_event.user_id == "flaky" {
                            return Err(Error::unavailable("a dependency", "database unavailable"));
                        }
                        if task_event.user_id == "poison" {
                            return Err(Error::malformed("cannot ever apply"));
                        }
                        let trace = event.traceparent().map(str::to_owned);
                        seen.0.lock().unwrap().push((event.path.clone(), task_event, trace));
                        Ok(())
                    }
                })
                .default_route("other", &[], move |event: Event| {
                    let seen = other.clone();
                    async move {
                        let task_event: pb::TaskEvent = event.decode()?;
                        seen.0.lock().unwrap().push((event.path.clone(), task_event, None));
                        Ok(())
                    }
                }),
        )
        .subscribe(
            Subscription::new("pubsub", "reminders").bulk(50, 500).default_route("", &[], |_e: Event| async { Ok(()) }),
        )
        .binding("recurrence-sweep", |request: BindingEventRequest| async move {
            match request.metadata.get("fail").map(String::as_str) {
                Some("transient") => Err(Error::unavailable("a dependency", "later")),
                _ => Ok(()),
            }
        })
        .job("reminder-", |request: JobEventRequest| async move {
            match request.name.as_str() {
                "reminder-flaky" => Err(Error::unavailable("a dependency", "try again")),
                "reminder-bad" => Err(Error::malformed("never")),
                _ => Ok(()),
            }
        })
        .method("echo", |request: InvokeRequest| async move {
            Ok(InvokeResponse { data: request.data, content_type: "application/json".into() })
        })
        .api_token(token.map(shared::config::Secret::new))
        .build()
}

async fn serve(router: CallbackRouter) -> (Channel, CancellationToken) {
    let mut host = shared::grpc::Host::bind("127.0.0.1:0".parse().unwrap(), &[]).await.unwrap();
    host.serve_callbacks(router);
    let addr = host.addr();
    let stop = CancellationToken::new();
    tokio::spawn(host.run_until(stop.clone(), std::time::Duration::from_secs(1)));
    (Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap(), stop)
}

fn task_event(user: &str) -> pb::TaskEvent {
    pb::TaskEvent {
        event_id: "e-1".into(),
        user_id: user.into(),
        task_id: "t-1".into(),
        revision: 9_007_199_254_740_993, // above 2^53: must survive as a JSON string
        change: Some(pb::task_event::Change::Completed(pb::TaskCompleted {})),
        ..Default::default()
    }
}

/// What daprd sends for an event we published as a full CloudEvent.
fn delivery(event_type: &str, path: &str, data: Vec<u8>) -> TopicEventRequest {
    let extensions = prost_types::Struct {
        fields: [("traceparent", TRACEPARENT), ("time", "2026-11-23T10:00:00Z"), ("subject", "tasks/t-1")]
            .into_iter()
            .map(|(k, v)| {
                (k.to_owned(), prost_types::Value { kind: Some(prost_types::value::Kind::StringValue(v.into())) })
            })
            .collect(),
    };
    TopicEventRequest {
        id: "e-1".into(),
        source: "task".into(),
        r#type: event_type.into(),
        spec_version: "1.0".into(),
        data_content_type: "application/json".into(),
        data,
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        path: path.into(),
        extensions: Some(extensions),
    }
}

fn json_of(event: &pb::TaskEvent) -> Vec<u8> {
    serde_json::to_vec(&json::to_value(event).unwrap()).unwrap()
}

async fn status(client: &mut AppCallbackClient<Channel>, request: TopicEventRequest) -> S {
    S::try_from(client.on_topic_event(request).await.unwrap().into_inner().status).unwrap()
}

#[tokio::test]
async fn subscriptions_are_listed_with_routes_dead_letter_and_bulk() {
    let (channel, _stop) = serve(router(Seen::default(), None)).await;
    let mut client = AppCallbackClient::new(channel);
    let list = client.list_topic_subscriptions(()).await.unwrap().into_inner();
    let tasks = list.subscriptions.iter().find(|s| s.topic == "task-events").unwrap();
    assert_eq!(tasks.pubsub_name, "pubsub");
    assert_eq!(tasks.dead_letter_topic, "task-events-dlq");
    let routes = tasks.routes.as_ref().unwrap();
    assert_eq!(routes.rules[0].r#match, format!("event.type == \"{COMPLETED}\""));
    assert_eq!(routes.rules[0].path, "completed");
    assert_eq!(routes.default, "other");
    let reminders = list.subscriptions.iter().find(|s| s.topic == "reminders").unwrap();
    let bulk = reminders.bulk_subscribe.unwrap();
    assert!(bulk.enabled);
    assert_eq!((bulk.max_messages_count, bulk.max_await_duration_ms), (50, 500));
    let bindings = client.list_input_bindings(()).await.unwrap().into_inner();
    assert_eq!(bindings.bindings, ["recurrence-sweep"]);
}

#[tokio::test]
async fn handler_outcomes_map_to_success_retry_and_drop() {
    let seen = Seen::default();
    let (channel, _stop) = serve(router(seen.clone(), None)).await;
    let mut client = AppCallbackClient::new(channel);

    assert_eq!(status(&mut client, delivery(COMPLETED, "completed", json_of(&task_event("alice")))).await, S::Success);
    let received = seen.0.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "completed");
    assert_eq!(received[0].1, task_event("alice"), "proto JSON round trip keeps 64-bit values");
    assert_eq!(received[0].2.as_deref(), Some(TRACEPARENT));

    assert_eq!(status(&mut client, delivery(COMPLETED, "completed", json_of(&task_event("flaky")))).await, S::Retry);
    assert_eq!(status(&mut client, delivery(COMPLETED, "completed", json_of(&task_event("poison")))).await, S::Drop);
    assert_eq!(seen.0.lock().unwrap().len(), 1, "failed events were not recorded");
}

#[tokio::test]
async fn undecodable_unknown_and_newer_events_have_defined_outcomes() {
    let seen = Seen::default();
    let (channel, _stop) = serve(router(seen.clone(), None)).await;
    let mut client = AppCallbackClient::new(channel);

    // Not JSON of the message: poison.
    assert_eq!(status(&mut client, delivery(COMPLETED, "completed", b"not json".to_vec())).await, S::Drop);
    // Empty data, as daprd delivers a non-JSON content type (docs/dapr.md §2): poison.
    assert_eq!(status(&mut client, delivery(COMPLETED, "completed", vec![])).await, S::Drop);
    // A topic this app never subscribed to: dropped, never UNIMPLEMENTED.
    let mut stray = delivery(COMPLETED, "completed", json_of(&task_event("alice")));
    stray.topic = "elsewhere".into();
    assert_eq!(status(&mut client, stray).await, S::Drop);
    // A newer version of a known type waits for an upgraded consumer.
    assert_eq!(
        status(&mut client, delivery("todo.task.completed.v2", "completed", json_of(&task_event("alice")))).await,
        S::Retry
    );
    // Unknown fields from a newer producer are ignored.
    let mut with_extra: serde_json::Value = json::to_value(&task_event("alice")).unwrap();
    with_extra["fieldFromTheFuture"] = "x".into();
    let data = serde_json::to_vec(&with_extra).unwrap();
    assert_eq!(status(&mut client, delivery(COMPLETED, "completed", data)).await, S::Success);
    // The default route takes what no rule matched (raw JSON publish: daprd's own id and type).
    let mut raw = delivery("com.dapr.event.sent", "other", json_of(&task_event("bob")));
    raw.id = "5b8f…generated-by-daprd".into();
    assert_eq!(status(&mut client, raw).await, S::Success);
    // Without routes daprd sends path "": the default route handles it.
    assert_eq!(
        status(&mut client, delivery("com.dapr.event.sent", "", json_of(&task_event("carol")))).await,
        S::Success
    );
    let paths: Vec<String> = seen.0.lock().unwrap().iter().map(|r| r.0.clone()).collect();
    assert_eq!(paths, ["completed", "other", ""]);
}

#[tokio::test]
async fn bulk_events_get_a_status_per_entry_on_the_stable_and_alpha_names() {
    let seen = Seen::default();
    let (channel, _stop) = serve(router(seen.clone(), None)).await;
    let entry = |id: &str, user: &str| TopicEventBulkRequestEntry {
        entry_id: id.into(),
        content_type: "application/cloudevents+json".into(),
        metadata: HashMap::new(),
        event: Some(topic_event_bulk_request_entry::Event::CloudEvent(TopicEventCeRequest {
            id: format!("e-{id}"),
            source: "task".into(),
            r#type: COMPLETED.into(),
            spec_version: "1.0".into(),
            data_content_type: "application/json".into(),
            data: json_of(&task_event(user)),
            extensions: None,
        })),
    };
    let request = TopicEventBulkRequest {
        id: "batch".into(),
        entries: vec![entry("0", "alice"), entry("1", "flaky"), entry("2", "poison")],
        metadata: HashMap::new(),
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        r#type: "com.dapr.event.sent.bulk".into(),
        path: "completed".into(),
    };
    let expected = vec![("0", S::Success), ("1", S::Retry), ("2", S::Drop)];
    let stable =
        AppCallbackClient::new(channel.clone()).on_bulk_topic_event(request.clone()).await.unwrap().into_inner();
    let alpha = AppCallbackAlphaClient::new(channel).on_bulk_topic_event_alpha1(request).await.unwrap().into_inner();
    for response in [stable, alpha] {
        let got: Vec<(&str, S)> =
            response.statuses.iter().map(|s| (s.entry_id.as_str(), S::try_from(s.status).unwrap())).collect();
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn bindings_jobs_and_invocations_reach_their_handlers() {
    let (channel, _stop) = serve(router(Seen::default(), None)).await;
    let mut client = AppCallbackClient::new(channel.clone());
    let mut alpha = AppCallbackAlphaClient::new(channel);

    let cron = |fail: Option<&str>| BindingEventRequest {
        name: "recurrence-sweep".into(),
        data: vec![],
        metadata: fail.map(|f| HashMap::from([("fail".to_owned(), f.to_owned())])).unwrap_or_default(),
    };
    client.on_binding_event(cron(None)).await.unwrap();
    let err = client.on_binding_event(cron(Some("transient"))).await.unwrap_err();
    assert_eq!((err.code(), reason_of(&err).as_deref()), (Code::Unavailable, Some("TRANSIENT_FAILURE")));
    let unknown = BindingEventRequest { name: "nope".into(), ..cron(None) };
    let err = client.on_binding_event(unknown).await.unwrap_err();
    assert_eq!((err.code(), reason_of(&err).as_deref()), (Code::NotFound, Some("NO_SUCH_BINDING")));

    let job = |name: &str| JobEventRequest { name: name.into(), method: format!("job/{name}"), ..Default::default() };
    client.on_job_event(job("reminder-1")).await.unwrap();
    alpha.on_job_event_alpha1(job("reminder-1")).await.unwrap();
    // Transient: a status the failure policy retries — never NOT_FOUND (daprd's "delivered").
    let err = client.on_job_event(job("reminder-flaky")).await.unwrap_err();
    assert_eq!((err.code(), reason_of(&err).as_deref()), (Code::Unavailable, Some("TRANSIENT_FAILURE")));
    // Permanent and unknown jobs are acknowledged.
    client.on_job_event(job("reminder-bad")).await.unwrap();
    client.on_job_event(job("someone-elses")).await.unwrap();
    // daprd may send only `method`.
    client.on_job_event(JobEventRequest { method: "job/reminder-2".into(), ..Default::default() }).await.unwrap();

    let echo = InvokeRequest {
        method: "echo".into(),
        data: Some(prost_types::Any { type_url: String::new(), value: b"{\"x\":1}".to_vec() }),
        ..Default::default()
    };
    let answer = client.on_invoke(echo.clone()).await.unwrap().into_inner();
    assert_eq!(answer.data.unwrap().value, b"{\"x\":1}");
    let missing = InvokeRequest { method: "nope".into(), ..echo };
    let err = client.on_invoke(missing).await.unwrap_err();
    // Every error carries its ErrorInfo, these included.
    assert_eq!((err.code(), reason_of(&err).as_deref()), (Code::Unimplemented, Some("NO_SUCH_METHOD")));
}

#[tokio::test]
async fn with_an_app_token_only_calls_carrying_it_are_served() {
    let seen = Seen::default();
    let router = router(seen.clone(), Some("s3cret"));
    let (channel, _stop) = serve(router.clone()).await;
    let mut client = AppCallbackClient::new(channel.clone());
    let with = |token: Option<&str>| {
        let mut request = Request::new(delivery(COMPLETED, "completed", vec![]));
        if let Some(token) = token {
            request.metadata_mut().insert("dapr-api-token", token.parse().unwrap());
        }
        request
    };
    for token in [None, Some("guess")] {
        let err = client.on_topic_event(with(token)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "token {token:?}");
    }
    assert!(seen.0.lock().unwrap().is_empty(), "a refused delivery reached no handler");
    assert!(client.on_topic_event(with(Some("s3cret"))).await.is_ok());

    // Discovery and the health probe answer without it: daprd sends them
    // without the token. The probe turns unhealthy at shutdown.
    assert!(client.list_topic_subscriptions(()).await.is_ok());
    let mut health = AppCallbackHealthCheckClient::new(channel);
    assert!(health.health_check(()).await.is_ok());
    router.set_unhealthy();
    assert!(health.health_check(()).await.is_err());
}
