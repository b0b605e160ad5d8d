//! The whole system on loopback for end-to-end tests: the local Dapr
//! runtime, the services (each built by its own `Application::build`, on
//! port 0 with a fresh database), and a recording subscriber app — all
//! talking real gRPC, exactly as under `make dev`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod subscriber;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use local_dapr::{AppSpec, DeliveryPolicy, Resource, Runtime, RuntimeConfig};
use shared::{
    proto::todo::task::v1::{self as pb, task_service_client::TaskServiceClient},
    testing::{Backend, fresh_database},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

pub const SECRET: &str = "e2e-secret";

/// Polls `check` until it returns Some, or fails the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The repository's `components/local`, as `make dev` uses them.
pub fn local_components() -> Vec<Resource> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../components/local");
    local_dapr::load_resources(&dir).unwrap()
}

/// Components for tests: the same types as `components/local`, without
/// app scopes (so the recording subscriber may use them) and with a fast
/// sweep.
pub fn test_components() -> Vec<Resource> {
    local_dapr::resources::parse_resources(
        r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: pubsub }
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - { name: brokers, value: "localhost:9092" }
    - { name: authType, value: "none" }
    - { name: initialOffset, value: "oldest" }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: statestore }
spec:
  type: state.postgresql
  version: v2
  metadata:
    - { name: connectionString, value: "unused-locally" }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: recurrence-sweep }
spec:
  type: bindings.cron
  version: v1
  metadata:
    - { name: schedule, value: "@every 1s" }
    - { name: direction, value: "input" }
scopes: [recurrence]
"#,
    )
    .unwrap()
}

/// Fast retries for tests.
pub fn fast_delivery() -> DeliveryPolicy {
    DeliveryPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_attempts: Some(4),
        partitions: 4,
    }
}

/// A running service: where it listens, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub fn spawn<F>(addr: SocketAddr, run: impl FnOnce(CancellationToken) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let handle = tokio::spawn(run(stop.clone()));
        Self { addr, stop, handle }
    }

    /// Stops like SIGTERM would and checks the drain went well.
    pub async fn stop(self) {
        self.stop.cancel();
        self.handle.await.unwrap().unwrap();
    }
}

/// Pre-bound Dapr API listeners, one per app id, so apps know their
/// sidecar's address before the runtime starts.
pub struct Sidecars {
    listeners: Vec<(String, TcpListener)>,
    pub database_url: String,
}

impl Sidecars {
    pub async fn bind(app_ids: &[&str]) -> Self {
        let mut listeners = Vec::new();
        for id in app_ids {
            listeners.push(((*id).to_owned(), TcpListener::bind("127.0.0.1:0").await.unwrap()));
        }
        let database_url = fresh_database(Backend::Sqlite).await.unwrap();
        Self { listeners, database_url }
    }

    /// The sidecar address of `app_id`, as an endpoint URL.
    pub fn endpoint(&self, app_id: &str) -> String {
        let (_, listener) = self.listeners.iter().find(|(id, _)| id == app_id).unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }

    pub fn addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.iter().map(|(id, l)| (id.clone(), l.local_addr().unwrap())).collect()
    }

    /// Starts the runtime for apps at `apps` (app id → app address).
    pub async fn start(
        self,
        apps: &[(&str, SocketAddr)],
        resources: Vec<Resource>,
        delivery: DeliveryPolicy,
    ) -> Runtime {
        let specs = self
            .listeners
            .into_iter()
            .map(|(app_id, api_listener)| {
                let app_addr = apps.iter().find(|(id, _)| *id == app_id).map(|(_, a)| *a).unwrap();
                AppSpec {
                    app_id,
                    app_addr,
                    api_listener,
                    app_api_token: None,
                    dapr_api_token: None,
                    health_check: true,
                }
            })
            .collect();
        Runtime::start(RuntimeConfig { apps: specs, resources, database_url: self.database_url, delivery })
            .await
            .unwrap()
    }
}

/// Restarts a runtime on the same sidecar addresses and database.
pub async fn restart(
    addrs: &[(String, SocketAddr)],
    apps: &[(&str, SocketAddr)],
    database_url: &str,
    resources: Vec<Resource>,
    delivery: DeliveryPolicy,
) -> Runtime {
    let mut listeners = Vec::new();
    for (id, addr) in addrs {
        listeners.push((id.clone(), TcpListener::bind(addr).await.unwrap()));
    }
    Sidecars { listeners, database_url: database_url.to_owned() }.start(apps, resources, delivery).await
}

/// The task service with its relay publishing through `sidecar`.
pub async fn task_service(sidecar: Option<String>) -> (Running, sea_orm::DatabaseConnection) {
    let url = fresh_database(Backend::Sqlite).await.unwrap();
    let mut settings = task::Settings::for_tests(&url, SECRET);
    settings.dapr = sidecar.map(|s| {
        let mut dapr = task::config::DaprSettings::new(s);
        dapr.max_backoff = Duration::from_millis(300);
        dapr
    });
    let app = task::Application::build(settings).await.unwrap();
    let db = app.db().clone();
    (Running::spawn(app.addr(), |stop| app.run_until(stop)), db)
}

pub async fn task_client(addr: SocketAddr) -> TaskServiceClient<Channel> {
    TaskServiceClient::connect(format!("http://{addr}")).await.unwrap()
}

pub fn as_user<T>(user: &str, message: T) -> Request<T> {
    let token = shared::auth::issue_hs256_token(SECRET, user, Duration::from_secs(600)).unwrap();
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn titled(title: &str) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(pb::Task { title: title.to_owned(), ..Default::default() }),
        request_id: String::new(),
    }
}

/// The audit service on a fresh SQLite database.
pub async fn audit_service() -> Running {
    let url = fresh_database(Backend::Sqlite).await.unwrap();
    let app = audit::Application::build(audit::Settings::for_tests(&url, SECRET)).await.unwrap();
    Running::spawn(app.addr(), |stop| app.run_until(stop))
}

/// The recurrence service talking to `sidecar`.
pub async fn recurrence_service(sidecar: &str) -> Running {
    let app = recurrence::Application::build(recurrence::Settings::for_tests(sidecar)).await.unwrap();
    Running::spawn(app.addr(), |stop| app.run_until(stop))
}

/// The sync gateway reaching the task service through `sidecar`.
pub async fn sync_gateway(sidecar: &str, connection_buffer: usize) -> (Running, SocketAddr) {
    let app = sync_gateway::Application::build(sync_gateway::Settings::for_tests(sidecar, SECRET, connection_buffer))
        .await
        .unwrap();
    let ws = app.ws_addr();
    (Running::spawn(app.addr(), |stop| app.run_until(stop)), ws)
}
