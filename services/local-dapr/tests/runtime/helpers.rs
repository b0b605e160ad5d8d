//! A scriptable test app (AppCallback + Alpha + HealthCheck + grpc.health),
//! a runtime harness on 127.0.0.1:0 with a temp SQLite file, and `eventually`.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr::dapr::proto::{
    common::v1::{InvokeRequest, InvokeResponse},
    runtime::v1::{
        BindingEventRequest, BindingEventResponse, HealthCheckResponse, JobEventRequest, JobEventResponse,
        ListInputBindingsResponse, ListTopicSubscriptionsResponse, TopicEventBulkRequest, TopicEventBulkResponse,
        TopicEventBulkResponseEntry, TopicEventRequest, TopicEventResponse, TopicSubscription,
        app_callback_alpha_server::{AppCallbackAlpha, AppCallbackAlphaServer},
        app_callback_health_check_server::{AppCallbackHealthCheck, AppCallbackHealthCheckServer},
        app_callback_server::{AppCallback, AppCallbackServer},
        dapr_client::DaprClient,
    },
};
use local_dapr::{AppSpec, DeliveryPolicy, Runtime, RuntimeConfig, resources::parse_resources};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status, metadata::MetadataMap, transport::Channel};

pub const SUCCESS: i32 = 0;
pub const RETRY: i32 = 1;
pub const DROP: i32 = 2;

type TopicScript = dyn Fn(&TopicEventRequest) -> Result<i32, Status> + Send + Sync;
type JobScript = dyn Fn(&JobEventRequest) -> Result<(), Status> + Send + Sync;

/// What the test app received, and how it answers.
pub struct Recorder {
    pub events: Mutex<Vec<(TopicEventRequest, MetadataMap)>>,
    pub bulk: Mutex<Vec<TopicEventBulkRequest>>,
    pub bindings: Mutex<Vec<BindingEventRequest>>,
    pub jobs: Mutex<Vec<JobEventRequest>>,
    pub invokes: Mutex<Vec<(InvokeRequest, MetadataMap)>>,
    pub subscriptions: Vec<TopicSubscription>,
    pub input_bindings: Vec<String>,
    pub topic_script: Mutex<Box<TopicScript>>,
    pub job_script: Mutex<Box<JobScript>>,
    /// Require this `dapr-api-token` on every callback.
    pub app_token: Option<String>,
}

impl Recorder {
    pub fn new(subscriptions: Vec<TopicSubscription>) -> Self {
        Self {
            events: Mutex::default(),
            bulk: Mutex::default(),
            bindings: Mutex::default(),
            jobs: Mutex::default(),
            invokes: Mutex::default(),
            subscriptions,
            input_bindings: Vec::new(),
            topic_script: Mutex::new(Box::new(|_| Ok(SUCCESS))),
            job_script: Mutex::new(Box::new(|_| Ok(()))),
            app_token: None,
        }
    }

    pub fn on_topic(&self, f: impl Fn(&TopicEventRequest) -> Result<i32, Status> + Send + Sync + 'static) {
        *self.topic_script.lock().unwrap() = Box::new(f);
    }

    pub fn on_job(&self, f: impl Fn(&JobEventRequest) -> Result<(), Status> + Send + Sync + 'static) {
        *self.job_script.lock().unwrap() = Box::new(f);
    }

    pub fn events(&self) -> Vec<TopicEventRequest> {
        self.events.lock().unwrap().iter().map(|(e, _)| e.clone()).collect()
    }

    pub fn events_on(&self, topic: &str) -> Vec<TopicEventRequest> {
        self.events().into_iter().filter(|e| e.topic == topic).collect()
    }

    fn check_token<T>(&self, request: &Request<T>) -> Result<(), Status> {
        match &self.app_token {
            Some(token) if request.metadata().get("dapr-api-token").and_then(|v| v.to_str().ok()) != Some(token) => {
                Err(Status::unauthenticated("bad app token"))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Clone)]
pub struct Callbacks(pub Arc<Recorder>);

#[tonic::async_trait]
impl AppCallback for Callbacks {
    async fn on_invoke(&self, request: Request<InvokeRequest>) -> Result<Response<InvokeResponse>, Status> {
        self.0.check_token(&request)?;
        let (metadata, _, req) = request.into_parts();
        self.0.invokes.lock().unwrap().push((req.clone(), metadata));
        if req.method == "fail" {
            return Err(Status::failed_precondition("scripted failure"));
        }
        Ok(Response::new(InvokeResponse { data: req.data, content_type: "application/json".into() }))
    }

    async fn list_topic_subscriptions(
        &self,
        request: Request<()>,
    ) -> Result<Response<ListTopicSubscriptionsResponse>, Status> {
        self.0.check_token(&request)?;
        Ok(Response::new(ListTopicSubscriptionsResponse { subscriptions: self.0.subscriptions.clone() }))
    }

    async fn on_topic_event(
        &self,
        request: Request<TopicEventRequest>,
    ) -> Result<Response<TopicEventResponse>, Status> {
        self.0.check_token(&request)?;
        let (metadata, _, req) = request.into_parts();
        let answer = (self.0.topic_script.lock().unwrap())(&req);
        self.0.events.lock().unwrap().push((req, metadata));
        answer.map(|status| Response::new(TopicEventResponse { status }))
    }

    async fn list_input_bindings(&self, _: Request<()>) -> Result<Response<ListInputBindingsResponse>, Status> {
        Ok(Response::new(ListInputBindingsResponse { bindings: self.0.input_bindings.clone() }))
    }

    async fn on_binding_event(
        &self,
        request: Request<BindingEventRequest>,
    ) -> Result<Response<BindingEventResponse>, Status> {
        self.0.bindings.lock().unwrap().push(request.into_inner());
        Ok(Response::new(BindingEventResponse::default()))
    }

    async fn on_bulk_topic_event(
        &self,
        _: Request<TopicEventBulkRequest>,
    ) -> Result<Response<TopicEventBulkResponse>, Status> {
        // Like an app on an older SDK: only the Alpha1 name is implemented.
        Err(Status::unimplemented("use alpha"))
    }

    async fn on_job_event(&self, request: Request<JobEventRequest>) -> Result<Response<JobEventResponse>, Status> {
        self.0.check_token(&request)?;
        let req = request.into_inner();
        let answer = (self.0.job_script.lock().unwrap())(&req);
        self.0.jobs.lock().unwrap().push(req);
        answer.map(|()| Response::new(JobEventResponse {}))
    }
}

#[tonic::async_trait]
impl AppCallbackAlpha for Callbacks {
    async fn on_bulk_topic_event_alpha1(
        &self,
        request: Request<TopicEventBulkRequest>,
    ) -> Result<Response<TopicEventBulkResponse>, Status> {
        let req = request.into_inner();
        let statuses = req
            .entries
            .iter()
            .map(|e| TopicEventBulkResponseEntry { entry_id: e.entry_id.clone(), status: SUCCESS })
            .collect();
        self.0.bulk.lock().unwrap().push(req);
        Ok(Response::new(TopicEventBulkResponse { statuses }))
    }

    async fn on_job_event_alpha1(
        &self,
        request: Request<JobEventRequest>,
    ) -> Result<Response<JobEventResponse>, Status> {
        self.on_job_event(request).await
    }
}

#[tonic::async_trait]
impl AppCallbackHealthCheck for Callbacks {
    async fn health_check(&self, _: Request<()>) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {}))
    }
}

/// A running test app.
pub struct TestApp {
    pub addr: SocketAddr,
    pub rec: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// Serves the app on 127.0.0.1:0.
    pub async fn start(rec: Recorder) -> Self {
        Self::start_on(Arc::new(rec), "127.0.0.1:0".parse().unwrap()).await
    }

    /// Serves `rec` on a given address (to bring an app back on the same port).
    pub async fn start_on(rec: Arc<Recorder>, addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let callbacks = Callbacks(rec.clone());
        let (_, health) = tonic_health::server::health_reporter();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(AppCallbackServer::new(callbacks.clone()))
                .add_service(AppCallbackAlphaServer::new(callbacks.clone()))
                .add_service(AppCallbackHealthCheckServer::new(callbacks))
                .add_service(health)
                .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { addr, rec, stop: Some(stop), task }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A free loopback port (bound, read, released).
pub async fn free_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A fresh SQLite database file URL.
pub fn temp_db() -> String {
    let path = std::env::temp_dir().join(format!("local-dapr-test-{}.db", uuid::Uuid::new_v4()));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Fast retries for tests.
pub fn fast_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_attempts: Some(3),
        partitions: 4,
    }
}

pub const PUBSUB_YAML: &str = r"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: pubsub }
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - { name: brokers, value: 'redpanda:9092' }
    - { name: authType, value: none }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: statestore }
spec:
  type: state.postgresql
  version: v1
  metadata:
    - { name: connectionString, value: 'host=nowhere' }
";

/// How one app is attached to the runtime.
pub struct Attach {
    pub id: &'static str,
    pub app_addr: SocketAddr,
    pub app_token: Option<String>,
    pub dapr_token: Option<String>,
    pub health_check: bool,
}

impl Attach {
    pub fn new(id: &'static str, app_addr: SocketAddr) -> Self {
        Self { id, app_addr, app_token: None, dapr_token: None, health_check: false }
    }
}

pub struct Harness {
    pub runtime: Runtime,
    pub api: HashMap<&'static str, SocketAddr>,
}

impl Harness {
    pub async fn start(apps: Vec<Attach>, yaml: &str, db: &str, policy: DeliveryPolicy) -> Self {
        Self::start_at(apps, yaml, db, policy, HashMap::new()).await
    }

    /// Starts with given API addresses (reuse after a restart), else port 0.
    pub async fn start_at(
        apps: Vec<Attach>,
        yaml: &str,
        db: &str,
        policy: DeliveryPolicy,
        api: HashMap<&'static str, SocketAddr>,
    ) -> Self {
        let mut specs = Vec::new();
        let mut addrs = HashMap::new();
        for app in apps {
            let bind = api.get(app.id).copied().unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
            let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
            addrs.insert(app.id, listener.local_addr().unwrap());
            specs.push(AppSpec {
                app_id: app.id.into(),
                app_addr: app.app_addr,
                api_listener: listener,
                app_api_token: app.app_token,
                dapr_api_token: app.dapr_token,
                health_check: app.health_check,
            });
        }
        let runtime = Runtime::start(RuntimeConfig {
            apps: specs,
            resources: parse_resources(yaml).unwrap(),
            database_url: db.into(),
            delivery: policy,
        })
        .await
        .unwrap();
        Self { runtime, api: addrs }
    }

    pub async fn client(&self, app: &str) -> DaprClient<Channel> {
        DaprClient::connect(format!("http://{}", self.api[app])).await.unwrap()
    }
}

/// Polls `check` every 20 ms until it holds, panicking after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A programmatic subscription.
pub fn sub(topic: &str) -> TopicSubscription {
    TopicSubscription { pubsub_name: "pubsub".into(), topic: topic.into(), ..Default::default() }
}

/// A publish request with metadata.
pub fn publish_req(
    topic: &str,
    data: &[u8],
    content_type: &str,
    metadata: &[(&str, &str)],
) -> dapr::dapr::proto::runtime::v1::PublishEventRequest {
    dapr::dapr::proto::runtime::v1::PublishEventRequest {
        pubsub_name: "pubsub".into(),
        topic: topic.into(),
        data: data.to_vec(),
        data_content_type: content_type.into(),
        metadata: metadata.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
    }
}
