//! Reading a whole topic once, from its first retained message to its end.
//!
//! For small state topics (the ingest checkpoints) that a process loads at start.
//! Partitions are assigned directly, not through a consumer group: nothing is
//! committed and no group is joined, so any number of processes may read at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::{BusError, KafkaConfig};

/// How long broker metadata calls may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Every message of `topic` (full name) up to the end each partition had when
/// the read began, partition by partition in offset order. Blocking.
///
/// Fails when the topic does not exist or the end is not reached within
/// `timeout`, so a caller never mistakes a slow broker for an empty topic.
pub fn read_to_end(
    kafka: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<OwnedMessage>, BusError> {
    let consumer: BaseConsumer = kafka
        .client(&[
            // Required by librdkafka; unused, as partitions are assigned directly.
            ("group.id", "costflow-topic-reader"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ])
        .create()
        .map_err(BusError::kafka("create reader"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(BusError::kafka("metadata"))?;
    let partitions: Vec<i32> = match metadata.topics().first() {
        Some(found) if found.error().is_none() && !found.partitions().is_empty() => {
            found.partitions().iter().map(|p| p.id()).collect()
        }
        _ => return Err(BusError::MissingTopic(topic.to_owned())),
    };

    // The next offset to reach on each partition that holds anything.
    let mut ends = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
            .map_err(BusError::kafka("watermarks"))?;
        if high > low {
            ends.insert(partition, high);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .map_err(BusError::kafka("assign"))?;
        }
    }
    let mut messages = Vec::new();
    if ends.is_empty() {
        return Ok(messages);
    }
    consumer
        .assign(&assignment)
        .map_err(BusError::kafka("assign"))?;

    let deadline = Instant::now() + timeout;
    while !ends.is_empty() {
        if Instant::now() >= deadline {
            return Err(BusError::Timeout {
                what: format!("reading {topic} to its end"),
                waited: timeout,
            });
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.map_err(BusError::kafka("consume"))?;
        let partition = message.partition();
        if let Some(end) = ends.get(&partition) {
            if message.offset() + 1 >= *end {
                ends.remove(&partition);
            }
            messages.push(message.detach());
        }
    }
    Ok(messages)
}
