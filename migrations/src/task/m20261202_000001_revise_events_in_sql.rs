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
//!   JSON (int64 as a string, the etag `"<revision>"`).
//!
//! The task store's tests check that both decode to the event the service
//! would have encoded with the revision known. SQLite has no data-modifying
//! CTEs; there the service keeps its transaction and needs none of this.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION protobuf_varint(value bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  encoded bytea := '';
BEGIN
  WHILE value >= 128 LOOP
    encoded := encoded || set_byte('\x00'::bytea, 0, ((value & 127) | 128)::int);
    value := value >> 7;
  END LOOP;
  RETURN encoded || set_byte('\x00'::bytea, 0, value::int);
END $$;

CREATE FUNCTION task_event_revised(payload bytea, revision bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT payload
      || '\x20'::bytea || protobuf_varint(revision)               -- TaskEvent.revision = 4
      || '\x32'::bytea || protobuf_varint(length(task)) || task   -- TaskEvent.task = 6
  FROM (SELECT '\x72'::bytea || protobuf_varint(length(etag)) || etag  -- Task.etag = 14
            || '\x78'::bytea || protobuf_varint(revision) AS task      -- Task.revision = 15
        FROM (SELECT convert_to('"' || revision || '"', 'UTF8') AS etag) AS e) AS t
$$;

CREATE FUNCTION task_event_json_revised(data_json text, revision bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT jsonb_set(
           jsonb_set(data_json::jsonb || jsonb_build_object('revision', revision::text),
                     '{task,etag}', to_jsonb('"' || revision || '"')),
           '{task,revision}', to_jsonb(revision::text))::text
$$;
"#;

const DOWN: &str = "DROP FUNCTION task_event_json_revised(text, bigint); \
     DROP FUNCTION task_event_revised(bytea, bigint); DROP FUNCTION protobuf_varint(bigint);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await.map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await.map(drop)
    }
}
