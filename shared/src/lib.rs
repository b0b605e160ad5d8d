//! Plumbing every service of the task platform shares, written once.
//!
//! # Layout
//! - [`proto`]: the generated contracts of `proto/` and their descriptor set
//!   (for server reflection).
//! - [`auth`]: JWT bearer authentication; the token's subject is the user.
//! - [`error`]: the one error type of every service, mapped once to a gRPC
//!   status, to RETRY/DROP for daprd and to a log level.
//! - [`status`]: AIP-193 errors, a `google.rpc.Status` with one `ErrorInfo`
//!   and, for bad input, a `BadRequest` naming the fields.
//! - [`db`]: database connections (PostgreSQL or SQLite) set up one way.
//! - [`grpc`]: the tonic server every service runs: health, reflection (v1
//!   and v1alpha), a span per request, graceful shutdown.
//! - [`page_token`]: opaque, signed AIP-158 page tokens.
//! - [`telemetry`]: `tracing` set up once, with OpenTelemetry export when an
//!   OTLP endpoint is configured.
//! - [`config`]: settings from environment variables, read one way.
//! - [`metrics`]: Prometheus metrics on a port of each service's own.
//! - [`dapr`]: the Dapr callback router and the CloudEvent publisher.
//! - [`event_types`]: the CloudEvent types the apps publish and route on.
//! - [`shutdown`]: SIGTERM/SIGINT as a cancellation token.
//! - `testing` (feature `testing`, for the services' tests only): fresh
//!   databases, the real Dapr runtime around the apps, status readers.
//! - [`recurrence`]: a repeating task's rule end to end — wire form,
//!   validation, stored form, due dates and the date math — pure.
//! - [`validation`]: a value that failed validation, named by its field.
//!
//! Nothing here knows about tasks as a business: services own their rules.

pub mod auth;
pub mod config;
pub mod dapr;
pub mod db;
pub mod error;
pub mod event_types;
pub mod grpc;
pub mod metrics;
pub mod net;
pub mod page_token;
pub mod proto;
pub mod recurrence;
pub mod shutdown;
pub mod status;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod validation;

pub use error::Error;

/// Every binary that links this crate (the services, their tests, the
/// benches) allocates through mimalloc. A request is a few hundred short-lived
/// allocations (rows, strings, protobuf buffers, HTTP/2 frames); glibc's
/// allocator spent about a fifth of a call's instructions on them, mimalloc's
/// thread-local free lists a fraction of that. Declared here, once, so the
/// benches measure the allocator the services ship with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
