//! Series identity of repeating tasks: which series an instance belongs to
//! and its index there. The recurrence service derives the idempotency key
//! of instance n+1 from these, so a series never forks.

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
                    .table(Tasks::Table)
                    .add_column(ColumnDef::new(Tasks::SeriesId).string_len(36))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(ColumnDef::new(Tasks::OccurrenceIndex).integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::OccurrenceIndex).to_owned()).await?;
        manager.alter_table(Table::alter().table(Tasks::Table).drop_column(Tasks::SeriesId).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    SeriesId,
    OccurrenceIndex,
}
