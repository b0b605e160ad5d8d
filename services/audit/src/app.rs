//! Builds the audit service and runs it until shutdown.

use std::net::SocketAddr;

use anyhow::Context;
use migrations::MigratorTrait;
use sea_orm::DatabaseConnection;
use shared::{
    auth::Authenticator, dapr::CallbackRouter, grpc::Host, page_token::PageTokens, proto::FILE_DESCRIPTOR_SET,
};
use tokio_util::sync::CancellationToken;

use crate::{
    api::{AuditApi, AuditServiceServer},
    config::Settings,
    events,
};

pub struct Application {
    host: Host,
    db: DatabaseConnection,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = shared::db::connect(&settings.database_url).await.context("cannot connect to the database")?;
        if settings.auto_migrate {
            migrations::audit::Migrator::up(&db, None).await.context("cannot migrate the database")?;
        }
        let tokens =
            PageTokens::new(settings.page_token_secret.expose().as_bytes()).context("bad PAGE_TOKEN_SECRET")?;
        let auth = Authenticator::new(&settings.auth);
        let mut host = Host::bind(settings.grpc_addr, &[FILE_DESCRIPTOR_SET]).await?;
        host.limit(settings.limits.clone(), Some(auth.clone()));
        if let Some(addr) = settings.metrics_addr {
            host.serve_metrics(addr).await?;
        }
        host.add_service(
            AuditServiceServer::new(AuditApi::new(db.clone(), auth, tokens))
                .max_decoding_message_size(settings.limits.max_message_bytes),
        )
        .await;
        host.serve_callbacks(
            CallbackRouter::builder()
                .subscribe(events::subscription(
                    db.clone(),
                    &settings.pubsub,
                    &settings.topic,
                    &settings.dead_letter_topic,
                ))
                .api_token(settings.dapr_tokens.app_api_token.clone())
                .build(),
        );
        Ok(Self { host, db, settings })
    }

    pub fn addr(&self) -> SocketAddr {
        self.host.addr()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.host.metrics_addr()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let served = self.host.run_until(shutdown, self.settings.shutdown_grace).await;
        self.db.close().await.context("cannot close the database pool")?;
        Ok(served?)
    }
}
