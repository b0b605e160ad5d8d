//! `todo.task.v1.TaskService` over tonic: authenticate, translate the
//! request into domain values (validating at the edge), call the use case,
//! translate back. No business rules live here.

pub mod internal;
mod preview;

use shared::{auth::Authenticator, proto::todo::task::v1 as pb};
use tonic::{Request, Response, Status};

use crate::{
    convert,
    domain::{
        Invalid,
        tag::{Color, TagId, TagName},
        task::{Field, Priority, TaskContent, TaskId, TaskPatch},
    },
    error::{Error, Result},
    service::{ListParams, TaskService},
};

pub use pb::task_service_server::TaskServiceServer;

/// The gRPC face of [`TaskService`].
#[derive(Clone)]
pub struct TaskApi {
    service: TaskService,
    auth: Authenticator,
}

impl TaskApi {
    pub fn new(service: TaskService, auth: Authenticator) -> Self {
        Self { service, auth }
    }

    async fn user<T>(&self, request: &Request<T>) -> Result<shared::auth::UserId> {
        Ok(self.auth.authenticate(request.metadata()).await?)
    }
}

fn respond<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn task_id(name: &str) -> Result<TaskId> {
    TaskId::from_name(name).map_err(|e| Error::from_invalid("INVALID_NAME", "name", e))
}

fn tag_id(field: &str, name: &str) -> Result<TagId> {
    TagId::from_name(name).map_err(|e| Error::from_invalid("INVALID_NAME", field, e))
}

fn invalid_task(e: Invalid) -> Error {
    Error::from_invalid("INVALID_TASK", "task", e)
}

/// Every field of a task, for create.
pub(crate) fn content(task: &pb::Task) -> Result<TaskContent> {
    Ok(TaskContent {
        title: convert::parse_title(&task.title).map_err(invalid_task)?,
        description: convert::parse_description(&task.description).map_err(invalid_task)?,
        priority: convert::parse_priority(task.priority).map_err(invalid_task)?,
        tags: convert::parse_tags(&task.tags).map_err(invalid_task)?,
        due: convert::parse_due(task.due.as_ref()).map_err(invalid_task)?,
        reminders: convert::parse_reminders(&task.reminders).map_err(invalid_task)?,
        recurrence: convert::parse_recurrence(task.recurrence.as_ref()).map_err(invalid_task)?,
    })
}

/// Paths that name output-only fields: ignored, as AIP-203 asks.
/// Every OUTPUT_ONLY field of `Task`, read from the proto's annotations.
static OUTPUT_ONLY_PATHS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(shared::proto::output_only_fields::<pb::Task>);

/// The fields an update mask names (AIP-134): empty means every populated
/// field, `*` every mutable one. One rule for every OUTPUT_ONLY field (`name`
/// and the server-set ones alike, AIP-203): naming it asks for no change and
/// is ignored; a path that is no field of `Task` is an error.
fn masked_fields(task: &pb::Task, mask: Option<&prost_types::FieldMask>) -> Result<Vec<Field>> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        let populated = |f: &Field| match f {
            Field::Title => !task.title.is_empty(),
            Field::Description => !task.description.is_empty(),
            Field::Priority => task.priority != 0,
            Field::Tags => !task.tags.is_empty(),
            Field::Due => task.due.is_some(),
            Field::Reminders => !task.reminders.is_empty(),
            Field::Recurrence => task.recurrence.is_some(),
        };
        return Ok(Field::ALL.into_iter().filter(populated).collect());
    }
    let mut fields = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let path = path.trim();
        if path == "*" {
            return Ok(Field::ALL.to_vec());
        }
        if let Some(field) = Field::from_path(path) {
            fields.push(field);
        } else if !OUTPUT_ONLY_PATHS.iter().any(|p| p == path) {
            return Err(Error::invalid(
                "UNKNOWN_FIELD",
                format!("update_mask.paths[{i}]"),
                format!(
                    "`{path}` is not a field of Task; the updatable ones are title, description, priority, tags, due, reminders, recurrence"
                ),
            ));
        }
    }
    Ok(fields)
}

fn patch(task: &pb::Task, fields: &[Field]) -> Result<TaskPatch> {
    let mut patch = TaskPatch::default();
    for field in fields {
        match field {
            Field::Title => patch.title = Some(convert::parse_title(&task.title).map_err(invalid_task)?),
            Field::Description => {
                patch.description = Some(convert::parse_description(&task.description).map_err(invalid_task)?)
            }
            Field::Priority => patch.priority = Some(convert::parse_priority(task.priority).map_err(invalid_task)?),
            Field::Tags => patch.tags = Some(convert::parse_tags(&task.tags).map_err(invalid_task)?),
            Field::Due => patch.due = Some(convert::parse_due(task.due.as_ref()).map_err(invalid_task)?),
            Field::Reminders => {
                patch.reminders = Some(convert::parse_reminders(&task.reminders).map_err(invalid_task)?)
            }
            Field::Recurrence => {
                patch.recurrence = Some(convert::parse_recurrence(task.recurrence.as_ref()).map_err(invalid_task)?)
            }
        }
    }
    Ok(patch)
}

/// AIP-155: a UUID, or empty for a non-idempotent call.
fn request_id(raw: &str) -> Result<Option<String>> {
    match raw.trim() {
        "" => Ok(None),
        id => uuid::Uuid::try_parse(id)
            .map(|u| Some(u.to_string()))
            .map_err(|_| Error::invalid("INVALID_REQUEST_ID", "request_id", "must be a UUID")),
    }
}

#[tonic::async_trait]
impl pb::task_service_server::TaskService for TaskApi {
    async fn create_task(&self, request: Request<pb::CreateTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let user = self.user(&request).await?;
        let request = request.into_inner();
        let result = async {
            let task = request.task.as_ref().ok_or_else(|| Error::invalid("MISSING_FIELD", "task", "is required"))?;
            let content = content(task)?;
            let request_id = request_id(&request.request_id)?;
            let task = self.service.create(&user, content, request_id).await?;
            Ok(convert::task(task))
        }
        .await;
        respond(result)
    }

    async fn get_task(&self, request: Request<pb::GetTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let user = self.user(&request).await?;
        let id = task_id(&request.get_ref().name)?;
        respond(self.service.get(&user, id).await.map(convert::task))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let params = ListParams {
            page_size: r.page_size,
            page_token: r.page_token,
            filter: r.filter,
            order_by: r.order_by,
            show_deleted: r.show_deleted,
        };
        respond(self.service.list(&user, params).await.map(|(tasks, next_page_token)| pb::ListTasksResponse {
            tasks: tasks.into_iter().map(convert::task).collect(),
            next_page_token,
        }))
    }

    async fn update_task(&self, request: Request<pb::UpdateTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let result = async {
            let task = r.task.as_ref().ok_or_else(|| Error::invalid("MISSING_FIELD", "task", "is required"))?;
            let id = TaskId::from_name(&task.name).map_err(|e| Error::from_invalid("INVALID_NAME", "task.name", e))?;
            let fields = masked_fields(task, r.update_mask.as_ref())?;
            let patch = patch(task, &fields)?;
            let task = self.service.update(&user, id, patch, &r.etag).await?;
            Ok(convert::task(task))
        }
        .await;
        respond(result)
    }

    async fn delete_task(&self, request: Request<pb::DeleteTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let id = task_id(&r.name)?;
        respond(self.service.delete(&user, id, &r.etag).await.map(convert::task))
    }

    async fn undelete_task(&self, request: Request<pb::UndeleteTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let id = task_id(&r.name)?;
        respond(self.service.undelete(&user, id, &r.etag).await.map(convert::task))
    }

    async fn complete_task(&self, request: Request<pb::CompleteTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let id = task_id(&r.name)?;
        respond(self.service.complete(&user, id, &r.etag).await.map(convert::task))
    }

    async fn reopen_task(&self, request: Request<pb::ReopenTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let id = task_id(&r.name)?;
        respond(self.service.reopen(&user, id, &r.etag).await.map(convert::task))
    }

    async fn create_tag(&self, request: Request<pb::CreateTagRequest>) -> Result<Response<pb::Tag>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let result = async {
            let tag = r.tag.ok_or_else(|| Error::invalid("MISSING_FIELD", "tag", "is required"))?;
            let name = TagName::parse(&tag.display_name)
                .map_err(|e| Error::from_invalid("INVALID_TAG", "tag.display_name", e))?;
            let color = Color::parse(&tag.color).map_err(|e| Error::from_invalid("INVALID_TAG", "tag.color", e))?;
            Ok(convert::tag(&self.service.create_tag(&user, name, color).await?))
        }
        .await;
        respond(result)
    }

    async fn get_tag(&self, request: Request<pb::GetTagRequest>) -> Result<Response<pb::Tag>, Status> {
        let user = self.user(&request).await?;
        let id = tag_id("name", &request.get_ref().name)?;
        respond(self.service.get_tag(&user, id).await.map(|t| convert::tag(&t)))
    }

    async fn list_tags(&self, request: Request<pb::ListTagsRequest>) -> Result<Response<pb::ListTagsResponse>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        respond(self.service.list_tags(&user, r.page_size, &r.page_token).await.map(|(tags, next_page_token)| {
            pb::ListTagsResponse { tags: tags.iter().map(convert::tag).collect(), next_page_token }
        }))
    }

    async fn update_tag(&self, request: Request<pb::UpdateTagRequest>) -> Result<Response<pb::Tag>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let result = async {
            let tag = r.tag.ok_or_else(|| Error::invalid("MISSING_FIELD", "tag", "is required"))?;
            let id = tag_id("tag.name", &tag.name)?;
            let paths: Vec<String> = match r.update_mask {
                Some(mask) if !mask.paths.is_empty() => mask.paths,
                _ => [("display_name", !tag.display_name.is_empty()), ("color", !tag.color.is_empty())]
                    .into_iter()
                    .filter(|(_, set)| *set)
                    .map(|(p, _)| p.to_owned())
                    .collect(),
            };
            let (mut name, mut color) = (None, None);
            for (i, path) in paths.iter().enumerate() {
                match path.as_str() {
                    "display_name" => {
                        name = Some(
                            TagName::parse(&tag.display_name)
                                .map_err(|e| Error::from_invalid("INVALID_TAG", "tag.display_name", e))?,
                        )
                    }
                    "color" => {
                        color = Some(
                            Color::parse(&tag.color).map_err(|e| Error::from_invalid("INVALID_TAG", "tag.color", e))?,
                        )
                    }
                    "*" => {
                        name = Some(
                            TagName::parse(&tag.display_name)
                                .map_err(|e| Error::from_invalid("INVALID_TAG", "tag.display_name", e))?,
                        );
                        color = Some(
                            Color::parse(&tag.color).map_err(|e| Error::from_invalid("INVALID_TAG", "tag.color", e))?,
                        );
                    }
                    "create_time" | "update_time" | "etag" => {}
                    "name" => {
                        return Err(Error::invalid(
                            "IMMUTABLE_FIELD",
                            format!("update_mask.paths[{i}]"),
                            "`name` is immutable",
                        ));
                    }
                    other => {
                        return Err(Error::invalid(
                            "UNKNOWN_FIELD",
                            format!("update_mask.paths[{i}]"),
                            format!("`{other}` is not an updatable field; use display_name or color"),
                        ));
                    }
                }
            }
            Ok(convert::tag(&self.service.update_tag(&user, id, name, color, &r.etag).await?))
        }
        .await;
        respond(result)
    }

    async fn delete_tag(&self, request: Request<pb::DeleteTagRequest>) -> Result<Response<()>, Status> {
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let id = tag_id("name", &r.name)?;
        respond(self.service.delete_tag(&user, id, r.force, &r.etag).await)
    }

    async fn list_priorities(
        &self,
        request: Request<pb::ListPrioritiesRequest>,
    ) -> Result<Response<pb::ListPrioritiesResponse>, Status> {
        self.user(&request).await?;
        let priorities = Priority::ALL
            .into_iter()
            .map(|p| pb::PriorityInfo {
                priority: p as i32,
                display_name: p.display_name().to_owned(),
                color: p.color().to_owned(),
                rank: p.rank(),
            })
            .collect();
        Ok(Response::new(pb::ListPrioritiesResponse { priorities }))
    }

    async fn list_task_changes(
        &self,
        request: Request<pb::ListTaskChangesRequest>,
    ) -> Result<Response<pb::ListTaskChangesResponse>, Status> {
        use prost::Message;
        let user = self.user(&request).await?;
        let r = request.into_inner();
        let result = async {
            let (payloads, has_more) = self.service.changes(&user, r.after_revision, r.page_size).await?;
            let changes = payloads
                .iter()
                .map(|p| pb::TaskEvent::decode(p.as_slice()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::malformed_by("an outbox row is undecodable", e))?;
            Ok(pb::ListTaskChangesResponse { changes, has_more })
        }
        .await;
        respond(result)
    }

    async fn preview_occurrences(
        &self,
        request: Request<pb::PreviewOccurrencesRequest>,
    ) -> Result<Response<pb::PreviewOccurrencesResponse>, Status> {
        self.user(&request).await?;
        respond(preview::preview(request.get_ref()))
    }
}
