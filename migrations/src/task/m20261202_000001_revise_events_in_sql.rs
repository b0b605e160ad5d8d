//! Functions that let PostgreSQL write a task, its revision and its event in
//! one statement. The revision is allocated inside that statement, after the
//! service encoded the event, so the service stores the event without its
//! three revision fields (`TaskEvent.revision`, `Task.revision`,
//! `Task.etag`) and the statement adds them:
//!
//! - `task_event_revised(payload, revision)` appends them to the protobuf
//!   encoding. A protobuf parser keeps the last value of a scalar field and
//!   merges repeated occurrences of a message field, so the result decodes
//!   exactly as the event encoded with them. The field numbers are those of
//!   `proto/todo/task/v1/events.proto` (4, 6) and `resources.proto` (14, 15).
//! - `task_event_json_revised(data_json, revision)` sets them in the proto3
//!   JSON (int64 as a string, the etag `"<revision>"`); replaced by marks in
//!   the JSON since m20261202_000002.
//!
//! The task store's tests check that both decode to the event the service
//! would have encoded with the revision known. SQLite has no data-modifying
//! CTEs; there the service keeps its transaction and needs none of this.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

// PL/pgSQL, not SQL: a session keeps a PL/pgSQL function's plans, while a
// SQL function that cannot be inlined is planned again in every statement
// (that tripled the cost of a create in `make bench`).
const UP: &str = r#"
CREATE FUNCTION task_event_revised(payload bytea, revision bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  varint bytea := '';  -- the revision as a protobuf varint
  rest bigint := revision;
  etag bytea := convert_to('"' || revision || '"', 'UTF8');
  task bytea;
BEGIN
  WHILE rest >= 128 LOOP
    varint := varint || set_byte('\x00'::bytea, 0, ((rest & 127) | 128)::int);
    rest := rest >> 7;
  END LOOP;
  varint := varint || set_byte('\x00'::bytea, 0, rest::int);
  -- Lengths below 128 are one byte: the etag has at most 21, the task part 34.
  task := '\x72'::bytea || set_byte('\x00'::bytea, 0, length(etag)) || etag   -- Task.etag = 14
       || '\x78'::bytea || varint;                                             -- Task.revision = 15
  RETURN payload
      || '\x20'::bytea || varint                                               -- TaskEvent.revision = 4
      || '\x32'::bytea || set_byte('\x00'::bytea, 0, length(task)) || task;   -- TaskEvent.task = 6
END $$;
"#;

/// The JSON function (dropped by m20261202_000002: the statement replaces
/// marks in the JSON instead, which costs PostgreSQL far less than parsing
/// and setting members of a jsonb).
pub(super) const JSON_FUNCTION: &str = r#"
CREATE FUNCTION task_event_json_revised(data_json text, revision bigint) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
  RETURN jsonb_set(
           jsonb_set(data_json::jsonb || jsonb_build_object('revision', revision::text),
                     '{task,etag}', to_jsonb('"' || revision || '"')),
           '{task,revision}', to_jsonb(revision::text))::text;
END $$;
"#;

const DOWN: &str =
    "DROP FUNCTION task_event_json_revised(text, bigint); DROP FUNCTION task_event_revised(bytea, bigint);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        manager.get_connection().execute_unprepared(JSON_FUNCTION).await.map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await.map(drop)
    }
}
