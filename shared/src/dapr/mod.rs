//! Dapr glue: the app side of the sidecar contract (`docs/dapr.md` says
//! what daprd sends and expects).
//!
//! - [`event`]: what a handler receives (a decoded CloudEvent) and how its
//!   error tells the sidecar to retry or drop.
//! - [`router`]: `AppCallback`, `AppCallbackAlpha` and
//!   `AppCallbackHealthCheck`, implemented once and configured
//!   declaratively by each service.
//! - [`sidecar`]: the app's connection to its sidecar (the `dapr` crate's
//!   client): publishing CloudEvents, invoking apps, state.

pub mod event;
pub mod router;
pub mod sidecar;

pub use event::{Event, HandlerError};
pub use router::{CallbackRouter, Subscription};
pub use sidecar::{LazySidecar, OutgoingEvent, PublishError, Sidecar};
