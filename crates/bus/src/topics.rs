//! Topic declarations (`topics.yaml`) and their idempotent creation.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;

use crate::{BusError, KafkaConfig};

/// The `topics.yaml` shipped with this build.
pub const BUNDLED: &str = include_str!("../../../topics.yaml");

/// Name of the topic of normalised cost records.
pub const COST_RECORDS: &str = "cost.records";
/// Name of the topic of rejected input.
pub const INGEST_REJECTS: &str = "ingest.rejects";
/// Name of the topic of export runs that watching ingest workers finished.
pub const INGEST_CHECKPOINTS: &str = "ingest.checkpoints";

/// One topic of `topics.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct TopicSpec {
    /// Topic name, before the prefix.
    pub name: String,
    /// What flows through it.
    pub description: String,
    /// Partition count: the most instances of one consumer group that do work.
    pub partitions: i32,
    /// Copies of each partition in production.
    pub replication_factor: i32,
    /// What the message key is.
    pub key: String,
    /// The value's Avro schema, relative to the repository root.
    pub value_schema: String,
    /// Topic-level settings (retention, compaction).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// The declared topics.
#[derive(Debug, Clone, Deserialize)]
pub struct Topics {
    /// Every topic, in file order.
    pub topics: Vec<TopicSpec>,
}

/// What `apply` did to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The topic was created.
    Created(String),
    /// The topic was there already; it was left as it is.
    Existed(String),
}

impl Topics {
    /// Parses a `topics.yaml` text.
    pub fn parse(text: &str) -> Result<Self, BusError> {
        let topics: Topics =
            serde_norway::from_str(text).map_err(|err| BusError::Topics(err.to_string()))?;
        for topic in &topics.topics {
            if topic.partitions < 1 || topic.replication_factor < 1 {
                return Err(BusError::Topics(format!(
                    "{}: partitions and replication_factor must be at least 1",
                    topic.name
                )));
            }
        }
        Ok(topics)
    }

    /// The declarations built into this binary.
    pub fn bundled() -> Self {
        Self::parse(BUNDLED).expect("bundled topics.yaml is valid")
    }

    /// Creates every missing topic; existing ones are left unchanged.
    /// `replication_factor` overrides the declared one (a one-broker stack needs 1).
    pub async fn apply(
        &self,
        kafka: &KafkaConfig,
        replication_factor: Option<i32>,
    ) -> Result<Vec<Applied>, BusError> {
        let admin: AdminClient<DefaultClientContext> = kafka
            .client(&[])
            .create()
            .map_err(BusError::kafka("create admin client"))?;
        let names: Vec<String> = self.topics.iter().map(|t| kafka.topic(&t.name)).collect();
        let new_topics: Vec<NewTopic<'_>> = self
            .topics
            .iter()
            .zip(&names)
            .map(|(spec, name)| {
                let replication = replication_factor.unwrap_or(spec.replication_factor);
                let mut topic =
                    NewTopic::new(name, spec.partitions, TopicReplication::Fixed(replication));
                for (key, value) in &spec.config {
                    topic = topic.set(key, value);
                }
                topic
            })
            .collect();

        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics(&new_topics, &options)
            .await
            .map_err(BusError::kafka("create topics"))?;

        results
            .into_iter()
            .map(|result| match result {
                Ok(name) => Ok(Applied::Created(name)),
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => Ok(Applied::Existed(name)),
                Err((topic, code)) => Err(BusError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_declarations_name_the_pipeline_topics() {
        let topics = Topics::bundled();
        let names: Vec<&str> = topics.topics.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&COST_RECORDS));
        assert!(names.contains(&INGEST_REJECTS));
        for topic in &topics.topics {
            assert!(topic.value_schema.starts_with("schemas/"), "{}", topic.name);
            assert!(
                topic.config.contains_key("cleanup.policy"),
                "{}",
                topic.name
            );
        }
    }

    #[test]
    fn zero_partitions_is_refused() {
        let text = "topics:\n  - {name: a, description: d, partitions: 0, replication_factor: 1, key: k, value_schema: s}\n";
        assert!(Topics::parse(text).is_err());
    }
}
