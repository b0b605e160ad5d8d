//! Builds the recurrence service and runs it until shutdown.
//!
//! The gRPC server starts before the sidecar is reachable (daprd waits for
//! the app's port before it serves the app), so the sidecar connection is
//! established lazily by the handlers' first use — here, by connecting in
//! the background and serving UNAVAILABLE-as-RETRY until it is up.

use std::{net::SocketAddr, sync::Arc};

use shared::{
    Error,
    dapr::{CallbackRouter, Sidecar},
    grpc::Host,
    proto::FILE_DESCRIPTOR_SET,
};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::{config::Settings, events, sweep::Registry};

pub struct Application {
    host: Host,
    settings: Settings,
}

/// The handlers and the sidecar connection they share, made once on first
/// use (waiting up to `sidecar_wait` for the sidecar).
#[derive(Clone)]
struct LazyHandlers {
    cell: Arc<OnceCell<events::Handlers>>,
    settings: Settings,
    tasks: crate::tasks::TaskApp,
}

impl LazyHandlers {
    async fn handlers(&self) -> Result<events::Handlers, Error> {
        let settings = &self.settings;
        self.cell
            .get_or_try_init(|| async {
                let token = settings.dapr_tokens.dapr_api_token.as_ref();
                let sidecar = Sidecar::connect(&settings.sidecar, &settings.pubsub, settings.sidecar_wait, token)
                    .await
                    .map_err(|e| Error::unavailable("the sidecar", e))?;
                Ok(events::Handlers {
                    registry: Registry::new(sidecar.clone(), &settings.state_store),
                    sidecar,
                    topic: settings.topic.clone(),
                    tasks: self.tasks.clone(),
                })
            })
            .await
            .cloned()
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let token = settings.dapr_tokens.dapr_api_token.as_ref();
        let tasks = crate::tasks::TaskApp::new(&settings.sidecar, &settings.task_app_id, token)?;
        let lazy = LazyHandlers { cell: Arc::default(), settings: settings.clone(), tasks };
        let mut host = Host::bind(settings.grpc_addr, &[FILE_DESCRIPTOR_SET]).await?;
        // No public API: only the time limit and stream count apply.
        host.limit(settings.limits.clone(), None);
        if let Some(addr) = settings.metrics_addr {
            host.serve_metrics(addr).await?;
        }

        let on_event = lazy.clone();
        let on_sweep = lazy.clone();
        let subscription = shared::dapr::Subscription::new(&settings.pubsub, &settings.topic)
            .dead_letter(&settings.dead_letter_topic)
            .route(&format!("event.type == \"{}\"", events::COMPLETED), "completed", &[events::COMPLETED], {
                let lazy = on_event.clone();
                move |event| {
                    let lazy = lazy.clone();
                    async move { lazy.handlers().await?.on_completed(event).await }
                }
            })
            .default_route("other", &[], move |event| {
                let lazy = on_event.clone();
                async move { lazy.handlers().await?.on_other(event).await }
            });
        let router = CallbackRouter::builder()
            .subscribe(subscription)
            .binding(&settings.sweep_binding, move |_tick| {
                let lazy = on_sweep.clone();
                async move {
                    let handlers = lazy.handlers().await?;
                    let created = handlers.registry.sweep(&handlers).await?;
                    if created > 0 {
                        tracing::info!(created, "schedule sweep created instances");
                    }
                    Ok(())
                }
            })
            .api_token(settings.dapr_tokens.app_api_token.clone())
            .build();
        host.serve_callbacks(router);
        Ok(Self { host, settings })
    }

    pub fn addr(&self) -> SocketAddr {
        self.host.addr()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.host.metrics_addr()
    }

    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        Ok(self.host.run_until(shutdown, self.settings.shutdown_grace).await?)
    }
}
