//! gRPC server metrics in go-grpc-prometheus's names (see
//! [`crate::metrics`]): a call is counted when it starts, and counted again
//! with its code, and timed, when its status is known — in the response
//! headers for an error answered at once, else in the trailers at the end
//! of the response body (so a stream is timed to its end). A call whose
//! client goes away first counts as `Canceled`.
//!
//! Each finished call is also logged, with its trace id (the JSON logs'
//! `trace_id`): at debug level when OK, info for the caller's errors, warn
//! for the server's own (`Internal`, `Unknown`, `DataLoss`, `Unavailable`).

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use futures::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use metrics::{Label, SharedString};

/// The tower layer; outermost, so calls refused by the limits count too.
#[derive(Clone, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

/// One call being observed.
struct Call {
    kind: &'static str,
    // Shared: every label set of the call clones them.
    service: SharedString,
    method: SharedString,
    started: Instant,
    /// The request's span (the layer runs inside it), whose trace id the
    /// call's log line carries; read only if the line is written.
    span: tracing::Span,
}

impl Call {
    fn start<B>(request: &http::Request<B>) -> Self {
        let path = request.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        // The platform's streaming methods, by name: Watch (server
        // streaming, ours and grpc.health's) and reflection (bidirectional).
        let kind = match method {
            "Watch" => "server_stream",
            "ServerReflectionInfo" => "bidi_stream",
            _ => "unary",
        };
        let call = Self {
            kind,
            service: SharedString::from_shared(service.into()),
            method: SharedString::from_shared(method.into()),
            started: Instant::now(),
            span: tracing::Span::none(),
        };
        ::metrics::counter!("grpc_server_started_total", call.labels()).increment(1);
        call
    }

    fn labels(&self) -> Vec<Label> {
        vec![
            Label::from_static_parts("grpc_type", self.kind),
            Label::new("grpc_service", self.service.clone()),
            Label::new("grpc_method", self.method.clone()),
        ]
    }

    fn finish(self, code: &'static str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let (rpc, ms) = (format_args!("{}/{}", &*self.service, &*self.method), (elapsed * 1e6).round() / 1e3);
        // A macro evaluates its fields only when its line is written.
        let trace_id = || crate::telemetry::trace_id_of(&self.span);
        match code {
            "OK" => tracing::debug!(%rpc, code, elapsed_ms = ms, trace_id = trace_id(), "call finished"),
            "Internal" | "Unknown" | "DataLoss" | "Unavailable" => {
                tracing::warn!(%rpc, code, elapsed_ms = ms, trace_id = trace_id(), "call failed");
            }
            _ => tracing::info!(%rpc, code, elapsed_ms = ms, trace_id = trace_id(), "call refused"),
        }
        let mut labels = self.labels();
        ::metrics::histogram!("grpc_server_handling_seconds", labels.clone()).record(elapsed);
        labels.push(Label::from_static_parts("grpc_code", code));
        ::metrics::counter!("grpc_server_handled_total", labels).increment(1);
    }
}

/// The name go-grpc-prometheus gives a `grpc-status` value.
fn code_name(status: Option<&http::HeaderValue>) -> &'static str {
    let code = status.and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()).unwrap_or(2);
    match code {
        0 => "OK",
        1 => "Canceled",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}

impl<S, B> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let mut call = Call::start(&request);
        Box::pin(async move {
            // Polled inside the request's span (tonic instruments the call).
            call.span = tracing::Span::current();
            let response = inner.call(request).await?;
            // An error answered at once: trailers-only, the status in the headers.
            if let Some(status) = response.headers().get("grpc-status") {
                call.finish(code_name(Some(status)));
                return Ok(response);
            }
            Ok(response.map(|body| tonic::body::Body::new(Observed { inner: body, call: Some(call) })))
        })
    }
}

/// A response body that records its call when the trailers pass.
struct Observed {
    inner: tonic::body::Body,
    call: Option<Call>,
}

impl Body for Observed {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let code = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().map(|t| code_name(t.get("grpc-status"))),
            Poll::Ready(Some(Err(_))) => Some("Unknown"),
            Poll::Ready(None) => Some("OK"),
            Poll::Pending => None,
        };
        if let Some(code) = code
            && let Some(call) = self.call.take()
        {
            call.finish(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // The client went away before the end.
        if let Some(call) = self.call.take() {
            call.finish("Canceled");
        }
    }
}
