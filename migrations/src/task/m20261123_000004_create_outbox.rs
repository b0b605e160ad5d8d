//! The transactional outbox: one row per task event, written in the same
//! transaction as the change. `id` gives commit order; the relay publishes
//! rows with no `publish_time` in `id` order and then stamps them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(ColumnDef::new(Outbox::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Outbox::EventId).string_len(36).not_null().unique_key())
                    .col(ColumnDef::new(Outbox::EventType).string_len(128).not_null())
                    .col(ColumnDef::new(Outbox::Topic).string_len(128).not_null())
                    .col(ColumnDef::new(Outbox::UserId).string_len(255).not_null())
                    .col(ColumnDef::new(Outbox::TaskId).string_len(36).not_null())
                    .col(ColumnDef::new(Outbox::Revision).big_integer().not_null())
                    .col(ColumnDef::new(Outbox::Payload).binary().not_null())
                    .col(ColumnDef::new(Outbox::Traceparent).string_len(64))
                    .col(ColumnDef::new(Outbox::CreateTime).big_integer().not_null())
                    .col(ColumnDef::new(Outbox::PublishTime).big_integer())
                    .to_owned(),
            )
            .await?;
        // The relay's scan: unpublished rows in order.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_pending")
                    .table(Outbox::Table)
                    .col(Outbox::PublishTime)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;
        // Change feeds read a user's events by revision.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_user_revision")
                    .table(Outbox::Table)
                    .col(Outbox::UserId)
                    .col(Outbox::Revision)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    EventType,
    Topic,
    UserId,
    TaskId,
    Revision,
    Payload,
    Traceparent,
    CreateTime,
    PublishTime,
}
