//! Each outbox row keeps its event as proto3 JSON text too (`data_json`),
//! written with the row: the relay publishes it as it is, instead of
//! decoding the protobuf `payload` and encoding JSON again for every row.
//! (`payload` stays: the change feed serves it.) Rows written before this
//! migration have none; the relay encodes those as it did.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Outbox::Table).add_column(ColumnDef::new(Outbox::DataJson).text()).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::DataJson).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    DataJson,
}
