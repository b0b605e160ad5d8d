//! The Dapr API (`dapr.proto.runtime.v1.Dapr`) served on each app's port.
//!
//! The generated `Dapr` server trait has about 95 methods. Instead of stubbing
//! them all, [`DaprApi`] is a plain tower service that looks at the request
//! path, decodes the few supported methods with tonic's `Grpc::unary` (the
//! same machinery the generated server uses) and answers everything else:
//!
//! - a path that is not a supported Dapr method but carries `dapr-app-id`
//!   is **proxied** as raw gRPC to that app (Dapr's native gRPC proxying,
//!   any service, unary or streaming) — see [`crate::invoke::proxy`];
//! - anything else is `UNIMPLEMENTED`.
//!
//! Stable and `…Alpha1` names of a method reach the same handler. When the
//! sidecar has a Dapr API token, every call without it is `UNAUTHENTICATED`.

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc, task::Poll};

use dapr::dapr::proto::runtime::v1 as rt;
use tonic::{Status, body::Body, server::NamedService};

use crate::{app::App, runtime::Shared};

/// One app's sidecar: what every handler needs.
pub struct Sidecar {
    pub shared: Arc<Shared>,
    pub app: Arc<App>,
}

/// The tower service for one sidecar's API port.
#[derive(Clone)]
pub struct DaprApi(Arc<Sidecar>);

impl NamedService for DaprApi {
    const NAME: &'static str = "dapr.proto.runtime.v1.Dapr";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<B> tower::Service<http::Request<B>> for DaprApi
where
    B: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let sidecar = self.0.clone();
        Box::pin(async move { Ok(handle(sidecar, request.map(Body::new)).await) })
    }
}

/// Serves the API of `app` on `listener` until the sidecar stops.
pub fn serve(shared: Arc<Shared>, app: Arc<App>, listener: tokio::net::TcpListener) {
    let cancel = app.cancel.clone();
    let tracker = shared.tracker.clone();
    let api = DaprApi(Arc::new(Sidecar { shared, app: app.clone() }));
    let mut routes = tonic::service::Routes::default();
    let router = routes.axum_router_mut();
    *router = std::mem::take(router).fallback_service(api);
    tracker.spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let served = tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, cancel.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(app = %app.id, error = %e, "Dapr API server failed");
        }
    });
}

/// Adapts an async handler to tonic's `UnaryService`.
struct Unary<F>(F);

impl<Req, Resp, F, Fut> tonic::server::UnaryService<Req> for Unary<F>
where
    F: FnMut(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
{
    type Response = Resp;
    type Future = Fut;

    fn call(&mut self, request: tonic::Request<Req>) -> Fut {
        (self.0)(request)
    }
}

async fn unary<Req, Resp, F, Fut>(request: http::Request<Body>, handler: F) -> http::Response<Body>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
    F: FnMut(tonic::Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
{
    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<Resp, Req>::default());
    grpc.unary(Unary(handler), request).await
}

/// Routes `"Method" | "MethodAlpha1" => module::function` pairs; the function
/// takes `(&Sidecar, tonic::Request<Req>)`.
macro_rules! dispatch {
    ($method:expr, $request:ident, $sidecar:ident, { $( $($name:literal)|+ => $handler:path ),* $(,)? }) => {
        match $method {
            $( $($name)|+ => {
                let sidecar = $sidecar.clone();
                return unary($request, move |r| {
                    let sidecar = sidecar.clone();
                    async move { $handler(&sidecar, r).await }
                })
                .await;
            } )*
            _ => {}
        }
    };
}

async fn handle(sidecar: Arc<Sidecar>, request: http::Request<Body>) -> http::Response<Body> {
    if let Some(expected) = &sidecar.app.dapr_token {
        let given = request.headers().get("dapr-api-token").and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return Status::unauthenticated("missing or invalid dapr-api-token").into_http();
        }
    }
    let path = request.uri().path().to_owned();
    if let Some(method) = path.strip_prefix("/dapr.proto.runtime.v1.Dapr/") {
        dispatch!(method, request, sidecar, {
            "PublishEvent" => crate::publish::publish_event,
            "BulkPublishEvent" | "BulkPublishEventAlpha1" => crate::publish::bulk_publish_event,
            "GetState" => crate::state::get_state,
            "GetBulkState" => crate::state::get_bulk_state,
            "SaveState" => crate::state::save_state,
            "DeleteState" => crate::state::delete_state,
            "DeleteBulkState" => crate::state::delete_bulk_state,
            "ExecuteStateTransaction" => crate::state::execute_state_transaction,
            "InvokeService" => crate::invoke::invoke_service,
            "InvokeBinding" => crate::bindings::invoke_binding,
            "ScheduleJob" | "ScheduleJobAlpha1" => crate::jobs::schedule_job,
            "GetJob" | "GetJobAlpha1" => crate::jobs::get_job,
            "DeleteJob" | "DeleteJobAlpha1" => crate::jobs::delete_job,
            "DeleteJobsByPrefix" | "DeleteJobsByPrefixAlpha1" => crate::jobs::delete_jobs_by_prefix,
            "ListJobs" | "ListJobsAlpha1" => crate::jobs::list_jobs,
            "GetSecret" => crate::secrets::get_secret,
            "GetBulkSecret" => crate::secrets::get_bulk_secret,
            "GetMetadata" => get_metadata,
            "Shutdown" => shutdown,
        });
    }
    if request.headers().contains_key("dapr-app-id") {
        return crate::invoke::proxy(&sidecar, request).await;
    }
    Status::unimplemented(format!("{path} is not supported by the local Dapr runtime")).into_http()
}

async fn get_metadata(
    sidecar: &Sidecar,
    _: tonic::Request<rt::GetMetadataRequest>,
) -> Result<tonic::Response<rt::GetMetadataResponse>, Status> {
    let app = &sidecar.app;
    let registered_components = sidecar
        .shared
        .components(&app.id)
        .map(|c| rt::RegisteredComponents {
            name: c.name.clone(),
            r#type: c.kind.clone(),
            version: c.version.clone(),
            capabilities: Vec::new(),
        })
        .collect();
    let subscriptions = app
        .subscriptions
        .read()
        .map(|subs| {
            subs.iter()
                .map(|s| rt::PubsubSubscription {
                    pubsub_name: s.pubsub.clone(),
                    topic: s.topic.clone(),
                    metadata: s.metadata.clone(),
                    rules: Some(rt::PubsubSubscriptionRules {
                        rules: s
                            .paths
                            .iter()
                            .map(|p| rt::PubsubSubscriptionRule { r#match: String::new(), path: p.clone() })
                            .collect(),
                    }),
                    dead_letter_topic: s.dead_letter_topic.clone(),
                    ..Default::default()
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(tonic::Response::new(rt::GetMetadataResponse {
        id: app.id.clone(),
        runtime_version: "local-dapr".into(),
        registered_components,
        subscriptions,
        ..Default::default()
    }))
}

/// daprd's `Shutdown` stops the sidecar; here it stops this app's sidecar
/// (API server, deliveries, bindings, jobs) and leaves the others running.
async fn shutdown(sidecar: &Sidecar, _: tonic::Request<rt::ShutdownRequest>) -> Result<tonic::Response<()>, Status> {
    tracing::info!(app = %sidecar.app.id, "Shutdown requested by the app");
    let cancel = sidecar.app.cancel.clone();
    // Answer first, then stop serving.
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        cancel.cancel();
    });
    Ok(tonic::Response::new(()))
}
