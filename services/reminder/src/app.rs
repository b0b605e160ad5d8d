//! Builds the reminder service and runs it until shutdown.

use std::{net::SocketAddr, sync::Arc};

use shared::{dapr::CallbackRouter, grpc::Host, proto::FILE_DESCRIPTOR_SET};
use tokio_util::sync::CancellationToken;

use crate::{config::Settings, domain::JOB_PREFIX, events, fire, sidecar::Dapr};

/// What the handlers share: the settings and the (lazily connected) sidecar.
#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub dapr: Dapr,
}

pub struct Application {
    host: Host,
    settings: Arc<Settings>,
}

impl Application {
    /// Binds the listener (the address is known before anything is served)
    /// and wires the callbacks. The sidecar is connected on first use.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let app = App {
            dapr: Dapr::new(
                shared::dapr::LazySidecar::new(
                    &settings.sidecar,
                    &settings.pubsub,
                    settings.dapr_tokens.dapr_api_token.clone(),
                ),
                &settings.state_store,
            ),
            settings: settings.clone(),
        };
        let mut host = Host::bind(settings.grpc_addr, &[FILE_DESCRIPTOR_SET]).await?;
        // No public API: only the time limit and stream count apply.
        host.limit(settings.limits.clone(), None);
        if let Some(addr) = settings.metrics_addr {
            host.serve_metrics(addr).await?;
        }
        fire::register_metrics();
        let on_job = app.clone();
        host.serve_callbacks(
            CallbackRouter::builder()
                .subscribe(events::subscription(app))
                .job(JOB_PREFIX, move |request| {
                    let app = on_job.clone();
                    async move { fire::on_job(&app, request).await.map(drop) }
                })
                .api_token(settings.dapr_tokens.app_api_token.clone())
                .build(),
        );
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
