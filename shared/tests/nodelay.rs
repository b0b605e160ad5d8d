#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Responses that leave in several writes are not held back by Nagle's
//! algorithm (`shared::grpc`), over real sockets: a gRPC response of tens
//! of kilobytes (a reflection answer), asked for again and again on one
//! connection (the streaming `Watch` is served the same way).
//!
//! With Nagle on, such a response's last write waits for the client's
//! delayed ACK, at least 40 ms on Linux, on nearly every call; without it
//! each takes about a millisecond. The test counts the calls slower than
//! that stall: a loaded machine may produce a few, a server that lets
//! Nagle wait produces them all.
//!
//! The axum servers (metrics, the WebSocket gateway) get `TCP_NODELAY` too,
//! but no test here could see it: tried with Nagle on, a metrics page
//! (HTTP/1.1 sends a response in one write) and pushes to a client that
//! sends nothing back (Linux ACKs those at once) did not stall.

use std::time::{Duration, Instant};

use shared::{grpc::Host, proto::FILE_DESCRIPTOR_SET};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

const CALLS: usize = 20;

/// Linux's shortest delayed ACK.
const STALL: Duration = Duration::from_millis(40);

/// How many of `CALLS` calls of `call` took a stall or longer.
async fn stalled(mut call: impl AsyncFnMut()) -> usize {
    let mut stalled = 0;
    for _ in 0..CALLS {
        let started = Instant::now();
        call().await;
        if started.elapsed() >= STALL {
            stalled += 1;
        }
    }
    stalled
}

#[tokio::test]
async fn a_grpc_response_of_many_writes_is_not_held_back() {
    let host = Host::bind("127.0.0.1:0".parse().unwrap(), &[FILE_DESCRIPTOR_SET]).await.unwrap();
    let (addr, stop) = (host.addr(), CancellationToken::new());
    let server = tokio::spawn(host.run_until(stop.clone(), Duration::from_secs(1)));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut client = ServerReflectionClient::new(channel);

    let stalled = stalled(async || {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol("todo.task.v1.TaskService".into())),
        };
        let mut answers = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
        let answer = answers.message().await.unwrap().expect("one answer");
        let Some(MessageResponse::FileDescriptorResponse(files)) = answer.message_response else {
            panic!("not a file descriptor answer: {answer:?}");
        };
        let bytes: usize = files.file_descriptor_proto.iter().map(Vec::len).sum();
        assert!(bytes > 10_000, "a response of many writes, not {bytes} bytes");
    })
    .await;

    assert!(stalled < CALLS / 2, "{stalled} of {CALLS} gRPC calls waited {STALL:?} or more");
    stop.cancel();
    server.await.unwrap().unwrap();
}
