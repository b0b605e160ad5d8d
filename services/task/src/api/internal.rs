//! Methods other services call through Dapr service invocation
//! (`OnInvoke`), never exposed on the public API. The sidecar
//! authenticates the caller (mTLS between sidecars, `APP_API_TOKEN` toward
//! this app), so these take the user id from the request.

use dapr::dapr::proto::common::v1::{InvokeRequest, InvokeResponse};
use shared::{
    auth::UserId,
    dapr::CallbackRouter,
    proto::{json, todo::task::v1 as pb},
};
use tonic::Status;

use super::content;
use crate::{
    convert,
    domain::{
        due::Due,
        task::{Series, TaskId},
    },
    service::TaskService,
};

/// `CreateOccurrence`: the recurrence service's only way to write tasks.
pub const CREATE_OCCURRENCE: &str = "CreateOccurrence";

/// The task service's callback router: its invocable methods, answering
/// only callbacks that carry `app_api_token` when one is set.
pub fn callbacks(service: TaskService, app_api_token: Option<shared::config::Secret>) -> CallbackRouter {
    CallbackRouter::builder()
        .method(CREATE_OCCURRENCE, move |request: InvokeRequest| {
            let service = service.clone();
            async move { create_occurrence(&service, request).await }
        })
        .api_token(app_api_token)
        .build()
}

/// Creates instance `occurrence_index` of a series at most once: the
/// request id is derived from (series, index), and CreateTask is idempotent
/// on it, so redeliveries and complete → reopen → complete all land on the
/// same instance.
async fn create_occurrence(service: &TaskService, request: InvokeRequest) -> Result<InvokeResponse, Status> {
    let body = request.data.map(|any| any.value).unwrap_or_default();
    let r: pb::CreateOccurrenceRequest =
        json::from_slice(&body).map_err(|e| bad_occurrence("body", format!("is not a CreateOccurrence: {e}")))?;
    let user = UserId::parse(&r.user_id).map_err(|_| bad_occurrence("user_id", "is not a valid user id"))?;
    let task = r.task.ok_or_else(|| bad_occurrence("task", "is required"))?;
    let series_id = TaskId::from_stored(&r.series_id).ok_or_else(|| bad_occurrence("series_id", "is not a task id"))?;
    let index =
        u32::try_from(r.occurrence_index).map_err(|_| bad_occurrence("occurrence_index", "must not be negative"))?;
    let mut content = content(&task).map_err(Status::from)?;
    // The series keeps counting from its first occurrence.
    if let (Some(rule), Some(raw)) =
        (&mut content.recurrence, task.recurrence.as_ref().map(|r| r.series_start.as_str()))
    {
        rule.series_start = Due::parse_local(raw).ok();
    }
    let request_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{series_id:?}/{index}").as_bytes());
    let created = service
        .create_in_series(&user, content, Some(request_id.to_string()), Some(Series { id: series_id, index }))
        .await
        .map_err(Status::from)?;
    let body = json::to_value(&convert::task(&created)).map_err(|e| {
        tracing::error!(error = %e, "cannot encode the created occurrence");
        shared::status::error(tonic::Code::Internal, "INTERNAL", "internal error")
    })?;
    Ok(InvokeResponse {
        data: Some(prost_types::Any { type_url: String::new(), value: body.to_string().into_bytes() }),
        content_type: "application/json".to_owned(),
    })
}

/// A malformed CreateOccurrence request, naming the field.
fn bad_occurrence(field: &str, description: impl Into<String>) -> Status {
    shared::status::invalid_argument("INVALID_OCCURRENCE", &[shared::status::Violation::new(field, description)])
}
