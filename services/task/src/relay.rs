//! The outbox relay: publishes outbox rows through the Dapr sidecar, in
//! order, and marks each sent only after the sidecar acknowledged it.
//!
//! - **Wakes on commit** (the service notifies it) and **polls** as a
//!   fallback, which also covers commits made by other replicas.
//! - **One sidecar at a time**: on PostgreSQL each batch runs in a
//!   transaction holding `pg_try_advisory_xact_lock`, so with several
//!   replicas only one publishes and a user's events keep their order.
//!   (SQLite is the single-process development store: no lock needed.)
//! - **Backs off** exponentially while the sidecar or broker is down;
//!   writes keep succeeding meanwhile and their events wait in the outbox.
//! - **Per-user order, users in parallel**: a batch is split into one chain
//!   per user (the Kafka partition key); a chain publishes its rows one
//!   after another, the chains run concurrently. A chain stops at its first
//!   failure; each row is marked as soon as it was acknowledged, so nothing
//!   acknowledged is published twice by a running relay. A relay killed
//!   between acknowledgements and their marks publishes those rows again (at
//!   most one per chain in flight; at-least-once — consumers deduplicate on
//!   the event id).
//! - **A row that cannot be published is quarantined**, never marked sent:
//!   if its stored event does not decode, the relay stamps
//!   `quarantine_time` and `quarantine_reason`, logs an ERROR
//!   (`outbox_quarantined = true`) and goes on with the user's later events;
//!   the row stays for an operator and counts in `tasks.outbox.quarantined`.
//! - **Backlog** size and age are logged and exported as metrics.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use futures::StreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, TransactionTrait, sea_query::Expr,
};
use serde_json::value::RawValue;
use shared::{
    dapr::{OutgoingEvent, PublishError, Sidecar},
    proto::{json, todo::task::v1 as pb},
    telemetry,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{from_micros, to_micros},
    store::entities::outbox,
};

/// How many users' chains of a batch are published at once.
const MAX_CHAINS_IN_FLIGHT: usize = 16;

/// Arbitrary but fixed: the advisory lock that elects the publishing relay.
const RELAY_LOCK_KEY: i64 = 0x7461_736b_5f72_6c79; // "task_rly"

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The sidecar's gRPC address, e.g. `http://127.0.0.1:50001`.
    pub sidecar: String,
    /// `DAPR_API_TOKEN`, sent on every call to the sidecar when set.
    pub api_token: Option<shared::config::Secret>,
    pub pubsub: String,
    /// The CloudEvent `source`.
    pub app_id: String,
    pub batch_size: u64,
    pub poll_interval: Duration,
    pub max_backoff: Duration,
    /// How often the backlog is counted (logged, and seen by the metrics).
    pub backlog_report_interval: Duration,
}

/// Backlog figures, shared with whoever exports metrics.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub backlog: AtomicI64,
    pub oldest_age_ms: AtomicI64,
    pub published: AtomicI64,
    /// Rows in quarantine (not publishable), counted with the backlog.
    pub quarantined: AtomicI64,
}

/// Exports `stats` through `meter` as OpenTelemetry instruments, read at
/// each collection (no work between collections):
///
/// - `tasks.outbox.backlog` (gauge, `{event}`): rows not yet acknowledged;
/// - `tasks.outbox.oldest_age` (gauge, `s`): age of the oldest of them;
/// - `tasks.outbox.published` (counter, `{event}`): rows published by this process;
/// - `tasks.outbox.quarantined` (gauge, `{event}`): rows that cannot be
///   published (an alert should fire when it is above 0).
pub fn register_metrics(meter: &opentelemetry::metrics::Meter, stats: &Arc<RelayStats>) {
    let backlog = stats.clone();
    meter
        .i64_observable_gauge("tasks.outbox.backlog")
        .with_description("Outbox events not yet acknowledged by the Dapr sidecar")
        .with_unit("{event}")
        .with_callback(move |gauge| gauge.observe(backlog.backlog.load(Ordering::Relaxed), &[]))
        .build();
    let age = stats.clone();
    meter
        .f64_observable_gauge("tasks.outbox.oldest_age")
        .with_description("Age of the oldest unpublished outbox event")
        .with_unit("s")
        .with_callback(move |gauge| gauge.observe(age.oldest_age_ms.load(Ordering::Relaxed) as f64 / 1000.0, &[]))
        .build();
    let published = stats.clone();
    meter
        .u64_observable_counter("tasks.outbox.published")
        .with_description("Outbox events published by this process")
        .with_unit("{event}")
        .with_callback(move |counter| {
            counter.observe(u64::try_from(published.published.load(Ordering::Relaxed)).unwrap_or(0), &[]);
        })
        .build();
    let quarantined = stats.clone();
    meter
        .i64_observable_gauge("tasks.outbox.quarantined")
        .with_description("Outbox rows that cannot be published and wait for an operator")
        .with_unit("{event}")
        .with_callback(move |gauge| gauge.observe(quarantined.quarantined.load(Ordering::Relaxed), &[]))
        .build();
}

pub struct Relay {
    db: DatabaseConnection,
    config: RelayConfig,
    wake: Arc<Notify>,
    stats: Arc<RelayStats>,
}

#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("another replica is publishing")]
    NotLeader,
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

impl Relay {
    pub fn new(db: DatabaseConnection, config: RelayConfig, wake: Arc<Notify>, stats: Arc<RelayStats>) -> Self {
        Self { db, config, wake, stats }
    }

    /// Publishes until `shutdown`; a batch in flight is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut sidecar: Option<Sidecar> = None;
        let initial_backoff = Duration::from_millis(100);
        let mut backoff = initial_backoff;
        let mut last_report = tokio::time::Instant::now() - Duration::from_secs(3600);
        while !shutdown.is_cancelled() {
            if last_report.elapsed() >= self.config.backlog_report_interval {
                self.report_backlog().await;
                last_report = tokio::time::Instant::now();
            }
            let Some(current) = &sidecar else {
                let (address, token) = (&self.config.sidecar, self.config.api_token.as_ref());
                match Sidecar::connect(address, &self.config.pubsub, Duration::from_secs(1), token).await {
                    Ok(connected) => {
                        tracing::info!(sidecar = %self.config.sidecar, "outbox relay connected to the sidecar");
                        sidecar = Some(connected);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, retry_in = ?backoff, "sidecar unavailable, events wait in the outbox");
                        self.pause(&shutdown, &mut backoff).await;
                    }
                }
                continue;
            };
            match self.publish_batch(current).await {
                Ok(n) if n as u64 == self.config.batch_size => backoff = initial_backoff,
                Ok(_) => {
                    backoff = initial_backoff;
                    self.idle(&shutdown).await;
                }
                Err(BatchError::NotLeader) => self.idle(&shutdown).await,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?backoff, "outbox relay failed, backing off");
                    self.pause(&shutdown, &mut backoff).await;
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Waits for a commit, the poll interval, or shutdown.
    async fn idle(&self, shutdown: &CancellationToken) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(self.config.poll_interval) => {}
            () = shutdown.cancelled() => {}
        }
    }

    async fn pause(&self, shutdown: &CancellationToken, backoff: &mut Duration) {
        tokio::select! {
            () = tokio::time::sleep(*backoff) => {}
            () = shutdown.cancelled() => {}
        }
        *backoff = (*backoff * 2).min(self.config.max_backoff);
    }

    /// Publishes up to one batch in order; returns how many were published.
    ///
    /// The transaction only carries the leadership lock (PostgreSQL); each
    /// row is marked on its own right after the sidecar acknowledged it, so
    /// a relay that dies re-publishes at most the row it was on, and a mark
    /// never waits behind (or is undone with) other rows.
    async fn publish_batch(&self, publisher: &Sidecar) -> Result<usize, BatchError> {
        let leadership = self.db.begin().await?;
        if leadership.get_database_backend() == DbBackend::Postgres {
            let row = leadership
                .query_one(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1) AS locked",
                    [RELAY_LOCK_KEY.into()],
                ))
                .await?;
            let locked: bool = row.map(|r| r.try_get("", "locked")).transpose()?.unwrap_or(false);
            if !locked {
                leadership.rollback().await?;
                return Err(BatchError::NotLeader);
            }
        }
        let result = self.publish_pending(publisher).await;
        // Ending the transaction releases the lock.
        leadership.commit().await?;
        let published = result?;
        self.stats.published.fetch_add(published as i64, Ordering::Relaxed);
        metrics::counter!("tasks_outbox_published_total").increment(published as u64);
        Ok(published)
    }

    /// Publishes the batch as one chain per user, the chains concurrently:
    /// a user's events stay in order (each waits for the acknowledgement of
    /// the one before), different users' events do not wait for each other.
    /// When a chain fails, the others still finish (and mark what was
    /// acknowledged); the failed user's rest is first in the next batch.
    async fn publish_pending(&self, publisher: &Sidecar) -> Result<usize, BatchError> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::PublishTime.is_null())
            .filter(outbox::Column::QuarantineTime.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(self.config.batch_size)
            .all(&self.db)
            .await?;
        let mut chains: Vec<Vec<outbox::Model>> = Vec::new();
        let mut chain_of_user: HashMap<String, usize> = HashMap::new();
        for row in rows {
            let next = chains.len();
            let index = *chain_of_user.entry(row.user_id.clone()).or_insert(next);
            if index == next {
                chains.push(Vec::new());
            }
            chains[index].push(row);
        }
        let results: Vec<(usize, Result<(), BatchError>)> =
            futures::stream::iter(chains.into_iter().map(|chain| self.publish_chain(publisher, chain)))
                .buffer_unordered(MAX_CHAINS_IN_FLIGHT)
                .collect()
                .await;
        let published = results.iter().map(|(n, _)| n).sum();
        match results.into_iter().find_map(|(_, result)| result.err()) {
            Some(err) => Err(err),
            None => Ok(published),
        }
    }

    /// Publishes one user's rows in order, marking each once acknowledged;
    /// stops at the first failure. Returns how many were published.
    async fn publish_chain(&self, publisher: &Sidecar, chain: Vec<outbox::Model>) -> (usize, Result<(), BatchError>) {
        let mut published = 0;
        for row in chain {
            if let Err(err) = self.publish_row(publisher, &row).await {
                return (published, Err(err));
            }
            published += 1;
        }
        (published, Ok(()))
    }

    /// Publishes `row` and marks it sent, or quarantines it if it can never
    /// be published; either way the chain goes on.
    async fn publish_row(&self, publisher: &Sidecar, row: &outbox::Model) -> Result<(), BatchError> {
        let (column, reason) = match self.outgoing(row) {
            Ok(mut event) => {
                use tracing::Instrument as _;
                let span =
                    telemetry::publish_span(&row.topic, &event.id, &event.event_type, event.traceparent.as_deref());
                let publish = async {
                    event.traceparent = telemetry::current_traceparent().or(event.traceparent.take());
                    publisher.publish(&row.topic, &event).await
                };
                publish.instrument(span).await?;
                (outbox::Column::PublishTime, None)
            }
            Err(reason) => {
                tracing::error!(
                    outbox_quarantined = true,
                    outbox_id = row.id,
                    event_id = %row.event_id,
                    user_id = %row.user_id,
                    %reason,
                    "outbox row cannot be published: quarantined"
                );
                self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
                (outbox::Column::QuarantineTime, Some(reason))
            }
        };
        outbox::Entity::update_many()
            .col_expr(column, Expr::value(to_micros(Utc::now())))
            .col_expr(outbox::Column::QuarantineReason, Expr::value(reason))
            .filter(outbox::Column::Id.eq(row.id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The row's CloudEvent, or why it cannot have one. Its data is the JSON
    /// stored with the row, as it is (only checked to be JSON); a row from
    /// before the JSON was stored has its payload encoded here.
    fn outgoing(&self, row: &outbox::Model) -> Result<OutgoingEvent, String> {
        let data = match &row.data_json {
            Some(text) => RawValue::from_string(text.clone()).map_err(|e| format!("data_json: {e}"))?,
            None => json::encoded_to_raw::<pb::TaskEvent>(&row.payload).map_err(|e| format!("payload: {e}"))?,
        };
        Ok(OutgoingEvent {
            id: row.event_id.clone(),
            event_type: row.event_type.clone(),
            source: self.config.app_id.clone(),
            subject: Some(format!("tasks/{}", row.task_id)),
            time: from_micros(row.create_time),
            traceparent: row.traceparent.clone(),
            partition_key: row.user_id.clone(),
            data,
        })
    }

    async fn report_backlog(&self) {
        let pending = outbox::Entity::find()
            .select_only()
            .column_as(Expr::col(outbox::Column::Id).count(), "backlog")
            .column_as(outbox::Column::CreateTime.min(), "oldest")
            .filter(outbox::Column::PublishTime.is_null())
            .filter(outbox::Column::QuarantineTime.is_null())
            .into_tuple::<(i64, Option<i64>)>()
            .one(&self.db)
            .await;
        let quarantined = outbox::Entity::find()
            .select_only()
            .column_as(Expr::col(outbox::Column::Id).count(), "quarantined")
            .filter(outbox::Column::QuarantineTime.is_not_null())
            .into_tuple::<i64>()
            .one(&self.db)
            .await;
        if let Ok(Some(quarantined)) = quarantined {
            self.stats.quarantined.store(quarantined, Ordering::Relaxed);
            metrics::gauge!("tasks_outbox_quarantined").set(quarantined as f64);
            if quarantined > 0 {
                tracing::error!(outbox_quarantined = true, quarantined, "outbox rows in quarantine");
            }
        }
        let Ok(Some((backlog, oldest))) = pending else { return };
        let age_ms = oldest.map_or(0, |t| (to_micros(Utc::now()) - t) / 1000);
        self.stats.backlog.store(backlog, Ordering::Relaxed);
        self.stats.oldest_age_ms.store(age_ms, Ordering::Relaxed);
        metrics::gauge!("tasks_outbox_backlog").set(backlog as f64);
        metrics::gauge!("tasks_outbox_oldest_age_seconds").set(age_ms as f64 / 1000.0);
        if backlog > 0 {
            tracing::info!(backlog, oldest_age_ms = age_ms, "outbox backlog");
        }
    }
}
