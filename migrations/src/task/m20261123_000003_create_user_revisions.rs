//! One change counter per user. Every mutation increments it inside its
//! transaction; the row lock this takes serialises a user's writes, which is
//! what makes per-user revisions (and so event order) total.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserRevisions::Table)
                    .col(ColumnDef::new(UserRevisions::UserId).string_len(255).not_null().primary_key())
                    .col(ColumnDef::new(UserRevisions::Revision).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(UserRevisions::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum UserRevisions {
    Table,
    UserId,
    Revision,
}
