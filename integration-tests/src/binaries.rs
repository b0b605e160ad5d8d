//! The system as `make dev` runs it: each service is its own binary, a
//! process of its own configured only by environment variables, behind its
//! own real daprd with metrics on. For what only separate processes show:
//! each service's own `/metrics`, its own OpenTelemetry service name.
//!
//! The binaries are the ones cargo built next to this test
//! (`cargo build --workspace --bins`, which `make test` runs first).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use shared::testing::{
    Backend, fresh_database,
    process::{Process, free_port},
};

use crate::{Mesh, SECRET, Sidecar, eventually};

/// The services, in the order they stop (the publisher last).
pub const SERVICES: [&str; 6] = ["sync-gateway", "recurrence", "reminder", "notification", "audit", "task"];

/// One service's process and its sidecar.
pub struct Service {
    pub id: &'static str,
    /// Its log (JSON lines).
    pub log: PathBuf,
    /// Its gRPC API.
    pub addr: SocketAddr,
    /// Its Prometheus endpoint (`GET /metrics`).
    pub metrics: SocketAddr,
    pub sidecar: Sidecar,
    process: Process,
}

/// The six service processes behind their sidecars, in one mesh.
pub struct System {
    pub mesh: Mesh,
    pub services: Vec<Service>,
    /// The app token every service and its daprd are given, as the chart
    /// gives them one Secret: daprd sends it on each call to its app, and
    /// each app refuses callbacks without it.
    pub app_token: String,
}

/// Where cargo put the binaries: the profile directory above this test's
/// own executable (`target/debug/deps/<test>`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe.parent().and_then(std::path::Path::parent).expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built: run `cargo build --workspace --bins` (make test does)", path.display());
    path
}

impl Service {
    /// The process id of the running service.
    pub fn pid(&self) -> Option<u32> {
        self.process.id()
    }
}

impl System {
    /// Starts every service (exporting spans to `otlp` when given), each
    /// then its sidecar, and returns once all sidecars are healthy.
    pub async fn start(mesh: Mesh, otlp: Option<SocketAddr>) -> Self {
        let mut services = Vec::new();
        let app_token = uuid::Uuid::new_v4().simple().to_string();
        for id in SERVICES {
            let sidecar = mesh.sidecar(id).with_metrics().with_app_token(&app_token);
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut env = vec![
                // As the chart runs them: JSON lines; each finished call logged.
                ("LOG_FORMAT".to_owned(), "json".to_owned()),
                ("RUST_LOG".to_owned(), "info,shared::grpc::metrics=debug".to_owned()),
                ("AUTH_HS256_SECRET".to_owned(), SECRET.to_owned()),
                ("METRICS_ADDR".to_owned(), metrics.to_string()),
                ("DAPR_GRPC_ENDPOINT".to_owned(), sidecar.endpoint()),
                ("APP_ID".to_owned(), id.to_owned()),
                ("SHUTDOWN_GRACE_SECONDS".to_owned(), "5".to_owned()),
                ("APP_API_TOKEN".to_owned(), app_token.clone()),
            ];
            if let Some(collector) = otlp {
                env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), format!("http://{collector}")));
                // Export spans within a fraction of a second, not every 5 s.
                env.push(("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "200".to_owned()));
            }
            let grpc_addr = match id {
                "task" => "TASK_GRPC_ADDR",
                "recurrence" => "RECURRENCE_GRPC_ADDR",
                "reminder" => "REMINDER_GRPC_ADDR",
                "notification" => "NOTIFICATION_GRPC_ADDR",
                "audit" => "AUDIT_GRPC_ADDR",
                _ => "SYNC_GRPC_ADDR",
            };
            env.push((grpc_addr.to_owned(), addr.to_string()));
            if matches!(id, "task" | "notification" | "audit") {
                env.push(("DATABASE_URL".to_owned(), fresh_database(Backend::Sqlite).await.unwrap()));
            }
            if id == "sync-gateway" {
                env.push(("SYNC_WS_ADDR".to_owned(), format!("127.0.0.1:{}", free_port())));
                env.push(("PUBSUB_NAME".to_owned(), "pubsub-sync".to_owned()));
            }
            let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let log = mesh.dir().join(format!("{id}.log"));
            let mut process = Process::spawn(id, &binary(id), std::iter::empty::<&str>(), &envs, &log);
            eventually(&format!("{id} listening on {addr}"), Duration::from_secs(30), || {
                let exited = process.exited();
                let log = log.clone();
                async move {
                    if let Some(status) = exited {
                        panic!("{id} exited ({status}):\n{}", shared::testing::process::tail(&log, 30));
                    }
                    tokio::net::TcpStream::connect(addr).await.ok().map(drop)
                }
            })
            .await;
            services.push(Service { id, log, addr, metrics, sidecar, process });
        }
        for service in &mut services {
            service.sidecar.start(Some(service.addr)).await;
        }
        Self { mesh, services, app_token }
    }

    /// The service `id`.
    pub fn service(&self, id: &str) -> &Service {
        self.services.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no service {id}"))
    }

    /// Stops the sidecars, then each service as SIGTERM would, and checks
    /// every service drained and exited cleanly.
    pub async fn shutdown(mut self) {
        for service in &mut self.services {
            service.sidecar.stop().await;
        }
        for service in &mut self.services {
            let status = service.process.terminate(Duration::from_secs(15)).await;
            assert!(
                status.is_some_and(|s| s.success()),
                "{} did not exit cleanly ({status:?}):\n{}",
                service.id,
                service.process.log_tail(30)
            );
        }
    }
}
