//! AIP-193 errors: every error a client sees is a `google.rpc.Status` with a
//! canonical code, exactly one `google.rpc.ErrorInfo` (a stable reason in
//! [`ERROR_DOMAIN`]) and, for bad input, a `google.rpc.BadRequest` listing
//! the offending fields.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The `ErrorInfo.domain` of every error this platform returns.
pub const ERROR_DOMAIN: &str = "tasks.todo.dev";

/// At most this many characters of a field violation's description, and
/// [`MAX_MESSAGE`] of a status message. Descriptions may quote the bad input;
/// gRPC carries the message and the details in response headers, which
/// clients cap (8 KiB is common), so a long input repeated in full would
/// turn INVALID_ARGUMENT into a transport error and lose the details.
pub const MAX_DESCRIPTION: usize = 200;
pub const MAX_MESSAGE: usize = 1000;

/// `text` cut to `max` characters, with an ellipsis when it was longer.
pub fn capped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// One field that a request got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field in the request, e.g. `task.title`.
    pub field: String,
    /// What is wrong with it, for a human.
    pub description: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: capped(&description.into(), MAX_DESCRIPTION) }
    }
}

/// A status with an `ErrorInfo` of `reason` and no other details.
pub fn error(code: Code, reason: &str, message: impl Into<String>) -> Status {
    error_with_metadata(code, reason, message, HashMap::new())
}

/// A status with an `ErrorInfo` of `reason` carrying `metadata`.
pub fn error_with_metadata(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: HashMap<String, String>,
) -> Status {
    let metadata: HashMap<String, String> =
        metadata.into_iter().map(|(k, v)| (k, capped(&v, MAX_DESCRIPTION))).collect();
    let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(code, capped(&message.into(), MAX_MESSAGE), details)
}

/// INVALID_ARGUMENT naming every violated field in a `BadRequest`.
pub fn invalid_argument(reason: &str, violations: &[Violation]) -> Status {
    let description = |v: &Violation| capped(&v.description, MAX_DESCRIPTION);
    let message = violations.iter().map(|v| format!("{}: {}", v.field, description(v))).collect::<Vec<_>>().join("; ");
    let mut details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new());
    details.set_bad_request(
        violations.iter().map(|v| FieldViolation::new(v.field.clone(), description(v))).collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, capped(&message, MAX_MESSAGE), details)
}

/// The reason of a status's `ErrorInfo`, if it has one (what tests assert).
#[cfg(any(test, feature = "testing"))]
pub fn reason_of(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// The fields named in a status's `BadRequest`, if it has one.
#[cfg(any(test, feature = "testing"))]
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
