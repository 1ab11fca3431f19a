//! The store consumer: `cost.records` into ClickHouse, exactly once in effect.
//!
//! Batches are streamed into one open `line_items` insert, so ClickHouse parses
//! one batch while the next is decoded. Every `live_refresh_interval` while the
//! consumer keeps up (every `refresh_interval` while it catches up), or as soon
//! as the topic goes quiet, the insert is flushed: ended and acknowledged by
//! ClickHouse, the projection of the periods it stored rows in refreshed, and
//! only then its offsets committed. A flush runs while the consumer reads on into
//! the next insert; one flush runs at a time. A crash anywhere before the commit
//! means the messages are read again; merges collapse the duplicates, and a
//! refresh that finds a record stored twice recomputes the period from scratch,
//! so no total changes. When the topic goes quiet after incremental refreshes,
//! and at the first quiet moment after a start, every period whose projection
//! was made incrementally is recomputed from its line items.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use costflow_bus::topics::{COST_RECORDS, INGEST_REJECTS};
use costflow_bus::{BatchConsumer, BusError, KafkaConfig, Offsets, Publisher};
use costflow_model::{read_cost_record, Codec, CostRecord, Refusal, Reject};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use tokio::sync::watch;

use crate::line_items::LineItemWriter;
use crate::projection::BillingPeriodKey;
use crate::{RefreshReport, Store, StoreError};

/// Most billing periods the consumer remembers having refreshed; past that it
/// forgets them all, and each one's next refresh recomputes it.
const REFRESHED_PERIODS_KEPT: usize = 100_000;

/// How long the reject producer may take to confirm before a commit.
const REJECT_FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// How the store consumer runs.
#[derive(Debug, Clone)]
pub struct StoreConsumerOptions {
    /// Consumer group id; every instance of the store consumer shares it.
    pub group_id: String,
    /// Most messages read and decoded at a time. One ClickHouse insert spans
    /// every batch until the next refresh.
    pub batch_size: usize,
    /// How long a batch waits to fill once its first message arrived.
    pub linger: Duration,
    /// Longest wait for a first message before the topic counts as quiet.
    pub idle: Duration,
    /// Longest time inserted rows may wait for their projection refresh and
    /// offset commit while the consumer is catching up (its batches come back
    /// full): fewer refreshes, more throughput.
    pub refresh_interval: Duration,
    /// How often the projection is refreshed while the consumer keeps up with
    /// the topic (its batches come back short of `batch_size`): new rows are
    /// visible this soon after they arrive, plus the refresh itself. Stretched
    /// to the last refresh's duration when refreshes take longer than this.
    pub live_refresh_interval: Duration,
    /// Stop once every assigned partition's committed offset reached its end.
    pub until_caught_up: bool,
    /// Abort the process right after the first insert is acknowledged, before
    /// any commit. A test hook proving that a crash at the worst moment changes
    /// no total.
    pub crash_after_insert: bool,
    /// Texts of cost record schemas newer than this build carries, accepted as
    /// writer schemas and read into the current one.
    pub writer_schemas: Vec<String>,
}

impl Default for StoreConsumerOptions {
    fn default() -> Self {
        Self {
            group_id: "costflow-store".to_owned(),
            batch_size: 5000,
            linger: Duration::from_millis(200),
            idle: Duration::from_secs(1),
            refresh_interval: Duration::from_secs(5),
            live_refresh_interval: Duration::from_millis(250),
            until_caught_up: false,
            crash_after_insert: false,
            writer_schemas: Vec::new(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreConsumerReport {
    /// Records inserted (a redelivered record counts again).
    pub records: u64,
    /// Messages sent to `ingest.rejects` instead.
    pub rejected: u64,
    /// Offset commits made.
    pub commits: u64,
    /// How the projection refreshes before those commits went, by billing
    /// period.
    pub refreshes: RefreshReport,
    /// Billing periods recomputed from all their line items once the topic went
    /// quiet, because their projection was made incrementally.
    pub verified: u64,
}

/// Why the store consumer stopped with an error. Nothing uncommitted is lost:
/// a restart reads it again.
#[derive(Debug, thiserror::Error)]
pub enum StoreConsumerError {
    /// Kafka failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// ClickHouse failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An extra writer schema does not parse or cannot be read into the current
    /// schema; fix the configuration.
    #[error("extra writer schema refused: {0}")]
    WriterSchema(costflow_model::WireError),
    /// The task ending an insert and refreshing the projection panicked or was
    /// cancelled: a defect.
    #[error("flushing an insert: {0}")]
    Flush(String),
    /// A reject could not be encoded: a defect.
    #[error("encoding a reject: {0}")]
    Encode(#[from] costflow_model::WireError),
}

/// Runs the store consumer until `shutdown` turns true (then drains: refreshes and
/// commits what was inserted) or, with `until_caught_up`, until it has caught up.
pub async fn run_store_consumer(
    kafka: &KafkaConfig,
    store: &Store,
    options: &StoreConsumerOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<StoreConsumerReport, StoreConsumerError> {
    let topic = kafka.topic(COST_RECORDS);
    let consumer = BatchConsumer::new(kafka, &options.group_id, std::slice::from_ref(&topic))?;
    let mut rejects = RejectSink::new(kafka)?;
    let mut codec = Codec::cost_record();
    for text in &options.writer_schemas {
        let fingerprint = codec
            .add_writer_schema(text)
            .map_err(StoreConsumerError::WriterSchema)?;
        tracing::info!(fingerprint = %format!("{fingerprint:016x}"), "extra writer schema accepted");
    }
    let mut writer = store.line_item_writer();
    let mut report = StoreConsumerReport::default();
    let mut pending = Offsets::default();
    let mut flushing: Option<Flush> = None;
    // Incremental generations left by an earlier run, a crash included, are
    // recomputed at the first quiet moment too.
    let mut verify = true;
    // Periods refreshed since the start. A period's first refresh recomputes it:
    // its line items may hold blocks of an insert cut short by a crash, rows no
    // generation counted.
    let mut refreshed: HashSet<BillingPeriodKey> = HashSet::new();
    let mut last_flush_start = Instant::now();
    let mut last_flush = Duration::ZERO;
    tracing::info!(topic = %topic, group = %options.group_id, "store consumer started");

    loop {
        let waited = Instant::now();
        let batch = tokio::select! {
            batch = consumer.next_batch(options.batch_size, options.idle, options.linger) => batch?,
            _ = shutdown.changed() => Default::default(),
        };
        let stopping = *shutdown.borrow();
        // Nothing more to read for now: the wait for a first message ran out or,
        // when the run ends on catching up, a short batch took the last message
        // the topic held (rather than waiting out `idle` to learn it).
        let drained = batch.is_empty()
            || (options.until_caught_up
                && batch.messages.len() < options.batch_size
                && consumer.at_end()?);

        if !batch.is_empty() {
            let read = waited.elapsed();
            let decoding = Instant::now();
            let records = decode(&codec, &batch.messages, &mut rejects)?;
            let decoded = decoding.elapsed();
            let writing = Instant::now();
            let unstorable = writer.write(&records).await?;
            let written = writing.elapsed();
            for (index, err) in &unstorable {
                rejects.send(&records[*index].source_uri, None, err.to_string())?;
            }
            report.records += (records.len() - unstorable.len()) as u64;
            pending.merge(&batch.offsets);
            tracing::debug!(
                messages = batch.messages.len(),
                read_ms = read.as_millis() as u64,
                decode_ms = decoded.as_millis() as u64,
                write_ms = written.as_millis() as u64,
                "batch written"
            );
        }

        // A flush that finished is committed at once, not at the next one.
        if flushing.as_ref().is_some_and(|f| f.task.is_finished()) {
            last_flush = commit(&consumer, flushing.take(), &mut report, &mut verify).await?;
        }

        let interval = if batch.messages.len() < options.batch_size {
            // Never less than the last flush took: a flush, whose refresh grows
            // with its billing periods, never waits for one still running.
            options.live_refresh_interval.max(last_flush)
        } else {
            options.refresh_interval
        };
        let due = drained || stopping || last_flush_start.elapsed() >= interval;
        if !pending.is_empty() && due {
            // One flush at a time: a refresh adds to the generation the one
            // before made, and commits stay in order.
            if flushing.is_some() {
                last_flush = commit(&consumer, flushing.take(), &mut report, &mut verify).await?;
            }
            // Rejects of these batches are durable before their offsets commit.
            rejects.flush()?;
            let first: BTreeSet<BillingPeriodKey> = writer
                .periods()
                .filter(|p| !refreshed.contains(*p))
                .cloned()
                .collect();
            if refreshed.len() + first.len() > REFRESHED_PERIODS_KEPT {
                refreshed.clear();
            }
            refreshed.extend(first.iter().cloned());
            let finishing = std::mem::replace(&mut writer, store.line_item_writer());
            let next_insert = writer.insert_id();
            let store = store.clone();
            let crash = options.crash_after_insert;
            flushing = Some(Flush {
                offsets: std::mem::take(&mut pending),
                started: Instant::now(),
                task: tokio::spawn(async move {
                    finish(finishing, &store, next_insert, &first, crash).await
                }),
            });
            last_flush_start = Instant::now();
        }

        let idle = pending.is_empty() && (drained || stopping);
        if idle && flushing.is_some() {
            last_flush = commit(&consumer, flushing.take(), &mut report, &mut verify).await?;
        }
        // Quiet: what was added incrementally is recomputed from the line items.
        // Not on the way out, where it could hold a shutdown up for as long as
        // its largest period takes; the next start does it.
        if idle && flushing.is_none() && verify && !stopping {
            let verifying = Instant::now();
            let periods = store.recompute_incremental().await?;
            report.verified += periods;
            tracing::debug!(
                periods,
                verify_ms = verifying.elapsed().as_millis() as u64,
                "incrementally refreshed periods recomputed"
            );
            verify = false;
        }
        if stopping {
            tracing::info!("store consumer drained");
            break;
        }
        if options.until_caught_up
            && pending.is_empty()
            && flushing.is_none()
            && consumer.caught_up()?
        {
            tracing::info!(records = report.records, "store consumer caught up");
            break;
        }
    }
    report.rejected = rejects.sent;
    Ok(report)
}

/// An insert being ended and its refresh made, while the consumer reads on into
/// the next insert.
struct Flush {
    /// What to commit once it is done.
    offsets: Offsets,
    started: Instant,
    task: tokio::task::JoinHandle<Result<RefreshReport, StoreError>>,
}

/// Ends an insert, then refreshes the projection of the periods it stored rows
/// in, recomputing those in `first`. `next_insert` is the consumer's next
/// insert, streaming meanwhile; the refresh leaves its rows out.
async fn finish(
    mut writer: LineItemWriter,
    store: &Store,
    next_insert: u64,
    first: &BTreeSet<BillingPeriodKey>,
    crash_after_insert: bool,
) -> Result<RefreshReport, StoreError> {
    let ending = Instant::now();
    let inserted = writer.end().await?;
    tracing::debug!(
        rows = inserted.rows(),
        end_ms = ending.elapsed().as_millis() as u64,
        "insert acknowledged"
    );
    if crash_after_insert {
        tracing::warn!("aborting after insert, before commit (crash_after_insert)");
        std::process::abort();
    }
    store
        .refresh_inserted(&inserted, Some(next_insert), first)
        .await
}

/// Waits for a flush and commits its offsets; returns how long the flush took.
async fn commit(
    consumer: &BatchConsumer,
    flush: Option<Flush>,
    report: &mut StoreConsumerReport,
    verify: &mut bool,
) -> Result<Duration, StoreConsumerError> {
    let Some(flush) = flush else {
        return Ok(Duration::ZERO);
    };
    let refreshes = flush
        .task
        .await
        .map_err(|err| StoreConsumerError::Flush(err.to_string()))??;
    let took = flush.started.elapsed();
    consumer.commit(&flush.offsets)?;
    *verify |= refreshes.incremental > 0;
    report.refreshes += refreshes;
    report.commits += 1;
    Ok(took)
}

/// Decodes and validates a batch. A message that does not decode, or decodes into
/// a record that breaks the collector contract, goes to `ingest.rejects` naming
/// its topic, partition and offset, and the partition keeps moving.
fn decode(
    codec: &Codec,
    messages: &[OwnedMessage],
    rejects: &mut RejectSink,
) -> Result<Vec<CostRecord>, StoreConsumerError> {
    let mut records = Vec::with_capacity(messages.len());
    let mut refused = 0usize;
    for message in messages {
        match read_cost_record(codec, message.payload().unwrap_or_default()) {
            Ok(record) => records.push(record),
            Err(refusal) => {
                let uri = format!(
                    "kafka://{}/{}/{}",
                    message.topic(),
                    message.partition(),
                    message.offset()
                );
                tracing::debug!(uri = %uri, error = %refusal, "message rejected");
                rejects.send_refusal(&uri, &refusal)?;
                refused += 1;
            }
        }
    }
    if refused > 0 {
        tracing::warn!(
            refused,
            messages = messages.len(),
            "messages rejected to ingest.rejects"
        );
    }
    Ok(records)
}

/// Sends rejects found while consuming.
struct RejectSink {
    publisher: Publisher,
    topic: String,
    codec: Codec,
    sent: u64,
}

impl RejectSink {
    fn new(kafka: &KafkaConfig) -> Result<Self, BusError> {
        Ok(Self {
            publisher: Publisher::new(kafka)?,
            topic: kafka.topic(INGEST_REJECTS),
            codec: Codec::reject(),
            sent: 0,
        })
    }

    fn send(
        &mut self,
        uri: &str,
        column: Option<&str>,
        reason: String,
    ) -> Result<(), StoreConsumerError> {
        let reject = Reject {
            source_provider: "costflow".to_owned(),
            source_dataset: "cost.records".to_owned(),
            source_uri: uri.to_owned(),
            line: None,
            column: column.map(str::to_owned),
            value: None,
            reason,
            rejected_at: Utc::now(),
        };
        self.publish(uri, &reject)
    }

    fn send_refusal(&mut self, uri: &str, refusal: &Refusal) -> Result<(), StoreConsumerError> {
        let reject = Reject {
            source_provider: "costflow".to_owned(),
            source_dataset: "cost.records".to_owned(),
            source_uri: uri.to_owned(),
            line: None,
            column: refusal.column().map(str::to_owned),
            value: refusal.value().map(str::to_owned),
            reason: refusal.to_string(),
            rejected_at: Utc::now(),
        };
        self.publish(uri, &reject)
    }

    fn publish(&mut self, uri: &str, reject: &Reject) -> Result<(), StoreConsumerError> {
        let payload = self.codec.encode(reject)?;
        self.publisher.send(&self.topic, uri.as_bytes(), &payload)?;
        self.sent += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BusError> {
        self.publisher.flush(REJECT_FLUSH_TIMEOUT).map(|_| ())
    }
}
