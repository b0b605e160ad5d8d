//! The local runtime over real gRPC on loopback: a scriptable AppCallback test
//! app, the runtime on port 0, a temp SQLite database per test.

// Helpers are not `#[test]` functions, which is all clippy.toml's test allowances cover.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod other;
mod pubsub;
