//! Schema of the audit service: the hash-chained, append-only log.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_audit_log;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_000001_create_audit_log::Migration)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("audit_migrations").into_iden()
    }
}
