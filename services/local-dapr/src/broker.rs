//! The durable pub/sub log that stands in for Kafka.
//!
//! Every `pubsub.*` component maps onto one table, `ld_messages`: a message
//! is a row with its topic, a partition and an id that only grows. A message
//! is committed before `PublishEvent` answers, so an OK means it is durable.
//!
//! - **Partitions.** `partitionKey` (or `__key`) picks the partition with
//!   Sarama's hash partitioner (32-bit FNV-1a, as a signed `int32`, modulo
//!   the partition count, made positive), so keys land where Dapr's Kafka
//!   producer would put them; `partitionNumber` forces one; no key means
//!   round-robin. Order is kept per partition.
//! - **Offsets.** Each subscriber (app id = Kafka consumer group) keeps, per
//!   topic and partition, the id of the last message it acknowledged in
//!   `ld_offsets`. Delivery is strictly one message at a time per partition,
//!   so that single number is the whole acknowledgement state, it survives
//!   restarts, and an acknowledged message is never delivered again.
//! - **No lost writes.** Publishes are serialised in this process, so ids are
//!   committed in increasing order and a reader that has seen id N can never
//!   later find a smaller id appear behind it.
//! - `__offset` sent to apps is this id (monotonic per partition, not dense).
//!   Messages are kept forever; this is a development runtime.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

use sea_orm::Value;
use tokio::sync::watch;

use crate::db::{Db, now_ms};

/// One stored message.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub pubsub: String,
    pub topic: String,
    pub partition: u32,
    pub key: Option<String>,
    pub content_type: String,
    /// Published with `rawPayload=true`: `payload` is not a CloudEvent.
    pub raw: bool,
    pub payload: Vec<u8>,
    /// The publish metadata; Kafka carries it as record headers.
    pub metadata: HashMap<String, String>,
    pub published_at: i64,
}

/// What a publisher hands the broker.
pub struct Outgoing<'a> {
    pub pubsub: &'a str,
    pub topic: &'a str,
    pub key: Option<&'a str>,
    pub partition: Option<u32>,
    pub content_type: &'a str,
    pub raw: bool,
    pub payload: Vec<u8>,
    pub metadata: HashMap<String, String>,
}

/// The log plus wake-ups for waiting consumers.
pub struct Broker {
    db: Db,
    partitions: u32,
    round_robin: AtomicU32,
    publish_lock: tokio::sync::Mutex<()>,
    /// Per (pubsub, topic): the last id published, so consumers wake at once.
    heads: Mutex<HashMap<(String, String), watch::Sender<i64>>>,
}

/// Sarama's `NewHashPartitioner`: FNV-1a 32, as int32, modulo, made positive.
pub fn partition_for_key(key: &str, partitions: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let signed = hash.cast_signed();
    let count = i32::try_from(partitions.max(1)).unwrap_or(i32::MAX);
    (signed % count).unsigned_abs()
}

impl Broker {
    pub fn new(db: Db, partitions: u32) -> Self {
        Self {
            db,
            partitions: partitions.max(1),
            round_robin: AtomicU32::new(0),
            publish_lock: tokio::sync::Mutex::new(()),
            heads: Mutex::new(HashMap::new()),
        }
    }

    /// The number of partitions of every topic.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    fn head(&self, pubsub: &str, topic: &str) -> watch::Sender<i64> {
        let mut heads = self.heads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        heads.entry((pubsub.to_owned(), topic.to_owned())).or_insert_with(|| watch::channel(0).0).clone()
    }

    /// A receiver that changes whenever something is published to the topic.
    pub fn watch(&self, pubsub: &str, topic: &str) -> watch::Receiver<i64> {
        self.head(pubsub, topic).subscribe()
    }

    /// Stores a message durably and returns its id.
    ///
    /// # Errors
    /// The database write failed; nothing was stored.
    pub async fn publish(&self, out: Outgoing<'_>) -> Result<i64, sea_orm::DbErr> {
        let partition = match (out.partition, out.key) {
            (Some(p), _) => p % self.partitions,
            (None, Some(key)) if !key.is_empty() => partition_for_key(key, self.partitions),
            _ => self.round_robin.fetch_add(1, Ordering::Relaxed) % self.partitions,
        };
        let metadata = serde_json::to_string(&out.metadata).unwrap_or_else(|_| "{}".into());
        let _serial = self.publish_lock.lock().await;
        let row = self
            .db
            .query_one(
                "INSERT INTO ld_messages (pubsub, topic, part, msg_key, content_type, raw, payload, metadata, published_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                vec![
                    out.pubsub.into(),
                    out.topic.into(),
                    i64::from(partition).into(),
                    out.key.map(str::to_owned).into(),
                    out.content_type.into(),
                    i64::from(out.raw).into(),
                    out.payload.into(),
                    metadata.into(),
                    now_ms().into(),
                ],
            )
            .await?;
        let id = row.map(|r| r.try_get::<i64>("", "id")).transpose()?.unwrap_or_default();
        self.head(out.pubsub, out.topic).send_replace(id);
        Ok(id)
    }

    /// Up to `limit` messages of one partition after id `after`, in order.
    pub async fn fetch(
        &self,
        pubsub: &str,
        topic: &str,
        partition: u32,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Message>, sea_orm::DbErr> {
        let rows = self
            .db
            .query(
                "SELECT id, pubsub, topic, part, msg_key, content_type, raw, payload, metadata, published_at \
                 FROM ld_messages WHERE pubsub = $1 AND topic = $2 AND part = $3 AND id > $4 ORDER BY id LIMIT $5",
                vec![pubsub.into(), topic.into(), i64::from(partition).into(), after.into(), i64::from(limit).into()],
            )
            .await?;
        rows.iter().map(row_to_message).collect()
    }

    /// Every message of a topic, in id order (a test and debugging aid).
    pub async fn all(&self, pubsub: &str, topic: &str) -> Result<Vec<Message>, sea_orm::DbErr> {
        let rows = self
            .db
            .query(
                "SELECT id, pubsub, topic, part, msg_key, content_type, raw, payload, metadata, published_at \
                 FROM ld_messages WHERE pubsub = $1 AND topic = $2 ORDER BY id",
                vec![pubsub.into(), topic.into()],
            )
            .await?;
        rows.iter().map(row_to_message).collect()
    }

    /// The subscriber's acknowledged position, creating it when the
    /// subscription is new: at the start of the log, or at its end when the
    /// component says `initialOffset: newest`.
    pub async fn position(
        &self,
        app_id: &str,
        pubsub: &str,
        topic: &str,
        partition: u32,
        newest: bool,
    ) -> Result<i64, sea_orm::DbErr> {
        let key: Vec<Value> = vec![app_id.into(), pubsub.into(), topic.into(), i64::from(partition).into()];
        let select = "SELECT acked FROM ld_offsets WHERE app_id = $1 AND pubsub = $2 AND topic = $3 AND part = $4";
        if let Some(row) = self.db.query_one(select, key.clone()).await? {
            return row.try_get::<i64>("", "acked");
        }
        let start = if newest {
            let row = self
                .db
                .query_one(
                    "SELECT COALESCE(MAX(id), 0) AS head FROM ld_messages WHERE pubsub = $1 AND topic = $2 AND part = $3",
                    vec![pubsub.into(), topic.into(), i64::from(partition).into()],
                )
                .await?;
            row.map(|r| r.try_get::<i64>("", "head")).transpose()?.unwrap_or_default()
        } else {
            0
        };
        let mut values = key;
        values.push(start.into());
        self.db
            .exec(
                "INSERT INTO ld_offsets (app_id, pubsub, topic, part, acked) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (app_id, pubsub, topic, part) DO NOTHING",
                values,
            )
            .await?;
        Ok(start)
    }

    /// Records that the subscriber has finished with every message up to `id`.
    pub async fn ack(
        &self,
        app_id: &str,
        pubsub: &str,
        topic: &str,
        partition: u32,
        id: i64,
    ) -> Result<(), sea_orm::DbErr> {
        self.db
            .exec(
                "UPDATE ld_offsets SET acked = $5 WHERE app_id = $1 AND pubsub = $2 AND topic = $3 AND part = $4",
                vec![app_id.into(), pubsub.into(), topic.into(), i64::from(partition).into(), id.into()],
            )
            .await?;
        Ok(())
    }
}

fn row_to_message(row: &sea_orm::QueryResult) -> Result<Message, sea_orm::DbErr> {
    let metadata: String = row.try_get("", "metadata")?;
    Ok(Message {
        id: row.try_get("", "id")?,
        pubsub: row.try_get("", "pubsub")?,
        topic: row.try_get("", "topic")?,
        partition: u32::try_from(row.try_get::<i64>("", "part")?).unwrap_or_default(),
        key: row.try_get("", "msg_key")?,
        content_type: row.try_get("", "content_type")?,
        raw: row.try_get::<i64>("", "raw")? != 0,
        payload: row.try_get("", "payload")?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        published_at: row.try_get("", "published_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_matches_sarama_fnv1a() {
        // FNV-1a 32 of "" is 0x811c9dc5 = -2128831035 as int32; mod 4 = -3 → 3.
        assert_eq!(partition_for_key("", 4), 3);
        // Same key, same partition; always in range.
        for key in ["alice", "bob", "carol", "user-42"] {
            let p = partition_for_key(key, 7);
            assert!(p < 7);
            assert_eq!(p, partition_for_key(key, 7));
        }
    }
}
