//! The client's own limit: already-encoded messages sent with a librdkafka
//! `BaseProducer` and the producer settings costflow uses, doing nothing else.
//! `costflow ingest`'s produce rate is reported as a ratio to this one.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use costflow_bus::PRODUCER_SETTINGS;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::payloads::PayloadReader;

/// Counts acknowledged and failed deliveries.
#[derive(Default)]
pub struct Counter {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = if result.is_ok() {
            &self.delivered
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A `BaseProducer` with costflow's producer settings, counting deliveries.
pub fn producer(brokers: &str) -> Result<BaseProducer<Counter>> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in PRODUCER_SETTINGS {
        config.set(*key, *value);
    }
    config
        .create_with_context(Counter::default())
        .context("creating the producer")
}

/// Queues one message, waiting for room while librdkafka's queue is full.
pub fn send(
    producer: &BaseProducer<Counter>,
    topic: &str,
    key: &[u8],
    payload: &[u8],
) -> Result<()> {
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((err, _)) => return Err(err).context("produce"),
        }
    }
}

/// Waits for every delivery report of `sent` messages; fails unless the broker
/// acknowledged them all.
pub fn flush(producer: &BaseProducer<Counter>, sent: u64) -> Result<u64> {
    producer
        .flush(Duration::from_secs(120))
        .context("flushing the producer")?;
    let context = producer.context();
    let delivered = context.delivered.load(Ordering::Relaxed);
    let failed = context.failed.load(Ordering::Relaxed);
    if delivered != sent {
        bail!("{sent} sent, {delivered} acknowledged, {failed} failed");
    }
    Ok(delivered)
}

/// Sends every message of a payload file to `topic` and waits for every delivery
/// report; the number of messages the broker acknowledged.
pub fn produce(brokers: &str, topic: &str, payloads: &Path) -> Result<u64> {
    let producer = producer(brokers)?;
    let mut input = PayloadReader::open(payloads)?;
    let mut sent = 0u64;
    while input.next_message()? {
        send(&producer, topic, &input.key, &input.payload)?;
        sent += 1;
        // Serve delivery reports as they come, without waiting.
        producer.poll(Duration::ZERO);
    }
    flush(&producer, sent)
}
