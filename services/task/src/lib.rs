//! The task service: tasks, tags, priorities and recurrence rules of each
//! user, behind an AIP-style gRPC API, with every change recorded as an
//! event in a transactional outbox.
//!
//! # Layout
//! - [`domain`]: value types and rules, no I/O (titles, dues, reminders,
//!   recurrence specs, filters, page tokens).
//! - [`store`]: sea-orm persistence on PostgreSQL or SQLite, the outbox.
//! - [`service`]: the use cases; each mutation is one transaction.
//! - [`api`]: the tonic `TaskService`: translate, validate, call, translate back.
//! - [`relay`]: the outbox relay, publishing events through the Dapr sidecar.
//! - [`convert`]: wire ⇄ domain conversions.
//! - [`error`]: the error type and its one mapping to gRPC status.
//! - [`config`], [`app`]: settings and the application builder used by
//!   `main` and the tests.

pub mod api;
pub mod app;
pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod relay;
pub mod service;
pub mod store;

pub use app::Application;
pub use config::Settings;
