//! Which export runs a watching worker has finished with, kept on the compacted
//! `ingest.checkpoints` topic.
//!
//! A watcher loads every checkpoint when it starts and skips the runs they name;
//! it writes a run's checkpoint only after the broker has acknowledged every
//! record and reject of that run. A crash between the two means the run is read
//! again after the restart: its records carry the same keys and source version,
//! so the store counts them once. A run is never skipped because its checkpoint
//! was written early.
//!
//! The state lives in Kafka, like every other piece of costflow's state, so a
//! worker can move to another machine without losing it.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use costflow_bus::topics::INGEST_CHECKPOINTS;
use costflow_bus::{KafkaConfig, Message, Publisher};
use costflow_model::Codec;
use serde::{Deserialize, Serialize};

use crate::publish::{IngestError, IngestReport};

/// How long loading may take before the watcher gives up rather than start
/// without knowing what it has done.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the broker may take to acknowledge a checkpoint.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What became of one export run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Checkpoint {
    /// The run's identity: source kind, manifest URI and run id or version.
    pub run_key: String,
    /// The manifest the run was found by.
    pub manifest_uri: String,
    /// The export's own run id, when it has one.
    pub run_id: Option<String>,
    /// The source version stamped on the run's records.
    pub source_version: i64,
    /// `published`, or `refused` (its rejects say why).
    pub outcome: String,
    /// Data rows read.
    pub rows_read: i64,
    /// Rows published as records.
    pub published: i64,
    /// Rows published as rejects.
    pub rejected: i64,
    /// When the run was finished with.
    #[serde(with = "costflow_model::record::micros")]
    pub finished_at: DateTime<Utc>,
}

impl Checkpoint {
    /// The checkpoint of a run that went through the publisher: `published`
    /// unless a file failed.
    pub fn of_report(
        run_key: String,
        manifest_uri: String,
        run_id: Option<String>,
        source_version: i64,
        report: &IngestReport,
    ) -> Self {
        let failed = report.failed_files().next().is_some();
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Checkpoint {
            run_key,
            manifest_uri,
            run_id,
            source_version,
            outcome: if failed { "refused" } else { "published" }.to_owned(),
            rows_read: count(report.rows_read()),
            published: count(report.published()),
            rejected: count(report.rejected()),
            finished_at: Utc::now(),
        }
    }

    /// The checkpoint of a run refused before any of its rows were read.
    pub fn refused(
        run_key: String,
        manifest_uri: String,
        run_id: Option<String>,
        source_version: i64,
    ) -> Self {
        Checkpoint {
            run_key,
            manifest_uri,
            run_id,
            source_version,
            outcome: "refused".to_owned(),
            rows_read: 0,
            published: 0,
            rejected: 0,
            finished_at: Utc::now(),
        }
    }
}

/// The runs finished so far, and the way to record one more.
pub struct Checkpoints {
    kafka: KafkaConfig,
    codec: Codec,
    done: HashMap<String, Checkpoint>,
}

impl Checkpoints {
    /// Reads every checkpoint on the topic. Blocking. Fails if the topic is
    /// missing or cannot be read to its end: a watcher that started without its
    /// checkpoints would read every run again.
    pub fn load(kafka: &KafkaConfig) -> Result<Self, IngestError> {
        let codec = Codec::checkpoint();
        let topic = kafka.topic(INGEST_CHECKPOINTS);
        let mut done = HashMap::new();
        for message in costflow_bus::read_to_end(kafka, &topic, LOAD_TIMEOUT)? {
            let Some(payload) = message.payload() else {
                continue;
            };
            match codec.decode::<Checkpoint>(payload) {
                Ok(checkpoint) => {
                    done.insert(checkpoint.run_key.clone(), checkpoint);
                }
                Err(err) => tracing::error!(
                    topic = %topic,
                    partition = message.partition(),
                    offset = message.offset(),
                    error = %err,
                    "unreadable checkpoint ignored; its run will be read again"
                ),
            }
        }
        Ok(Checkpoints {
            kafka: kafka.clone(),
            codec,
            done,
        })
    }

    /// True when the run has been finished with.
    pub fn contains(&self, run_key: &str) -> bool {
        self.done.contains_key(run_key)
    }

    /// How many runs have been finished with.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// True when no run has been finished with.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Publishes a checkpoint and waits for the broker's acknowledgement.
    /// Blocking: call it once the run's own messages are acknowledged.
    pub fn record(&mut self, checkpoint: Checkpoint) -> Result<(), IngestError> {
        let payload = self.codec.encode(&checkpoint)?;
        let mut publisher = Publisher::new(&self.kafka)?;
        publisher.send(
            &self.kafka.topic(INGEST_CHECKPOINTS),
            checkpoint.run_key.as_bytes(),
            &payload,
        )?;
        publisher.finish(WRITE_TIMEOUT)?;
        self.done.insert(checkpoint.run_key.clone(), checkpoint);
        Ok(())
    }
}
