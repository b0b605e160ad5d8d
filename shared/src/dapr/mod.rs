//! Dapr glue: the app side of the sidecar contract (see
//! `shared/docs/dapr-contract.md` in the steering repo).
//!
//! - [`event`]: what a handler receives (a decoded CloudEvent) and how its
//!   error tells the sidecar to retry or drop.
//! - [`router`]: `AppCallback`, `AppCallbackAlpha` and
//!   `AppCallbackHealthCheck`, implemented once and configured
//!   declaratively by each service.
//! - [`publisher`]: publishing CloudEvents through the sidecar with the
//!   `dapr` crate's client.

pub mod event;
pub mod publisher;
pub mod router;

pub use event::{Event, HandlerError};
pub use publisher::{OutgoingEvent, PublishError, Publisher};
pub use router::{CallbackRouter, Subscription};
