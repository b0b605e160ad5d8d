//! The service's sidecar: connected on first use, so the app starts (and
//! daprd, which waits for the app's port, can start) in any order. Every
//! failure to reach it is transient for the caller.
//!
//! The Dapr building blocks used here, through the `dapr` crate's client:
//! - state (`statestore`): each task's [`TaskReminders`] under
//!   `task-{task_id}`, written with its ETag (first-write for a new task),
//!   and a fired marker per `reminder.due` event id under `fired-{id}`;
//! - jobs: one per reminder ([`crate::domain::job_name`]);
//! - publish: `reminder.due` to the `reminders` topic.

use std::collections::HashMap;

use dapr::client::{Etag, StateOptions};
use dapr::dapr::proto::runtime::v1::Job;
use shared::{
    Error,
    dapr::{LazySidecar, OutgoingEvent, Sidecar},
};

use crate::domain::TaskReminders;

/// How long a fired marker is kept (the state store expires it).
const FIRED_MARKER_TTL_SECONDS: u64 = 90 * 24 * 3600;
/// `StateOptions.concurrency` FIRST_WRITE.
const FIRST_WRITE: i32 = 1;

/// A lazily connected sidecar plus the state store used.
#[derive(Clone)]
pub struct Dapr {
    sidecar: LazySidecar,
    store: String,
}

/// A task's state and the ETag it was read with (None: not stored yet).
pub struct Stored {
    pub state: Option<TaskReminders>,
    pub etag: Option<String>,
}

/// The state store failed while doing `what`.
fn store_down(what: &str) -> impl Fn(dapr::error::Error) -> Error + '_ {
    move |err| Error::unavailable(format!("the state store ({what})"), err)
}

impl Dapr {
    pub fn new(sidecar: LazySidecar, store: &str) -> Self {
        Self { sidecar, store: store.to_owned() }
    }

    async fn sidecar(&self) -> Result<&Sidecar, Error> {
        self.sidecar.get().await.map_err(|e| Error::unavailable("the sidecar", e))
    }

    async fn client(&self) -> Result<dapr::Client<dapr::client::TonicClientWithAuth>, Error> {
        Ok(self.sidecar().await?.client())
    }

    pub async fn load(&self, task_id: &str) -> Result<Stored, Error> {
        let response = self
            .client()
            .await?
            .get_state(self.store.clone(), format!("task-{task_id}"), None)
            .await
            .map_err(store_down("reading the task's reminder state"))?;
        if response.data.is_empty() {
            return Ok(Stored { state: None, etag: None });
        }
        let state = serde_json::from_slice(&response.data)
            .map_err(|e| Error::malformed_by(format!("the stored state of task {task_id} is unreadable"), e))?;
        Ok(Stored { state: Some(state), etag: Some(response.etag).filter(|e| !e.is_empty()) })
    }

    /// Saves `state` if nobody changed it since it was read with `etag`
    /// (a conflict is transient: the event is redelivered and recomputed).
    pub async fn save(&self, state: &TaskReminders, etag: Option<String>) -> Result<(), Error> {
        let value = serde_json::to_vec(state).map_err(Error::internal)?;
        let options = match &etag {
            Some(_) => None,
            None => Some(StateOptions { concurrency: FIRST_WRITE, consistency: 0 }),
        };
        self.client()
            .await?
            .save_state(
                self.store.clone(),
                format!("task-{}", state.task_id),
                value,
                etag.map(|value| Etag { value }),
                None,
                options,
            )
            .await
            .map_err(store_down("saving the task's reminder state"))
    }

    pub async fn already_fired(&self, event_id: &str) -> Result<bool, Error> {
        let response = self
            .client()
            .await?
            .get_state(self.store.clone(), format!("fired-{event_id}"), None)
            .await
            .map_err(store_down("reading the fired marker"))?;
        Ok(!response.data.is_empty())
    }

    pub async fn mark_fired(&self, event_id: &str, at: &str) -> Result<(), Error> {
        let metadata = HashMap::from([("ttlInSeconds".to_owned(), FIRED_MARKER_TTL_SECONDS.to_string())]);
        self.client()
            .await?
            .save_state(
                self.store.clone(),
                format!("fired-{event_id}"),
                serde_json::json!({ "firedAt": at }).to_string().into_bytes(),
                None,
                Some(metadata),
                None,
            )
            .await
            .map_err(store_down("recording the firing"))
    }

    /// Schedules (or replaces) a job.
    pub async fn schedule(&self, job: Job) -> Result<(), Error> {
        let name = job.name.clone();
        self.client()
            .await?
            .schedule_job(job, Some(true))
            .await
            .map(|_| metrics::counter!("tasks_reminders_scheduled_total").increment(1))
            .map_err(|e| Error::unavailable(format!("the scheduler (scheduling job {name})"), e))
    }

    /// Deletes a job; one that does not exist (fired, or never scheduled) is fine.
    pub async fn cancel(&self, name: &str) -> Result<(), Error> {
        match self.client().await?.delete_job(name).await {
            Ok(_) => Ok(()),
            Err(err) if err.to_string().to_ascii_lowercase().contains("not found") => Ok(()),
            Err(err) => Err(Error::unavailable(format!("the scheduler (deleting job {name})"), err)),
        }
    }

    pub async fn publish(&self, topic: &str, event: &OutgoingEvent) -> Result<(), Error> {
        self.sidecar().await?.publish(topic, event).await.map_err(|e| Error::unavailable("the sidecar (publishing)", e))
    }
}
