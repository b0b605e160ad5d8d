//! The tonic server every service runs.
//!
//! [`standard_routes`] gives the services every server carries — the
//! standard `grpc.health.v1.Health` service and server reflection in both
//! `v1` and `v1alpha` (the `grpcurl` on PyPI speaks only v1alpha) — and
//! [`serve`] runs a router on a pre-bound listener until a token is
//! cancelled, with a span per request, then drains in-flight calls.

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;

use crate::telemetry;

/// Routes with health and reflection already added, and the health handle.
pub struct StandardRoutes {
    pub routes: RoutesBuilder,
    pub health: HealthReporter,
}

/// Health plus reflection over `descriptor_sets` (and health's own set, so
/// `grpcurl describe grpc.health.v1.Health` works).
pub fn standard_routes(descriptor_sets: &[&'static [u8]]) -> Result<StandardRoutes, tonic_reflection::server::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();

    let mut v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let mut v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for set in descriptor_sets {
        v1 = v1.register_encoded_file_descriptor_set(set);
        v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
    }

    let mut routes = RoutesBuilder::default();
    routes.add_service(health_service).add_service(v1.build_v1()?).add_service(v1alpha.build_v1alpha()?);
    Ok(StandardRoutes { routes, health })
}

/// Serves `routes` on `listener` until `shutdown` is cancelled, then stops
/// accepting and waits for in-flight requests to finish.
pub async fn serve(
    routes: RoutesBuilder,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .trace_fn(telemetry::grpc_request_span)
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await
}
