//! Outbox rows the relay cannot publish (the stored event does not decode)
//! are quarantined, not marked sent: `quarantine_time` says since when and
//! `quarantine_reason` why. They stay in the table for an operator, out of
//! their user's chain, and count in the `tasks.outbox.quarantined` metric.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(ColumnDef::new(Outbox::QuarantineTime).big_integer())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(ColumnDef::new(Outbox::QuarantineReason).text())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::QuarantineReason).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::QuarantineTime).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    QuarantineTime,
    QuarantineReason,
}
