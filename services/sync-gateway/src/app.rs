//! Builds the sync gateway and runs it until shutdown.

use std::net::SocketAddr;

use anyhow::Context;
use shared::{
    auth::Authenticator,
    dapr::{CallbackRouter, Event, Subscription},
    grpc::Host,
    proto::{FILE_DESCRIPTOR_SET, todo::task::v1 as pb},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    api::{SyncApi, SyncServiceServer},
    config::Settings,
    feed::Feed,
    hub::Hub,
    watch,
    ws::{self, WsState},
};

pub struct Application {
    host: Host,
    ws_listener: TcpListener,
    ws_state: WsState,
    hub: Hub,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let hub = Hub::new(settings.connection_buffer);
        let feed =
            Feed::new(&settings.task_feed.0, settings.task_feed.1.clone()).context("bad task service address")?;
        let auth = Authenticator::new(&settings.auth);

        let mut host = Host::bind(settings.grpc_addr, &[FILE_DESCRIPTOR_SET]).await?;
        host.limit(settings.limits.clone(), Some(auth.clone()));
        if let Some(addr) = settings.metrics_addr {
            host.serve_metrics(addr).await?;
        }
        crate::watch::register_metrics();
        host.add_service(
            SyncServiceServer::new(SyncApi { hub: hub.clone(), feed: feed.clone(), auth: auth.clone() })
                .max_decoding_message_size(settings.limits.max_message_bytes),
        )
        .await;
        let live = hub.clone();
        // Every replica must see every event: in Kubernetes the gateway's
        // pub/sub component uses a per-pod consumer group (see the chart).
        let subscription =
            Subscription::new(&settings.pubsub, &settings.topic).default_route("live", &[], move |event: Event| {
                let hub = live.clone();
                async move {
                    let change: pb::TaskEvent = event.decode()?;
                    if watch::should_forward(&change) {
                        hub.publish(change);
                    }
                    Ok(())
                }
            });
        host.serve_callbacks(
            CallbackRouter::builder()
                .subscribe(subscription)
                .api_token(settings.dapr_tokens.app_api_token.clone())
                .build(),
        );

        let ws_listener = TcpListener::bind(settings.ws_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.ws_addr))?;
        Ok(Self { host, ws_listener, ws_state: WsState { hub: hub.clone(), feed, auth }, hub, settings })
    }

    pub fn addr(&self) -> SocketAddr {
        self.host.addr()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.host.metrics_addr()
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_listener.local_addr().unwrap_or(self.settings.ws_addr)
    }

    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self { host, ws_listener, ws_state, hub, settings } = self;
        tracing::info!(addr = %ws_listener.local_addr()?, "WebSocket endpoint listening");
        let ws_stop = CancellationToken::new();
        let ws = tokio::spawn(ws::serve(ws_listener, ws_state, ws_stop.clone()));
        // Streams never end on their own: close them when shutdown begins so
        // the gRPC server can drain.
        let closer = {
            let (hub, shutdown) = (hub.clone(), shutdown.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                hub.close_all();
            })
        };
        let served = host.run_until(shutdown, settings.shutdown_grace).await;
        ws_stop.cancel();
        let _ = tokio::time::timeout(settings.shutdown_grace, ws).await;
        closer.abort();
        Ok(served?)
    }
}
