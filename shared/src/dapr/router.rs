//! The app side of Dapr's gRPC callback interface, once, for every service.
//!
//! A service describes what it listens to — topic subscriptions with
//! routing rules, a dead-letter topic and optional bulk delivery, input
//! bindings, job callbacks, invocable methods — and [`CallbackRouter`]
//! serves `AppCallback`, `AppCallbackAlpha` and `AppCallbackHealthCheck` on
//! the service's port, answering daprd the way its contract expects:
//!
//! - `ListTopicSubscriptions` is asked once per sidecar life: it answers
//!   from the static configuration, cannot fail and does no I/O.
//! - `OnTopicEvent` never answers UNIMPLEMENTED (daprd would ack and drop
//!   the message silently). Handler `Ok` → SUCCESS, an error → its
//!   [`Error::outcome`]: RETRY or DROP.
//!   A topic or route nobody handles is DROP (poison for this app).
//! - An event whose type is a *newer version* of a type the handler
//!   declared (`todo.task.completed.v2` when it knows `.v1`) is RETRY: it
//!   waits, bounded by resiliency and the dead-letter topic, for the
//!   consumer to be upgraded rather than being lost. Other undeclared types
//!   are acknowledged and ignored.
//! - Stable and Alpha1 names of bulk and job callbacks reach the same code.
//! - Job callbacks never answer NOT_FOUND "to try later": daprd counts it as
//!   delivered. A permanent failure is logged and acknowledged; a transient
//!   one is UNAVAILABLE, which the job's failure policy retries.
//! - With an app API token (`APP_API_TOKEN`), every callback that carries
//!   data or has an effect (deliveries, bindings, jobs, `OnInvoke`) is
//!   UNAUTHENTICATED without the matching `dapr-api-token` metadata. The
//!   discovery calls (`ListTopicSubscriptions`, `ListInputBindings`) and the
//!   health probe answer anyone: daprd 1.18 sends them without the token
//!   (it adds it only on deliveries, binding events, jobs, invocations and
//!   proxied calls), and they reveal only what the app subscribes to. Only
//!   the callback services check it, so the app's public API on the same
//!   port is not affected.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use dapr::dapr::proto::{
    common::v1::{InvokeRequest, InvokeResponse},
    runtime::v1::{
        BindingEventRequest, BindingEventResponse, BulkSubscribeConfig, HealthCheckResponse, JobEventRequest,
        JobEventResponse, ListInputBindingsResponse, ListTopicSubscriptionsResponse, TopicEventBulkRequest,
        TopicEventBulkResponse, TopicEventBulkResponseEntry, TopicEventRequest, TopicEventResponse, TopicRoutes,
        TopicRule, TopicSubscription,
        app_callback_alpha_server::{AppCallbackAlpha, AppCallbackAlphaServer},
        app_callback_health_check_server::{AppCallbackHealthCheck, AppCallbackHealthCheckServer},
        app_callback_server::{AppCallback, AppCallbackServer},
        topic_event_bulk_request_entry,
        topic_event_response::TopicEventResponseStatus,
    },
};
use futures::future::BoxFuture;
use tonic::{Request, Response, Status, metadata::MetadataMap, service::RoutesBuilder};

use super::event::Event;
use crate::error::{Error, Outcome};

type TopicHandler = Arc<dyn Fn(Event) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;
type BindingHandler = Arc<dyn Fn(BindingEventRequest) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;
type JobHandler = Arc<dyn Fn(JobEventRequest) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;
type InvokeHandler = Arc<dyn Fn(InvokeRequest) -> BoxFuture<'static, Result<InvokeResponse, Status>> + Send + Sync>;

/// One topic subscription: routing rules evaluated by the sidecar, each
/// leading to a handler, plus delivery options.
#[derive(Clone)]
pub struct Subscription {
    pubsub: String,
    topic: String,
    dead_letter_topic: Option<String>,
    bulk: Option<BulkSubscribeConfig>,
    metadata: HashMap<String, String>,
    rules: Vec<TopicRule>,
    default_path: Option<String>,
    handlers: HashMap<String, Route>,
}

#[derive(Clone)]
struct Route {
    handler: TopicHandler,
    /// Event types the handler understands; empty = any.
    accepts: Vec<String>,
}

impl Subscription {
    pub fn new(pubsub: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            pubsub: pubsub.into(),
            topic: topic.into(),
            dead_letter_topic: None,
            bulk: None,
            metadata: HashMap::new(),
            rules: Vec::new(),
            default_path: None,
            handlers: HashMap::new(),
        }
    }

    /// Where failed and dropped messages go (same pub/sub component).
    pub fn dead_letter(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }

    /// Deliver in batches through `OnBulkTopicEvent`.
    pub fn bulk(mut self, max_messages: i32, max_await_ms: i32) -> Self {
        self.bulk = Some(BulkSubscribeConfig {
            enabled: true,
            max_messages_count: max_messages,
            max_await_duration_ms: max_await_ms,
        });
        self
    }

    /// Subscription metadata passed to the component (e.g. `rawPayload`).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Events for which the CEL expression `matches` holds go to `handler`
    /// (rules are tried in order). `accepts` lists the event types the
    /// handler understands (see the module docs for what happens to others).
    pub fn route<F, Fut>(mut self, matches: &str, path: &str, accepts: &[&str], handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.rules.push(TopicRule { r#match: matches.to_owned(), path: path.to_owned() });
        self.handlers.insert(path.to_owned(), route(accepts, handler));
        self
    }

    /// Events no rule matched (or every event, without rules).
    pub fn default_route<F, Fut>(mut self, path: &str, accepts: &[&str], handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.default_path = Some(path.to_owned());
        self.handlers.insert(path.to_owned(), route(accepts, handler));
        self
    }

    fn to_proto(&self) -> TopicSubscription {
        TopicSubscription {
            pubsub_name: self.pubsub.clone(),
            topic: self.topic.clone(),
            metadata: self.metadata.clone(),
            routes: Some(TopicRoutes {
                rules: self.rules.clone(),
                default: self.default_path.clone().unwrap_or_default(),
            }),
            dead_letter_topic: self.dead_letter_topic.clone().unwrap_or_default(),
            bulk_subscribe: self.bulk,
        }
    }
}

fn route<F, Fut>(accepts: &[&str], handler: F) -> Route
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    Route {
        handler: Arc::new(move |event| Box::pin(handler(event))),
        accepts: accepts.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Serves the Dapr callback services for one app. Cheap to clone.
#[derive(Clone)]
pub struct CallbackRouter {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    subscriptions: Vec<Subscription>,
    bindings: HashMap<String, BindingHandler>,
    jobs: Vec<(String, JobHandler)>,
    methods: HashMap<String, InvokeHandler>,
    api_token: Option<String>,
    unhealthy: AtomicBool,
}

/// Configures a [`CallbackRouter`] before it is shared.
#[derive(Default)]
pub struct CallbackRouterBuilder {
    inner: Inner,
}

impl CallbackRouterBuilder {
    pub fn subscribe(mut self, subscription: Subscription) -> Self {
        self.inner.subscriptions.push(subscription);
        self
    }

    /// An input binding (e.g. a cron binding) named as its component.
    pub fn binding<F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        F: Fn(BindingEventRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.inner.bindings.insert(name.to_owned(), Arc::new(move |r| Box::pin(handler(r))));
        self
    }

    /// Jobs whose name starts with `prefix`.
    pub fn job<F, Fut>(mut self, prefix: &str, handler: F) -> Self
    where
        F: Fn(JobEventRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.inner.jobs.push((prefix.to_owned(), Arc::new(move |r| Box::pin(handler(r)))));
        self
    }

    /// A method for `OnInvoke` (service invocation through the sidecar).
    pub fn method<F, Fut>(mut self, name: &str, handler: F) -> Self
    where
        F: Fn(InvokeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<InvokeResponse, Status>> + Send + 'static,
    {
        self.inner.methods.insert(name.to_owned(), Arc::new(move |r| Box::pin(handler(r))));
        self
    }

    /// Require this `dapr-api-token` on every callback (None: no check);
    /// daprd's injector gives the app its value as `APP_API_TOKEN`
    /// ([`crate::config::DaprTokens`]).
    pub fn api_token(mut self, token: Option<crate::config::Secret>) -> Self {
        self.inner.api_token = token.map(|t| t.expose().to_owned()).filter(|t| !t.is_empty());
        self
    }

    pub fn build(self) -> CallbackRouter {
        // Each subscription's counters exist from the start, at 0: an alert on
        // `increase()` sees nothing in a series whose first sample is already 1,
        // so the first dead letter after a restart would go unnoticed.
        crate::metrics::install();
        for subscription in &self.inner.subscriptions {
            let topic = subscription.topic.clone();
            for outcome in ["success", "retry", "drop"] {
                ::metrics::counter!("tasks_events_handled_total", "topic" => topic.clone(), "outcome" => outcome)
                    .increment(0);
            }
            ::metrics::counter!("tasks_events_dead_lettered_total", "topic" => topic).increment(0);
        }
        CallbackRouter { inner: Arc::new(self.inner) }
    }
}

impl CallbackRouter {
    /// Starts describing what the app listens to.
    pub fn builder() -> CallbackRouterBuilder {
        CallbackRouterBuilder::default()
    }

    /// Report unhealthy to the sidecar's app health probe (at shutdown), so
    /// it stops delivering before the server stops.
    pub fn set_unhealthy(&self) {
        self.inner.unhealthy.store(true, Ordering::SeqCst);
    }

    /// Adds the three callback services to a server's routes.
    pub fn add_to(&self, routes: &mut RoutesBuilder) {
        routes
            .add_service(AppCallbackServer::new(self.clone()))
            .add_service(AppCallbackAlphaServer::new(self.clone()))
            .add_service(AppCallbackHealthCheckServer::new(self.clone()));
    }

    fn authorize(&self, metadata: &MetadataMap) -> Result<(), Status> {
        check_app_token(self.inner.api_token.as_deref(), metadata)
    }

    fn find_route(&self, pubsub: &str, topic: &str, path: &str) -> Option<&Route> {
        let subscription = self.inner.subscriptions.iter().find(|s| s.pubsub == pubsub && s.topic == topic)?;
        subscription.handlers.get(path).or_else(|| {
            // daprd sends "" when a subscription has no rules; use the default.
            subscription.default_path.as_ref().and_then(|p| subscription.handlers.get(p)).filter(|_| path.is_empty())
        })
    }

    /// Runs one event through its handler, in a span of the event's trace,
    /// and counts the outcome (`tasks_events_handled_total`, latency,
    /// dead letters; see [`crate::metrics`]).
    async fn dispatch(&self, event: Event) -> TopicEventResponseStatus {
        use tracing::Instrument as _;
        let topic = event.topic.clone();
        let span = crate::telemetry::event_span(&topic, &event.id, &event.event_type, event.traceparent());
        let started = std::time::Instant::now();
        let status = self.dispatch_untimed(event).instrument(span).await;
        let outcome = match status {
            TopicEventResponseStatus::Success => "success",
            TopicEventResponseStatus::Retry => "retry",
            TopicEventResponseStatus::Drop => "drop",
        };
        ::metrics::histogram!("tasks_event_handling_seconds", "topic" => topic.clone())
            .record(started.elapsed().as_secs_f64());
        ::metrics::counter!("tasks_events_handled_total", "topic" => topic.clone(), "outcome" => outcome).increment(1);
        if status == TopicEventResponseStatus::Drop {
            ::metrics::counter!("tasks_events_dead_lettered_total", "topic" => topic).increment(1);
        }
        status
    }

    async fn dispatch_untimed(&self, event: Event) -> TopicEventResponseStatus {
        let Some(route) = self.find_route(&event.pubsub_name, &event.topic, &event.path) else {
            tracing::warn!(pubsub = %event.pubsub_name, topic = %event.topic, path = %event.path, id = %event.id,
                "event for a topic or route this app does not handle: dropped");
            return TopicEventResponseStatus::Drop;
        };
        if let Some(status) = version_check(&route.accepts, &event.event_type) {
            return status;
        }
        let (id, event_type, topic) = (event.id.clone(), event.event_type.clone(), event.topic.clone());
        match (route.handler)(event).await {
            Ok(()) => TopicEventResponseStatus::Success,
            Err(err) => {
                let outcome = err.outcome();
                err.log(&format!("event {id} ({event_type}) on {topic} failed: {}", answer(outcome)));
                match outcome {
                    Outcome::Retry => TopicEventResponseStatus::Retry,
                    Outcome::Drop => TopicEventResponseStatus::Drop,
                }
            }
        }
    }

    async fn bulk(&self, request: TopicEventBulkRequest, metadata: HashMap<String, String>) -> TopicEventBulkResponse {
        let mut statuses = Vec::with_capacity(request.entries.len());
        // In order: a user's events must be applied in the order sent.
        for entry in request.entries {
            let mut entry_metadata = metadata.clone();
            entry_metadata.extend(entry.metadata);
            let event = match entry.event {
                Some(topic_event_bulk_request_entry::Event::CloudEvent(ce)) => {
                    Event::from_bulk_entry(ce, &request.topic, &request.pubsub_name, &request.path, entry_metadata)
                }
                Some(topic_event_bulk_request_entry::Event::Bytes(data)) => Event {
                    data,
                    data_content_type: entry.content_type,
                    topic: request.topic.clone(),
                    pubsub_name: request.pubsub_name.clone(),
                    path: request.path.clone(),
                    metadata: entry_metadata,
                    ..Event::default()
                },
                None => {
                    statuses.push(TopicEventBulkResponseEntry {
                        entry_id: entry.entry_id,
                        status: TopicEventResponseStatus::Drop as i32,
                    });
                    continue;
                }
            };
            let status = self.dispatch(event).await;
            statuses.push(TopicEventBulkResponseEntry { entry_id: entry.entry_id, status: status as i32 });
        }
        TopicEventBulkResponse { statuses }
    }

    async fn job(&self, request: JobEventRequest) -> Result<JobEventResponse, Status> {
        let name = if request.name.is_empty() {
            request.method.strip_prefix("job/").unwrap_or(&request.method).to_owned()
        } else {
            request.name.clone()
        };
        let Some((_, handler)) = self.inner.jobs.iter().find(|(prefix, _)| name.starts_with(prefix.as_str())) else {
            // Nothing here will ever handle it; acknowledging is honest.
            tracing::warn!(job = %name, "job with no handler: acknowledged");
            return Ok(JobEventResponse {});
        };
        match handler(request).await {
            Ok(()) => Ok(JobEventResponse {}),
            Err(err) => match err.outcome() {
                Outcome::Retry => {
                    err.log(&format!("job {name} failed: asking for a retry"));
                    Err(retry_later(&err))
                }
                Outcome::Drop => {
                    err.log(&format!("job {name} can never succeed: acknowledged"));
                    Ok(JobEventResponse {})
                }
            },
        }
    }
}

/// RETRY for a newer version of a declared type, SUCCESS (ignore) for an
/// undeclared type, None to go ahead.
fn version_check(accepts: &[String], event_type: &str) -> Option<TopicEventResponseStatus> {
    if accepts.is_empty() || accepts.iter().any(|t| t == event_type) {
        return None;
    }
    let (family, version) = split_version(event_type)?;
    let newer = accepts.iter().filter_map(|t| split_version(t)).any(|(f, v)| f == family && version > v);
    if newer {
        tracing::warn!(%event_type, "event type is newer than this consumer: RETRY until upgraded");
        Some(TopicEventResponseStatus::Retry)
    } else {
        tracing::debug!(%event_type, "event type not handled here: ignored");
        Some(TopicEventResponseStatus::Success)
    }
}

/// A handler's transient failure, to be retried by the sidecar.
/// What daprd is asked to do, for the log.
fn answer(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Retry => "RETRY",
        Outcome::Drop => "DROP",
    }
}

/// UNAVAILABLE: a job's failure policy or a binding retries it.
fn retry_later(err: &Error) -> Status {
    crate::status::error(tonic::Code::Unavailable, "TRANSIENT_FAILURE", err.to_string())
}

/// `todo.task.completed.v2` → (`todo.task.completed`, 2).
fn split_version(event_type: &str) -> Option<(&str, u32)> {
    let (family, version) = event_type.rsplit_once(".v")?;
    Some((family, version.parse().ok()?))
}

/// Lets a call in only if it came through the app's own sidecar: with an
/// app token configured (`expected`), one carrying it as `dapr-api-token`
/// (compared in constant time); without one, every call.
pub fn check_app_token(expected: Option<&str>, metadata: &MetadataMap) -> Result<(), Status> {
    let Some(expected) = expected else { return Ok(()) };
    match metadata.get("dapr-api-token").and_then(|v| v.to_str().ok()) {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(crate::status::error(
            tonic::Code::Unauthenticated,
            "INVALID_APP_API_TOKEN",
            "missing or wrong dapr-api-token: not called through the sidecar",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn metadata_map(metadata: &MetadataMap) -> HashMap<String, String> {
    metadata
        .iter()
        .filter_map(|kv| match kv {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())),
            tonic::metadata::KeyAndValueRef::Binary(..) => None,
        })
        .collect()
}

#[tonic::async_trait]
impl AppCallback for CallbackRouter {
    async fn on_invoke(&self, request: Request<InvokeRequest>) -> Result<Response<InvokeResponse>, Status> {
        self.authorize(request.metadata())?;
        let request = request.into_inner();
        let handler = self.inner.methods.get(&request.method).cloned().ok_or_else(|| {
            let message = format!("no method `{}`", request.method);
            crate::status::error(tonic::Code::Unimplemented, "NO_SUCH_METHOD", message)
        })?;
        handler(request).await.map(Response::new)
    }

    async fn list_topic_subscriptions(
        &self,
        _request: Request<()>,
    ) -> Result<Response<ListTopicSubscriptionsResponse>, Status> {
        let subscriptions = self.inner.subscriptions.iter().map(Subscription::to_proto).collect();
        Ok(Response::new(ListTopicSubscriptionsResponse { subscriptions }))
    }

    async fn on_topic_event(
        &self,
        request: Request<TopicEventRequest>,
    ) -> Result<Response<TopicEventResponse>, Status> {
        self.authorize(request.metadata())?;
        let metadata = metadata_map(request.metadata());
        let status = self.dispatch(Event::from_request(request.into_inner(), metadata)).await;
        Ok(Response::new(TopicEventResponse { status: status as i32 }))
    }

    async fn list_input_bindings(&self, _request: Request<()>) -> Result<Response<ListInputBindingsResponse>, Status> {
        Ok(Response::new(ListInputBindingsResponse { bindings: self.inner.bindings.keys().cloned().collect() }))
    }

    async fn on_binding_event(
        &self,
        request: Request<BindingEventRequest>,
    ) -> Result<Response<BindingEventResponse>, Status> {
        self.authorize(request.metadata())?;
        let request = request.into_inner();
        let name = request.name.clone();
        let handler = self.inner.bindings.get(&name).cloned().ok_or_else(|| {
            crate::status::error(tonic::Code::NotFound, "NO_SUCH_BINDING", format!("no handler for binding `{name}`"))
        })?;
        match handler(request).await {
            Ok(()) => Ok(Response::new(BindingEventResponse::default())),
            Err(err) => {
                let outcome = err.outcome();
                err.log(&format!("binding {name} failed: {}", answer(outcome)));
                Err(match outcome {
                    Outcome::Retry => retry_later(&err),
                    Outcome::Drop => {
                        crate::status::error(tonic::Code::InvalidArgument, "PERMANENT_FAILURE", err.to_string())
                    }
                })
            }
        }
    }

    async fn on_bulk_topic_event(
        &self,
        request: Request<TopicEventBulkRequest>,
    ) -> Result<Response<TopicEventBulkResponse>, Status> {
        self.authorize(request.metadata())?;
        let metadata = metadata_map(request.metadata());
        Ok(Response::new(self.bulk(request.into_inner(), metadata).await))
    }

    async fn on_job_event(&self, request: Request<JobEventRequest>) -> Result<Response<JobEventResponse>, Status> {
        self.authorize(request.metadata())?;
        self.job(request.into_inner()).await.map(Response::new)
    }
}

#[tonic::async_trait]
impl AppCallbackAlpha for CallbackRouter {
    async fn on_bulk_topic_event_alpha1(
        &self,
        request: Request<TopicEventBulkRequest>,
    ) -> Result<Response<TopicEventBulkResponse>, Status> {
        AppCallback::on_bulk_topic_event(self, request).await
    }

    async fn on_job_event_alpha1(
        &self,
        request: Request<JobEventRequest>,
    ) -> Result<Response<JobEventResponse>, Status> {
        AppCallback::on_job_event(self, request).await
    }
}

#[tonic::async_trait]
impl AppCallbackHealthCheck for CallbackRouter {
    async fn health_check(&self, _request: Request<()>) -> Result<Response<HealthCheckResponse>, Status> {
        if self.inner.unhealthy.load(Ordering::SeqCst) {
            return Err(crate::status::error(tonic::Code::Unavailable, "SHUTTING_DOWN", "shutting down"));
        }
        Ok(Response::new(HealthCheckResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_wait_and_unrelated_types_are_ignored() {
        let accepts = vec!["todo.task.completed.v1".to_owned()];
        assert_eq!(version_check(&accepts, "todo.task.completed.v1"), None);
        assert_eq!(version_check(&accepts, "todo.task.completed.v2"), Some(TopicEventResponseStatus::Retry));
        assert_eq!(version_check(&accepts, "todo.task.created.v1"), Some(TopicEventResponseStatus::Success));
        assert_eq!(version_check(&[], "anything"), None);
    }
}
