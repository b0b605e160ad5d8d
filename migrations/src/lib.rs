//! The database schema of every service, as sea-orm migrations (up and
//! down), runnable on PostgreSQL and on SQLite (the embedded default of
//! `make dev`).
//!
//! Each service has its own module and [`MigratorTrait`] with its own
//! history table, so services that share a database do not record each
//! other's migrations. Production runs them once per deploy through the
//! `migrate` binary (a Helm pre-install/pre-upgrade Job); tests and
//! `make dev` run them in-process.
//!
//! Times are stored as microseconds since the Unix epoch (`BIGINT`) so that
//! ordering, keyset pagination and comparisons behave the same on both
//! databases.

pub use sea_orm_migration::MigratorTrait;

pub mod audit;
pub mod notification;
pub mod task;
