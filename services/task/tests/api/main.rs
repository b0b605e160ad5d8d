//! The task service's API, over real gRPC on 127.0.0.1:0, against real
//! PostgreSQL and against SQLite (every test runs on both backends).

mod helpers;

mod auth;
mod internal;
mod isolation;
mod limits;
mod outbox;
mod pagination;
mod priorities_and_preview;
mod tags;
mod tasks;
