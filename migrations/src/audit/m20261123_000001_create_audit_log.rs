//! The audit log. `audit_heads` holds each user's last sequence and hash;
//! appending updates it in the same transaction, which serialises a user's
//! appends. Triggers make `audit_entries` append-only on both databases:
//! tampering then needs someone who can drop triggers — and the hash chain
//! still shows it.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEntries::Table)
                    .col(ColumnDef::new(AuditEntries::UserId).string_len(255).not_null())
                    .col(ColumnDef::new(AuditEntries::Sequence).big_integer().not_null())
                    .col(ColumnDef::new(AuditEntries::EventId).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(AuditEntries::EventType).string_len(128).not_null())
                    .col(ColumnDef::new(AuditEntries::TaskId).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEntries::Revision).big_integer().not_null())
                    .col(ColumnDef::new(AuditEntries::OccurTime).big_integer().not_null())
                    .col(ColumnDef::new(AuditEntries::RecordTime).big_integer().not_null())
                    .col(ColumnDef::new(AuditEntries::EventJson).text().not_null())
                    .col(ColumnDef::new(AuditEntries::PreviousHash).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEntries::Hash).string_len(64).not_null())
                    .primary_key(Index::create().col(AuditEntries::UserId).col(AuditEntries::Sequence))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_user_task")
                    .table(AuditEntries::Table)
                    .col(AuditEntries::UserId)
                    .col(AuditEntries::TaskId)
                    .col(AuditEntries::Sequence)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHeads::Table)
                    .col(ColumnDef::new(AuditHeads::UserId).string_len(255).not_null().primary_key())
                    .col(ColumnDef::new(AuditHeads::Sequence).big_integer().not_null())
                    .col(ColumnDef::new(AuditHeads::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'audit_entries is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries \
                     FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
                )
                .await?;
            }
            _ => {
                for op in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_entries_no_{op} BEFORE {op} ON audit_entries \
                         BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END"
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditHeads::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditEntries::Table).to_owned()).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared("DROP FUNCTION IF EXISTS audit_entries_append_only()").await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    UserId,
    Sequence,
    EventId,
    EventType,
    TaskId,
    Revision,
    OccurTime,
    RecordTime,
    EventJson,
    PreviousHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    UserId,
    Sequence,
    Hash,
}
