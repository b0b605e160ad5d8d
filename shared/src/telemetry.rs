//! `tracing` set up once per process, with OpenTelemetry export when an OTLP
//! endpoint is configured; the settings are [`TelemetrySettings`], which
//! each `main` reads from the environment:
//!
//! - `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` switches to JSON
//!   lines (what the Helm chart sets), anything else is human-readable.
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://otel-collector:4317`)
//!   enables trace and metric export over OTLP/gRPC (metrics every 60 s, or
//!   `OTEL_METRIC_EXPORT_INTERVAL` ms). The exporters connect lazily, so a
//!   missing collector neither crashes the service nor delays start-up.
//!   Without it the global meter is a no-op: instruments cost nothing.
//! - The W3C trace-context propagator is installed globally, so `traceparent`
//!   flows from incoming gRPC metadata to outgoing calls and events.

use std::sync::OnceLock;

use opentelemetry::{global, propagation::Extractor, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator, trace::SdkTracerProvider,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use crate::config::TelemetrySettings;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Keeps the exporters alive; [`TelemetryGuard::shutdown`] flushes them.
#[must_use = "dropping the guard loses spans that are not exported yet"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops the exporters. Blocking, so it runs on the blocking pool.
    pub async fn shutdown(self) {
        let Self { provider, meters } = self;
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(provider) = provider {
                let _ = provider.shutdown();
            }
            if let Some(meters) = meters {
                let _ = meters.shutdown();
            }
        })
        .await;
    }
}

static INIT: OnceLock<()> = OnceLock::new();

/// Installs the global subscriber for `service_name`, as `settings` say
/// (read once by the service's `main`). Later calls (tests that build
/// several apps in one process) are no-ops that return an empty guard.
pub fn init(service_name: &str, settings: &TelemetrySettings) -> TelemetryGuard {
    let mut guard = TelemetryGuard { provider: None, meters: None };
    if INIT.set(()).is_err() {
        return guard;
    }
    global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt_filter = if settings.print_logs { None } else { Some(tracing_subscriber::filter::LevelFilter::OFF) };
    let fmt = if settings.json_logs {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(fmt_filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().compact().with_filter(fmt_filter).boxed()
    };

    // A provider always exists, so spans get real W3C ids and `traceparent`
    // propagates even when nothing is exported.
    let endpoint = settings.otlp_endpoint.as_deref();
    let provider = build_provider(service_name, endpoint);
    let tracer = provider.tracer(service_name.to_owned());
    guard.provider = Some(provider);
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);

    let _ = tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init();

    if let Some(meters) = endpoint.and_then(|endpoint| build_meter_provider(service_name, endpoint)) {
        global::set_meter_provider(meters.clone());
        guard.meters = Some(meters);
    }
    guard
}

/// Tests: spans and trace propagation always (so `traceparent` flows as in
/// production); log output only when `TEST_LOG` is set.
#[cfg(any(test, feature = "testing"))]
pub fn init_for_tests() {
    let _ = init("test", &TelemetrySettings::for_tests());
}

fn build_provider(service_name: &str, endpoint: Option<&str>) -> SdkTracerProvider {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build());
    if let Some(endpoint) = endpoint {
        match opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).build() {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            // Tracing is not up yet, so this goes to stderr.
            Err(err) => eprintln!("OpenTelemetry export to {endpoint} disabled: {err}"),
        }
    }
    builder.build()
}

fn build_meter_provider(service_name: &str, endpoint: &str) -> Option<SdkMeterProvider> {
    match opentelemetry_otlp::MetricExporter::builder().with_tonic().with_endpoint(endpoint).build() {
        Ok(exporter) => Some(
            SdkMeterProvider::builder()
                .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build())
                .with_periodic_exporter(exporter)
                .build(),
        ),
        Err(err) => {
            tracing::warn!(%endpoint, error = %err, "OpenTelemetry metric export disabled");
            None
        }
    }
}

/// The span of one incoming gRPC request, a child of the caller's trace when
/// the request carries `traceparent`. Its `trace_id` field puts the trace
/// id on every log line written inside it (JSON logs carry span fields).
pub fn grpc_request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc.request",
        // Named `package.Service/Method`, as OpenTelemetry names RPC spans.
        otel.name = %request.uri().path().trim_start_matches('/'),
        rpc.method = %request.uri().path(),
        otel.kind = "server",
        trace_id = tracing::field::Empty,
    );
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let _ = span.set_parent(parent);
    record_trace_id(&span);
    span
}

/// The span of one event a consumer handles, a child of the trace the
/// event carries, so one trace shows the change and everything it caused.
pub fn event_span(topic: &str, event_id: &str, event_type: &str, traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        messaging.destination.name = %topic,
        messaging.message.id = %event_id,
        event.type = %event_type,
        otel.kind = "consumer",
        trace_id = tracing::field::Empty,
    );
    continue_trace(&span, traceparent);
    span
}

/// The span of publishing one event, a child of the trace that caused it
/// (`traceparent`, kept with the event since the change was made); the
/// event then carries this span's context ([`current_traceparent`]).
pub fn publish_span(topic: &str, event_id: &str, event_type: &str, traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "publish",
        messaging.destination.name = %topic,
        messaging.message.id = %event_id,
        event.type = %event_type,
        otel.kind = "producer",
        trace_id = tracing::field::Empty,
    );
    continue_trace(&span, traceparent);
    span
}

/// Makes `span` a child of the W3C `traceparent`, when there is one.
fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        let parent = global::get_text_map_propagator(|p| p.extract(&carrier));
        let _ = span.set_parent(parent);
    }
    record_trace_id(span);
}

fn record_trace_id(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt;
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// The trace id of the current span (32 hex digits), when it is in a trace.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The W3C `traceparent` of the current span, when it is sampled into a trace.
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid().then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
