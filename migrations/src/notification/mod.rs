//! Schema of the notification service: preferences and the delivery log.

use sea_orm_migration::prelude::*;

mod m20261124_000001_create_notifications;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261124_000001_create_notifications::Migration)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("notification_migrations").into_iden()
    }
}
