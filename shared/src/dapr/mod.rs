//! Dapr glue: the app side of the sidecar contract (`docs/dapr.md` says
//! what daprd sends and expects).
//!
//! - [`event`]: what a handler receives (a decoded CloudEvent); its
//!   [`crate::Error`] tells the sidecar to retry or drop
//!   ([`crate::error::Outcome`]).
//! - [`router`]: `AppCallback`, `AppCallbackAlpha` and
//!   `AppCallbackHealthCheck`, implemented once and configured
//!   declaratively by each service.
//! - [`sidecar`]: the app's connection to its sidecar (the `dapr` crate's
//!   client): publishing CloudEvents, invoking apps, state.

pub mod event;
pub mod router;
pub mod sidecar;

pub use event::Event;
pub use router::{CallbackRouter, Subscription, check_app_token};
pub use sidecar::{LazySidecar, OutgoingEvent, PublishError, Sidecar};
