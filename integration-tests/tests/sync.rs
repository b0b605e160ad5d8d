#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real-time sync end to end: task service → outbox → daprd → Kafka → daprd
//! → sync gateway → the user's own live connections (gRPC and WebSocket).

use std::time::Duration;

use futures::StreamExt;
use integration_tests::{Mesh, Running, Sidecar, as_user, mesh, sync_gateway, task_client, task_service, titled};
use shared::proto::todo::{
    sync::v1::{self as sync_pb, sync_service_client::SyncServiceClient, watch_response::Kind},
    task::v1::task_service_client::TaskServiceClient,
};
use tonic::{Streaming, transport::Channel};

struct System {
    _mesh: Mesh,
    sidecars: Vec<Sidecar>,
    task: Running,
    gateway: Running,
    ws: std::net::SocketAddr,
    tasks: TaskServiceClient<Channel>,
}

async fn start(connection_buffer: usize) -> System {
    let mesh = mesh().await;
    let mut sidecars = vec![mesh.sidecar("task"), mesh.sidecar("sync-gateway")];
    let (task, _) = task_service(Some(sidecars[0].endpoint())).await;
    let (gateway, ws) = sync_gateway(&sidecars[1].endpoint(), connection_buffer).await;
    sidecars[1].start(Some(gateway.addr)).await;
    sidecars[0].start(Some(task.addr)).await;
    let tasks = task_client(task.addr).await;
    System { _mesh: mesh, sidecars, task, gateway, ws, tasks }
}

impl System {
    async fn watch(&self, user: &str, after_revision: i64) -> Streaming<sync_pb::WatchResponse> {
        let mut client = SyncServiceClient::connect(format!("http://{}", self.gateway.addr)).await.unwrap();
        client.watch(as_user(user, sync_pb::WatchRequest { after_revision })).await.unwrap().into_inner()
    }

    /// A watch over a connection with a 4 KiB stream window: a client that
    /// stops reading can only have a few events in flight.
    async fn watch_with_small_window(&self, user: &str) -> Streaming<sync_pb::WatchResponse> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.gateway.addr))
            .unwrap()
            .initial_stream_window_size(4096)
            .connect()
            .await
            .unwrap();
        let mut client = SyncServiceClient::new(channel);
        client.watch(as_user(user, sync_pb::WatchRequest { after_revision: 0 })).await.unwrap().into_inner()
    }

    async fn create(&self, user: &str, title: &str) -> i64 {
        self.tasks.clone().create_task(as_user(user, titled(title))).await.unwrap().into_inner().revision
    }

    async fn stop(mut self) {
        for sidecar in &mut self.sidecars {
            sidecar.stop().await;
        }
        self.gateway.stop().await;
        self.task.stop().await;
    }
}

/// The next message, within a generous bound (a hang fails the test).
async fn next(stream: &mut Streaming<sync_pb::WatchResponse>) -> Kind {
    let message = tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("a message in time");
    message.expect("stream open").expect("no error").kind.expect("a kind")
}

async fn next_change(stream: &mut Streaming<sync_pb::WatchResponse>) -> (String, i64, String) {
    match next(stream).await {
        Kind::Change(e) => (e.user_id, e.revision, e.task.unwrap().title),
        other => panic!("expected a change, got {other:?}"),
    }
}

async fn caught_up(stream: &mut Streaming<sync_pb::WatchResponse>) -> i64 {
    match next(stream).await {
        Kind::CaughtUp(c) => c.revision,
        other => panic!("expected caught-up, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_watching_each_see_only_their_own_changes() {
    let system = start(256).await;
    let mut alice = system.watch("alice", 0).await;
    let mut bob = system.watch("bob", 0).await;
    assert_eq!(caught_up(&mut alice).await, 0);
    assert_eq!(caught_up(&mut bob).await, 0);

    system.create("alice", "a1").await;
    system.create("bob", "b1").await;
    system.create("alice", "a2").await;
    assert_eq!(next_change(&mut alice).await, ("alice".into(), 1, "a1".into()));
    assert_eq!(next_change(&mut alice).await, ("alice".into(), 2, "a2".into()));
    assert_eq!(next_change(&mut bob).await, ("bob".into(), 1, "b1".into()));
    // Bob's next message is his own next change, not anything of Alice's.
    system.create("alice", "a3").await;
    system.create("bob", "b2").await;
    assert_eq!(next_change(&mut bob).await, ("bob".into(), 2, "b2".into()));
    assert_eq!(next_change(&mut alice).await, ("alice".into(), 3, "a3".into()));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_the_last_revision_misses_nothing_and_repeats_nothing() {
    let system = start(256).await;
    let mut first = system.watch("alice", 0).await;
    caught_up(&mut first).await;
    system.create("alice", "seen 1").await;
    system.create("alice", "seen 2").await;
    assert_eq!(next_change(&mut first).await.1, 1);
    assert_eq!(next_change(&mut first).await.1, 2);
    drop(first);

    // Changes while disconnected.
    for i in 3..=6 {
        system.create("alice", &format!("missed {i}")).await;
    }
    let mut again = system.watch("alice", 2).await;
    for expected in 3..=6 {
        let (_, revision, title) = next_change(&mut again).await;
        assert_eq!((revision, title), (expected, format!("missed {expected}")));
    }
    assert_eq!(caught_up(&mut again).await, 6);
    system.create("alice", "live").await;
    assert_eq!(next_change(&mut again).await, ("alice".into(), 7, "live".into()), "no duplicate of 3..6, no gap");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_told_to_resync_while_a_fast_one_gets_everything() {
    let system = start(4).await;
    let mut fast = system.watch("alice", 0).await;
    let mut slow = system.watch_with_small_window("alice").await;
    caught_up(&mut fast).await;
    caught_up(&mut slow).await;
    // The slow client reads nothing while 400 changes happen.
    let mut tasks = system.tasks.clone();
    let reader = tokio::spawn(async move {
        let mut revisions = Vec::new();
        while revisions.len() < 400 {
            revisions.push(next_change(&mut fast).await.1);
        }
        revisions
    });
    for i in 0..400 {
        tasks.create_task(as_user("alice", titled(&format!("t{i}")))).await.unwrap();
    }
    let revisions = reader.await.unwrap();
    assert_eq!(revisions, (1..=400).collect::<Vec<_>>(), "the fast client got every change, in order");
    // Now the slow one reads: what fitted in its buffers, then a resync.
    let mut last = 0;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), slow.next()).await;
        let Ok(Some(Ok(sync_pb::WatchResponse { kind: Some(kind) }))) = message else {
            panic!("slow client: no resync after revision {last}: {message:?}");
        };
        match kind {
            Kind::Change(e) => {
                assert_eq!(e.revision, last + 1, "in order up to where it fell behind");
                last = e.revision;
            }
            Kind::Resync(r) => {
                assert!(r.reason.contains(&format!("after_revision = {last}")), "{}", r.reason);
                break;
            }
            Kind::CaughtUp(_) => panic!("unexpected caught-up"),
        }
    }
    assert!(last < 400, "the slow client fell behind at {last}");
    // Resuming from its last revision gives it the rest.
    let mut resumed = system.watch("alice", last).await;
    assert_eq!(next_change(&mut resumed).await.1, last + 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_endpoint_streams_the_same_changes() {
    let system = start(256).await;
    system.create("alice", "before").await;
    let token = shared::auth::issue_hs256_token(integration_tests::SECRET, "alice", Duration::from_secs(60)).unwrap();

    let refused = tokio_tungstenite::connect_async(format!("ws://{}/v1/watch", system.ws)).await;
    assert!(refused.is_err(), "no token, no socket");

    let url = format!("ws://{}/v1/watch?after_revision=0&access_token={token}", system.ws);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = next_json(&mut socket).await;
    assert_eq!(first["change"]["task"]["title"], "before");
    assert_eq!(next_json(&mut socket).await["caughtUp"]["revision"], "1");
    system.create("alice", "after").await;
    system.create("bob", "not for alice").await;
    system.create("alice", "after 2").await;
    assert_eq!(next_json(&mut socket).await["change"]["task"]["title"], "after");
    assert_eq!(next_json(&mut socket).await["change"]["task"]["title"], "after 2");
    system.stop().await;
}

async fn next_json<S>(socket: &mut S) -> serde_json::Value
where
    S: futures::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next()).await.unwrap().unwrap().unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}
