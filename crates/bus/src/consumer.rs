//! A consumer that hands out batches and commits only what its caller says is done.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::{BusError, KafkaConfig};

/// How long broker metadata calls may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages read together, with the offsets to commit once their effect is durable.
#[derive(Debug, Default)]
pub struct ConsumedBatch {
    /// The messages, in the order they were read.
    pub messages: Vec<OwnedMessage>,
    /// The offsets that mark these messages done.
    pub offsets: Offsets,
}

impl ConsumedBatch {
    /// True when nothing arrived.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn push(&mut self, message: OwnedMessage) {
        self.offsets
            .advance(message.topic(), message.partition(), message.offset() + 1);
        self.messages.push(message);
    }
}

/// The next offset to read, per topic partition: what a commit records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offsets(BTreeMap<(String, i32), i64>);

impl Offsets {
    /// True when no partition has moved.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves a partition forward to `next`; never backwards.
    pub fn advance(&mut self, topic: &str, partition: i32, next: i64) {
        let entry = self.0.entry((topic.to_owned(), partition)).or_insert(next);
        *entry = (*entry).max(next);
    }

    /// Takes in the offsets of a later batch.
    pub fn merge(&mut self, later: &Offsets) {
        for ((topic, partition), next) in &later.0 {
            self.advance(topic, *partition, *next);
        }
    }

    /// Forgets every offset (after a commit).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A consumer-group member that reads in batches and commits explicitly.
///
/// Auto-commit is off: offsets move only through [`BatchConsumer::commit`], which
/// the caller invokes after the batch's effect is durable. A crash in between means
/// the batch is read again, so every sink must be idempotent.
pub struct BatchConsumer {
    consumer: StreamConsumer,
}

impl BatchConsumer {
    /// Joins `group` and subscribes to `topics` (full names).
    pub fn new(kafka: &KafkaConfig, group: &str, topics: &[String]) -> Result<Self, BusError> {
        let consumer: StreamConsumer = kafka
            .client(&[
                ("group.id", group),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("queued.max.messages.kbytes", "32768"),
                // librdkafka waits up to 500 ms by default for a fetch to fill; a
                // broker that holds fetches that long (tansu does) caps a catching-up
                // consumer well below its own speed. And once its local queue is
                // full, librdkafka waits fetch.queue.backoff.ms (1 s by default)
                // before fetching again, though the consumer empties the queue in
                // a fraction of that. Together they took the store consumer over
                // 337,096 records from 7.7 s to 4.8 s here (BENCHMARKS.md). Kafka
                // answers a fetch as soon as it has data, so there the short wait
                // only adds empty fetches while the topic is idle.
                ("fetch.wait.max.ms", "25"),
                ("fetch.queue.backoff.ms", "10"),
                ("session.timeout.ms", "30000"),
            ])
            .create()
            .map_err(BusError::kafka("create consumer"))?;
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(BusError::kafka("subscribe"))?;
        Ok(Self { consumer })
    }

    /// Waits up to `idle` for a first message, then gathers more until `max`
    /// messages or `linger` has passed. An empty batch means the wait ran out.
    pub async fn next_batch(
        &self,
        max: usize,
        idle: Duration,
        linger: Duration,
    ) -> Result<ConsumedBatch, BusError> {
        let mut batch = ConsumedBatch::default();
        let first = match tokio::time::timeout(idle, self.consumer.recv()).await {
            Err(_) => return Ok(batch),
            Ok(message) => message.map_err(BusError::kafka("consume"))?,
        };
        batch.push(first.detach());

        let deadline = Instant::now() + linger;
        while batch.messages.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.consumer.recv()).await {
                Err(_) => break,
                Ok(message) => batch.push(message.map_err(BusError::kafka("consume"))?.detach()),
            }
        }
        Ok(batch)
    }

    /// Commits offsets synchronously.
    pub fn commit(&self, done: &Offsets) -> Result<(), BusError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &done.0 {
            offsets
                .add_partition_offset(topic, *partition, Offset::Offset(*next))
                .map_err(BusError::kafka("commit"))?;
        }
        self.consumer
            .commit(&offsets, CommitMode::Sync)
            .map_err(BusError::kafka("commit"))
    }

    /// True when this member has partitions and the group's committed offset on
    /// each has reached the partition's end. False while no partition is assigned.
    pub fn caught_up(&self) -> Result<bool, BusError> {
        let assignment = self
            .consumer
            .assignment()
            .map_err(BusError::kafka("assignment"))?;
        if assignment.count() == 0 {
            return Ok(false);
        }
        let committed = self
            .consumer
            .committed_offsets(assignment, METADATA_TIMEOUT)
            .map_err(BusError::kafka("committed offsets"))?;
        self.at_ends(&committed)
    }

    /// True when this member has partitions and has been handed every message
    /// each one held when asked (its position reached the partition's end),
    /// whether or not those are committed yet. A partition it has not read from
    /// counts only while empty. One round trip to the broker per partition.
    pub fn at_end(&self) -> Result<bool, BusError> {
        let position = self
            .consumer
            .position()
            .map_err(BusError::kafka("position"))?;
        if position.count() == 0 {
            return Ok(false);
        }
        self.at_ends(&position)
    }

    /// Whether each partition's offset in `offsets` is at its high watermark (an
    /// unset offset only where the partition holds nothing).
    fn at_ends(&self, offsets: &TopicPartitionList) -> Result<bool, BusError> {
        for element in offsets.elements() {
            let (low, high) = self
                .consumer
                .fetch_watermarks(element.topic(), element.partition(), METADATA_TIMEOUT)
                .map_err(BusError::kafka("watermarks"))?;
            let done = match element.offset() {
                Offset::Offset(offset) => offset >= high,
                _ => low == high,
            };
            if !done {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
