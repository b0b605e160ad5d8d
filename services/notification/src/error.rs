//! The API's errors and their gRPC status, in one place (AIP-193: a
//! canonical code, an `ErrorInfo` reason, a `BadRequest` for bad input).

use shared::status::{self, Violation};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    #[error("the notification store is unavailable: {0}")]
    Store(#[from] sea_orm::DbErr),
}

impl ApiError {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        ApiError::Invalid(vec![Violation::new(field, description)])
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Invalid(violations) => status::invalid_argument("INVALID_ARGUMENT", &violations),
            ApiError::Store(e) => status::database_error(&e),
        }
    }
}
