//! Latency under a steady load: records are produced to `cost.records` at a fixed
//! rate while a store consumer runs, and among them, once per probe interval, a
//! probe record whose billing account no other record has. The time from a
//! probe's send to its account showing in the daily projection, read the way the
//! API reads it ([`Store::costs`]), is the produce → visible latency.
//!
//! The load re-sends records decoded from a payload file (`stage
//! --payloads-out`), each under a fresh record key, so every message is a new
//! line item and the tables grow as they would under real traffic.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::Days;
use costflow_model::{Codec, CostRecord, RecordKey};
use costflow_store::{CostQuery, Dimension, Granularity, Store, StoreConfig};
use rdkafka::producer::BaseProducer;
use serde::{Deserialize, Serialize};

use crate::bare::{self, Counter};
use crate::payloads::PayloadReader;

/// Most records decoded from the payload file to cycle through.
const TEMPLATES: usize = 10_000;

/// How often the projection is read while probes are outstanding.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// What to run.
#[derive(Debug, Clone)]
pub struct LatencyOptions {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Full name of the cost records topic the store consumer reads.
    pub topic: String,
    /// The store consumer's ClickHouse.
    pub store: StoreConfig,
    /// Payload file whose records make the load.
    pub payloads: PathBuf,
    /// Records per second, probes included.
    pub rate: u64,
    /// How long the load runs.
    pub duration: Duration,
    /// Time between two probes.
    pub probe_interval: Duration,
    /// How long to wait after the load for the last probes to show.
    pub settle: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyReport {
    /// Records sent, probes included.
    pub sent: u64,
    /// Records per second actually sent over the load's duration.
    pub achieved_rate: f64,
    /// Probes sent.
    pub probes: u64,
    /// Probes that never showed within the settle time.
    pub unseen: u64,
    /// Median produce → visible, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest probe, milliseconds.
    pub max_ms: f64,
    /// The same percentiles for the probes sent in each minute of the load,
    /// which show whether latency holds or grows as the tables fill.
    #[serde(default)]
    pub per_minute: Vec<MinuteLatency>,
}

/// Latency of the probes sent in one minute of the load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MinuteLatency {
    /// Minutes since the load started (0 is the first).
    pub minute: u64,
    /// Probes sent in it that showed.
    pub probes: u64,
    /// Probes sent in it that never showed.
    #[serde(default)]
    pub unseen: u64,
    /// Median produce → visible of those that showed, milliseconds.
    pub p50_ms: f64,
    /// Their 99th percentile, milliseconds.
    pub p99_ms: f64,
}

/// The p99 produce → visible latency the issue sets, in milliseconds.
pub const P99_TARGET_MS: f64 = 2000.0;

impl LatencyReport {
    /// The figures as one row of the targets table.
    pub fn target_row(&self) -> String {
        let verdict = if self.unseen == 0 && self.p99_ms < P99_TARGET_MS {
            "met"
        } else {
            "MISSED"
        };
        format!(
            "| p99 produce → visible < 2 s ({} records at {:.0}/s, {} probes, {} unseen) \
             | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms | {verdict} |\n",
            self.sent,
            self.achieved_rate,
            self.probes,
            self.unseen,
            self.p50_ms,
            self.p99_ms,
            self.max_ms
        )
    }
}

impl LatencyReport {
    /// The per-minute percentiles as a Markdown table (empty without probes).
    pub fn minutes_table(&self) -> String {
        if self.per_minute.is_empty() {
            return String::new();
        }
        let mut out = String::from(
            "\n| minute of the load | probes seen | unseen | p50 ms | p99 ms |\n\
             |---:|---:|---:|---:|---:|\n",
        );
        for m in &self.per_minute {
            out.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.0} |\n",
                m.minute + 1,
                m.probes,
                m.unseen,
                m.p50_ms,
                m.p99_ms
            ));
        }
        out
    }
}

/// Runs the load and the probes; fails if the broker refuses a message.
pub fn run(options: &LatencyOptions) -> Result<LatencyReport> {
    let codec = Codec::cost_record();
    let mut templates = read_templates(&codec, &options.payloads)?;
    let count = templates.len();
    let probe_day = templates[0].charge_period_start.date_naive();
    let run_id = std::process::id();

    let (probes_tx, probes_rx) = channel::<(String, Instant)>();
    let store = Store::new(options.store.clone());
    let settle = options.settle;
    let producer = bare::producer(&options.brokers)?;
    let started = Instant::now();
    let watcher = std::thread::spawn(move || watch(store, probe_day, probes_rx, settle, started));

    let mut sent = 0u64;
    let mut probes = 0u64;
    while started.elapsed() < options.duration {
        let due = (started.elapsed().as_secs_f64() * options.rate as f64) as u64;
        while sent < due {
            let key = RecordKey::new()
                .part(run_id.to_string())
                .part(sent.to_string())
                .finish();
            if started.elapsed() >= options.probe_interval * probes as u32 {
                // Every probe charges the first template's day, the one watched.
                let mut probe = templates[0].clone();
                probe.record_key = key;
                probe.billing_account_id = format!("latency-probe-{run_id}-{probes}");
                send(&producer, &codec, &options.topic, &probe)?;
                probes_tx
                    .send((probe.billing_account_id, Instant::now()))
                    .ok();
                probes += 1;
            } else {
                let record = &mut templates[sent as usize % count];
                record.record_key = key;
                send(&producer, &codec, &options.topic, record)?;
            }
            sent += 1;
        }
        // Serve delivery reports, then wait for the next records to fall due:
        // polling alone returns at once while reports keep arriving, and a
        // spinning load generator would take a core from what it measures.
        producer.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1));
    }
    let load_secs = started.elapsed().as_secs_f64();
    bare::flush(&producer, sent)?;
    drop(probes_tx);

    let (seen, unseen_at) = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("the projection watcher panicked"))??;
    let mut latencies: Vec<f64> = seen.iter().map(|(_, ms)| *ms).collect();
    latencies.sort_by(f64::total_cmp);
    Ok(LatencyReport {
        sent,
        achieved_rate: sent as f64 / load_secs,
        probes,
        unseen: unseen_at.len() as u64,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        per_minute: per_minute(&seen, &unseen_at),
    })
}

/// Percentiles of `(seconds into the load, latency ms)` pairs, minute by minute,
/// with the probes never seen counted in the minute they were sent.
fn per_minute(seen: &[Seen], unseen_at: &[f64]) -> Vec<MinuteLatency> {
    let minute = |at: f64| (at / 60.0) as u64;
    let mut minutes: std::collections::BTreeMap<u64, (Vec<f64>, u64)> = Default::default();
    for (at, ms) in seen {
        minutes.entry(minute(*at)).or_default().0.push(*ms);
    }
    for at in unseen_at {
        minutes.entry(minute(*at)).or_default().1 += 1;
    }
    minutes
        .into_iter()
        .map(|(minute, (mut values, unseen))| {
            values.sort_by(f64::total_cmp);
            MinuteLatency {
                minute,
                probes: values.len() as u64,
                unseen,
                p50_ms: percentile(&values, 0.50),
                p99_ms: percentile(&values, 0.99),
            }
        })
        .collect()
}

/// The `q` quantile of sorted values (nearest rank), NaN when there are none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn read_templates(codec: &Codec, path: &std::path::Path) -> Result<Vec<CostRecord>> {
    let mut input = PayloadReader::open(path)?;
    let mut templates = Vec::new();
    while templates.len() < TEMPLATES && input.next_message()? {
        templates.push(codec.decode::<CostRecord>(&input.payload)?);
    }
    if templates.is_empty() {
        bail!("{} holds no messages", path.display());
    }
    Ok(templates)
}

fn send(
    producer: &BaseProducer<Counter>,
    codec: &Codec,
    topic: &str,
    record: &CostRecord,
) -> Result<()> {
    let payload = codec.encode(record)?;
    bare::send(
        producer,
        topic,
        record.billing_account_id.as_bytes(),
        &payload,
    )
}

/// A probe that showed: seconds after the load started that it was sent, and
/// its produce → visible latency in milliseconds.
type Seen = (f64, f64);

/// Reads the projection until every probe sent has shown, or `settle` after the
/// last one was sent; for each probe seen, when it was sent (seconds after
/// `started`) and its latency in milliseconds, and when each probe never seen
/// was sent. A probe counts as seen when the read that found it returned, so
/// its latency includes that read and up to [`POLL_EVERY`] before it.
fn watch(
    store: Store,
    day: chrono::NaiveDate,
    probes: Receiver<(String, Instant)>,
    settle: Duration,
    started: Instant,
) -> Result<(Vec<Seen>, Vec<f64>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let query = CostQuery {
        from: day,
        to: day.checked_add_days(Days::new(1)).unwrap_or(day),
        granularity: Granularity::Day,
        group_by: vec![Dimension::BillingAccountId],
    };
    let mut outstanding: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut load_over: Option<Instant> = None;

    loop {
        loop {
            match probes.try_recv() {
                Ok((account, sent)) => {
                    outstanding.insert(account, sent);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    load_over.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        if !outstanding.is_empty() {
            let rows = runtime.block_on(store.costs(&query))?;
            let seen = Instant::now();
            for row in rows {
                let account = row.dimensions.first().and_then(|(_, v)| v.as_deref());
                if let Some(sent) = account.and_then(|a| outstanding.remove(a)) {
                    latencies.push((
                        sent.duration_since(started).as_secs_f64(),
                        seen.duration_since(sent).as_secs_f64() * 1000.0,
                    ));
                }
            }
        }
        match load_over {
            Some(_) if outstanding.is_empty() => return Ok((latencies, Vec::new())),
            Some(over) if over.elapsed() >= settle => {
                let unseen = outstanding
                    .values()
                    .map(|sent| sent.duration_since(started).as_secs_f64())
                    .collect();
                return Ok((latencies, unseen));
            }
            _ => std::thread::sleep(POLL_EVERY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{per_minute, percentile, LatencyReport};

    #[test]
    fn a_probe_never_seen_misses_the_target_whatever_the_percentiles() {
        let mut report = LatencyReport {
            sent: 100,
            achieved_rate: 20_000.0,
            probes: 3,
            unseen: 0,
            p50_ms: 500.0,
            p99_ms: 1500.0,
            max_ms: 1500.0,
            per_minute: Vec::new(),
        };
        assert!(
            report.target_row().ends_with("| met |\n"),
            "{}",
            report.target_row()
        );
        report.unseen = 1;
        assert!(report.target_row().ends_with("| MISSED |\n"));
        report.unseen = 0;
        report.p99_ms = 2500.0;
        assert!(report.target_row().ends_with("| MISSED |\n"));
    }

    #[test]
    fn probes_are_split_by_the_minute_they_were_sent_in() {
        let seen = [(1.0, 100.0), (59.9, 300.0), (60.0, 5000.0), (130.0, 7.0)];
        let minutes = per_minute(&seen, &[61.0, 62.0]);
        let summary: Vec<(u64, u64, u64, f64, f64)> = minutes
            .iter()
            .map(|m| (m.minute, m.probes, m.unseen, m.p50_ms, m.p99_ms))
            .collect();
        assert_eq!(
            summary,
            [
                (0, 2, 0, 100.0, 300.0),
                (1, 1, 2, 5000.0, 5000.0),
                (2, 1, 0, 7.0, 7.0)
            ]
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.50), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
