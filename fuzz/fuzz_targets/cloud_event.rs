//! CloudEvents as daprd delivers them (`OnTopicEvent`), with any content
//! type, type, extensions and data: the callback router routes, decodes and
//! answers SUCCESS, RETRY or DROP (poison), never panics.
#![no_main]

use std::sync::LazyLock;

use dapr::dapr::proto::runtime::v1::{TopicEventRequest, app_callback_server::AppCallback};
use libfuzzer_sys::fuzz_target;
use shared::{
    dapr::{CallbackRouter, Event, Subscription},
    proto::todo::task::v1 as pb,
};

static RUNTIME: LazyLock<Option<tokio::runtime::Runtime>> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().ok());

/// A router shaped like the consumers': a route on the event type, a
/// default route, both decoding a `TaskEvent` from the data.
static ROUTER: LazyLock<CallbackRouter> = LazyLock::new(|| {
    let decode = |event: Event| async move { event.decode::<pb::TaskEvent>().map(|_| ()) };
    CallbackRouter::builder()
        .subscribe(
            Subscription::new("pubsub", "task-events")
                .dead_letter("task-events-dlq")
                .route("event.type == \"todo.task.completed.v1\"", "completed", &["todo.task.completed.v1"], decode)
                .default_route("other", &[], decode),
        )
        .build()
});

const TYPES: [&str; 4] = ["todo.task.completed.v1", "todo.task.created.v1", "", "todo.task.completed.v9"];
const CONTENT_TYPES: [&str; 4] = ["application/json", "application/cloudevents+json", "text/plain", ""];

fuzz_target!(|data: &[u8]| {
    let (Some(runtime), Some((&choice, body))) = (RUNTIME.as_ref(), data.split_first()) else { return };
    let request = TopicEventRequest {
        id: "e-1".into(),
        source: "task".into(),
        r#type: TYPES[usize::from(choice % 4)].into(),
        spec_version: "1.0".into(),
        data_content_type: CONTENT_TYPES[usize::from(choice / 4 % 4)].into(),
        data: body.to_vec(),
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        path: ["completed", "other", "", "nope"][usize::from(choice / 16 % 4)].into(),
        extensions: None,
    };
    let _ = runtime.block_on(ROUTER.on_topic_event(tonic::Request::new(request)));
});
