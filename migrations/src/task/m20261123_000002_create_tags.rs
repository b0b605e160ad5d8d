//! Tags: per user, unique by case-folded name.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tags::Table)
                    .col(ColumnDef::new(Tags::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Tags::UserId).string_len(255).not_null())
                    .col(ColumnDef::new(Tags::DisplayName).string_len(255).not_null())
                    .col(ColumnDef::new(Tags::NameKey).string_len(255).not_null())
                    .col(ColumnDef::new(Tags::Color).string_len(7).not_null())
                    .col(ColumnDef::new(Tags::CreateTime).big_integer().not_null())
                    .col(ColumnDef::new(Tags::UpdateTime).big_integer().not_null())
                    .col(ColumnDef::new(Tags::Version).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tags_user_name")
                    .table(Tags::Table)
                    .col(Tags::UserId)
                    .col(Tags::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Tags::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    Id,
    UserId,
    DisplayName,
    NameKey,
    Color,
    CreateTime,
    UpdateTime,
    Version,
}
