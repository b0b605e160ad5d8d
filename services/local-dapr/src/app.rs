//! One app as its sidecar sees it, and the sidecar's start-up sequence.
//!
//! daprd's order (contract §8), reproduced by [`run`]:
//! 1. wait until the app port accepts TCP (every 100 ms, no limit — in the
//!    background, so one app being down does not hold up the others);
//! 2. with health checks on, call `AppCallbackHealthCheck/HealthCheck` until
//!    it succeeds;
//! 3. ask for subscriptions (once) and start delivering, ask for input
//!    bindings (once) and start them, start firing jobs;
//! 4. keep probing health every 5 s: three failures in a row mark the app
//!    unhealthy and pause deliveries, bindings and jobs (nothing is consumed
//!    meanwhile); one success resumes them.

use std::{
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::Duration,
};

use dapr::dapr::proto::runtime::v1::{
    app_callback_client::AppCallbackClient, app_callback_health_check_client::AppCallbackHealthCheckClient,
};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::{runtime::Shared, subscriptions::Subscription};

const PROBE_INTERVAL: Duration = Duration::from_secs(5);
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
const UNHEALTHY_AFTER: u32 = 3;

/// Whether the sidecar may talk to its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Starting,
    Healthy,
    Unhealthy,
}

/// An app, its connection and what was discovered about it.
pub struct App {
    pub id: String,
    pub addr: SocketAddr,
    pub app_token: Option<String>,
    pub dapr_token: Option<String>,
    pub health_check: bool,
    /// Lazily connected; reconnects by itself after the app restarts.
    pub channel: Channel,
    /// Cancelled on runtime shutdown or by the app's `Shutdown` call.
    pub cancel: CancellationToken,
    status: watch::Sender<Status>,
    pub subscriptions: RwLock<Vec<Arc<Subscription>>>,
    pub input_bindings: RwLock<Vec<String>>,
    /// Poked when this app's jobs change, so the scheduler recomputes its sleep.
    pub jobs_changed: Notify,
}

impl App {
    pub fn new(spec: &crate::AppSpec, cancel: CancellationToken) -> Self {
        let endpoint = Endpoint::from(
            http::Uri::builder()
                .scheme("http")
                .authority(spec.app_addr.to_string())
                .path_and_query("/")
                .build()
                .unwrap_or_default(),
        )
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true);
        Self {
            id: spec.app_id.clone(),
            addr: spec.app_addr,
            app_token: spec.app_api_token.clone(),
            dapr_token: spec.dapr_api_token.clone(),
            health_check: spec.health_check,
            channel: endpoint.connect_lazy(),
            cancel,
            status: watch::channel(Status::Starting).0,
            subscriptions: RwLock::new(Vec::new()),
            input_bindings: RwLock::new(Vec::new()),
            jobs_changed: Notify::new(),
        }
    }

    /// A request to the app, carrying `dapr-api-token` when an app token is set.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = &self.app_token
            && let Ok(value) = token.parse()
        {
            request.metadata_mut().insert("dapr-api-token", value);
        }
        request
    }

    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    fn set_status(&self, status: Status) {
        self.status.send_if_modified(|s| std::mem::replace(s, status) != status);
    }

    /// Waits until the app is healthy; `false` if the sidecar stops first.
    pub async fn wait_ready(&self) -> bool {
        let mut rx = self.status.subscribe();
        tokio::select! {
            ready = rx.wait_for(|s| *s == Status::Healthy) => ready.is_ok(),
            () = self.cancel.cancelled() => false,
        }
    }

    /// Whether the app port accepts a TCP connection right now.
    pub async fn reachable(&self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(self.addr)).await,
            Ok(Ok(_))
        )
    }

    /// Polls the app port every 100 ms until it accepts; `false` if the sidecar stops first.
    pub async fn wait_reachable(&self) -> bool {
        loop {
            if self.reachable().await {
                return true;
            }
            if sleep_or_cancel(&self.cancel, Duration::from_millis(100)).await {
                return false;
            }
        }
    }

    async fn probe(&self) -> bool {
        let mut client = AppCallbackHealthCheckClient::new(self.channel.clone());
        matches!(tokio::time::timeout(PROBE_TIMEOUT, client.health_check(self.request(()))).await, Ok(Ok(_)))
    }
}

/// Sleeps, or returns `true` early when `cancel` fires.
pub async fn sleep_or_cancel(cancel: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => false,
        () = cancel.cancelled() => true,
    }
}

/// A gRPC error produced by the client itself (connection refused, reset…),
/// as opposed to a status the app answered with.
pub fn is_transport_error(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}

/// The sidecar's life toward its app; runs until the sidecar stops.
pub async fn run(shared: Arc<Shared>, app: Arc<App>) {
    tracing::info!(app = %app.id, addr = %app.addr, "waiting for the app to listen");
    if !app.wait_reachable().await {
        return;
    }
    if app.health_check {
        while !app.probe().await {
            if sleep_or_cancel(&app.cancel, Duration::from_millis(500)).await {
                return;
            }
        }
    }
    app.set_status(Status::Healthy);
    tracing::info!(app = %app.id, "app is ready");

    let subscriptions = crate::subscriptions::discover(&shared, &app).await;
    for sub in &subscriptions {
        tracing::info!(app = %app.id, pubsub = %sub.pubsub, topic = %sub.topic, dead_letter = %sub.dead_letter_topic, "subscribed");
        for partition in 0..shared.broker.partitions() {
            shared.tracker.spawn(crate::delivery::run(shared.clone(), app.clone(), sub.clone(), partition));
        }
    }
    if let Ok(mut slot) = app.subscriptions.write() {
        *slot = subscriptions;
    }

    let listed = list_input_bindings(&app).await;
    crate::bindings::start_input_bindings(&shared, &app, &listed);
    if let Ok(mut slot) = app.input_bindings.write() {
        *slot = listed;
    }
    shared.tracker.spawn(crate::jobs::run(shared.clone(), app.clone()));

    if app.health_check {
        let mut failures = 0;
        loop {
            if sleep_or_cancel(&app.cancel, PROBE_INTERVAL).await {
                return;
            }
            if app.probe().await {
                failures = 0;
                if app.status() != Status::Healthy {
                    tracing::info!(app = %app.id, "app is healthy again; resuming");
                }
                app.set_status(Status::Healthy);
            } else {
                failures += 1;
                if failures >= UNHEALTHY_AFTER && app.status() == Status::Healthy {
                    tracing::warn!(app = %app.id, "app is unhealthy; pausing deliveries");
                    app.set_status(Status::Unhealthy);
                }
            }
        }
    }
}

/// `ListInputBindings`, asked once; any error (Unimplemented included) means none.
async fn list_input_bindings(app: &App) -> Vec<String> {
    let mut client = AppCallbackClient::new(app.channel.clone());
    match client.list_input_bindings(app.request(())).await {
        Ok(response) => response.into_inner().bindings,
        Err(status) => {
            tracing::debug!(app = %app.id, %status, "ListInputBindings failed; treating as no bindings");
            Vec::new()
        }
    }
}
