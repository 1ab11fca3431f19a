//! The bus: how costflow stages talk through Kafka.
//!
//! Sources publish with a [`Publisher`] that tracks every delivery report; consumers
//! read with a [`BatchConsumer`] and commit offsets only after their effect is
//! durable. [`topics`] holds the declarations of `topics.yaml` and creates them.

pub mod config;
pub mod consumer;
pub mod publisher;
pub mod reader;
pub mod topics;

pub use config::KafkaConfig;
pub use consumer::{BatchConsumer, ConsumedBatch, Offsets};
pub use publisher::{DeliveryReport, Publisher, PRODUCER_SETTINGS};
/// The message types consumers hand out, so callers need not name rdkafka.
pub use rdkafka::message::{Message, OwnedMessage};
pub use reader::read_to_end;
pub use topics::{TopicSpec, Topics};

/// Everything that can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// librdkafka refused or failed an operation.
    #[error("kafka {operation}: {source}")]
    Kafka {
        /// What was being done.
        operation: &'static str,
        /// The client's error.
        source: rdkafka::error::KafkaError,
    },
    /// `topics.yaml` is unreadable or invalid.
    #[error("topics file: {0}")]
    Topics(String),
    /// Creating a topic failed for a reason other than its existing already.
    #[error("creating topic {topic}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
    /// A topic costflow needs is not on the cluster.
    #[error("topic {0} does not exist; run `costflow topics apply`")]
    MissingTopic(String),
    /// An operation did not finish in time.
    #[error("{what}: no answer within {waited:?}")]
    Timeout {
        /// What was being done.
        what: String,
        /// How long was waited.
        waited: std::time::Duration,
    },
    /// Messages were not acknowledged by the broker.
    #[error("{failed} of {sent} messages were not delivered: {first_error}")]
    Undelivered {
        /// Messages handed to the producer.
        sent: u64,
        /// Messages with a failed or missing delivery report.
        failed: u64,
        /// The first failure seen.
        first_error: String,
    },
}

impl BusError {
    fn kafka(operation: &'static str) -> impl FnOnce(rdkafka::error::KafkaError) -> Self {
        move |source| BusError::Kafka { operation, source }
    }
}
