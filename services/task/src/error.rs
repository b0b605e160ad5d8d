//! The task service's errors, and their one mapping to gRPC status.

use shared::{
    auth::AuthError,
    status::{self, Violation},
};
use tonic::{Code, Status};

use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// Bad input; nothing was changed.
    #[error("invalid argument: {violations:?}")]
    InvalidArgument { reason: &'static str, violations: Vec<Violation> },
    /// Missing, or another user's: the two are not told apart.
    #[error("{kind} {name} not found")]
    NotFound { kind: &'static str, name: String },
    #[error("{message}")]
    AlreadyExists { reason: &'static str, message: String },
    /// A stale etag (AIP-154).
    #[error("the etag does not match the current version of {name}")]
    EtagMismatch { name: String },
    #[error("{message}")]
    FailedPrecondition { reason: &'static str, message: String },
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input in one field of the request.
    pub fn invalid(reason: &'static str, field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument { reason, violations: vec![Violation::new(field, description)] }
    }

    /// A domain validation failure under request path `prefix`.
    pub fn from_invalid(reason: &'static str, prefix: &str, invalid: Invalid) -> Self {
        let invalid = invalid.under(prefix);
        Error::invalid(reason, invalid.field, invalid.message)
    }

    pub fn task_not_found(name: impl Into<String>) -> Self {
        Error::NotFound { kind: "task", name: name.into() }
    }

    pub fn tag_not_found(name: impl Into<String>) -> Self {
        Error::NotFound { kind: "tag", name: name.into() }
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::Unauthenticated(auth) => auth.into(),
            Error::InvalidArgument { reason, violations } => status::invalid_argument(reason, &violations),
            Error::NotFound { kind, name } => status::error_with_metadata(
                Code::NotFound,
                if kind == "task" { "TASK_NOT_FOUND" } else { "TAG_NOT_FOUND" },
                format!("{kind} `{name}` not found"),
                [("name".to_owned(), name)].into(),
            ),
            Error::AlreadyExists { reason, message } => status::error(Code::AlreadyExists, reason, message),
            Error::EtagMismatch { name } => status::error_with_metadata(
                Code::Aborted,
                "ETAG_MISMATCH",
                format!("`{name}` changed since the etag was read; read it again and retry"),
                [("name".to_owned(), name)].into(),
            ),
            Error::FailedPrecondition { reason, message } => status::error(Code::FailedPrecondition, reason, message),
            Error::Database(db) => status::database_error(&db),
            Error::Internal(e) => {
                tracing::error!(error.message = %e, error.cause_chain = ?e, "internal error");
                status::error(Code::Internal, "INTERNAL", "internal error")
            }
        }
    }
}
