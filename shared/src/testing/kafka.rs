//! What was published, read straight from the Kafka broker (the `rskafka`
//! client): a test checks the records daprd wrote, key and headers included,
//! not what some component claims to have sent.

use std::{collections::BTreeMap, time::Duration};

use rskafka::{
    BackoffConfig,
    client::{
        Client, ClientBuilder,
        partition::{OffsetAt, UnknownTopicHandling},
    },
};

/// One record of a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    /// The record key (Dapr's `partitionKey`).
    pub key: Option<String>,
    /// Kafka headers (daprd writes the publish metadata here).
    pub headers: BTreeMap<String, String>,
    pub value: Vec<u8>,
}

impl Record {
    /// The value as JSON (a CloudEvent, for everything daprd publishes).
    ///
    /// # Panics
    /// When the value is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.value)
            .unwrap_or_else(|e| panic!("record {}@{} is not JSON: {e}", self.partition, self.offset))
    }
}

async fn connect(brokers: &str, deadline: Duration) -> Result<Client, rskafka::client::error::Error> {
    ClientBuilder::new(brokers.split(',').map(str::to_owned).collect())
        .backoff_config(BackoffConfig { deadline: Some(deadline), ..Default::default() })
        .build()
        .await
}

/// True when the broker at `brokers` answers a metadata request.
pub async fn accepts_clients(brokers: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(5), async {
            let client = connect(brokers, Duration::from_secs(2)).await?;
            client.list_topics().await
        })
        .await,
        Ok(Ok(_))
    )
}

/// Every record of `topic`, all partitions, oldest first within each
/// partition; empty when the topic does not exist (yet).
///
/// # Panics
/// When the broker cannot be read.
pub async fn read_topic(brokers: &str, topic: &str) -> Vec<Record> {
    let client = connect(brokers, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Kafka at {brokers}: {e}"));
    let topics = client.list_topics().await.unwrap_or_else(|e| panic!("cannot list Kafka topics: {e}"));
    let Some(found) = topics.into_iter().find(|t| t.name == topic) else { return Vec::new() };
    let mut records = Vec::new();
    for partition in found.partitions {
        let read = async {
            let pc = client.partition_client(topic.to_owned(), partition, UnknownTopicHandling::Retry).await?;
            let mut offset = pc.get_offset(OffsetAt::Earliest).await?;
            let end = pc.get_offset(OffsetAt::Latest).await?;
            let mut out = Vec::new();
            while offset < end {
                let (batch, _high_watermark) = pc.fetch_records(offset, 1..10_000_000, 500).await?;
                // Only transaction markers left: nothing more to read.
                let Some(last) = batch.last() else { break };
                offset = last.offset + 1;
                out.extend(batch);
            }
            Ok::<_, rskafka::client::error::Error>(out)
        };
        let batch = read.await.unwrap_or_else(|e| panic!("cannot read {topic}[{partition}]: {e}"));
        records.extend(batch.into_iter().map(|r| Record {
            partition,
            offset: r.offset,
            key: r.record.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
            headers: r.record.headers.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect(),
            value: r.record.value.unwrap_or_default(),
        }));
    }
    records
}

/// The CloudEvents published on `topic`.
pub async fn cloud_events(brokers: &str, topic: &str) -> Vec<serde_json::Value> {
    read_topic(brokers, topic).await.iter().map(Record::json).collect()
}
