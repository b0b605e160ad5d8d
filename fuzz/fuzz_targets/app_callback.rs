//! Every AppCallback request as raw protobuf (what a broken or hostile
//! sidecar could send): the router answers or errors, never panics.
#![no_main]

use std::sync::LazyLock;

use dapr::dapr::proto::{
    common::v1::InvokeRequest,
    runtime::v1::{
        BindingEventRequest, JobEventRequest, TopicEventBulkRequest, TopicEventRequest,
        app_callback_alpha_server::AppCallbackAlpha, app_callback_server::AppCallback,
    },
};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use shared::{
    Error, dapr::{CallbackRouter, Event, Subscription},
    proto::todo::task::v1 as pb,
};
use tonic::Request;

static RUNTIME: LazyLock<Option<tokio::runtime::Runtime>> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().ok());

static ROUTER: LazyLock<CallbackRouter> = LazyLock::new(|| {
    CallbackRouter::builder()
        .subscribe(
            Subscription::new("pubsub", "task-events")
                .dead_letter("task-events-dlq")
                .default_route("all", &[], |event: Event| async move { event.decode::<pb::TaskEvent>().map(|_| ()) }),
        )
        .subscribe(Subscription::new("pubsub", "reminders").bulk(10, 100).default_route("", &[], |_e: Event| async { Ok(()) }))
        .binding("recurrence-sweep", |_request: BindingEventRequest| async { Ok(()) })
        .job("reminder-", |request: JobEventRequest| async move {
            match request.data {
                Some(_) => Ok(()),
                None => Err(Error::malformed("no data")),
            }
        })
        .method("Echo", |request: InvokeRequest| async move { Ok(dapr::dapr::proto::common::v1::InvokeResponse { data: request.data, content_type: String::new() }) })
        .build()
});

fuzz_target!(|data: &[u8]| {
    let (Some(runtime), Some((&rpc, body))) = (RUNTIME.as_ref(), data.split_first()) else { return };
    let router = &*ROUTER;
    runtime.block_on(async move {
        match rpc % 6 {
            0 => {
                if let Ok(r) = TopicEventRequest::decode(body) {
                    let _ = router.on_topic_event(Request::new(r)).await;
                }
            }
            1 => {
                if let Ok(r) = TopicEventBulkRequest::decode(body) {
                    let _ = router.on_bulk_topic_event(Request::new(r.clone())).await;
                    #[allow(deprecated)]
                    let _ = router.on_bulk_topic_event_alpha1(Request::new(r)).await;
                }
            }
            2 => {
                if let Ok(r) = BindingEventRequest::decode(body) {
                    let _ = router.on_binding_event(Request::new(r)).await;
                }
            }
            3 => {
                if let Ok(r) = JobEventRequest::decode(body) {
                    let _ = router.on_job_event(Request::new(r.clone())).await;
                    #[allow(deprecated)]
                    let _ = router.on_job_event_alpha1(Request::new(r)).await;
                }
            }
            4 => {
                if let Ok(r) = InvokeRequest::decode(body) {
                    let _ = router.on_invoke(Request::new(r)).await;
                }
            }
            _ => {
                let _ = router.list_topic_subscriptions(Request::new(())).await;
            }
        }
    });
});
