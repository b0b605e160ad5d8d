//! Schema of the task service: tasks, tags, the per-user revision counter
//! and the transactional outbox.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_tasks;
mod m20261123_000002_create_tags;
mod m20261123_000003_create_user_revisions;
mod m20261123_000004_create_outbox;
mod m20261123_000005_add_series;
mod m20261201_000001_quarantine_outbox_rows;
mod m20261201_000002_outbox_event_json;
mod m20261201_000003_priority_order_indexes;
mod m20261202_000001_revise_events_in_sql;
mod m20261202_000002_mark_revisions_in_event_json;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_tasks::Migration),
            Box::new(m20261123_000002_create_tags::Migration),
            Box::new(m20261123_000003_create_user_revisions::Migration),
            Box::new(m20261123_000004_create_outbox::Migration),
            Box::new(m20261123_000005_add_series::Migration),
            Box::new(m20261201_000001_quarantine_outbox_rows::Migration),
            Box::new(m20261201_000002_outbox_event_json::Migration),
            Box::new(m20261201_000003_priority_order_indexes::Migration),
            Box::new(m20261202_000001_revise_events_in_sql::Migration),
            Box::new(m20261202_000002_mark_revisions_in_event_json::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("task_migrations").into_iden()
    }
}
