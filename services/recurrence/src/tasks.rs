//! Calls to the task service through the sidecar (Dapr service invocation
//! to its `CreateOccurrence` method).

use shared::{
    dapr::{HandlerError, Sidecar},
    proto::{json, todo::task::v1 as pb},
};

/// The task service's Dapr app id and its internal method.
pub const CREATE_OCCURRENCE: &str = "CreateOccurrence";

/// Creates instance `index` of `series_id` for `user_id` (idempotent in the
/// task service) and returns it.
pub async fn create_occurrence(
    sidecar: &Sidecar,
    task_app_id: &str,
    user_id: &str,
    series_id: &str,
    index: i32,
    task: pb::Task,
) -> Result<pb::Task, HandlerError> {
    let request = pb::CreateOccurrenceRequest {
        user_id: user_id.to_owned(),
        task: Some(task),
        series_id: series_id.to_owned(),
        occurrence_index: index,
    };
    let body = json::to_value(&request).map_err(HandlerError::permanent)?.to_string().into_bytes();
    let data = prost_types::Any { type_url: String::new(), value: body };
    let response = sidecar
        .client()
        .invoke_service(task_app_id, CREATE_OCCURRENCE, Some(data))
        .await
        // The crate hides the status code; the task service validated the
        // same content when the series began, so failures here are taken
        // as transient (bounded by resiliency and the dead-letter topic).
        .map_err(|e| HandlerError::transient(format!("CreateOccurrence failed: {e}")))?;
    let bytes = response.data.map(|any| any.value).unwrap_or_default();
    json::from_slice(&bytes).map_err(|e| HandlerError::transient(format!("CreateOccurrence answer: {e}")))
}
