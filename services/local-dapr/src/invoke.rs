//! Service invocation between apps of this runtime (contract §7).
//!
//! - `InvokeService{id, message}` (deprecated, still supported) calls the
//!   target's `AppCallback/OnInvoke` and returns its answer, or its error
//!   status unchanged. Unknown app id: `INTERNAL` "fail to invoke…"; target
//!   with health checks and unhealthy: `INTERNAL` "app is not in a healthy
//!   state", as daprd.
//! - Native gRPC proxying: a call to any other service with `dapr-app-id:
//!   <target>` is forwarded as raw HTTP/2 (unary or streaming) to the target
//!   app's port. Both directions get the caller's metadata plus
//!   `dapr-caller-app-id`, `dapr-callee-app-id` and, when the target has an
//!   app token, `dapr-api-token` (the caller's own Dapr token is not passed on).

use std::sync::Arc;

use dapr::dapr::proto::{
    common::v1::InvokeResponse,
    runtime::v1::{InvokeServiceRequest, app_callback_client::AppCallbackClient},
};
use http::{HeaderValue, Uri};
use tonic::{Status, body::Body};
use tower::{Service as _, ServiceExt as _};

use crate::{
    api::Sidecar,
    app::{App, Status as AppStatus},
};

/// Metadata that must not travel from the caller to the target.
const HOP_BY_HOP: [&str; 6] =
    ["dapr-api-token", "dapr-app-id", "content-type", "te", "user-agent", "grpc-accept-encoding"];

fn target(sidecar: &Sidecar, id: &str) -> Result<Arc<App>, Status> {
    let id = id.split('.').next().unwrap_or(id);
    let app = sidecar
        .shared
        .apps
        .get(id)
        .cloned()
        .ok_or_else(|| Status::internal(format!("fail to invoke, id: {id}, err: couldn't find service: {id}")))?;
    if app.health_check && app.status() != AppStatus::Healthy {
        return Err(Status::internal("app is not in a healthy state"));
    }
    Ok(app)
}

fn identity(headers: &mut http::HeaderMap, caller: &str, callee: &App) {
    for (name, value) in [("dapr-caller-app-id", caller), ("dapr-callee-app-id", callee.id.as_str())] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    if let Some(token) = callee.app_token.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert("dapr-api-token", token);
    }
}

pub async fn invoke_service(
    sidecar: &Sidecar,
    request: tonic::Request<InvokeServiceRequest>,
) -> Result<tonic::Response<InvokeResponse>, Status> {
    let (metadata, _, req) = request.into_parts();
    let callee = target(sidecar, &req.id)?;
    let message = req.message.ok_or_else(|| Status::invalid_argument("message is required"))?;
    let mut headers = metadata.into_headers();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    identity(&mut headers, &sidecar.app.id, &callee);
    let mut call = tonic::Request::new(message);
    *call.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
    let mut client = AppCallbackClient::new(callee.channel.clone());
    client.on_invoke(call).await
}

/// Forwards a raw gRPC call to the app named by `dapr-app-id`.
pub async fn proxy(sidecar: &Sidecar, mut request: http::Request<Body>) -> http::Response<Body> {
    let id = request.headers().get("dapr-app-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let callee = match target(sidecar, &id) {
        Ok(app) => app,
        Err(status) => return status.into_http(),
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    match Uri::builder().scheme("http").authority(callee.addr.to_string()).path_and_query(path).build() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(e) => return Status::internal(format!("bad proxy target: {e}")).into_http(),
    }
    let headers = request.headers_mut();
    headers.remove("dapr-api-token");
    identity(headers, &sidecar.app.id, &callee);
    let mut channel = callee.channel.clone();
    let result = match channel.ready().await {
        Ok(ready) => ready.call(request).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(response) => response,
        Err(e) => Status::unavailable(format!("failed to proxy request to {id}: {e}")).into_http(),
    }
}
