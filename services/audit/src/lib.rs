//! The audit service: subscribes to every task event and appends each one
//! once (unique on the event id) to an append-only log per user. Each
//! entry's hash covers the previous entry's hash, so changing, removing or
//! reordering an entry breaks the chain, which `VerifyAuditChain` reports.
//!
//! # Layout
//! - [`chain`]: the hash of an entry, pure.
//! - [`store`]: appending (idempotent, serialised per user), listing,
//!   reading the chain back.
//! - [`events`]: the Dapr subscription and its handler.
//! - [`api`]: `todo.audit.v1.AuditService` over tonic, JWT-authenticated.
//! - [`config`], [`app`]: settings and the builder `main` and tests share.

pub mod api;
pub mod app;
pub mod chain;
pub mod config;
pub mod events;
pub mod store;

pub use app::Application;
pub use config::Settings;
