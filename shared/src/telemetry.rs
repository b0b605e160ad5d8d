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

use std::sync::{Arc, OnceLock};

use opentelemetry::{global, propagation::Extractor, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator, trace::SdkTracerProvider,
};
use tracing::{Dispatch, dispatcher::WeakDispatch};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use crate::config::TelemetrySettings;
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{FilterExt, filter_fn},
    fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

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
    let fmt = log_layer(settings, std::io::stdout);

    // A provider always exists, so spans get real W3C ids and `traceparent`
    // propagates even when nothing is exported.
    let endpoint = settings.otlp_endpoint.as_deref();
    let provider = build_provider(service_name, endpoint);
    let tracer = provider.tracer(service_name.to_owned());
    guard.provider = Some(provider);
    // No busy/idle timings and no thread attributes: clocks read on every
    // poll and a thread name copied into every span, for figures no one reads.
    // No context activation either: it attaches the span's OpenTelemetry
    // context to the thread on every poll, for instrumentation that reads
    // `opentelemetry::Context::current()`. Nothing here does; `traceparent`
    // is taken from the tracing span itself (`OpenTelemetrySpanExt::context`).
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_context_activation(false);

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
    );
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let _ = span.set_parent(parent);
    span
}

/// The name of [`grpc_request_span`]'s spans.
const REQUEST_SPAN: &str = "grpc.request";

/// The span of one event a consumer handles, a child of the trace the
/// event carries, so one trace shows the change and everything it caused.
pub fn event_span(topic: &str, event_id: &str, event_type: &str, traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        messaging.destination.name = %topic,
        messaging.message.id = %event_id,
        event.type = %event_type,
        otel.kind = "consumer",
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
}

/// The trace id of `span` (32 hex digits), when it is in a trace.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    traced(&span.context()).map(|trace| trace.trace_id().to_string())
}

/// The span context of `context`'s span, when it is in a trace.
fn traced(context: &opentelemetry::Context) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::TraceContextExt;
    let trace = context.span().span_context().clone();
    trace.is_valid().then_some(trace)
}

/// The layer that writes log lines to `writer`, as `settings` say.
fn log_layer<S, W>(settings: &TelemetrySettings, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let printed = if settings.print_logs { None } else { Some(tracing_subscriber::filter::LevelFilter::OFF) };
    // The log layer never sees a call's span: it would format the span's
    // fields on every call, for the few calls that log. Lines get the trace
    // id from the span's OpenTelemetry context instead, when they are written.
    let filter = filter_fn(|meta| !(meta.is_span() && meta.name() == REQUEST_SPAN)).and(printed);
    let dispatch = DispatchCell::default();
    let lines = if settings.json_logs {
        let format = tracing_subscriber::fmt::format().json().with_current_span(true).with_span_list(false);
        let format = WithTraceId { format, dispatch: dispatch.clone() };
        tracing_subscriber::fmt::layer().json().event_format(format).with_writer(writer).with_filter(filter).boxed()
    } else {
        let format = WithTraceId { format: tracing_subscriber::fmt::format().compact(), dispatch: dispatch.clone() };
        tracing_subscriber::fmt::layer().event_format(format).with_writer(writer).with_filter(filter).boxed()
    };
    lines.and_then(dispatch).boxed()
}

/// The subscriber a [`WithTraceId`] formats for, kept once it is built (a
/// layer learns it in `on_register_dispatch`): a line format has no other
/// way to the OpenTelemetry context of the span a line is written in.
#[derive(Clone, Default)]
struct DispatchCell(Arc<OnceLock<WeakDispatch>>);

impl<S: tracing::Subscriber> Layer<S> for DispatchCell {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }
}

impl DispatchCell {
    /// The trace id of the span the current thread is in, if it is traced.
    /// Unfiltered: the log layer does not see a call's span, this does.
    fn current_trace_id(&self) -> Option<opentelemetry::trace::TraceId> {
        let dispatch = self.0.get()?.upgrade()?;
        let id = tracing::Subscriber::current_span(dispatch.downcast_ref::<Registry>()?).id()?.clone();
        traced(&tracing_opentelemetry::get_otel_context(&id, &dispatch)?).map(|trace| trace.trace_id())
    }
}

/// A log line format that adds the trace id of the span the line is
/// written in (`"trace_id"` first in a JSON object, `trace_id=` last in
/// text), read from its OpenTelemetry context only when a line is written.
struct WithTraceId<F> {
    format: F,
    dispatch: DispatchCell,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        // Not `tracing::Span::current()`: inside the subscriber, that is none.
        let Some(trace_id) = self.dispatch.current_trace_id() else {
            return self.format.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.format.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(members) => write!(writer, "{{\"trace_id\":\"{trace_id}\",{members}"),
            None => {
                let text = line.trim_end_matches('\n');
                writeln!(writer, "{text} trace_id={trace_id}")
            }
        }
    }
}

/// The W3C `traceparent` of the current span, when it is sampled into a trace.
pub fn current_traceparent() -> Option<String> {
    let sc = traced(&tracing::Span::current().context())?;
    Some(format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Log lines written in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Lines {
        type Writer = Lines;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    fn written(json_logs: bool, log: impl FnOnce()) -> String {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let lines = Lines::default();
        let settings =
            TelemetrySettings { json_logs, print_logs: true, log_filter: "info".into(), otlp_endpoint: None };
        let tracer = SdkTracerProvider::builder().build().tracer("test");
        let subscriber = tracing_subscriber::registry()
            .with(log_layer(&settings, lines.clone()))
            .with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn traced_logs() {
        let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
        event_span("task-events", "event-1", "todo.task.created.v1", Some(&traceparent))
            .in_scope(|| tracing::info!("handled"));
        tracing::info!("outside any span");
        let request = http::Request::builder()
            .uri("/todo.task.v1.TaskService/GetTask")
            .header("traceparent", traceparent)
            .body(())
            .unwrap();
        grpc_request_span(&request).in_scope(|| tracing::info!("in a call"));
    }

    #[test]
    fn json_lines_written_in_a_traced_span_carry_its_trace_id() {
        let lines: Vec<serde_json::Value> =
            written(true, traced_logs).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(lines[0]["trace_id"], TRACE);
        assert_eq!(lines[0]["span"]["messaging.message.id"], "event-1", "an event's span is in its lines");
        assert_eq!(lines[1].get("trace_id"), None);
        assert_eq!(lines[2]["trace_id"], TRACE);
        assert_eq!(lines[2]["fields"]["message"], "in a call");
        assert_eq!(lines[2].get("span"), None, "a call's span is not formatted: {}", lines[2]);
    }

    #[test]
    fn text_lines_end_with_the_trace_id() {
        let text = written(false, traced_logs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("handled") && lines[0].ends_with(&format!(" trace_id={TRACE}")), "{text}");
        assert!(!lines[1].contains("trace_id"), "{text}");
        assert!(lines[2].ends_with(&format!(" trace_id={TRACE}")), "{text}");
    }
}
