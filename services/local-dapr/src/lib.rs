//! A small Dapr-compatible runtime for one machine.
//!
//! The services of this project are Dapr gRPC apps: they call the Dapr API
//! with the real `dapr` crate client and serve the real `AppCallback`
//! interface. This crate lets them run without daprd: one process serves a
//! "sidecar" per app — the Dapr API on the app's `DAPR_GRPC_PORT` — and calls
//! each app back the way daprd does, as written down in
//! `shared/docs/dapr-contract.md`. Tests written against it must hold
//! against daprd, so where daprd is surprising this runtime is too (and the
//! module docs say so).
//!
//! Components come from the same Dapr YAML as production: any `pubsub.*`
//! becomes the durable log in the runtime's database, any `state.*` the state
//! table, `bindings.cron|http|smtp` work for real, secret stores read the
//! environment or a file. Metadata the local runtime does not need (brokers,
//! connection strings, SASL) is ignored.
//!
//! # Layout
//! - [`resources`]: Dapr YAML → [`Resource`]s (components, subscriptions, resiliency).
//! - [`runtime`]: [`Runtime::start`] / [`Runtime::shutdown`], the configuration types.
//! - `app`: one app's sidecar lifecycle (wait, health, discovery).
//! - `api`: the Dapr gRPC API router (token check, dispatch, proxy fallback).
//! - `publish`, [`cloudevent`], `broker`, `subscriptions`, [`routing`],
//!   `delivery`: pub/sub from publish to acknowledgement.
//! - `state`, `jobs`, `bindings`, `secrets`, `invoke`: the other building blocks.
//! - `db`, [`schedule`]: the database and time formats.
//! - [`launcher`]: `local-dapr run -f dev/dapr.yaml`, a Multi-App Run launcher.

mod api;
mod app;
mod bindings;
mod broker;
pub mod cloudevent;
mod db;
mod delivery;
mod invoke;
mod jobs;
pub mod launcher;
mod publish;
pub mod resources;
pub mod routing;
pub mod runtime;
pub mod schedule;
mod secrets;
mod state;
mod subscriptions;

pub use broker::partition_for_key;
pub use resources::{Resource, load_resources};
pub use runtime::{AppSpec, DeliveryPolicy, Runtime, RuntimeConfig};
