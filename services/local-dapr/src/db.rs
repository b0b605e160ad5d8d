//! The one database behind pub/sub, state and jobs: SQLite (a file, the
//! development default) or PostgreSQL, through sea-orm's raw SQL interface.
//!
//! The SQL is written once: both engines accept `$1`-style placeholders,
//! `ON CONFLICT … DO UPDATE` and `RETURNING`. Only the DDL differs (auto
//! increment and blob types). Integers are `BIGINT` everywhere so rows read
//! back as `i64` on both engines.
//!
//! SQLite allows one writer at a time and fails, rather than waits, when a
//! read transaction tries to upgrade to a write while another connection
//! committed. Multi-statement transactions therefore take
//! [`Db::write_lock`] first; this process is the only writer of its tables.

use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, QueryResult,
    Statement, TransactionTrait, Value,
};
use tokio::sync::{Mutex, MutexGuard};

/// A cheap, cloneable handle to the database.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    write_lock: Arc<Mutex<()>>,
}

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS ld_messages (
    id {PK},
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    part BIGINT NOT NULL,
    msg_key TEXT,
    content_type TEXT NOT NULL,
    raw BIGINT NOT NULL,
    payload {BLOB} NOT NULL,
    metadata TEXT NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ld_messages_log ON ld_messages (pubsub, topic, part, id);
CREATE TABLE IF NOT EXISTS ld_offsets (
    app_id TEXT NOT NULL,
    pubsub TEXT NOT NULL,
    topic TEXT NOT NULL,
    part BIGINT NOT NULL,
    acked BIGINT NOT NULL,
    PRIMARY KEY (app_id, pubsub, topic, part)
);
CREATE TABLE IF NOT EXISTS ld_state (
    store TEXT NOT NULL,
    skey TEXT NOT NULL,
    value {BLOB} NOT NULL,
    etag BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (store, skey)
);
CREATE TABLE IF NOT EXISTS ld_jobs (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    job {BLOB} NOT NULL,
    next_due BIGINT NOT NULL,
    fired BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (app_id, name)
);
CREATE INDEX IF NOT EXISTS ld_jobs_due ON ld_jobs (app_id, next_due);
";

impl Db {
    /// Connects and creates the tables if needed. For SQLite the file's
    /// directory is created and WAL journaling switched on.
    ///
    /// # Errors
    /// The database cannot be reached or the schema cannot be created.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = sqlite_path(url)
            && let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut options = ConnectOptions::new(url.to_owned());
        options.sqlx_logging(false);
        let conn = Database::connect(options).await.with_context(|| format!("connecting to {url}"))?;
        let (pk, blob) = match conn.get_database_backend() {
            DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
            _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        };
        if conn.get_database_backend() == DbBackend::Sqlite {
            conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        for ddl in SCHEMA.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let ddl = ddl.replace("{PK}", pk).replace("{BLOB}", blob);
            conn.execute_unprepared(&ddl).await.with_context(|| format!("creating schema: {ddl}"))?;
        }
        Ok(Self { conn, write_lock: Arc::new(Mutex::new(())) })
    }

    fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.conn.get_database_backend(), sql, values)
    }

    /// Runs one statement; returns the affected row count.
    pub async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, sea_orm::DbErr> {
        Ok(self.conn.execute(self.stmt(sql, values)).await?.rows_affected())
    }

    /// Runs a query.
    pub async fn query(&self, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>, sea_orm::DbErr> {
        self.conn.query_all(self.stmt(sql, values)).await
    }

    /// Runs a query expected to return at most one row.
    pub async fn query_one(&self, sql: &str, values: Vec<Value>) -> Result<Option<QueryResult>, sea_orm::DbErr> {
        self.conn.query_one(self.stmt(sql, values)).await
    }

    /// Begins a write transaction, holding the process-wide write lock until it ends.
    pub async fn begin(&self) -> Result<Tx<'_>, sea_orm::DbErr> {
        let guard = self.write_lock.lock().await;
        let tx = self.conn.begin().await?;
        Ok(Tx { tx, backend: self.conn.get_database_backend(), _guard: guard })
    }
}

/// A transaction plus the write lock.
pub struct Tx<'a> {
    tx: DatabaseTransaction,
    backend: DbBackend,
    _guard: MutexGuard<'a, ()>,
}

impl Tx<'_> {
    /// Runs one statement inside the transaction.
    pub async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, sea_orm::DbErr> {
        Ok(self.tx.execute(Statement::from_sql_and_values(self.backend, sql, values)).await?.rows_affected())
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.tx.commit().await
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
