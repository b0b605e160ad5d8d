//! The task-event subscription: completions create next instances;
//! first instances of schedule-driven series register the series.

use chrono::{DateTime, Utc};
use shared::{
    Error,
    dapr::{Event, OutgoingEvent, Sidecar},
    proto::{json, todo::task::v1 as pb},
};

use crate::{plan, sweep::Registry, tasks};

pub use shared::event_types::{TASK_COMPLETED as COMPLETED, TASK_RECURRED as RECURRED};

#[derive(Clone)]
pub struct Handlers {
    pub sidecar: Sidecar,
    pub topic: String,
    pub tasks: tasks::TaskApp,
    pub registry: Registry,
}

impl Handlers {
    pub async fn on_completed(&self, event: Event) -> Result<(), Error> {
        let task_event: pb::TaskEvent = event.decode()?;
        let Some(task) = task_event.task.as_ref() else { return Ok(()) };
        let completed_at = task
            .complete_time
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
            .unwrap_or_else(Utc::now);
        let Some(next) = plan::after_completion(task, completed_at)
            .map_err(|e| Error::malformed_by(format!("the next instance of {} cannot be planned", task.name), e))?
        else {
            return Ok(());
        };
        let series_id = if task.series_id.is_empty() { task_event.task_id.clone() } else { task.series_id.clone() };
        let created = self.tasks.create_occurrence(&task_event.user_id, &series_id, next.index, next.task).await?;
        tracing::info!(series = %series_id, index = next.index, next = %created.name, "next instance created");
        self.publish_recurred(&task_event.user_id, &task.name, &series_id, next.index, created).await
    }

    pub async fn on_other(&self, event: Event) -> Result<(), Error> {
        let task_event: pb::TaskEvent = event.decode()?;
        let Some(task) = task_event.task.as_ref() else { return Ok(()) };
        let first_of_series =
            task.occurrence_index == 0 && (task.series_id.is_empty() || task.series_id == task_event.task_id);
        match &task_event.change {
            Some(pb::task_event::Change::Deleted(_)) if first_of_series => {
                self.registry.forget(&task_event.task_id).await
            }
            _ if plan::is_scheduled(task) && first_of_series && task.delete_time.is_none() => {
                self.registry.remember(&task_event.user_id, &task_event.task_id, task).await
            }
            _ => Ok(()),
        }
    }

    /// `todo.task.recurred.v1`, linking the completed and the new instance.
    /// Its id is derived from (series, index): a redelivery republishes the
    /// same event, which consumers deduplicate.
    pub async fn publish_recurred(
        &self,
        user_id: &str,
        completed_task: &str,
        series_id: &str,
        index: i32,
        created: pb::Task,
    ) -> Result<(), Error> {
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("recurred/{series_id}/{index}").as_bytes());
        let event = pb::TaskEvent {
            event_id: id.to_string(),
            user_id: user_id.to_owned(),
            task_id: created.name.trim_start_matches("tasks/").to_owned(),
            revision: created.revision,
            occur_time: created.create_time,
            change: Some(pb::task_event::Change::Recurred(pb::TaskRecurred {
                completed_task: completed_task.to_owned(),
                series_id: series_id.to_owned(),
                occurrence_index: index,
            })),
            task: Some(created.clone()),
        };
        let outgoing = OutgoingEvent {
            id: event.event_id.clone(),
            event_type: RECURRED.to_owned(),
            source: "recurrence".to_owned(),
            subject: Some(created.name.clone()),
            time: Utc::now(),
            traceparent: shared::telemetry::current_traceparent(),
            partition_key: user_id.to_owned(),
            data: json::to_raw(&event).map_err(Error::internal)?,
        };
        self.sidecar
            .publish(&self.topic, &outgoing)
            .await
            .map_err(|e| Error::unavailable("the sidecar (publishing)", e))
    }
}
