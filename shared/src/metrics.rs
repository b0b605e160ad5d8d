//! Prometheus metrics for every service: one recorder per process (the
//! `metrics` facade with `metrics-exporter-prometheus`), served as text at
//! `GET /metrics` on a port of the service's own ([`serve`]), with the
//! process's resident memory, CPU time and open file descriptors
//! (`metrics-process`) refreshed at each scrape. OTLP export of the same
//! process stays as it is ([`crate::telemetry`]).
//!
//! The names every service shares, beside each service's own:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `grpc_server_started_total` | counter | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `grpc_server_handled_total` | counter | the same and `grpc_code` |
//! | `grpc_server_handling_seconds` | histogram | `grpc_type`, `grpc_service`, `grpc_method` |
//! | `tasks_events_handled_total` | counter | `topic`, `outcome` (`success`, `retry`, `drop`) |
//! | `tasks_event_handling_seconds` | histogram | `topic` |
//! | `tasks_events_dead_lettered_total` | counter | `topic` (dropped: daprd sends them to the dead-letter topic) |
//! | `process_*` | gauges and counters | (`process_resident_memory_bytes`, `process_cpu_seconds_total`, `process_open_fds`, …) |
//!
//! The gRPC names and labels are those of go-grpc-prometheus, which
//! existing dashboards use.

use std::{net::SocketAddr, sync::OnceLock};

use axum::{Router, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Histogram buckets, in seconds: from a fast RPC to a slow event.
const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (several apps in one test
/// process share it).
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .ok()?
                .install_recorder();
            match recorder {
                Ok(handle) => {
                    metrics_process::Collector::default().describe();
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot install the Prometheus recorder; metrics are off");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder now, so metrics recorded before the first scrape
/// are kept. Idempotent.
pub fn install() {
    let _ = handle();
}

/// The current metrics in the Prometheus text format.
pub fn render() -> String {
    metrics_process::Collector::default().collect();
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// A bound metrics listener: bind first (port 0 in tests), serve later.
pub struct MetricsListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl MetricsListener {
    /// Binds `addr` and installs the recorder.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        install();
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr })
    }

    /// Where it listens (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `GET /metrics` until `shutdown`.
    ///
    /// # Errors
    /// The server fails.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr, "metrics listening on /metrics");
        let router = Router::new().route("/metrics", get(|| async { render() }));
        axum::serve(crate::net::without_nagle(self.listener), router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}
