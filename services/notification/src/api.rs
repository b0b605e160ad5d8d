//! `todo.notification.v1.NotificationService`: the caller's own
//! preferences and deliveries, JWT-authenticated.

use chrono::Utc;
use sea_orm::DatabaseConnection;
use shared::{
    Error,
    auth::Authenticator,
    page_token::{PageTokens, Position},
    proto::{
        time::timestamp_from_micros,
        todo::notification::v1::{self as pb, notification_service_server::NotificationService},
    },
};
use tonic::{Request, Response, Status};

use crate::{
    domain::{self, Channel, DeliveryState},
    store::{self, DeliveryWithAttempts, Preferences, Webhook},
};

pub use pb::notification_service_server::NotificationServiceServer;

pub const DEFAULT_PAGE_SIZE: i32 = 50;

#[derive(Clone)]
pub struct NotificationApi {
    db: DatabaseConnection,
    auth: Authenticator,
    tokens: PageTokens,
}

impl NotificationApi {
    pub fn new(db: DatabaseConnection, auth: Authenticator, tokens: PageTokens) -> Self {
        Self { db, auth, tokens }
    }
}

/// Stored preferences as the API shows them: the secret never leaves.
fn to_proto(p: &Preferences) -> pb::Preferences {
    pb::Preferences {
        webhook: p.webhook.as_ref().map(|w| pb::WebhookChannel {
            url: w.url.clone(),
            secret: String::new(),
            has_secret: !w.secret.is_empty(),
        }),
        email: p.email.as_ref().map(|address| pb::EmailChannel { address: address.clone() }),
        event_types: p.event_types.clone(),
        update_time: (p.update_time > 0).then(|| timestamp_from_micros(p.update_time)),
    }
}

fn delivery(row: DeliveryWithAttempts) -> pb::Delivery {
    let (row, attempts) = row;
    let state = match DeliveryState::parse(&row.state) {
        Some(DeliveryState::Pending) => pb::delivery::State::Pending,
        Some(DeliveryState::Retrying) => pb::delivery::State::Retrying,
        Some(DeliveryState::Delivered) => pb::delivery::State::Delivered,
        Some(DeliveryState::Failed) => pb::delivery::State::Failed,
        None => pb::delivery::State::Unspecified,
    };
    pb::Delivery {
        name: format!("deliveries/{}", row.delivery_id),
        event_id: row.event_id,
        event_type: row.event_type,
        channel: Channel::parse(&row.channel).map_or(pb::Channel::Unspecified, Channel::to_proto) as i32,
        destination: row.destination,
        task: if row.task_id.is_empty() { String::new() } else { format!("tasks/{}", row.task_id) },
        state: state as i32,
        attempts: attempts
            .into_iter()
            .map(|a| pb::Attempt {
                number: a.number,
                attempt_time: Some(timestamp_from_micros(a.attempt_time)),
                outcome: match a.outcome.as_str() {
                    "SUCCEEDED" => pb::attempt::Outcome::Succeeded,
                    "TRANSIENT_FAILURE" => pb::attempt::Outcome::TransientFailure,
                    "PERMANENT_FAILURE" => pb::attempt::Outcome::PermanentFailure,
                    _ => pb::attempt::Outcome::Unspecified,
                } as i32,
                error: a.error,
                http_status: a.http_status,
            })
            .collect(),
        create_time: Some(timestamp_from_micros(row.create_time)),
        update_time: Some(timestamp_from_micros(row.update_time)),
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let user = self.auth.authenticate(request.metadata()).await?;
        let stored = store::preferences(&self.db, user.as_str()).await.map_err(Error::from)?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn set_preferences(
        &self,
        request: Request<pb::SetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let user = self.auth.authenticate(request.metadata()).await?;
        let wanted = request
            .into_inner()
            .preferences
            .ok_or_else(|| Error::invalid("INVALID_ARGUMENT", "preferences", "is required"))?;
        let valid = domain::validate(&wanted)
            .map_err(|violations| Error::InvalidArgument { reason: "INVALID_ARGUMENT", violations })?;
        let current = store::preferences(&self.db, user.as_str()).await.map_err(Error::from)?;
        let webhook = match valid.webhook {
            None => None,
            Some((url, secret)) if !secret.is_empty() => Some(Webhook { url, secret }),
            // Write-only: an omitted secret keeps the stored one.
            Some((url, _)) => match current.webhook {
                Some(stored) => Some(Webhook { url, secret: stored.secret }),
                None => {
                    return Err(Error::invalid(
                        "INVALID_ARGUMENT",
                        "preferences.webhook.secret",
                        "is required for a new webhook",
                    )
                    .into());
                }
            },
        };
        let new = Preferences {
            webhook,
            email: valid.email,
            event_types: valid.event_types,
            update_time: Utc::now().timestamp_micros(),
        };
        store::set_preferences(&self.db, user.as_str(), &new).await.map_err(Error::from)?;
        Ok(Response::new(to_proto(&new)))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let user = self.auth.authenticate(request.metadata()).await?;
        let r = request.into_inner();
        let page_size = shared::page_token::page_size(r.page_size, DEFAULT_PAGE_SIZE)
            .map_err(|e| Error::invalid("INVALID_ARGUMENT", e.field, e.message))?;
        let event_id = Some(r.event_id.trim()).filter(|e| !e.is_empty());
        let fingerprint = PageTokens::fingerprint(&[user.as_str(), event_id.unwrap_or("")]);
        let after = match r.page_token.as_str() {
            "" => None,
            token => {
                let position = self
                    .tokens
                    .open(token, &fingerprint)
                    .map_err(|e| Error::invalid("INVALID_ARGUMENT", "page_token", e.to_string()))?;
                Some(
                    position
                        .id
                        .parse::<i64>()
                        .map_err(|_| Error::invalid("INVALID_ARGUMENT", "page_token", "malformed"))?,
                )
            }
        };
        let (rows, more) =
            store::list(&self.db, user.as_str(), event_id, page_size, after).await.map_err(Error::from)?;
        let next_page_token = match (more, rows.last()) {
            (true, Some((last, _))) => {
                self.tokens.issue(&fingerprint, Position { keys: vec![], id: last.id.to_string() })
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: rows.into_iter().map(delivery).collect(),
            next_page_token,
        }))
    }
}
