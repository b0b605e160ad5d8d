//! Support for the services' tests: a fresh database per test, on the
//! PostgreSQL server `make test` starts (`TEST_DATABASE_URL`) or in a
//! temporary SQLite file; and, with the `testing` feature, the real Dapr
//! runtime around the apps under test:
//!
//! - [`stack`]: the Kafka broker and the Dapr scheduler a test uses, shared
//!   (`scripts/with-test-stack.sh`) or started for the test alone;
//! - [`mesh`]: a [`mesh::Mesh`] per test (its own Dapr namespace, so its own
//!   topics and consumer groups, and its own resources rendered from
//!   `components/selfhosted`) and real `daprd` sidecars in it;
//! - [`kafka`]: reading what was published, straight from the broker;
//! - [`process`]: child processes that die with the test.

#[cfg(feature = "testing")]
pub mod kafka;
#[cfg(feature = "testing")]
pub mod mesh;
#[cfg(feature = "testing")]
pub mod process;
#[cfg(feature = "testing")]
pub mod stack;

use sea_orm::{ConnectionTrait, Database, DbErr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The PostgreSQL server tests create databases on: `TEST_DATABASE_URL`,
/// else `DATABASE_URL`, else the local default.
pub fn postgres_admin_url() -> String {
    crate::config::var("TEST_DATABASE_URL")
        .or_else(|| crate::config::var("DATABASE_URL"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of a new, empty database.
pub async fn fresh_database(backend: Backend) -> Result<String, DbErr> {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    match backend {
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let admin = Database::connect(&admin_url).await?;
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
            admin.close().await?;
            let (base, _) =
                admin_url.rsplit_once('/').ok_or_else(|| DbErr::Custom("a database URL ends in /dbname".into()))?;
            Ok(format!("{base}/{name}"))
        }
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("tasks-platform-tests");
            std::fs::create_dir_all(&dir).map_err(|e| DbErr::Custom(e.to_string()))?;
            Ok(format!("sqlite://{}?mode=rwc", dir.join(format!("{name}.db")).display()))
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test
/// (naming `what`) after `timeout`. Waiting on a condition, never a fixed sleep.
#[allow(clippy::panic)]
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 25 ms until it holds, failing the test (naming
/// `what`) after `secs` seconds.
#[allow(clippy::panic)]
pub async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
