#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every migration applies and reverts cleanly, on PostgreSQL and SQLite,
//! and can be applied again after a full revert.

use migrations::MigratorTrait;
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection};

const TABLES: [&str; 5] = ["tasks", "task_tags", "tags", "user_revisions", "outbox"];

async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
    let manager = sea_orm_migration::SchemaManager::new(db);
    manager.has_table(table).await.unwrap()
}

async fn round_trip(db: DatabaseConnection) {
    migrations::task::Migrator::up(&db, None).await.unwrap();
    for table in TABLES {
        assert!(has_table(&db, table).await, "{table} after up");
    }
    migrations::task::Migrator::down(&db, None).await.unwrap();
    for table in TABLES {
        assert!(!has_table(&db, table).await, "{table} after down");
    }
    migrations::task::Migrator::up(&db, None).await.unwrap();
    assert!(migrations::task::Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn migrations_round_trip_on_postgres() {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = Database::connect(&admin_url).await.unwrap();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    round_trip(Database::connect(format!("{base}/{name}")).await.unwrap()).await;
}

#[tokio::test]
async fn migrations_round_trip_on_sqlite() {
    round_trip(Database::connect("sqlite::memory:").await.unwrap()).await;
}
