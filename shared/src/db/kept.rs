//! PostgreSQL connections kept out of sqlx's pool between uses.
//!
//! sqlx pings every connection it takes back into its pool (a round trip,
//! with no option to turn it off), so a one-statement read costs two round
//! trips and every transaction one more. [`Database`] takes up to `size`
//! connections from the pool once and hands them out itself, without the
//! ping. A connection goes back to sqlx (whose release ping drains or
//! discards it) only when its use was cut short (a cancelled request
//! dropped a statement half-way) or when it failed as unreachable.
//! SQLite, in-process with nothing to ping over, uses sea-orm's pool as it is.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, TransactionTrait,
    sqlx::{self, Executor, PgConnection, Postgres, TransactionManager, pool::PoolConnection},
};
use sea_query_binder::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::is_unavailable;

/// The database of a service: sea-orm's pool, and for PostgreSQL the
/// connections kept out of it. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: DatabaseConnection,
    kept: Option<Arc<Kept>>,
}

struct Kept {
    idle: Mutex<Vec<PoolConnection<Postgres>>>,
    /// Set by [`Database::close`]: connections go back to sqlx from then on.
    closed: AtomicBool,
    /// One permit per connection that may be out at once.
    slots: Arc<Semaphore>,
}

impl Database {
    /// Keeps up to `size` of `pool`'s connections (PostgreSQL only).
    pub fn new(pool: DatabaseConnection, size: usize) -> Self {
        let kept = matches!(pool, DatabaseConnection::SqlxPostgresPoolConnection(_)).then(|| {
            Arc::new(Kept {
                idle: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
                slots: Arc::new(Semaphore::new(size.max(1))),
            })
        });
        Self { pool, kept }
    }

    /// sea-orm's pool (migrations, the relay's leadership, tests).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// Gives the kept connections back and closes the pool (which waits
    /// for every connection still out).
    pub async fn close(self) -> Result<(), DbErr> {
        if let Some(kept) = &self.kept {
            kept.closed.store(true, Ordering::Release);
            if let Ok(mut idle) = kept.idle.lock() {
                idle.clear();
            }
        }
        self.pool.close().await
    }

    /// Starts a transaction; it rolls back unless committed.
    pub async fn begin(&self) -> Result<Transaction, DbErr> {
        let Some(kept) = &self.kept else {
            return Ok(Transaction(TransactionKind::Pooled(self.pool.begin().await?)));
        };
        let mut connection = self.checkout(kept).await?;
        connection.run(|c| <Postgres as sqlx::Database>::TransactionManager::begin(c, None)).await?;
        Ok(Transaction(TransactionKind::Kept(tokio::sync::Mutex::new(KeptTransaction { connection, open: true }))))
    }

    async fn checkout(&self, kept: &Arc<Kept>) -> Result<KeptConnection, DbErr> {
        let slot = kept.slots.clone().acquire_owned().await.map_err(|_| closed())?;
        let idle = kept.idle.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match idle {
            Some(connection) => connection,
            None => self.pool.get_postgres_connection_pool().acquire().await.map_err(acquire_error)?,
        };
        Ok(KeptConnection {
            connection: Some(connection),
            home: kept.clone(),
            in_use: false,
            broken: false,
            _slot: slot,
        })
    }
}

/// A connection out of sqlx's pool; dropped, it returns to [`Kept`].
struct KeptConnection {
    connection: Option<PoolConnection<Postgres>>,
    home: Arc<Kept>,
    /// Set while a statement runs: still set at drop means it was cancelled.
    in_use: bool,
    broken: bool,
    // Released after `drop` has put the connection back.
    _slot: OwnedSemaphorePermit,
}

impl KeptConnection {
    /// Runs `f` on the connection, noting cancellation and breakage.
    async fn run<T>(
        &mut self,
        f: impl for<'c> FnOnce(&'c mut PgConnection) -> futures::future::BoxFuture<'c, Result<T, sqlx::Error>>,
    ) -> Result<T, DbErr> {
        let connection = self.connection.as_deref_mut().ok_or_else(closed)?;
        self.in_use = true;
        let result = f(connection).await.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e)));
        self.in_use = false;
        if let Err(err) = &result {
            self.broken |= is_unavailable(err);
        }
        result
    }

    async fn execute(&mut self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.run(move |c| Box::pin(async move { query(&stmt).execute(c).await })).await.map(ExecResult::from)
    }

    async fn execute_unprepared(&mut self, sql: &str) -> Result<ExecResult, DbErr> {
        let sql = sql.to_owned();
        self.run(move |c| Box::pin(async move { c.execute(sql.as_str()).await })).await.map(ExecResult::from)
    }

    async fn query_one(&mut self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.run(move |c| Box::pin(async move { query(&stmt).fetch_optional(c).await }))
            .await
            .map(|row| row.map(QueryResult::from))
    }

    async fn query_all(&mut self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.run(move |c| Box::pin(async move { query(&stmt).fetch_all(c).await }))
            .await
            .map(|rows| rows.into_iter().map(QueryResult::from).collect())
    }
}

impl Drop for KeptConnection {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else { return };
        if !self.in_use
            && !self.broken
            && !self.home.closed.load(Ordering::Acquire)
            && let Ok(mut idle) = self.home.idle.lock()
        {
            idle.push(connection);
        }
        // Otherwise `connection` drops here, back to sqlx's pool: its release
        // ping reads what a cancelled statement left unread, or finds the
        // connection dead and closes it.
    }
}

fn query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    sqlx::query_with(&stmt.sql, SqlxValues(stmt.values.clone().unwrap_or(sea_orm::sea_query::Values(Vec::new()))))
}

/// The error of a call on a database that is closed, or shutting down.
pub fn closed() -> DbErr {
    DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed)
}

fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => closed(),
        other => DbErr::Conn(RuntimeErr::SqlxError(other)),
    }
}

/// A transaction of [`Database`]: it rolls back unless committed.
pub struct Transaction(TransactionKind);

enum TransactionKind {
    Pooled(DatabaseTransaction),
    Kept(tokio::sync::Mutex<KeptTransaction>),
}

struct KeptTransaction {
    connection: KeptConnection,
    open: bool,
}

impl Drop for KeptTransaction {
    fn drop(&mut self) {
        // Dropped open (an error returned early): the ROLLBACK is queued on
        // the connection and sent before its next statement, as sqlx's own
        // transactions do.
        if self.open
            && let Some(connection) = self.connection.connection.as_deref_mut()
        {
            <Postgres as sqlx::Database>::TransactionManager::start_rollback(connection);
        }
    }
}

impl Transaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.finish(true).await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.finish(false).await
    }

    async fn finish(self, commit: bool) -> Result<(), DbErr> {
        match self.0 {
            TransactionKind::Pooled(tx) => {
                if commit {
                    tx.commit().await
                } else {
                    tx.rollback().await
                }
            }
            TransactionKind::Kept(tx) => {
                let mut tx = tx.into_inner();
                type Manager = <Postgres as sqlx::Database>::TransactionManager;
                let result = if commit {
                    tx.connection.run(|c| Manager::commit(c)).await
                } else {
                    tx.connection.run(|c| Manager::rollback(c)).await
                };
                // Still open when COMMIT failed: dropping `tx` queues the
                // ROLLBACK, as a failed commit of sqlx's own does.
                tx.open = result.is_err();
                result
            }
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Database {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.kept {
            Some(kept) => self.checkout(kept).await?.execute(stmt).await,
            None => self.pool.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.kept {
            Some(kept) => self.checkout(kept).await?.execute_unprepared(sql).await,
            None => self.pool.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.kept {
            Some(kept) => self.checkout(kept).await?.query_one(stmt).await,
            None => self.pool.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.kept {
            Some(kept) => self.checkout(kept).await?.query_all(stmt).await,
            None => self.pool.query_all(stmt).await,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Transaction {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            TransactionKind::Pooled(tx) => tx.get_database_backend(),
            TransactionKind::Kept(_) => DbBackend::Postgres,
        }
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.0 {
            TransactionKind::Pooled(tx) => tx.execute(stmt).await,
            TransactionKind::Kept(tx) => tx.lock().await.connection.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.0 {
            TransactionKind::Pooled(tx) => tx.execute_unprepared(sql).await,
            TransactionKind::Kept(tx) => tx.lock().await.connection.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.0 {
            TransactionKind::Pooled(tx) => tx.query_one(stmt).await,
            TransactionKind::Kept(tx) => tx.lock().await.connection.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.0 {
            TransactionKind::Pooled(tx) => tx.query_all(stmt).await,
            TransactionKind::Kept(tx) => tx.lock().await.connection.query_all(stmt).await,
        }
    }
}
