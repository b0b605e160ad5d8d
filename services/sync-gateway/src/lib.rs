//! The sync gateway: pushes each user's task changes to that user's live
//! connections only — a gRPC server stream (`todo.sync.v1.SyncService/Watch`)
//! and a WebSocket endpoint — and lets a client that reconnects with the
//! last revision it saw resume with no gap and no duplicate.
//!
//! How a watch works ([`watch`]): the connection first joins the [`hub`]
//! (so live events are buffered from that moment), then catches up from
//! the task service's `ListTaskChanges` feed, then forwards buffered and
//! live events, skipping what it already sent and filling any gap from the
//! feed. Per-user revisions are contiguous, which makes both checks exact.
//!
//! A slow client cannot stall others or grow memory: each connection has a
//! bounded buffer, and one that overflows is told to resync and closed.
//!
//! # Layout
//! - [`hub`]: live fan-out per user with bounded buffers.
//! - [`feed`]: the task service's change feed, through the Dapr sidecar.
//! - [`watch`]: catch-up + live merge, shared by both transports.
//! - [`api`]: the gRPC stream; [`ws`]: the WebSocket endpoint.
//! - [`config`], [`app`]: settings and the builder.

pub mod api;
pub mod app;
pub mod config;
pub mod feed;
pub mod hub;
pub mod watch;
pub mod ws;

pub use app::Application;
pub use config::Settings;
