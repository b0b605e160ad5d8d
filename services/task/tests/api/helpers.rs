#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]
//! `spawn_app`: a task service on port 0 with its own fresh database, and a
//! connected client with tokens for two users.

use std::{net::SocketAddr, time::Duration};

use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use shared::{
    auth::issue_hs256_token,
    proto::todo::task::v1::{self as pb, task_service_client::TaskServiceClient},
};
use task::{
    Application, Settings,
    store::entities::{outbox, tasks},
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Status, transport::Channel};

pub const SECRET: &str = "test-secret";
pub const ALICE: &str = "alice";
pub const BOB: &str = "bob";

pub use rstest::rstest;
pub use shared::testing::Backend::{self, Postgres, Sqlite};

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: TaskServiceClient<Channel>,
    pub db: DatabaseConnection,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// [`spawn_app`] with test settings changed by `adjust`.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    shared::telemetry::init_for_tests();
    let url = shared::testing::fresh_database(backend).await.expect("fresh database");
    let mut settings = Settings::for_tests(&url, SECRET);
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("build app");
    let addr = app.addr();
    let db = app.db().clone();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until(shutdown.clone()));
    // The listener is bound already, so connecting needs no wait.
    let client = TaskServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    TestApp { addr, client, db, shutdown, server }
}

pub fn token(user: &str) -> String {
    issue_hs256_token(SECRET, user, Duration::from_secs(600)).unwrap()
}

/// A request authenticated as `user`.
pub fn as_user<T>(user: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {}", token(user)).parse().unwrap());
    request
}

pub fn new_task(title: &str) -> pb::Task {
    pb::Task { title: title.to_owned(), ..Default::default() }
}

pub fn create_request(task: pb::Task) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest { task: Some(task), request_id: String::new() }
}

impl TestApp {
    pub fn client(&self) -> TaskServiceClient<Channel> {
        self.client.clone()
    }

    pub async fn create(&self, user: &str, task: pb::Task) -> pb::Task {
        self.client().create_task(as_user(user, create_request(task))).await.expect("create task").into_inner()
    }

    pub async fn create_titled(&self, user: &str, title: &str) -> pb::Task {
        self.create(user, new_task(title)).await
    }

    pub async fn get(&self, user: &str, name: &str) -> Result<pb::Task, Status> {
        self.client()
            .get_task(as_user(user, pb::GetTaskRequest { name: name.to_owned() }))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn create_tag(&self, user: &str, display_name: &str) -> pb::Tag {
        let tag = pb::Tag { display_name: display_name.to_owned(), color: "#112233".into(), ..Default::default() };
        self.client()
            .create_tag(as_user(user, pb::CreateTagRequest { tag: Some(tag) }))
            .await
            .expect("create tag")
            .into_inner()
    }

    pub async fn list(&self, user: &str, request: pb::ListTasksRequest) -> Result<pb::ListTasksResponse, Status> {
        self.client().list_tasks(as_user(user, request)).await.map(|r| r.into_inner())
    }

    pub async fn task_rows(&self) -> u64 {
        tasks::Entity::find().count(&self.db).await.unwrap()
    }

    pub async fn outbox_rows(&self) -> Vec<outbox::Model> {
        use sea_orm::QueryOrder;
        outbox::Entity::find().order_by_asc(outbox::Column::Id).all(&self.db).await.unwrap()
    }

    /// Stops the server the way SIGTERM would, and checks it drained cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
    }
}

/// Asserts the status code, the `ErrorInfo` reason and, if given, the field
/// named in `BadRequest`.
#[track_caller]
pub fn assert_error(status: &Status, code: Code, reason: &str, field: Option<&str>) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    assert_eq!(shared::status::reason_of(status).as_deref(), Some(reason), "reason of {status:?}");
    if let Some(field) = field {
        assert_eq!(shared::status::violated_fields(status), vec![field.to_owned()], "fields of {status:?}");
    }
}

pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() })
}
