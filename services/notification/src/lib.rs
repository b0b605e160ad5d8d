//! The notification service: tells users about their reminders (every
//! `todo.reminder.due.v1` on `reminders`) and about the task events they
//! opted into (`task-events`), through their channels:
//!
//! - **log** — always on, a structured log line;
//! - **webhook** — an HTTP POST of a JSON body with `X-Todo-Delivery-Id`,
//!   `X-Todo-Timestamp` (unix seconds) and `X-Todo-Signature: v1=<hex
//!   HMAC-SHA256(secret, "{timestamp}.{body}")>`, sent directly (see
//!   [`channels`] for why not through the `http` binding);
//! - **email** — the Dapr `smtp` output binding `email`.
//!
//! Each (event id, channel) is delivered at most once in effect: a delivery
//! log (unique on the pair) records every attempt with its time, outcome
//! and error, and a redelivered event sends nothing again. Transient
//! failures (network, HTTP 5xx/429/408, SMTP 4xx, database or sidecar
//! down) answer RETRY so the sidecar redelivers with backoff; permanent
//! ones (other 4xx, invalid address, SMTP 5xx, undecodable events) answer
//! DROP and the event goes to the dead-letter topic `notifications-dlq`.
//! Users read and change their preferences and read their deliveries
//! through `todo.notification.v1.NotificationService` (JWT, per user); the
//! webhook secret is write-only.
//!
//! Known limit: webhook secrets are stored as given in the service's own
//! database (HMAC needs the key itself); protect that database like a
//! secret store.
//!
//! # Layout
//! - [`domain`]: channels, outcomes, failure classification, signatures,
//!   validation — pure.
//! - [`store`]: preferences and the delivery log (sea-orm).
//! - [`channels`]: sending through log, webhook and email.
//! - [`events`]: the subscriptions and delivering one event.
//! - [`api`], [`error`]: the gRPC API and its error mapping.
//! - [`config`], [`app`]: settings and the builder `main` and tests share.

pub mod api;
pub mod app;
pub mod channels;
pub mod config;
pub mod domain;
pub mod events;
pub mod store;

pub use app::{App, Application};
pub use config::Settings;
