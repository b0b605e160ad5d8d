//! The one error of every service.
//!
//! A variant says what *kind* of failure happened; the kind decides, each
//! in one place, what a gRPC caller sees (`From<Error> for Status`:
//! AIP-193 code, reason, offending fields), what daprd does with an event
//! ([`Error::outcome`]: RETRY or DROP) and how loudly it is logged
//! ([`Error::log`]). A caller's mistake (bad input, not found) is not an
//! ERROR; a dependency that is down is a WARN; a bug is an ERROR. Sources
//! are kept, so a log line shows the whole chain.
//!
//! gRPC handlers return `Result<_, Error>` and convert with `?`/`into()`;
//! event, binding and job handlers return it to
//! [`crate::dapr::CallbackRouter`], which answers daprd from the outcome.

use std::fmt::Write as _;

use tonic::{Code, Status};

use crate::{
    auth::AuthError,
    status::{self, Violation},
    validation::Invalid,
};

/// Any error, kept as the source of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials, or bad ones.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// Bad input; nothing was changed. Each violation names its field.
    #[error("invalid argument: {}", summary(violations))]
    InvalidArgument { reason: &'static str, violations: Vec<Violation> },
    /// Missing, or another user's: the two are not told apart.
    #[error("{kind} `{name}` not found")]
    NotFound { reason: &'static str, kind: &'static str, name: String },
    #[error("{message}")]
    AlreadyExists { reason: &'static str, message: String },
    /// Lost to a concurrent change (a stale etag, AIP-154): read again, retry.
    #[error("{message}")]
    Aborted { reason: &'static str, message: String, name: String },
    /// Not allowed in the resource's current state.
    #[error("{message}")]
    FailedPrecondition { reason: &'static str, message: String },
    /// Something this service needs cannot be reached now: try again later.
    #[error("{what} is unavailable")]
    Unavailable {
        what: String,
        #[source]
        source: BoxError,
    },
    /// A message (or a stored value) that can never be handled as it is.
    #[error("{message}")]
    Malformed {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The database failed: UNAVAILABLE when it cannot be reached, else a bug.
    #[error("database error")]
    Database(#[from] sea_orm::DbErr),
    /// A bug.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// What daprd is told to do with an event whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Deliver it again later (per the resiliency policy, then dead-letter).
    Retry,
    /// It can never succeed: drop it (to the dead-letter topic when one is set).
    Drop,
}

impl Error {
    /// Bad input in one field of a request.
    pub fn invalid(reason: &'static str, field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument { reason, violations: vec![Violation::new(field, description)] }
    }

    /// A validation failure of the value at request path `prefix`.
    pub fn from_invalid(reason: &'static str, prefix: &str, invalid: Invalid) -> Self {
        let invalid = invalid.under(prefix);
        Error::invalid(reason, invalid.field, invalid.message)
    }

    /// `kind` `name` does not exist (or is not the caller's).
    pub fn not_found(reason: &'static str, kind: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound { reason, kind, name: name.into() }
    }

    /// The caller's etag of `name` is not its current one (AIP-154).
    pub fn stale_etag(name: impl Into<String>) -> Self {
        let name = name.into();
        let message = format!("`{name}` changed since the etag was read; read it again and retry");
        Error::Aborted { reason: "ETAG_MISMATCH", message, name }
    }

    /// `what` cannot be reached now, because of `source`.
    pub fn unavailable(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Unavailable { what: what.into(), source: source.into() }
    }

    /// A message that can never be handled, for the reason `message`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Error::Malformed { message: message.into(), source: None }
    }

    /// A message that can never be handled: `message`, because of `source`.
    pub fn malformed_by(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Malformed { message: message.into(), source: Some(source.into()) }
    }

    /// A bug, described by `source`.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Error::Internal(source.into())
    }

    /// RETRY what might succeed later; DROP what never will.
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::Unavailable { .. } | Error::Database(_) | Error::Aborted { .. } | Error::Internal(_) => {
                Outcome::Retry
            }
            Error::Unauthenticated(_)
            | Error::InvalidArgument { .. }
            | Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::FailedPrecondition { .. }
            | Error::Malformed { .. } => Outcome::Drop,
        }
    }

    /// Logs the error once, with its source chain, at the level its kind
    /// deserves; `context` says what was being done.
    pub fn log(&self, context: &str) {
        let chain = self.chain();
        if self.is_bug() {
            tracing::error!(error.message = %chain, error.cause_chain = ?self, "{context}");
        } else if self.is_unavailable() {
            tracing::warn!(error.message = %chain, "{context}");
        } else {
            tracing::info!(error.message = %chain, "{context}");
        }
    }

    /// This error and each of its sources, joined by `: `.
    pub fn chain(&self) -> String {
        let mut chain = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let _ = write!(chain, ": {cause}");
            source = cause.source();
        }
        chain
    }

    /// A dependency is down (retry later), not a bug nor the caller's mistake.
    fn is_unavailable(&self) -> bool {
        match self {
            Error::Unavailable { .. } => true,
            Error::Database(db) => crate::db::is_unavailable(db),
            Error::Unauthenticated(AuthError::Jwks(_)) => true,
            _ => false,
        }
    }

    fn is_bug(&self) -> bool {
        match self {
            Error::Internal(_) | Error::Malformed { .. } => true,
            Error::Database(db) => !crate::db::is_unavailable(db),
            _ => false,
        }
    }
}

/// What the caller sees. Only server-side failures are logged here: a
/// refused call is already logged, with its code, by [`crate::grpc`].
impl From<Error> for Status {
    fn from(err: Error) -> Self {
        if err.is_bug() || err.is_unavailable() {
            err.log("request failed");
        }
        match err {
            Error::Unauthenticated(auth) => auth.into(),
            Error::InvalidArgument { reason, violations } => status::invalid_argument(reason, &violations),
            Error::NotFound { reason, kind, name } => status::error_with_metadata(
                Code::NotFound,
                reason,
                format!("{kind} `{name}` not found"),
                [("name".to_owned(), name)].into(),
            ),
            Error::AlreadyExists { reason, message } => status::error(Code::AlreadyExists, reason, message),
            Error::Aborted { reason, message, name } => {
                status::error_with_metadata(Code::Aborted, reason, message, [("name".to_owned(), name)].into())
            }
            Error::FailedPrecondition { reason, message } => status::error(Code::FailedPrecondition, reason, message),
            Error::Unavailable { what, .. } => {
                status::error(Code::Unavailable, "UNAVAILABLE", format!("{what} is unavailable; retry later"))
            }
            Error::Database(db) if crate::db::is_unavailable(&db) => {
                status::error(Code::Unavailable, "DATABASE_UNAVAILABLE", "the database is unavailable; retry later")
            }
            Error::Database(_) | Error::Malformed { .. } | Error::Internal(_) => {
                status::error(Code::Internal, "INTERNAL", "internal error")
            }
        }
    }
}

fn summary(violations: &[Violation]) -> String {
    violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_callers_mistake_is_dropped_and_a_dependency_down_is_retried() {
        assert_eq!(Error::invalid("BAD", "task.title", "is empty").outcome(), Outcome::Drop);
        assert_eq!(Error::not_found("TASK_NOT_FOUND", "task", "tasks/1").outcome(), Outcome::Drop);
        assert_eq!(Error::malformed("no data").outcome(), Outcome::Drop);
        assert_eq!(Error::unavailable("the sidecar", "connection refused").outcome(), Outcome::Retry);
        assert_eq!(Error::Database(sea_orm::DbErr::Custom("x".into())).outcome(), Outcome::Retry);
        assert_eq!(Error::stale_etag("tasks/1").outcome(), Outcome::Retry);
    }

    #[test]
    fn the_status_has_the_code_and_reason_of_the_kind_and_hides_bugs() {
        let status = Status::from(Error::invalid("INVALID_TASK", "task.title", "is empty"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status::violated_fields(&status), ["task.title"]);
        let status = Status::from(Error::not_found("TASK_NOT_FOUND", "task", "tasks/1"));
        assert_eq!((status.code(), status::reason_of(&status).as_deref()), (Code::NotFound, Some("TASK_NOT_FOUND")));
        let status = Status::from(Error::stale_etag("tasks/1"));
        assert_eq!((status.code(), status::reason_of(&status).as_deref()), (Code::Aborted, Some("ETAG_MISMATCH")));
        let status = Status::from(Error::unavailable("the sidecar", "connection refused"));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("refused"), "the cause stays in the log: {status:?}");
        let status = Status::from(Error::internal("secret detail"));
        assert_eq!((status.code(), status.message()), (Code::Internal, "internal error"));
    }

    #[test]
    fn the_chain_keeps_every_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = Error::unavailable("the state store", io);
        assert_eq!(err.chain(), "the state store is unavailable: connection refused");
    }
}
