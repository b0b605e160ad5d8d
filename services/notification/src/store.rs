//! The notification database: preferences, and the delivery log that makes
//! sending idempotent.
//!
//! A delivery is one event through one channel, unique on (event id,
//! channel). Sending goes: [`claim`] (create the row if needed, then take a
//! short lease on it unless it is final or another attempt holds it), send,
//! [`record_attempt`] (append the attempt, set the state, drop the lease).
//! A redelivered event finds its deliveries final and sends nothing; two
//! concurrent deliveries of one event cannot both send (one holds the
//! lease); a crash mid-send leaves a lease that expires, after which the
//! redelivery sends again — with the same delivery id, for receivers to
//! deduplicate.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use crate::domain::{Channel, DeliveryState, Outcome};

pub mod entities {
    pub mod preferences {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "notification_preferences")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub user_id: String,
            pub webhook_url: Option<String>,
            pub webhook_secret: Option<String>,
            pub email_address: Option<String>,
            pub event_types: String,
            pub update_time: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod deliveries {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "notification_deliveries")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            pub delivery_id: String,
            pub user_id: String,
            pub event_id: String,
            pub event_type: String,
            pub channel: String,
            pub destination: String,
            pub task_id: String,
            pub state: String,
            pub attempts: i32,
            pub lease_until: Option<i64>,
            pub create_time: i64,
            pub update_time: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod attempts {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "notification_attempts")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub delivery_pk: i64,
            #[sea_orm(primary_key, auto_increment = false)]
            pub number: i32,
            pub attempt_time: i64,
            pub outcome: String,
            pub error: String,
            pub http_status: i32,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entities::{attempts, deliveries, preferences};

/// A user's stored preferences.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preferences {
    pub webhook: Option<Webhook>,
    pub email: Option<String>,
    pub event_types: Vec<String>,
    /// µs since the epoch; 0 when never set.
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

impl Preferences {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == event_type)
    }
}

/// `user`'s preferences (the defaults when never set).
pub async fn preferences(db: &DatabaseConnection, user_id: &str) -> Result<Preferences, DbErr> {
    let Some(row) = preferences::Entity::find_by_id(user_id.to_owned()).one(db).await? else {
        return Ok(Preferences::default());
    };
    let webhook = match (row.webhook_url, row.webhook_secret) {
        (Some(url), Some(secret)) => Some(Webhook { url, secret }),
        _ => None,
    };
    Ok(Preferences {
        webhook,
        email: row.email_address,
        event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
        update_time: row.update_time,
    })
}

/// Replaces `user`'s preferences.
pub async fn set_preferences(db: &DatabaseConnection, user_id: &str, new: &Preferences) -> Result<(), DbErr> {
    let model = preferences::ActiveModel {
        user_id: Set(user_id.to_owned()),
        webhook_url: Set(new.webhook.as_ref().map(|w| w.url.clone())),
        webhook_secret: Set(new.webhook.as_ref().map(|w| w.secret.clone())),
        email_address: Set(new.email.clone()),
        event_types: Set(serde_json::to_string(&new.event_types).unwrap_or_else(|_| "[]".into())),
        update_time: Set(new.update_time),
    };
    preferences::Entity::insert(model)
        .on_conflict(
            OnConflict::column(preferences::Column::UserId)
                .update_columns([
                    preferences::Column::WebhookUrl,
                    preferences::Column::WebhookSecret,
                    preferences::Column::EmailAddress,
                    preferences::Column::EventTypes,
                    preferences::Column::UpdateTime,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// What is to be delivered.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub user_id: String,
    pub event_id: String,
    pub event_type: String,
    pub channel: Channel,
    pub destination: String,
    pub task_id: String,
}

/// The answer of [`claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Send now; record the attempt with this number.
    Send { pk: i64, attempt: i32 },
    /// Delivered or failed for good before: nothing to do.
    Final(DeliveryState),
    /// Another attempt holds the lease.
    Busy,
}

/// Creates the delivery if it is new and takes a lease on it until
/// `lease_until` (µs) unless it is final or leased by another attempt.
pub async fn claim(db: &DatabaseConnection, new: &NewDelivery, now: i64, lease_until: i64) -> Result<Claim, DbErr> {
    let row = deliveries::ActiveModel {
        delivery_id: Set(new.delivery_id.clone()),
        user_id: Set(new.user_id.clone()),
        event_id: Set(new.event_id.clone()),
        event_type: Set(new.event_type.clone()),
        channel: Set(new.channel.as_str().to_owned()),
        destination: Set(new.destination.clone()),
        task_id: Set(new.task_id.clone()),
        state: Set(DeliveryState::Pending.as_str().to_owned()),
        attempts: Set(0),
        lease_until: Set(None),
        create_time: Set(now),
        update_time: Set(now),
        ..Default::default()
    };
    deliveries::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([deliveries::Column::EventId, deliveries::Column::Channel]).do_nothing().to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let open = [DeliveryState::Pending.as_str(), DeliveryState::Retrying.as_str()];
    let taken = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(deliveries::Column::Destination, Expr::value(new.destination.clone()))
        .col_expr(deliveries::Column::UpdateTime, Expr::value(now))
        .filter(deliveries::Column::DeliveryId.eq(&new.delivery_id))
        .filter(deliveries::Column::State.is_in(open))
        .filter(
            Condition::any().add(deliveries::Column::LeaseUntil.is_null()).add(deliveries::Column::LeaseUntil.lt(now)),
        )
        .exec(db)
        .await?
        .rows_affected;
    let row = deliveries::Entity::find()
        .filter(deliveries::Column::DeliveryId.eq(&new.delivery_id))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("delivery {}", new.delivery_id)))?;
    let state = DeliveryState::parse(&row.state).unwrap_or(DeliveryState::Pending);
    Ok(match (taken, state.is_final()) {
        (1, _) => Claim::Send { pk: row.id, attempt: row.attempts + 1 },
        (_, true) => Claim::Final(state),
        _ => Claim::Busy,
    })
}

/// Appends attempt `number` of delivery `pk`, sets its state and releases the lease.
pub async fn record_attempt(
    db: &DatabaseConnection,
    pk: i64,
    number: i32,
    at: i64,
    outcome: &Outcome,
    http_status: i32,
) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    attempts::Entity::insert(attempts::ActiveModel {
        delivery_pk: Set(pk),
        number: Set(number),
        attempt_time: Set(at),
        outcome: Set(outcome.as_str().to_owned()),
        error: Set(outcome.error().chars().take(2000).collect()),
        http_status: Set(http_status),
    })
    .exec_without_returning(&tx)
    .await?;
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::State, Expr::value(outcome.state().as_str()))
        .col_expr(deliveries::Column::Attempts, Expr::value(number))
        .col_expr(deliveries::Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(deliveries::Column::UpdateTime, Expr::value(at))
        .filter(deliveries::Column::Id.eq(pk))
        .exec(&tx)
        .await?;
    tx.commit().await
}

/// A delivery and its attempts, oldest first.
pub type DeliveryWithAttempts = (deliveries::Model, Vec<attempts::Model>);

/// A page of `user`'s deliveries, newest first, after the delivery with pk `after`.
pub async fn list(
    db: &DatabaseConnection,
    user_id: &str,
    event_id: Option<&str>,
    page_size: u64,
    after: Option<i64>,
) -> Result<(Vec<DeliveryWithAttempts>, bool), DbErr> {
    let mut select = deliveries::Entity::find().filter(deliveries::Column::UserId.eq(user_id));
    if let Some(event_id) = event_id {
        select = select.filter(deliveries::Column::EventId.eq(event_id));
    }
    if let Some(after) = after {
        select = select.filter(deliveries::Column::Id.lt(after));
    }
    let mut rows = select.order_by_desc(deliveries::Column::Id).limit(page_size + 1).all(db).await?;
    let more = rows.len() as u64 > page_size;
    rows.truncate(page_size as usize);
    let pks: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_delivery: HashMap<i64, Vec<attempts::Model>> = HashMap::new();
    if !pks.is_empty() {
        let all = attempts::Entity::find()
            .filter(attempts::Column::DeliveryPk.is_in(pks))
            .order_by_asc(attempts::Column::Number)
            .all(db)
            .await?;
        for attempt in all {
            by_delivery.entry(attempt.delivery_pk).or_default().push(attempt);
        }
    }
    let page = rows
        .into_iter()
        .map(|row| {
            let attempts = by_delivery.remove(&row.id).unwrap_or_default();
            (row, attempts)
        })
        .collect();
    Ok((page, more))
}
