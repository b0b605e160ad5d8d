#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `shared::db::Database` on a real PostgreSQL: connections are kept and
//! reused, and nothing one use leaves behind (an open transaction, a
//! cancelled statement, a dead connection) reaches the next.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use shared::{
    db::{self, Database},
    testing::{Backend, fresh_database},
};

async fn database(size: usize) -> Database {
    let url = fresh_database(Backend::Postgres).await.unwrap();
    let db = Database::new(db::connect(&url).await.unwrap(), size);
    db.execute_unprepared("CREATE TABLE notes (id bigint PRIMARY KEY)").await.unwrap();
    db
}

async fn backend_pid(conn: &impl ConnectionTrait) -> i32 {
    let row = conn.query_one(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid")).await;
    row.unwrap().unwrap().try_get("", "pid").unwrap()
}

async fn count(db: &Database) -> i64 {
    let row = db.query_one(Statement::from_string(DbBackend::Postgres, "SELECT count(*) AS n FROM notes")).await;
    row.unwrap().unwrap().try_get("", "n").unwrap()
}

fn insert(id: i64) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, "INSERT INTO notes (id) VALUES ($1)", [id.into()])
}

#[tokio::test]
async fn one_kept_connection_serves_every_statement_and_transaction() {
    let db = database(1).await;
    let first = backend_pid(&db).await;
    let tx = db.begin().await.unwrap();
    assert_eq!(backend_pid(&tx).await, first);
    tx.execute(insert(1)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(backend_pid(&db).await, first);
    assert_eq!(count(&db).await, 1);
}

#[tokio::test]
async fn a_transaction_dropped_without_commit_is_rolled_back_before_the_next_use() {
    let db = database(1).await;
    {
        let tx = db.begin().await.unwrap();
        tx.execute(insert(7)).await.unwrap();
        // Dropped here, as when a handler returns an error early.
    }
    assert_eq!(count(&db).await, 0, "the insert of the dropped transaction is gone");
    // And the connection is not left inside a transaction: this commits.
    db.execute(insert(8)).await.unwrap();
    let other = Database::new(db::connect(&url_of(&db).await).await.unwrap(), 1);
    assert_eq!(count(&other).await, 1, "another session sees the committed row");
    let tx = db.begin().await.unwrap();
    tx.execute(insert(9)).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(&db).await, 1);
}

#[tokio::test]
async fn a_statement_cancelled_half_way_does_not_reach_the_next_caller() {
    let db = database(1).await;
    let slow = db.query_one(Statement::from_string(DbBackend::Postgres, "SELECT 42 AS n FROM pg_sleep(0.3)"));
    assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err(), "cancelled while running");
    // The next caller gets its own answer, not the cancelled query's.
    let row = db.query_one(Statement::from_string(DbBackend::Postgres, "SELECT 7 AS n")).await.unwrap().unwrap();
    assert_eq!(row.try_get::<i32>("", "n").unwrap(), 7);
}

#[tokio::test]
async fn a_connection_the_server_ended_is_replaced() {
    let db = database(1).await;
    let first = backend_pid(&db).await;
    let admin = db::connect(&shared::testing::postgres_admin_url()).await.unwrap();
    admin
        .execute(Statement::from_sql_and_values(DbBackend::Postgres, "SELECT pg_terminate_backend($1)", [first.into()]))
        .await
        .unwrap();
    // The first use after the kill fails (it was in no transaction, so
    // nothing is lost) and gives the dead connection up; the next works.
    assert!(db.query_one(Statement::from_string(DbBackend::Postgres, "SELECT 1")).await.is_err());
    let second = backend_pid(&db).await;
    assert_ne!(second, first);
}

#[tokio::test]
async fn closing_returns_the_kept_connections() {
    let db = database(2).await;
    let (a, b) = (db.begin().await.unwrap(), db.begin().await.unwrap());
    assert_ne!(backend_pid(&a).await, backend_pid(&b).await, "two slots, two connections");
    drop((a, b));
    tokio::time::timeout(Duration::from_secs(10), db.close()).await.expect("close does not wait forever").unwrap();
}

async fn url_of(db: &Database) -> String {
    let row = db.query_one(Statement::from_string(DbBackend::Postgres, "SELECT current_database() AS name")).await;
    let name: String = row.unwrap().unwrap().try_get("", "name").unwrap();
    let admin = shared::testing::postgres_admin_url();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}
