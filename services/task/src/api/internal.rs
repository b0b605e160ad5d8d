//! `todo.task.v1.TaskInternalService`: what other services of the platform
//! call, through their sidecar (Dapr gRPC proxying), never clients. There
//! is no end-user token: the caller names the user, so a call is accepted
//! only with the app token daprd adds (`dapr-api-token` = `APP_API_TOKEN`)
//! whenever one is configured.

use shared::{
    auth::UserId,
    config::Secret,
    dapr::{CallbackRouter, check_app_token},
    proto::todo::task::v1::{self as pb, task_internal_service_server::TaskInternalService},
};
use tonic::{Request, Response, Status};

use super::content;
use crate::{
    convert,
    domain::{
        due::Due,
        task::{Series, TaskId},
    },
    error::Error,
    service::TaskService,
};

/// The task service's Dapr callbacks: no subscriptions or invocable methods
/// (other services call [`TaskInternal`]), only the token check and health.
pub fn callbacks(app_api_token: Option<Secret>) -> CallbackRouter {
    CallbackRouter::builder().api_token(app_api_token).build()
}

/// The internal API over the task service.
pub struct TaskInternal {
    service: TaskService,
    app_api_token: Option<Secret>,
}

impl TaskInternal {
    pub fn new(service: TaskService, app_api_token: Option<Secret>) -> Self {
        Self { service, app_api_token }
    }

    /// When the app has a token, only its sidecar (which sends it) gets in.
    fn check_caller<T>(&self, request: &Request<T>) -> Result<(), Status> {
        check_app_token(self.app_api_token.as_ref().map(Secret::expose), request.metadata())
    }
}

#[tonic::async_trait]
impl TaskInternalService for TaskInternal {
    async fn create_occurrence(
        &self,
        request: Request<pb::CreateOccurrenceRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        self.check_caller(&request)?;
        Ok(Response::new(create_occurrence(&self.service, request.into_inner()).await?))
    }
}

/// The idempotency key of instance `index` of `series`. Its text is the one
/// the first release derived (from the id's `Debug` form), kept byte for
/// byte: a different key would let an event redelivered across an upgrade
/// create the instance a second time.
fn occurrence_request_id(series: TaskId, index: u32) -> String {
    let key = format!("TaskId({})/{index}", series.as_stored());
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).to_string()
}

/// Creates instance `occurrence_index` of a series at most once: the
/// request id is derived from (series, index), and CreateTask is idempotent
/// on it, so redeliveries and complete → reopen → complete all land on the
/// same instance.
async fn create_occurrence(service: &TaskService, r: pb::CreateOccurrenceRequest) -> Result<pb::Task, Error> {
    let user = UserId::parse(&r.user_id).map_err(|_| bad_occurrence("user_id", "is not a valid user id"))?;
    let task = r.task.ok_or_else(|| bad_occurrence("task", "is required"))?;
    let series_id = TaskId::from_stored(&r.series_id).ok_or_else(|| bad_occurrence("series_id", "is not a task id"))?;
    let index =
        u32::try_from(r.occurrence_index).map_err(|_| bad_occurrence("occurrence_index", "must not be negative"))?;
    let mut content = content(&task)?;
    // The series keeps counting from its first occurrence.
    if let (Some(rule), Some(raw)) =
        (&mut content.recurrence, task.recurrence.as_ref().map(|r| r.series_start.as_str()))
    {
        rule.series_start = Due::parse_local(raw).ok();
    }
    let request_id = occurrence_request_id(series_id, index);
    let created =
        service.create_in_series(&user, content, Some(request_id), Some(Series { id: series_id, index })).await?;
    Ok(convert::task(created))
}

/// A malformed CreateOccurrence request, naming the field.
fn bad_occurrence(field: &str, description: impl Into<String>) -> Error {
    Error::invalid("INVALID_OCCURRENCE", field, description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_occurrence_key_is_the_one_the_first_release_derived() {
        let series = TaskId::from_stored("0190a4c2-7b1e-7c3a-9d2f-5e6f7a8b9c0d").unwrap_or_default();
        // What `format!("{series_id:?}/{index}")` gave before the key was spelled out.
        let legacy = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{series:?}/3").as_bytes());
        assert_eq!(occurrence_request_id(series, 3), legacy.to_string());
        assert_ne!(occurrence_request_id(series, 3), occurrence_request_id(series, 4));
    }
}
