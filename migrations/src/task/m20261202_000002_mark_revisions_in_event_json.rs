//! Drops `task_event_json_revised`: the one-statement create now stores the
//! event's JSON with a mark where the revision goes and replaces the mark
//! (`replace(json, chr(1), revision::text)`), a scan of the text where the
//! function parsed it into a jsonb, set three members and printed it again:
//! about 25 µs of PostgreSQL's time per create, spent while the statement
//! holds the user's revision lock.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use super::m20261202_000001_revise_events_in_sql::JSON_FUNCTION;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let drop_function = "DROP FUNCTION task_event_json_revised(text, bigint)";
        manager.get_connection().execute_unprepared(drop_function).await.map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(JSON_FUNCTION).await.map(drop)
    }
}
