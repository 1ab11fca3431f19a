//! Export runs found by their manifests: Azure Cost Management exports in Blob
//! Storage and AWS CUR / Data Exports deliveries in S3.
//!
//! Each round lists the runs whose manifest exists, skips those that
//! `ingest.checkpoints` says were finished with, and reads each other run whole
//! or not at all: its files are spooled to local disk, checked, then published.
//! Once the broker has acknowledged a run's records and rejects, its checkpoint
//! is written. With `--watch-secs` the rounds repeat until SIGINT or SIGTERM.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use costflow_bus::KafkaConfig;
use costflow_ingest::azure::{BlobCredential, BlobSource, ExportRun};
use costflow_ingest::checkpoint::{Checkpoint, Checkpoints};
use costflow_ingest::cur::s3::{CurRun, S3Reader, S3Source};
use costflow_ingest::{AzureFile, CurOptions, IngestReport};
use costflow_model::Reject;
use tokio::sync::watch;

use crate::cli::{AzureArgs, CurS3Args, RunArgs};
use crate::commands::{print_ingest_report, shutdown_signal};

/// The runs finished with: those checkpointed on the topic, and those this
/// process has read (with `--reread`, only the latter are skipped).
struct Finished {
    checkpoints: Checkpoints,
    reread: bool,
    this_process: HashSet<String>,
    /// Skips reported so far, so a watcher says each once.
    reported: HashSet<String>,
}

impl Finished {
    async fn load(kafka: &KafkaConfig, args: &RunArgs) -> Result<Self> {
        let kafka = kafka.clone();
        let checkpoints = tokio::task::spawn_blocking(move || Checkpoints::load(&kafka))
            .await
            .context("checkpoint thread")?
            .context("loading ingest.checkpoints")?;
        tracing::info!(runs = checkpoints.len(), "checkpoints loaded");
        Ok(Finished {
            checkpoints,
            reread: args.reread,
            this_process: HashSet::new(),
            reported: HashSet::new(),
        })
    }

    fn done(&self, run_key: &str) -> bool {
        self.this_process.contains(run_key) || (!self.reread && self.checkpoints.contains(run_key))
    }

    /// True the first time a message about `what` is due.
    fn first_report(&mut self, what: &str) -> bool {
        self.reported.insert(what.to_owned())
    }

    /// Records a run as finished, durably. Blocking on the broker's answer.
    fn record(&mut self, checkpoint: Checkpoint) -> Result<()> {
        let key = checkpoint.run_key.clone();
        tokio::task::block_in_place(|| self.checkpoints.record(checkpoint))
            .with_context(|| format!("writing the checkpoint of {key}"))?;
        self.this_process.insert(key);
        Ok(())
    }
}

/// Runs `round` once, and with `--watch-secs` again every interval until SIGINT
/// or SIGTERM. A failed watched round is logged and retried on the next.
macro_rules! rounds {
    ($runs:expr, $round:expr) => {{
        let failed = $round?;
        if $runs.watch_secs == 0 {
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        } else {
            let every = Duration::from_secs($runs.watch_secs);
            tracing::info!(every_secs = $runs.watch_secs, "watching for export runs");
            let mut stop = shutdown_signal();
            while next_round(&mut stop, every).await {
                if let Err(err) = $round {
                    tracing::warn!(error = %format!("{err:#}"), "reading export runs failed; retrying on the next round");
                }
            }
            tracing::info!("stopped watching");
            Ok(ExitCode::SUCCESS)
        }
    }};
}

/// Sleeps until the next round; false once SIGINT or SIGTERM arrived.
async fn next_round(stop: &mut watch::Receiver<bool>, every: Duration) -> bool {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => false,
        _ = tokio::time::sleep(every) => true,
    }
}

/// `costflow ingest azure`.
pub(crate) async fn ingest_azure_runs(kafka: KafkaConfig, args: AzureArgs) -> Result<ExitCode> {
    let credential = match (args.access_key, args.sas_token) {
        (Some(key), _) => BlobCredential::AccessKey(key),
        (None, Some(token)) => BlobCredential::SasToken(token.trim_start_matches('?').to_owned()),
        (None, None) => BlobCredential::Anonymous,
    };
    let source = BlobSource {
        account: args.account,
        container: args.container,
        prefix: args.prefix,
        endpoint: args.endpoint,
        credential,
    };
    let assume: BTreeMap<String, String> = args.assume.into_iter().collect();
    let mut finished = Finished::load(&kafka, &args.runs).await?;
    let wait = Duration::from_secs(args.wait_secs);
    rounds!(
        args.runs,
        read_azure_runs(&source, &kafka, &assume, wait, &mut finished).await
    )
}

/// The identity of an Azure export run: its manifest and submitted time (a
/// rewritten manifest is a new run).
fn azure_run_key(source: &BlobSource, run: &ExportRun) -> String {
    format!(
        "azure:{}@{}",
        source.blob_url(&run.manifest_blob),
        run.source_version()
    )
}

/// Reads every Azure run under the prefix not finished with, publishing each
/// run whole or not at all. True when a run failed.
async fn read_azure_runs(
    source: &BlobSource,
    kafka: &KafkaConfig,
    assume: &BTreeMap<String, String>,
    wait: Duration,
    finished: &mut Finished,
) -> Result<bool> {
    let (runs, broken) = source.find_runs(wait, Duration::from_secs(5)).await?;
    let mut failed = false;
    for run in broken {
        // A manifest that cannot be read has no version to checkpoint: it is
        // reported once per process, and again after a restart.
        if finished.first_report(&format!("broken {}: {}", run.manifest_blob, run.reason)) {
            println!("run {}: FAILED: {}", run.manifest_blob, run.reason);
            let uri = source.blob_url(&run.manifest_blob);
            publish_reject(kafka, run_reject(&uri, "unknown", &run.reason)).await?;
            failed = true;
        }
    }
    let (done, runs): (Vec<ExportRun>, Vec<ExportRun>) = runs
        .into_iter()
        .partition(|run| finished.done(&azure_run_key(source, run)));
    report_skipped(finished, done.iter().map(|run| azure_run_key(source, run)));
    if runs.is_empty() && done.is_empty() && finished.first_report("nothing") {
        println!("no export run under {}/{}", source.container, source.prefix);
    }

    let spool_root = spool_root("azure");
    for (index, run) in runs.iter().enumerate() {
        let manifest_url = source.blob_url(&run.manifest_blob);
        let key = azure_run_key(source, run);
        println!(
            "run {} ({}, submitted {}, {})",
            run.manifest.run_id.as_deref().unwrap_or("-"),
            run.manifest.dataset,
            run.manifest.submitted.to_rfc3339(),
            manifest_url
        );
        let spool = spool_root.join(format!("run-{index}"));
        let fetched = source.fetch_run(run, &spool).await;
        let files = match fetched {
            Ok(Ok(files)) => files,
            Ok(Err(reason)) => {
                let _ = std::fs::remove_dir_all(&spool_root);
                println!("          FAILED: {reason}; nothing of this run was published");
                publish_reject(
                    kafka,
                    run_reject(&manifest_url, &run.manifest.dataset, &reason),
                )
                .await?;
                finished.record(Checkpoint::refused(
                    key,
                    manifest_url,
                    run.manifest.run_id.clone(),
                    run.source_version(),
                ))?;
                failed = true;
                continue;
            }
            Err(err) => {
                // A storage failure: the run is read again on a later try.
                let _ = std::fs::remove_dir_all(&spool_root);
                return Err(err).context("reading the export run");
            }
        };
        let files: Vec<AzureFile> = files
            .into_iter()
            .map(|mut file| {
                file.options.assume = assume.clone();
                file
            })
            .collect();
        let kafka_run = kafka.clone();
        let report = tokio::task::spawn_blocking(move || {
            costflow_ingest::ingest_azure(&files, &kafka_run, true)
        })
        .await
        .context("ingest thread")?;
        let _ = std::fs::remove_dir_all(&spool_root);
        let report = report?;
        print_ingest_report(&report, run.source_version());
        failed |= report.failed_files().next().is_some();
        finished.record(Checkpoint::of_report(
            key,
            manifest_url,
            run.manifest.run_id.clone(),
            run.source_version(),
            &report,
        ))?;
    }
    Ok(failed)
}

/// `costflow ingest cur-s3`.
pub(crate) async fn ingest_cur_s3(kafka: KafkaConfig, args: CurS3Args) -> Result<ExitCode> {
    let reader = S3Reader::new(S3Source {
        bucket: args.bucket,
        prefix: args.prefix,
        endpoint_url: args.endpoint_url,
        region: args.region,
    })
    .await;
    let mut finished = Finished::load(&kafka, &args.runs).await?;
    rounds!(
        args.runs,
        read_cur_runs(&reader, &kafka, &mut finished).await
    )
}

/// The identity of a CUR delivery: report, billing period and assembly or
/// execution id (legacy CUR names one delivery by two manifests).
fn cur_run_key(reader: &S3Reader, run: &CurRun) -> String {
    format!(
        "s3-cur:{}|{}|{}@{}",
        reader.uri(&reader.source().prefix),
        run.report,
        run.billing_period,
        run.run_id
    )
}

/// Reads the newest delivery of each report and billing period not finished
/// with, each whole or not at all. True when a delivery failed.
async fn read_cur_runs(
    reader: &S3Reader,
    kafka: &KafkaConfig,
    finished: &mut Finished,
) -> Result<bool> {
    let found = reader.find_runs().await?;
    let mut failed = false;
    for run in found.broken {
        if finished.first_report(&format!("broken {}: {}", run.manifest_key, run.reason)) {
            println!("delivery {}: FAILED: {}", run.manifest_key, run.reason);
            let uri = reader.uri(&run.manifest_key);
            publish_reject(kafka, cur_reject(&uri, "unknown", &run.reason)).await?;
            failed = true;
        }
    }
    for run in &found.superseded {
        let key = cur_run_key(reader, run);
        if !finished.done(&key) && finished.first_report(&key) {
            println!(
                "delivery {} ({} {}): superseded by a newer delivery of the period, not read",
                run.run_id, run.report, run.billing_period
            );
        }
    }
    let (done, runs): (Vec<CurRun>, Vec<CurRun>) = found
        .runs
        .into_iter()
        .partition(|run| finished.done(&cur_run_key(reader, run)));
    report_skipped(finished, done.iter().map(|run| cur_run_key(reader, run)));
    if runs.is_empty() && done.is_empty() && finished.first_report("nothing") {
        println!(
            "no CUR or Data Exports delivery under {}",
            reader.uri(&reader.source().prefix)
        );
    }

    let spool_root = spool_root("cur");
    for (index, run) in runs.iter().enumerate() {
        let manifest_uri = reader.uri(&run.manifest_key);
        let key = cur_run_key(reader, run);
        println!(
            "delivery {} ({} {}, {} file(s), {})",
            run.run_id,
            run.report,
            run.billing_period,
            run.data_keys.len(),
            manifest_uri
        );
        let spool = spool_root.join(format!("run-{index}"));
        let files = match reader.fetch_run(run, &spool).await {
            Ok(Ok(files)) => files,
            Ok(Err(reason)) => {
                let _ = std::fs::remove_dir_all(&spool_root);
                println!("          FAILED: {reason}; nothing of this delivery was published");
                publish_reject(kafka, cur_reject(&manifest_uri, run.dataset, &reason)).await?;
                finished.record(Checkpoint::refused(
                    key,
                    manifest_uri,
                    Some(run.run_id.clone()),
                    run.source_version,
                ))?;
                failed = true;
                continue;
            }
            Err(err) => {
                let _ = std::fs::remove_dir_all(&spool_root);
                return Err(err).context("reading the delivery");
            }
        };
        let options = CurOptions {
            source_version: run.source_version,
        };
        let kafka_run = kafka.clone();
        let report: Result<IngestReport, _> = tokio::task::spawn_blocking(move || {
            costflow_ingest::cur::ingest_cur_files(&files, &options, &kafka_run)
        })
        .await
        .context("ingest thread")?;
        let _ = std::fs::remove_dir_all(&spool_root);
        let report = report?;
        print_ingest_report(&report, run.source_version);
        failed |= report.failed_files().next().is_some();
        finished.record(Checkpoint::of_report(
            key,
            manifest_uri,
            Some(run.run_id.clone()),
            run.source_version,
            &report,
        ))?;
    }
    Ok(failed)
}

/// Says once per process how many runs were skipped as already ingested.
fn report_skipped(finished: &mut Finished, keys: impl Iterator<Item = String>) {
    let new: Vec<String> = keys.filter(|key| finished.first_report(key)).collect();
    if !new.is_empty() {
        println!(
            "{} run(s) already ingested (ingest.checkpoints), not read again; --reread reads them",
            new.len()
        );
    }
}

/// A fresh local folder for spooled files of this process.
fn spool_root(kind: &str) -> PathBuf {
    std::env::temp_dir().join(format!("costflow-{kind}-{}", std::process::id()))
}

async fn publish_reject(kafka: &KafkaConfig, reject: Reject) -> Result<()> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || costflow_ingest::publish_rejects(&[reject], &kafka))
        .await
        .context("ingest thread")??;
    Ok(())
}

/// The reject that stands for a whole Azure run that could not be read.
fn run_reject(uri: &str, dataset: &str, reason: &str) -> Reject {
    whole_run_reject(costflow_ingest::azure::PROVIDER, uri, dataset, reason)
}

/// The reject that stands for a whole CUR delivery that could not be read.
fn cur_reject(uri: &str, dataset: &str, reason: &str) -> Reject {
    whole_run_reject(costflow_ingest::cur::PROVIDER, uri, dataset, reason)
}

fn whole_run_reject(provider: &str, uri: &str, dataset: &str, reason: &str) -> Reject {
    Reject {
        source_provider: provider.to_owned(),
        source_dataset: dataset.to_owned(),
        source_uri: uri.to_owned(),
        line: None,
        column: None,
        value: None,
        reason: format!("export run refused: {reason}"),
        rejected_at: chrono::Utc::now(),
    }
}
