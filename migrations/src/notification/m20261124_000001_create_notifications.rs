//! Notification preferences (one row per user) and the delivery log: one
//! row per (event, channel) — unique, which is what makes a redelivered
//! event send nothing again — and one row per attempt.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationPreferences::Table)
                    .col(ColumnDef::new(NotificationPreferences::UserId).string_len(255).not_null().primary_key())
                    .col(ColumnDef::new(NotificationPreferences::WebhookUrl).text().null())
                    .col(ColumnDef::new(NotificationPreferences::WebhookSecret).text().null())
                    .col(ColumnDef::new(NotificationPreferences::EmailAddress).string_len(254).null())
                    // A JSON array of event types.
                    .col(ColumnDef::new(NotificationPreferences::EventTypes).text().not_null())
                    .col(ColumnDef::new(NotificationPreferences::UpdateTime).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationDeliveries::Table)
                    .col(
                        ColumnDef::new(NotificationDeliveries::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(NotificationDeliveries::DeliveryId).string_len(36).not_null().unique_key())
                    .col(ColumnDef::new(NotificationDeliveries::UserId).string_len(255).not_null())
                    .col(ColumnDef::new(NotificationDeliveries::EventId).string_len(64).not_null())
                    .col(ColumnDef::new(NotificationDeliveries::EventType).string_len(128).not_null())
                    .col(ColumnDef::new(NotificationDeliveries::Channel).string_len(16).not_null())
                    .col(ColumnDef::new(NotificationDeliveries::Destination).text().not_null())
                    .col(ColumnDef::new(NotificationDeliveries::TaskId).string_len(64).not_null())
                    .col(ColumnDef::new(NotificationDeliveries::State).string_len(16).not_null())
                    .col(ColumnDef::new(NotificationDeliveries::Attempts).integer().not_null())
                    // While an attempt is in flight: until when it holds the delivery (µs).
                    .col(ColumnDef::new(NotificationDeliveries::LeaseUntil).big_integer().null())
                    .col(ColumnDef::new(NotificationDeliveries::CreateTime).big_integer().not_null())
                    .col(ColumnDef::new(NotificationDeliveries::UpdateTime).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_notification_deliveries_event_channel")
                    .table(NotificationDeliveries::Table)
                    .col(NotificationDeliveries::EventId)
                    .col(NotificationDeliveries::Channel)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_deliveries_user")
                    .table(NotificationDeliveries::Table)
                    .col(NotificationDeliveries::UserId)
                    .col(NotificationDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationAttempts::Table)
                    .col(ColumnDef::new(NotificationAttempts::DeliveryPk).big_integer().not_null())
                    .col(ColumnDef::new(NotificationAttempts::Number).integer().not_null())
                    .col(ColumnDef::new(NotificationAttempts::AttemptTime).big_integer().not_null())
                    .col(ColumnDef::new(NotificationAttempts::Outcome).string_len(32).not_null())
                    .col(ColumnDef::new(NotificationAttempts::Error).text().not_null())
                    .col(ColumnDef::new(NotificationAttempts::HttpStatus).integer().not_null())
                    .primary_key(
                        Index::create().col(NotificationAttempts::DeliveryPk).col(NotificationAttempts::Number),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_attempts_delivery")
                            .from(NotificationAttempts::Table, NotificationAttempts::DeliveryPk)
                            .to(NotificationDeliveries::Table, NotificationDeliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(NotificationAttempts::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(NotificationDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(NotificationPreferences::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum NotificationPreferences {
    Table,
    UserId,
    WebhookUrl,
    WebhookSecret,
    EmailAddress,
    EventTypes,
    UpdateTime,
}

#[derive(DeriveIden)]
enum NotificationDeliveries {
    Table,
    Id,
    DeliveryId,
    UserId,
    EventId,
    EventType,
    Channel,
    Destination,
    TaskId,
    State,
    Attempts,
    LeaseUntil,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum NotificationAttempts {
    Table,
    DeliveryPk,
    Number,
    AttemptTime,
    Outcome,
    Error,
    HttpStatus,
}
