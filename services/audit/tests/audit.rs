#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The audit service over real gRPC: events delivered as daprd delivers
//! them are recorded once each in a per-user hash chain; the API lists and
//! verifies a user's own chain; tampering is detected.

use std::time::Duration;

use audit::{Application, Settings};
use dapr::dapr::proto::runtime::v1::{
    TopicEventRequest, app_callback_client::AppCallbackClient, topic_event_response::TopicEventResponseStatus as S,
};
use rstest::rstest;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use shared::testing::Backend::{Postgres, Sqlite};
use shared::{
    proto::{
        json,
        todo::{audit::v1 as pb, audit::v1::audit_service_client::AuditServiceClient, task::v1 as task_pb},
    },
    testing::{Backend, fresh_database},
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, transport::Channel};

const SECRET: &str = "audit-test-secret";

struct TestApp {
    callbacks: AppCallbackClient<Channel>,
    api: AuditServiceClient<Channel>,
    db: DatabaseConnection,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn spawn(backend: Backend) -> TestApp {
    let url = fresh_database(backend).await.unwrap();
    let app = Application::build(Settings::for_tests(&url, SECRET)).await.unwrap();
    let channel = Channel::from_shared(format!("http://{}", app.addr())).unwrap().connect().await.unwrap();
    let db = app.db().clone();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until(stop.clone()));
    TestApp {
        callbacks: AppCallbackClient::new(channel.clone()),
        api: AuditServiceClient::new(channel),
        db,
        stop,
        server,
    }
}

fn event(user: &str, task: &str, revision: i64, change: task_pb::task_event::Change) -> task_pb::TaskEvent {
    task_pb::TaskEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        user_id: user.into(),
        task_id: task.into(),
        revision,
        occur_time: Some(prost_types::Timestamp { seconds: 1_800_000_000 + revision, nanos: 0 }),
        task: Some(task_pb::Task { name: format!("tasks/{task}"), title: "t".into(), revision, ..Default::default() }),
        change: Some(change),
    }
}

fn created() -> task_pb::task_event::Change {
    task_pb::task_event::Change::Created(task_pb::TaskCreated::default())
}

fn completed() -> task_pb::task_event::Change {
    task_pb::task_event::Change::Completed(task_pb::TaskCompleted {})
}

impl TestApp {
    /// Delivers `event` the way daprd does (full CloudEvent published by the task service).
    async fn deliver(&mut self, event: &task_pb::TaskEvent, event_type: &str) -> S {
        let request = TopicEventRequest {
            id: event.event_id.clone(),
            source: "task".into(),
            r#type: event_type.into(),
            spec_version: "1.0".into(),
            data_content_type: "application/json".into(),
            data: serde_json::to_vec(&json::to_value(event).unwrap()).unwrap(),
            topic: "task-events".into(),
            pubsub_name: "pubsub".into(),
            path: "audit".into(),
            extensions: None,
        };
        S::try_from(self.callbacks.on_topic_event(request).await.unwrap().into_inner().status).unwrap()
    }

    async fn list(
        &mut self,
        user: &str,
        request: pb::ListAuditEntriesRequest,
    ) -> Result<pb::ListAuditEntriesResponse, tonic::Status> {
        self.api.list_audit_entries(as_user(user, request)).await.map(|r| r.into_inner())
    }

    async fn verify(&mut self, user: &str) -> pb::VerifyAuditChainResponse {
        self.api.verify_audit_chain(as_user(user, pb::VerifyAuditChainRequest {})).await.unwrap().into_inner()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
    }
}

fn as_user<T>(user: &str, message: T) -> Request<T> {
    let token = shared::auth::issue_hs256_token(SECRET, user, Duration::from_secs(600)).unwrap();
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_recorded_once_and_the_chain_verifies(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut app = spawn(backend).await;
    let first = event("alice", "t1", 1, created());
    let second = event("alice", "t1", 2, completed());
    let other_task = event("alice", "t2", 3, created());
    for e in [&first, &second, &other_task] {
        let event_type = if e.revision == 2 { "todo.task.completed.v1" } else { "todo.task.created.v1" };
        assert_eq!(app.deliver(e, event_type).await, S::Success);
    }
    // Redelivery of every event changes nothing.
    assert_eq!(app.deliver(&first, "todo.task.created.v1").await, S::Success);
    assert_eq!(app.deliver(&second, "todo.task.completed.v1").await, S::Success);

    let newest = app.list("alice", pb::ListAuditEntriesRequest::default()).await.unwrap();
    let sequences: Vec<i64> = newest.entries.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [3, 2, 1]);
    assert_eq!(newest.entries[1].event_id, second.event_id);
    assert_eq!(newest.entries[1].event_type, "todo.task.completed.v1");
    assert_eq!(newest.entries[1].previous_hash, newest.entries[2].hash);
    assert_eq!(newest.entries[2].previous_hash, "");

    let oldest = app
        .list("alice", pb::ListAuditEntriesRequest { oldest_first: true, page_size: 2, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(oldest.entries.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 2]);
    let rest = app
        .list(
            "alice",
            pb::ListAuditEntriesRequest {
                oldest_first: true,
                page_size: 2,
                page_token: oldest.next_page_token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.entries.iter().map(|e| e.sequence).collect::<Vec<_>>(), [3]);
    assert!(rest.next_page_token.is_empty());

    let for_t1 =
        app.list("alice", pb::ListAuditEntriesRequest { task: "tasks/t1".into(), ..Default::default() }).await.unwrap();
    assert_eq!(for_t1.entries.len(), 2);

    let verdict = app.verify("alice").await;
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.entries_checked, 3);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_only_their_own_log(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut app = spawn(backend).await;
    app.deliver(&event("alice", "t1", 1, created()), "todo.task.created.v1").await;
    app.deliver(&event("bob", "t9", 1, created()), "todo.task.created.v1").await;
    let bobs = app.list("bob", pb::ListAuditEntriesRequest::default()).await.unwrap();
    assert_eq!(bobs.entries.len(), 1);
    assert_eq!(bobs.entries[0].task, "tasks/t9");
    let filtered =
        app.list("bob", pb::ListAuditEntriesRequest { task: "tasks/t1".into(), ..Default::default() }).await.unwrap();
    assert!(filtered.entries.is_empty(), "bob cannot read alice's task history");
    assert_eq!(app.verify("bob").await.entries_checked, 1);
    // A page token of Alice's is useless to Bob.
    app.deliver(&event("alice", "t1", 2, completed()), "todo.task.completed.v1").await;
    let page = app.list("alice", pb::ListAuditEntriesRequest { page_size: 1, ..Default::default() }).await.unwrap();
    let err = app
        .list(
            "bob",
            pb::ListAuditEntriesRequest { page_size: 1, page_token: page.next_page_token, ..Default::default() },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = app.api.verify_audit_chain(Request::new(pb::VerifyAuditChainRequest {})).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_blocked_and_when_forced_detected(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut app = spawn(backend).await;
    for revision in 1..=4 {
        app.deliver(&event("alice", "t1", revision, created()), "todo.task.created.v1").await;
    }
    // The table is append-only.
    let update = "UPDATE audit_entries SET event_json = '{}' WHERE sequence = 2";
    assert!(app.db.execute_unprepared(update).await.is_err(), "updates are refused");
    assert!(app.db.execute_unprepared("DELETE FROM audit_entries WHERE sequence = 4").await.is_err());

    // Someone with the power to drop the guard edits an entry: the chain shows it.
    match app.db.get_database_backend() {
        DbBackend::Postgres => {
            app.db
                .execute_unprepared("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only")
                .await
                .unwrap();
        }
        _ => {
            app.db.execute_unprepared("DROP TRIGGER audit_entries_no_UPDATE").await.unwrap();
            app.db.execute_unprepared("DROP TRIGGER audit_entries_no_DELETE").await.unwrap();
        }
    }
    app.db.execute_unprepared(update).await.unwrap();
    let verdict = app.verify("alice").await;
    assert!(!verdict.valid);
    assert_eq!(verdict.first_invalid_sequence, 2);
    assert_eq!(verdict.entries_checked, 1);

    // Removing the newest entry (and fixing nothing else) is caught by the head.
    app.db.execute_unprepared("UPDATE audit_entries SET event_json = (SELECT event_json FROM audit_entries WHERE sequence = 1) WHERE sequence = 2").await.unwrap();
    app.db.execute_unprepared("DELETE FROM audit_entries WHERE sequence = 4").await.unwrap();
    let verdict = app.verify("alice").await;
    assert!(!verdict.valid);
    app.stop().await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_events_are_dropped_for_the_dead_letter_topic(#[values(Postgres, Sqlite)] backend: Backend) {
    let mut app = spawn(backend).await;
    let request = TopicEventRequest {
        id: "x".into(),
        r#type: "todo.task.created.v1".into(),
        data: b"not json".to_vec(),
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        path: "audit".into(),
        ..Default::default()
    };
    let status = app.callbacks.on_topic_event(request).await.unwrap().into_inner().status;
    assert_eq!(status, S::Drop as i32);
    assert_eq!(app.verify("alice").await.entries_checked, 0);
    app.stop().await;
}
