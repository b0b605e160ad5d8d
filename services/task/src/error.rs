//! The task service's errors: the platform's one error type
//! ([`shared::Error`], with its single mapping to gRPC status), and the
//! not-found errors of this service's resources.

pub use shared::error::{Error, Result};

/// The task `name` does not exist, or is another user's.
pub fn task_not_found(name: impl Into<String>) -> Error {
    Error::not_found("TASK_NOT_FOUND", "task", name)
}

/// The tag `name` does not exist, or is another user's.
pub fn tag_not_found(name: impl Into<String>) -> Error {
    Error::not_found("TAG_NOT_FOUND", "tag", name)
}
