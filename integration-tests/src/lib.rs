//! The whole system on loopback for end-to-end tests: the services (each
//! built by its own `Application::build`, on port 0 with a fresh database),
//! each behind its own real `daprd`, on a real Kafka broker and Dapr
//! scheduler, plus a recording subscriber app; all talking real gRPC, as
//! under `make dev`. Each test runs in a [`Mesh`] of its own (its own Dapr
//! namespace: its own topics, consumer groups and jobs), so tests run in
//! parallel on one broker without seeing each other's events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod binaries;
pub mod subscriber;

use std::{net::SocketAddr, time::Duration};

pub use shared::testing::mesh::{Mesh, Sidecar};
use shared::{
    proto::todo::task::v1::{self as pb, task_service_client::TaskServiceClient},
    testing::{Backend, fresh_database},
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

pub const SECRET: &str = "e2e-secret";

pub use shared::testing::eventually;

/// The mesh most suites use: the shipped components, the recording
/// subscriber allowed to use them, the recurrence sweep every second.
pub async fn mesh() -> Mesh {
    Mesh::builder().app("subscriber").schedule("recurrence-sweep", "@every 1s").build().await
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

/// The task service on a fresh SQLite database, with its relay publishing
/// through `sidecar`.
pub async fn task_service(sidecar: Option<String>) -> (Running, sea_orm::DatabaseConnection) {
    task_service_on(Backend::Sqlite, sidecar).await
}

/// The task service on a fresh database of `backend`.
pub async fn task_service_on(backend: Backend, sidecar: Option<String>) -> (Running, sea_orm::DatabaseConnection) {
    let url = fresh_database(backend).await.unwrap();
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

/// Every audit entry a caller sees, oldest first, page after page; `authorize`
/// adds the caller's token to each request.
pub async fn all_audit_entries(
    audit: &shared::proto::todo::audit::v1::audit_service_client::AuditServiceClient<Channel>,
    authorize: impl Fn(
        shared::proto::todo::audit::v1::ListAuditEntriesRequest,
    ) -> Request<shared::proto::todo::audit::v1::ListAuditEntriesRequest>,
) -> Result<Vec<shared::proto::todo::audit::v1::AuditEntry>, tonic::Status> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = shared::proto::todo::audit::v1::ListAuditEntriesRequest {
            page_size: 1000,
            page_token: page_token.clone(),
            oldest_first: true,
            ..Default::default()
        };
        let page = audit.clone().list_audit_entries(authorize(request)).await?.into_inner();
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            return Ok(entries);
        }
        page_token = page.next_page_token;
    }
}

/// A due date-time: `local` wall-clock time in the IANA `zone`.
pub fn due(local: &str, zone: &str) -> Option<pb::Due> {
    Some(pb::Due {
        value: Some(pb::due::Value::DateTime(pb::ZonedDateTime { local_time: local.into(), time_zone: zone.into() })),
    })
}

/// The local wall-clock due time of `task`, or its due as debug text when
/// it is not a date-time.
pub fn local_due(task: &pb::Task) -> String {
    match task.due.as_ref().and_then(|d| d.value.clone()) {
        Some(pb::due::Value::DateTime(z)) => z.local_time,
        other => format!("{other:?}"),
    }
}

/// The audit service on a fresh SQLite database.
pub async fn audit_service() -> Running {
    audit_service_at(&fresh_database(Backend::Sqlite).await.unwrap()).await
}

/// An audit service on the database at `url` (replicas share one).
pub async fn audit_service_at(url: &str) -> Running {
    let app = audit::Application::build(audit::Settings::for_tests(url, SECRET)).await.unwrap();
    Running::spawn(app.addr(), |stop| app.run_until(stop))
}

/// The recurrence service talking to `sidecar`.
pub async fn recurrence_service(sidecar: &str) -> Running {
    let app = recurrence::Application::build(recurrence::Settings::for_tests(sidecar)).await.unwrap();
    Running::spawn(app.addr(), |stop| app.run_until(stop))
}

/// The reminder service (Dapr Jobs through `sidecar`).
pub async fn reminder_service(sidecar: &str) -> Running {
    let app = reminder::Application::build(reminder::Settings::for_tests(sidecar)).await.unwrap();
    Running::spawn(app.addr(), |stop| app.run_until(stop))
}

/// The notification service on a fresh SQLite database, sending through `sidecar`.
pub async fn notification_service(sidecar: &str) -> Running {
    let url = fresh_database(Backend::Sqlite).await.unwrap();
    let app = notification::Application::build(notification::Settings::for_tests(&url, sidecar, SECRET)).await.unwrap();
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

// ---------------------------------------------------------------------------
// Targets: the public-API journeys (`tests/journeys.rs`) run against the
// whole system in-process behind real sidecars (the default), or against
// a deployed cluster when `E2E_TARGET=kind` (`make e2e`,
// scripts/deploy/e2e.sh), which names the endpoints:
//
//   E2E_TASK_ADDR, E2E_AUDIT_ADDR, E2E_SYNC_ADDR,
//   E2E_NOTIFICATION_ADDR                          host:port of each public gRPC API
//   E2E_HS256_SECRET                               the cluster's JWT key, to mint tokens
//   E2E_PATIENCE_SECONDS                           how long an event may take (default 120)
// ---------------------------------------------------------------------------

/// Where the journeys run: the public endpoints and how to authenticate.
pub struct Target {
    /// `host:port` of `todo.task.v1.TaskService`.
    pub task: String,
    /// `host:port` of `todo.audit.v1.AuditService`.
    pub audit: String,
    /// `host:port` of `todo.sync.v1.SyncService` (gRPC `Watch`).
    pub sync: String,
    /// `host:port` of `todo.notification.v1.NotificationService`.
    pub notification: String,
    /// How long an asynchronous effect (an event crossing the broker) may take.
    pub patience: Duration,
    /// `local` or the value of `E2E_TARGET`.
    pub name: String,
    /// `host:port` of the sync gateway's WebSocket, when the target has one
    /// reachable (the in-process system).
    ws: Option<std::net::SocketAddr>,
    secret: String,
    local: Option<LocalSystem>,
}

/// The in-process system of a local target, alive until [`Target::shutdown`].
struct LocalSystem {
    sidecars: Vec<Sidecar>,
    apps: Vec<Running>,
    _mesh: Mesh,
}

/// The target selected by `E2E_TARGET`: unset (or `local`) starts all six
/// services, each behind its own daprd;
/// `kind` (or `cluster`) uses the endpoints from the environment.
pub async fn target() -> Target {
    match std::env::var("E2E_TARGET").ok().filter(|v| !v.trim().is_empty()).as_deref() {
        None | Some("local") => Target::local().await,
        Some(name @ ("kind" | "cluster")) => Target::from_env(name),
        Some(other) => panic!("E2E_TARGET={other}: expected `local` (the default) or `kind`"),
    }
}

/// A user id no earlier run has used, so journeys can run again and again
/// against a long-lived cluster without seeing each other's data.
pub fn fresh_user(label: &str) -> String {
    format!("e2e-{label}-{}", uuid::Uuid::new_v4().simple())
}

fn required_env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| panic!("E2E_TARGET is set, so {name} must be too (scripts/deploy/e2e.sh sets it)"))
}

impl Target {
    async fn local() -> Self {
        shared::telemetry::init_for_tests();
        let mesh = mesh().await;
        // Stopped in this order: the gateway and the consumers first, the
        // task service (the publisher) last.
        let ids = ["sync-gateway", "recurrence", "reminder", "notification", "audit", "task"];
        let mut sidecars: Vec<Sidecar> = ids.iter().map(|id| mesh.sidecar(id)).collect();
        let endpoint = |id: &str| sidecars[ids.iter().position(|i| *i == id).unwrap()].endpoint();
        let (gateway, ws) = sync_gateway(&endpoint("sync-gateway"), 256).await;
        let recurrence = recurrence_service(&endpoint("recurrence")).await;
        let reminder = reminder_service(&endpoint("reminder")).await;
        let notification = notification_service(&endpoint("notification")).await;
        let audit = audit_service().await;
        let (task, _) = task_service(Some(endpoint("task"))).await;
        let apps = vec![gateway, recurrence, reminder, notification, audit, task];
        for (sidecar, app) in sidecars.iter_mut().zip(&apps) {
            sidecar.start(Some(app.addr)).await;
        }
        let addr = |id: &str| apps[ids.iter().position(|i| *i == id).unwrap()].addr.to_string();
        Self {
            task: addr("task"),
            audit: addr("audit"),
            sync: addr("sync-gateway"),
            notification: addr("notification"),
            patience: Duration::from_secs(30),
            name: "local".to_owned(),
            ws: Some(ws),
            secret: SECRET.to_owned(),
            local: Some(LocalSystem { sidecars, apps, _mesh: mesh }),
        }
    }

    fn from_env(name: &str) -> Self {
        let patience = std::env::var("E2E_PATIENCE_SECONDS")
            .ok()
            .map(|v| v.trim().parse().expect("E2E_PATIENCE_SECONDS must be whole seconds"))
            .unwrap_or(120);
        Self {
            task: required_env("E2E_TASK_ADDR"),
            audit: required_env("E2E_AUDIT_ADDR"),
            sync: required_env("E2E_SYNC_ADDR"),
            notification: required_env("E2E_NOTIFICATION_ADDR"),
            patience: Duration::from_secs(patience),
            name: name.to_owned(),
            ws: None,
            secret: required_env("E2E_HS256_SECRET"),
            local: None,
        }
    }

    /// The process ids of the in-process system's sidecars (empty for a cluster).
    pub fn sidecar_pids(&self) -> Vec<u32> {
        self.local.iter().flat_map(|l| l.sidecars.iter().filter_map(Sidecar::pid)).collect()
    }

    /// The sync gateway's WebSocket address, if reachable.
    pub fn websocket(&self) -> Option<std::net::SocketAddr> {
        self.ws
    }

    /// True for the in-process system.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// A bearer token for `user`, signed with the target's key.
    pub fn token(&self, user: &str) -> String {
        shared::auth::issue_hs256_token(&self.secret, user, Duration::from_secs(3600)).unwrap()
    }

    /// `message` with `user`'s bearer token.
    pub fn as_user<T>(&self, user: &str, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert("authorization", format!("Bearer {}", self.token(user)).parse().unwrap());
        request
    }

    /// A channel to `host:port`, retried for a while (a port-forward may be
    /// a moment late).
    async fn channel(&self, addr: &str) -> Channel {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5));
        eventually(&format!("a connection to {addr} ({})", self.name), Duration::from_secs(60), || {
            let endpoint = endpoint.clone();
            async move { endpoint.connect().await.ok() }
        })
        .await
    }

    pub async fn task_client(&self) -> TaskServiceClient<Channel> {
        TaskServiceClient::new(self.channel(&self.task).await)
    }

    pub async fn audit_client(
        &self,
    ) -> shared::proto::todo::audit::v1::audit_service_client::AuditServiceClient<Channel> {
        shared::proto::todo::audit::v1::audit_service_client::AuditServiceClient::new(self.channel(&self.audit).await)
    }

    pub async fn notification_client(
        &self,
    ) -> shared::proto::todo::notification::v1::notification_service_client::NotificationServiceClient<Channel> {
        shared::proto::todo::notification::v1::notification_service_client::NotificationServiceClient::new(
            self.channel(&self.notification).await,
        )
    }

    pub async fn sync_client(&self) -> shared::proto::todo::sync::v1::sync_service_client::SyncServiceClient<Channel> {
        shared::proto::todo::sync::v1::sync_service_client::SyncServiceClient::new(self.channel(&self.sync).await)
    }

    /// Stops the in-process system (the sidecars first, then the apps,
    /// each checked to drain cleanly); nothing to do for a cluster.
    pub async fn shutdown(self) {
        if let Some(LocalSystem { mut sidecars, apps, _mesh }) = self.local {
            for sidecar in &mut sidecars {
                sidecar.stop().await;
            }
            for app in apps {
                app.stop().await;
            }
        }
    }
}
