//! Database connections for every service: PostgreSQL in production, SQLite
//! for `make dev` and tests, with the same settings everywhere.

mod kept;

use std::time::Duration;

pub use kept::{Database, Transaction, closed};

use sea_orm::{ConnectOptions, DatabaseConnection, DbErr};

/// How long a SQLite writer waits for the lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `url` (`postgres://…` or `sqlite://…`), creating a SQLite
/// file's directory when needed.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    if let Some(dir) =
        sqlite_file(url).and_then(|p| std::path::Path::new(p).parent()).filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false).connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(10));
    // sqlx would ping the server before handing out each connection: a round
    // trip more per query or transaction. A connection that broke since is
    // found by the query itself (UNAVAILABLE, retryable) and not reused.
    options.test_before_acquire(false);
    if url.starts_with("sqlite:") {
        // SQLite has one writer at a time; a small pool avoids busy waits.
        options.max_connections(if url.contains(":memory:") { 1 } else { 4 });
        // Pragmas belong to a connection, so every connection the pool opens
        // gets them: WAL lets readers run beside the writer, busy_timeout
        // queues writers instead of failing them, foreign keys are enforced.
        options.map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    } else {
        // 16 for requests (kept, see `Database`), a few for background work.
        options.max_connections(20);
    }
    sea_orm::Database::connect(options).await
}

/// The file of a `sqlite://path?…` URL, if it names one.
pub fn sqlite_file(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// Whether `err` is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Whether `err` says the database cannot be reached right now (it is
/// restarting, shutting down, refusing connections, or the pool timed out)
/// rather than that the request or the code is wrong. Such errors are
/// UNAVAILABLE to clients, which they and Dapr retry; others are bugs.
///
/// PostgreSQL SQLSTATE classes: 08 (connection exception), 57 (operator
/// intervention: 57P01 admin shutdown, 57P03 cannot connect now, …), and
/// 53300 (too many connections); SQLite's `SQLITE_BUSY` (5) and `LOCKED` (6).
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let sqlx_error = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match sqlx_error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57") || code == "53300" || code == "5" || code == "6"
        }),
        _ => false,
    }
}
