//! A producer that knows whether every message it was given reached the broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};

use crate::{BusError, KafkaConfig};

/// How long a full local queue is waited on before sending is retried.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(2);

/// librdkafka settings of every costflow producer, before the operator's extras.
/// The local queue is capped in messages and bytes, so a producer's memory stays
/// flat however fast its source reads; the bare-producer benchmark uses the same.
pub const PRODUCER_SETTINGS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "20"),
    ("batch.num.messages", "10000"),
    ("queue.buffering.max.messages", "100000"),
    ("queue.buffering.max.kbytes", "65536"),
    ("message.timeout.ms", "120000"),
];

/// Counts delivery reports as librdkafka hands them back.
#[derive(Default)]
struct Tracker {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Tracker {}

impl ProducerContext for Tracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, message)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                if first.is_none() {
                    *first = Some(format!(
                        "{} partition {}: {err}",
                        message.topic(),
                        message.partition()
                    ));
                }
            }
        }
    }
}

/// Delivery counts at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryReport {
    /// Messages handed to the producer.
    pub sent: u64,
    /// Messages the broker acknowledged.
    pub delivered: u64,
}

/// An idempotent producer whose [`Publisher::finish`] fails unless every message
/// was acknowledged. Sending never blocks the caller on a round trip: messages
/// queue in librdkafka (bounded, so memory stays flat) and reports are counted as
/// they arrive.
pub struct Publisher {
    producer: ThreadedProducer<Tracker>,
    sent: u64,
}

impl Publisher {
    /// Connects a producer with costflow's delivery settings.
    pub fn new(kafka: &KafkaConfig) -> Result<Self, BusError> {
        let producer = kafka
            .client(PRODUCER_SETTINGS)
            .create_with_context(Tracker::default())
            .map_err(BusError::kafka("create producer"))?;
        Ok(Self { producer, sent: 0 })
    }

    /// Fails with [`BusError::MissingTopic`] for the first of `topics` the cluster
    /// says it does not have, so a run under a topic prefix nobody applied stops
    /// at once instead of queueing every message until its delivery times out.
    /// A topic being created (no leader yet) passes: the sends wait for it.
    pub fn require_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        for topic in topics {
            let metadata = self
                .producer
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .map_err(BusError::kafka("metadata"))?;
            let unknown = metadata.topics().iter().any(|found| {
                found.error()
                    == Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            });
            if unknown {
                return Err(BusError::MissingTopic((*topic).to_owned()));
            }
        }
        Ok(())
    }

    /// Queues one message, waiting while the local queue is full.
    pub fn send(&mut self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), BusError> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(QUEUE_FULL_BACKOFF);
                }
                Err((source, _)) => {
                    return Err(BusError::Kafka {
                        operation: "produce",
                        source,
                    })
                }
            }
        }
    }

    /// Waits up to `timeout` for every delivery report; an error unless every
    /// message sent so far was acknowledged.
    pub fn flush(&mut self, timeout: Duration) -> Result<DeliveryReport, BusError> {
        let flushed = self.producer.flush(timeout);
        let tracker = self.producer.context();
        let delivered = tracker.delivered.load(Ordering::Relaxed);
        let failed = self.sent - delivered;
        if failed == 0 {
            return Ok(DeliveryReport {
                sent: self.sent,
                delivered,
            });
        }
        let first_error = tracker
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .or_else(|| flushed.err().map(|err| format!("flush: {err}")))
            .unwrap_or_else(|| format!("no delivery report within {timeout:?}"));
        Err(BusError::Undelivered {
            sent: self.sent,
            failed,
            first_error,
        })
    }

    /// Flushes and closes the producer; see [`Publisher::flush`].
    pub fn finish(mut self, timeout: Duration) -> Result<DeliveryReport, BusError> {
        self.flush(timeout)
    }
}
