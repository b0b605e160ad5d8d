//! Schedule-driven series: a registry in the Dapr state store, and the
//! cron-binding sweep that creates every instance whose time has come.
//!
//! The cron binding fires in every replica and ignores handler errors, so
//! the sweep is written to be safe when several run at once: creating an
//! instance is idempotent per (series, index) in the task service, and the
//! registry's `next_index` is saved with its etag, so a replica that loses
//! the race simply leaves the record to the winner.

use std::collections::BTreeSet;

use chrono::Utc;
use dapr::client::TonicClientWithAuth;
use serde::{Deserialize, Serialize};
use shared::{
    Error,
    dapr::Sidecar,
    proto::{json, todo::task::v1 as pb},
};

use crate::{events::Handlers, plan};

const INDEX_KEY: &str = "schedule-series-index";
/// At most this many instances of one series per sweep (catch-up is spread
/// over sweeps after a long outage).
const MAX_PER_SWEEP: usize = 50;

/// One schedule-driven series.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Series {
    user_id: String,
    /// The first instance, as proto3 JSON: content, due, rule.
    template: serde_json::Value,
    /// The next index to create (the first instance is 0).
    next_index: i32,
}

#[derive(Clone)]
pub struct Registry {
    sidecar: Sidecar,
    store: String,
}

fn key(series_id: &str) -> String {
    format!("schedule-series/{series_id}")
}

impl Registry {
    pub fn new(sidecar: Sidecar, store: &str) -> Self {
        Self { sidecar, store: store.to_owned() }
    }

    fn client(&self) -> dapr::Client<TonicClientWithAuth> {
        self.sidecar.client()
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<(T, String)>, Error> {
        let response = self
            .client()
            .get_state(self.store.as_str(), key, None)
            .await
            .map_err(|e| Error::unavailable("the state store", e))?;
        if response.data.is_empty() {
            return Ok(None);
        }
        let value = serde_json::from_slice(&response.data)
            .map_err(|e| Error::malformed_by(format!("the stored {key} is unreadable"), e))?;
        Ok(Some((value, response.etag)))
    }

    /// Saves with first-write-wins on `etag` (None: the key must not exist... or be overwritten on first save).
    async fn put<T: Serialize>(&self, key: &str, value: &T, etag: Option<String>) -> Result<(), Error> {
        let bytes = serde_json::to_vec(value).map_err(Error::internal)?;
        let etag = etag.map(|value| dapr::client::Etag { value });
        self.client()
            .save_state(self.store.as_str(), key, bytes, etag, None, None)
            .await
            .map_err(|e| Error::unavailable(format!("the state store (saving {key})"), e))
    }

    async fn update_index(&self, change: impl Fn(&mut BTreeSet<String>)) -> Result<(), Error> {
        // Optimistic concurrency: reread and retry on a conflicting writer.
        for _ in 0..5 {
            let (mut ids, etag) =
                self.get::<BTreeSet<String>>(INDEX_KEY).await?.map_or((BTreeSet::new(), None), |(v, e)| (v, Some(e)));
            change(&mut ids);
            if self.put(INDEX_KEY, &ids, etag).await.is_ok() {
                return Ok(());
            }
        }
        Err(Error::unavailable("the series index", "it kept changing under us"))
    }

    /// Registers (or refreshes) a series from its first instance.
    pub async fn remember(&self, user_id: &str, series_id: &str, first: &pb::Task) -> Result<(), Error> {
        let template =
            json::to_value(first).map_err(|e| Error::malformed_by("the first instance cannot be encoded", e))?;
        let existing = self.get::<Series>(&key(series_id)).await?;
        let (next_index, etag) = existing.map_or((1, None), |(s, e)| (s.next_index, Some(e)));
        let series = Series { user_id: user_id.to_owned(), template, next_index };
        self.put(&key(series_id), &series, etag).await?;
        self.update_index(|ids| {
            ids.insert(series_id.to_owned());
        })
        .await
    }

    pub async fn forget(&self, series_id: &str) -> Result<(), Error> {
        self.client()
            .delete_state(self.store.as_str(), key(series_id).as_str(), None)
            .await
            .map_err(|e| Error::unavailable("the state store", e))?;
        self.update_index(|ids| {
            ids.remove(series_id);
        })
        .await
    }

    /// Creates every due instance of every registered series.
    pub async fn sweep(&self, handlers: &Handlers) -> Result<usize, Error> {
        let ids = self.get::<BTreeSet<String>>(INDEX_KEY).await?.map(|(ids, _)| ids).unwrap_or_default();
        let mut created = 0;
        for series_id in ids {
            let Some((mut series, etag)) = self.get::<Series>(&key(&series_id)).await? else { continue };
            let template: pb::Task = json::from_slice(series.template.to_string().as_bytes())
                .map_err(|e| Error::malformed_by(format!("the template of series {series_id} is unreadable"), e))?;
            let due = plan::due_by(&template, series.next_index, Utc::now(), MAX_PER_SWEEP)
                .map_err(|e| Error::malformed_by(format!("series {series_id} cannot be planned"), e))?;
            let Some(last) = due.last().map(|i| i.index) else { continue };
            for instance in due {
                let task = handlers
                    .tasks
                    .create_occurrence(&series.user_id, &series_id, instance.index, instance.task)
                    .await?;
                handlers
                    .publish_recurred(&series.user_id, &format!("tasks/{series_id}"), &series_id, instance.index, task)
                    .await?;
                created += 1;
            }
            series.next_index = last + 1;
            if self.put(&key(&series_id), &series, Some(etag)).await.is_err() {
                tracing::debug!(series = %series_id, "another sweep advanced this series first");
            }
        }
        Ok(created)
    }
}
