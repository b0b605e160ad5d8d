//! Tasks. `due_sort` and `complete_sort` are the due and completion instants
//! with "none" stored as `i64::MAX`, so every sort key is NOT NULL and keyset
//! pagination needs no null handling.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Tasks::UserId).string_len(255).not_null())
                    .col(ColumnDef::new(Tasks::Title).text().not_null())
                    .col(ColumnDef::new(Tasks::Description).text().not_null())
                    .col(ColumnDef::new(Tasks::State).small_integer().not_null())
                    .col(ColumnDef::new(Tasks::Priority).small_integer().not_null())
                    .col(ColumnDef::new(Tasks::DueLocal).string_len(32))
                    .col(ColumnDef::new(Tasks::DueTimeZone).string_len(64))
                    .col(ColumnDef::new(Tasks::DueSort).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::Reminders).text().not_null())
                    .col(ColumnDef::new(Tasks::Recurrence).text())
                    .col(ColumnDef::new(Tasks::CreateTime).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::UpdateTime).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::CompleteSort).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::DeleteTime).big_integer())
                    .col(ColumnDef::new(Tasks::Revision).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::CreateRequestId).string_len(64))
                    .to_owned(),
            )
            .await?;
        // One index per list ordering, each ending in the tie-breaker `id`.
        for (name, column) in [
            ("idx_tasks_user_create", Tasks::CreateTime),
            ("idx_tasks_user_update", Tasks::UpdateTime),
            ("idx_tasks_user_due", Tasks::DueSort),
            ("idx_tasks_user_priority", Tasks::Priority),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Tasks::Table)
                        .col(Tasks::UserId)
                        .col(column)
                        .col(Tasks::Id)
                        .to_owned(),
                )
                .await?;
        }
        // Idempotent create: one task per (user, request id). NULLs do not collide.
        manager
            .create_index(
                Index::create()
                    .name("uq_tasks_user_request")
                    .table(Tasks::Table)
                    .col(Tasks::UserId)
                    .col(Tasks::CreateRequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TaskTags::Table)
                    .col(ColumnDef::new(TaskTags::TaskId).string_len(36).not_null())
                    .col(ColumnDef::new(TaskTags::TagId).string_len(36).not_null())
                    .col(ColumnDef::new(TaskTags::UserId).string_len(255).not_null())
                    .primary_key(Index::create().col(TaskTags::TaskId).col(TaskTags::TagId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_tags_user_tag")
                    .table(TaskTags::Table)
                    .col(TaskTags::UserId)
                    .col(TaskTags::TagId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TaskTags::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Tasks::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    UserId,
    Title,
    Description,
    State,
    Priority,
    DueLocal,
    DueTimeZone,
    DueSort,
    Reminders,
    Recurrence,
    CreateTime,
    UpdateTime,
    CompleteSort,
    DeleteTime,
    Revision,
    CreateRequestId,
}

#[derive(DeriveIden)]
enum TaskTags {
    Table,
    TaskId,
    TagId,
    UserId,
}
