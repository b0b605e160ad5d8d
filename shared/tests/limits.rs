#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The host's time limit, over real gRPC: a call that takes longer than the
//! server allows ends with DEADLINE_EXCEEDED and an ErrorInfo, and the
//! server goes on serving.

use std::time::Duration;

use dapr::dapr::proto::runtime::v1::{BindingEventRequest, app_callback_client::AppCallbackClient};
use shared::{
    dapr::CallbackRouter,
    grpc::{Host, Limits},
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, transport::Channel};

#[tokio::test]
async fn a_call_over_the_time_limit_is_deadline_exceeded_with_an_error_info() {
    let router = CallbackRouter::builder()
        .binding("slow", |_request: BindingEventRequest| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .binding("fast", |_request: BindingEventRequest| async { Ok(()) })
        .build();
    let mut host = Host::bind("127.0.0.1:0".parse().unwrap(), &[]).await.unwrap();
    host.limit(Limits { request_timeout: Duration::from_millis(200), ..Limits::default() }, None);
    host.serve_callbacks(router);
    let addr = host.addr();
    let stop = CancellationToken::new();
    tokio::spawn(host.run_until(stop.clone(), Duration::from_secs(1)));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut client = AppCallbackClient::new(channel);

    let call = |name: &str| BindingEventRequest { name: name.into(), ..Default::default() };
    let started = std::time::Instant::now();
    let err = client.on_binding_event(call("slow")).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert_eq!(shared::status::reason_of(&err).as_deref(), Some("REQUEST_TIMEOUT"));
    assert!(started.elapsed() < Duration::from_secs(4), "cut at the limit, not after the handler's 5 s");
    client.on_binding_event(call("fast")).await.expect("the server goes on serving");
    stop.cancel();
}
