//! Builds the notification service and runs it until shutdown.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use migrations::MigratorTrait;
use sea_orm::DatabaseConnection;
use shared::{
    auth::Authenticator, dapr::CallbackRouter, grpc::Host, page_token::PageTokens, proto::FILE_DESCRIPTOR_SET,
};
use tokio_util::sync::CancellationToken;

use crate::{
    api::{NotificationApi, NotificationServiceServer},
    channels::{Email, Webhooks},
    config::Settings,
    events,
};

/// What the event handlers share.
#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub webhooks: Webhooks,
    pub email: Email,
}

pub struct Application {
    host: Host,
    db: DatabaseConnection,
    settings: Arc<Settings>,
}

impl Application {
    /// Connects (and, if configured, migrates) the database and binds the
    /// listener. The sidecar is connected on first use.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let db = shared::db::connect(&settings.database_url).await.context("cannot connect to the database")?;
        if settings.auto_migrate {
            migrations::notification::Migrator::up(&db, None).await.context("cannot migrate the database")?;
        }
        let tokens =
            PageTokens::new(settings.page_token_secret.expose().as_bytes()).context("bad PAGE_TOKEN_SECRET")?;
        let app = App {
            settings: settings.clone(),
            db: db.clone(),
            webhooks: Webhooks::new(settings.webhook_timeout).context("cannot build the HTTP client")?,
            email: Email::new(
                shared::dapr::LazySidecar::new(
                    &settings.sidecar,
                    &settings.pubsub,
                    settings.dapr_tokens.dapr_api_token.clone(),
                ),
                &settings.email_binding,
            ),
        };
        let auth = Authenticator::new(&settings.auth);
        let mut host = Host::bind(settings.grpc_addr, &[FILE_DESCRIPTOR_SET]).await?;
        host.limit(settings.limits.clone(), Some(auth.clone()));
        if let Some(addr) = settings.metrics_addr {
            host.serve_metrics(addr).await?;
        }
        host.add_service(
            NotificationServiceServer::new(NotificationApi::new(db.clone(), auth, tokens))
                .max_decoding_message_size(settings.limits.max_message_bytes),
        )
        .await;
        let mut router = CallbackRouter::builder();
        for subscription in events::subscriptions(&app) {
            router = router.subscribe(subscription);
        }
        host.serve_callbacks(router.api_token(settings.dapr_tokens.app_api_token.clone()).build());
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
