#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every connection of a SQLite pool has the pragmas, not only the first:
//! they belong to a connection, and a pool opens several.

use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

#[tokio::test]
async fn every_pooled_sqlite_connection_waits_for_the_lock_and_enforces_foreign_keys() {
    let dir = std::env::temp_dir().join(format!("sqlite-pool-{}", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.display());
    let db = shared::db::connect(&url).await.unwrap();
    // Four open transactions hold the pool's four connections at once.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(db.begin().await.unwrap());
    }
    let pragma = |name: &'static str| Statement::from_string(db.get_database_backend(), format!("PRAGMA {name}"));
    for txn in &held {
        let value = |row: Option<sea_orm::QueryResult>| row.unwrap().try_get_by_index::<i64>(0).unwrap();
        let busy = value(txn.query_one(pragma("busy_timeout")).await.unwrap());
        assert_eq!(busy, shared::db::SQLITE_BUSY_TIMEOUT.as_millis() as i64);
        assert_eq!(value(txn.query_one(pragma("foreign_keys")).await.unwrap()), 1);
        let mode = txn.query_one(pragma("journal_mode")).await.unwrap().unwrap();
        assert_eq!(mode.try_get_by_index::<String>(0).unwrap(), "wal");
    }
    for txn in held {
        txn.rollback().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(dir);
}
