//! Builds the task service — database, use cases, gRPC server, outbox
//! relay — and runs it until shutdown. `main` and the tests both go
//! through here.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use migrations::MigratorTrait;
use sea_orm::DatabaseConnection;
use shared::{auth::Authenticator, db::Database, grpc::Host, page_token::PageTokens, proto::FILE_DESCRIPTOR_SET};
use tokio_util::sync::CancellationToken;

use shared::proto::todo::task::v1::task_internal_service_server::TaskInternalServiceServer;

use crate::{
    api::{TaskApi, TaskServiceServer, internal::TaskInternal},
    config::Settings,
    relay::{Relay, RelayConfig, RelayStats},
    service::TaskService,
    store,
};

/// PostgreSQL connections the request paths keep out of the pool (see
/// [`shared::db::Database`]); the pool has a few more for the relay.
const KEPT_CONNECTIONS: usize = 16;

pub struct Application {
    host: Host,
    service: TaskService,
    relay_stats: Arc<RelayStats>,
    settings: Settings,
}

impl Application {
    /// Connects (and, if configured, migrates) the database and binds the
    /// listener, so the address is known before anything is served.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = store::connect(&settings.database_url).await.context("cannot connect to the database")?;
        if settings.auto_migrate {
            migrations::task::Migrator::up(&db, None).await.context("cannot migrate the database")?;
        }
        let page_tokens =
            PageTokens::new(settings.page_token_secret.expose().as_bytes()).context("bad PAGE_TOKEN_SECRET")?;
        let service = TaskService::new(Database::new(db, KEPT_CONNECTIONS), settings.topic.clone(), page_tokens);
        let auth = Authenticator::new(&settings.auth);
        let api = TaskApi::new(service.clone(), auth.clone());

        let mut host = Host::bind(settings.grpc_addr, &[FILE_DESCRIPTOR_SET]).await?;
        host.limit(settings.limits.clone(), Some(auth));
        if let Some(addr) = settings.metrics_addr {
            host.serve_metrics(addr).await?;
        }
        host.add_service(TaskServiceServer::new(api).max_decoding_message_size(settings.limits.max_message_bytes))
            .await;
        // What the recurrence service calls through the sidecars.
        let internal = TaskInternal::new(service.clone(), settings.dapr_tokens.app_api_token.clone());
        host.add_service(TaskInternalServiceServer::new(internal)).await;
        // The sidecar's view of the app: health probe, no subscriptions.
        host.serve_callbacks(crate::api::internal::callbacks(settings.dapr_tokens.app_api_token.clone()));
        let relay_stats = Arc::default();
        crate::relay::register_metrics(&opentelemetry::global::meter("task"), &relay_stats);
        Ok(Self { host, service, relay_stats, settings })
    }

    /// Where the gRPC server listens (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.host.addr()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.host.metrics_addr()
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.service.db().pool()
    }

    /// Outbox backlog figures (updated by the relay).
    pub fn relay_stats(&self) -> Arc<RelayStats> {
        self.relay_stats.clone()
    }

    /// Serves until `shutdown`, drains in-flight calls, then stops the relay
    /// (after the drained calls' events) and closes the pool.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self { host, service, relay_stats, settings } = self;
        let stop_relay = CancellationToken::new();
        let relay = settings.dapr.as_ref().map(|dapr| {
            let config = RelayConfig {
                sidecar: dapr.sidecar.clone(),
                api_token: settings.dapr_tokens.dapr_api_token.clone(),
                pubsub: dapr.pubsub.clone(),
                app_id: dapr.app_id.clone(),
                batch_size: 100,
                poll_interval: Duration::from_millis(500),
                max_backoff: dapr.max_backoff,
                backlog_report_interval: dapr.backlog_report_interval,
            };
            let relay = Relay::new(service.db().pool().clone(), config, service.commits(), relay_stats);
            tokio::spawn(relay.run(stop_relay.clone()))
        });
        let served = host.run_until(shutdown, settings.shutdown_grace).await;
        stop_relay.cancel();
        if let Some(relay) = relay
            && tokio::time::timeout(settings.shutdown_grace, relay).await.is_err()
        {
            tracing::warn!("outbox relay did not stop in time");
        }
        service.db().clone().close().await.context("cannot close the database pool")?;
        tracing::info!("task service stopped");
        Ok(served?)
    }
}
