//! The use cases of the task service. The gRPC layer translates requests
//! into these calls; each mutation is one transaction: next revision,
//! change, outbox event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend};
use shared::{
    auth::UserId,
    db::{Database, Transaction},
    page_token::{PageTokens, Position, TokenError},
    telemetry,
};
use tokio::sync::Notify;

use crate::{
    convert,
    domain::{
        from_micros,
        query::{self, QueryError},
        tag::{Color, Tag, TagId, TagName},
        task::{Applied, Change, Refused, Series, Task, TaskContent, TaskId, TaskPatch, TaskState},
        to_micros,
    },
    error::{self, Error, Result},
    store::{
        self, create, is_unique_violation, outbox, reads::TaskReads, tags as tag_rows, tasks as task_rows, update,
    },
};

/// ListTasks page size when none is asked for, and the most it returns.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// ListTags page sizes.
pub const DEFAULT_TAG_PAGE_SIZE: i32 = 100;

/// The list parameters as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub page_size: i32,
    pub page_token: String,
    pub filter: String,
    pub order_by: String,
    pub show_deleted: bool,
}

#[derive(Clone)]
pub struct TaskService {
    db: Database,
    /// GetTask's reads (coalesced on PostgreSQL).
    reads: TaskReads,
    topic: String,
    page_tokens: PageTokens,
    /// Told after every commit that wrote an event, to wake the outbox relay.
    committed: Arc<Notify>,
}

impl TaskService {
    /// Starts GetTask's readers ([`TaskReads`]): call it inside a tokio runtime.
    pub fn new(db: Database, topic: String, page_tokens: PageTokens) -> Self {
        Self { reads: TaskReads::new(db.clone()), db, topic, page_tokens, committed: Arc::new(Notify::new()) }
    }

    /// Notified after every commit that appended to the outbox.
    pub fn commits(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Creates a task; with a `request_id`, a replay returns the first result.
    pub async fn create(&self, user: &UserId, content: TaskContent, request_id: Option<String>) -> Result<Task> {
        self.create_in_series(user, content, request_id, None).await
    }

    /// Creates a task, as instance `series` of a repeating series when
    /// given (a repeating task otherwise starts its own series).
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn create_in_series(
        &self,
        user: &UserId,
        mut content: TaskContent,
        request_id: Option<String>,
        series: Option<Series>,
    ) -> Result<Task> {
        content.check().map_err(|e| Error::from_invalid("INVALID_TASK", "task", e))?;
        content.anchor_series();
        let now = now();
        let id = TaskId::new();
        let series = series.or_else(|| content.recurrence.as_ref().map(|_| Series { id, index: 0 }));
        let mut task = Task {
            id,
            user: user.clone(),
            content,
            state: TaskState::Open,
            create_time: now,
            update_time: now,
            complete_time: None,
            delete_time: None,
            revision: 0, // given by the write
            series,
        };
        let change = Change::Created { request_id: request_id.clone() };
        // A repeated request id is refused by the unique index on (user,
        // request id), after waiting for the first request's write: no
        // lookup is needed on the way of every create.
        let written = if self.db.get_database_backend() == DbBackend::Postgres && task.content.tags.is_empty() {
            let event = outbox::row_without_revision(&self.topic, event_of(&task, &change, now))?;
            create::insert_with_event(&self.db, &task, request_id.as_deref(), event)
                .await
                .map(|revision| task.revision = revision)
        } else {
            let tx = self.db.begin().await?;
            task.revision = store::next_revision(&tx, user).await?;
            check_tags_exist(&tx, user, &task.content.tags).await?;
            match task_rows::insert(&tx, &task, request_id.as_deref()).await {
                Ok(()) => {
                    outbox::append(&tx, &self.topic, event_of(&task, &change, now)).await?;
                    Ok(tx.commit().await?)
                }
                Err(err) => Err(err),
            }
        };
        if let Err(err) = written {
            // The request was made before (or is being made): its task is the answer.
            if let (true, Some(request_id)) = (is_unique_violation(&err), &request_id)
                && let Some(existing) = task_rows::find_by_request_id(&self.db, user, request_id).await?
            {
                return Ok(existing);
            }
            return Err(err.into());
        }
        self.committed.notify_one();
        Ok(task)
    }

    pub async fn get(&self, user: &UserId, id: TaskId) -> Result<Task> {
        self.reads.find(user, id).await?.ok_or_else(|| error::task_not_found(id.name()))
    }

    /// One page of tasks and the token of the next ("" on the last page).
    pub async fn list(&self, user: &UserId, params: ListParams) -> Result<(Vec<Task>, String)> {
        let filter = query::parse_filter(&params.filter).map_err(query_error)?;
        let order = query::parse_order_by(&params.order_by).map_err(query_error)?;
        let page_size = page_size_for(params.page_size, DEFAULT_PAGE_SIZE)?;
        let fingerprint = PageTokens::fingerprint(&[
            user.as_str(),
            params.filter.trim(),
            &order.canonical(),
            if params.show_deleted { "deleted" } else { "live" },
        ]);
        let after = match params.page_token.as_str() {
            "" => None,
            token => {
                let position = self.page_tokens.open(token, &fingerprint).map_err(token_error)?;
                if !task_rows::position_fits(&order, &position) {
                    return Err(token_error(TokenError::Malformed));
                }
                Some(position)
            }
        };
        let query = task_rows::ListQuery { filter, order, show_deleted: params.show_deleted, page_size, after };
        let (tasks, next) = task_rows::list(&self.db, user, &query).await?;
        let token = next.map(|p| self.page_tokens.issue(&fingerprint, p)).unwrap_or_default();
        Ok((tasks, token))
    }

    /// The user's events after `after_revision`, in revision order, and
    /// whether more follow.
    pub async fn changes(&self, user: &UserId, after_revision: i64, page_size: i32) -> Result<(Vec<Vec<u8>>, bool)> {
        let page_size = page_size_for(page_size, 100)?;
        let (rows, more) = outbox::after_revision(&self.db, user, after_revision, page_size).await?;
        Ok((rows, more))
    }

    #[tracing::instrument(skip_all, fields(user = %user, task = %id.name()))]
    pub async fn update(&self, user: &UserId, id: TaskId, patch: TaskPatch, etag: &str) -> Result<Task> {
        let new_tags = patch.tags.clone().unwrap_or_default();
        self.mutate(user, id, etag, &new_tags, move |task, _| task.update(patch).map_err(|why| refused(task, why)))
            .await
    }

    #[tracing::instrument(skip_all, fields(user = %user, task = %id.name()))]
    pub async fn complete(&self, user: &UserId, id: TaskId, etag: &str) -> Result<Task> {
        self.mutate(user, id, etag, &[], |task, now| task.complete(now).map_err(|why| refused(task, why))).await
    }

    #[tracing::instrument(skip_all, fields(user = %user, task = %id.name()))]
    pub async fn reopen(&self, user: &UserId, id: TaskId, etag: &str) -> Result<Task> {
        self.mutate(user, id, etag, &[], |task, _| task.reopen().map_err(|why| refused(task, why))).await
    }

    /// Soft delete (AIP-164): deleting a deleted task is NOT_FOUND.
    #[tracing::instrument(skip_all, fields(user = %user, task = %id.name()))]
    pub async fn delete(&self, user: &UserId, id: TaskId, etag: &str) -> Result<Task> {
        self.mutate(user, id, etag, &[], |task, now| {
            task.delete(now).map_err(|why| match why {
                Refused::Deleted => error::task_not_found(task.id.name()),
                other => refused(task, other),
            })
        })
        .await
    }

    /// Undelete (AIP-164): undeleting a live task is ALREADY_EXISTS.
    #[tracing::instrument(skip_all, fields(user = %user, task = %id.name()))]
    pub async fn undelete(&self, user: &UserId, id: TaskId, etag: &str) -> Result<Task> {
        self.mutate(user, id, etag, &[], |task, _| task.undelete().map_err(|why| refused(task, why))).await
    }

    /// The shape of every task mutation: in one transaction, take the next
    /// revision, load the task, check the etag, apply `change`, and write
    /// the task and its event — or roll back when nothing changed.
    async fn mutate(
        &self,
        user: &UserId,
        id: TaskId,
        etag: &str,
        tags_to_check: &[TagId],
        change: impl FnOnce(&mut Task, DateTime<Utc>) -> Result<Applied>,
    ) -> Result<Task> {
        let tx = self.db.begin().await?;
        let revision = store::next_revision(&tx, user).await?;
        let Some(mut task) = task_rows::find(&tx, user, id).await? else {
            return Err(error::task_not_found(id.name()));
        };
        check_etag(&task, etag)?;
        check_tags_exist(&tx, user, tags_to_check).await?;
        let now = now();
        match change(&mut task, now)? {
            Applied::Unchanged => {
                tx.rollback().await?;
                Ok(task)
            }
            Applied::Changed { change, tags_changed } => {
                self.write_change(&tx, &mut task, revision, now, &change, tags_changed).await?;
                tx.commit().await?;
                self.committed.notify_one();
                Ok(task)
            }
        }
    }

    async fn write_change(
        &self,
        tx: &Transaction,
        task: &mut Task,
        revision: i64,
        now: DateTime<Utc>,
        change: &Change,
        tags_changed: bool,
    ) -> Result<()> {
        task.revision = revision;
        task.update_time = now;
        let event = event_of(task, change, now);
        if !tags_changed && tx.get_database_backend() == DbBackend::Postgres {
            update::update_with_event(tx, task, outbox::row(&self.topic, event)?).await?;
        } else {
            task_rows::update(tx, task, tags_changed).await?;
            outbox::append(tx, &self.topic, event).await?;
        }
        Ok(())
    }

    // === tags ===

    pub async fn create_tag(&self, user: &UserId, name: TagName, color: Color) -> Result<Tag> {
        let now = now();
        let tag = Tag { id: TagId::new(), name, color, create_time: now, update_time: now, version: 1 };
        tag_rows::insert(&self.db, user, &tag).await.map_err(|e| tag_write_error(e, &tag))?;
        Ok(tag)
    }

    pub async fn get_tag(&self, user: &UserId, id: TagId) -> Result<Tag> {
        tag_rows::find(&self.db, user, id).await?.ok_or_else(|| error::tag_not_found(id.name()))
    }

    pub async fn list_tags(&self, user: &UserId, page_size: i32, page_token: &str) -> Result<(Vec<Tag>, String)> {
        let page_size = page_size_for(page_size, DEFAULT_TAG_PAGE_SIZE)?;
        let fingerprint = PageTokens::fingerprint(&[user.as_str(), "tags"]);
        let after = match page_token {
            "" => None,
            token => Some(self.page_tokens.open(token, &fingerprint).map_err(token_error)?.id),
        };
        let (tags, more) = tag_rows::list(&self.db, user, page_size, after.as_deref()).await?;
        let token = match (more, tags.last()) {
            (true, Some(last)) => {
                self.page_tokens.issue(&fingerprint, Position { keys: vec![], id: last.id.as_stored() })
            }
            _ => String::new(),
        };
        Ok((tags, token))
    }

    pub async fn update_tag(
        &self,
        user: &UserId,
        id: TagId,
        name: Option<TagName>,
        color: Option<Color>,
        etag: &str,
    ) -> Result<Tag> {
        let tx = self.db.begin().await?;
        let mut tag = tag_rows::find(&tx, user, id).await?.ok_or_else(|| error::tag_not_found(id.name()))?;
        if !etag.is_empty() && etag != tag.etag() {
            return Err(Error::stale_etag(id.name()));
        }
        let before = tag.clone();
        if let Some(name) = name {
            tag.name = name;
        }
        if let Some(color) = color {
            tag.color = color;
        }
        if tag == before {
            tx.rollback().await?;
            return Ok(tag);
        }
        tag.version += 1;
        tag.update_time = now();
        tag_rows::update(&tx, user, &tag).await.map_err(|e| tag_write_error(e, &tag))?;
        tx.commit().await?;
        Ok(tag)
    }

    /// Deletes a tag; with `force`, first removes it from the tasks carrying
    /// it (each such task gets an `updated` event for `tags`).
    pub async fn delete_tag(&self, user: &UserId, id: TagId, force: bool, etag: &str) -> Result<()> {
        let tx = self.db.begin().await?;
        let tag = tag_rows::find(&tx, user, id).await?.ok_or_else(|| error::tag_not_found(id.name()))?;
        if !etag.is_empty() && etag != tag.etag() {
            return Err(Error::stale_etag(id.name()));
        }
        let carriers = task_rows::tasks_with_tag(&tx, user, id).await?;
        if !carriers.is_empty() && !force {
            return Err(Error::FailedPrecondition {
                reason: "TAG_IN_USE",
                message: format!(
                    "{} task(s) carry `{}`; remove it from them or delete with force",
                    carriers.len(),
                    id.name()
                ),
            });
        }
        for task_id in carriers {
            let revision = store::next_revision(&tx, user).await?;
            let Some(mut task) = task_rows::find(&tx, user, task_id).await? else { continue };
            task.content.tags.retain(|t| *t != id);
            let change = Change::Updated { paths: vec!["tags".to_owned()] };
            self.write_change(&tx, &mut task, revision, now(), &change, true).await?;
        }
        tag_rows::delete(&tx, user, id).await?;
        tx.commit().await?;
        self.committed.notify_one();
        Ok(())
    }
}

/// Now, at the microsecond precision the store keeps.
fn now() -> DateTime<Utc> {
    from_micros(to_micros(Utc::now()))
}

fn check_etag(task: &Task, etag: &str) -> Result<()> {
    if !etag.is_empty() && etag != task.etag() {
        return Err(Error::stale_etag(task.id.name()));
    }
    Ok(())
}

/// Unknown tags and other users' tags get the same answer.
async fn check_tags_exist(tx: &Transaction, user: &UserId, tags: &[TagId]) -> Result<()> {
    let existing = tag_rows::existing(tx, user, tags).await?;
    match tags.iter().position(|t| !existing.contains(t)) {
        Some(i) => Err(Error::invalid(
            "UNKNOWN_TAG",
            format!("task.tags[{i}]"),
            format!("`{}` is not one of your tags; create it with CreateTag first", tags[i].name()),
        )),
        None => Ok(()),
    }
}

/// The error a client sees when `task` refuses a change.
fn refused(task: &Task, why: Refused) -> Error {
    match why {
        Refused::Deleted => deleted(task),
        Refused::NotDeleted => {
            Error::AlreadyExists { reason: "TASK_NOT_DELETED", message: format!("`{}` is not deleted", task.id.name()) }
        }
        Refused::Invalid(invalid) => Error::from_invalid("INVALID_TASK", "task", invalid),
    }
}

fn deleted(task: &Task) -> Error {
    Error::FailedPrecondition {
        reason: "TASK_DELETED",
        message: format!("`{}` is deleted; undelete it first", task.id.name()),
    }
}

fn tag_write_error(err: sea_orm::DbErr, tag: &Tag) -> Error {
    if is_unique_violation(&err) {
        Error::AlreadyExists {
            reason: "TAG_NAME_TAKEN",
            message: format!("you already have a tag named `{}`", tag.name.as_str()),
        }
    } else {
        err.into()
    }
}

fn query_error(err: QueryError) -> Error {
    Error::invalid(err.reason(), err.field(), err.to_string())
}

fn token_error(err: TokenError) -> Error {
    Error::invalid("INVALID_PAGE_TOKEN", "page_token", err.to_string())
}

/// AIP-158's page size ([`shared::page_token::page_size`]).
fn page_size_for(requested: i32, default: i32) -> Result<u64> {
    shared::page_token::page_size(requested, default)
        .map_err(|e| Error::invalid("INVALID_PAGE_SIZE", e.field, e.message))
}

/// The event of `change` to `task` (already applied), in the trace of the
/// request that made it: what the outbox stores and the relay publishes.
fn event_of(task: &Task, change: &Change, now: DateTime<Utc>) -> outbox::NewEvent {
    let event_id = uuid::Uuid::now_v7().to_string();
    outbox::NewEvent {
        event: convert::task_event(&event_id, task, change, now),
        event_type: change.event_type(),
        traceparent: telemetry::current_traceparent(),
    }
}
