//! `costflow-bench`: the stage benchmarks' harness. `scripts/bench.sh` calls it;
//! see `BENCHMARKS.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use costflow_bench::{bare, latency, manifest, measure, payloads::PayloadWriter, stage, table};
use costflow_store::StoreConfig;

/// Stage benchmarks and their baselines.
#[derive(Debug, Parser)]
#[command(name = "costflow-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one process and append its wall time, CPU time and peak RSS to a results file.
    Measure {
        /// Stable key pairing figures into ratios (ingest, bare_produce, store, ...).
        #[arg(long)]
        key: String,
        /// Description shown in the table.
        #[arg(long)]
        label: String,
        /// Records the process handles.
        #[arg(long)]
        records: u64,
        /// JSON-lines results file to append to.
        #[arg(long)]
        results: PathBuf,
        /// The program and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Parse, normalise and encode files without a broker; print the counts.
    Stage {
        /// Source format.
        #[arg(long, value_enum)]
        format: stage::Format,
        /// Also write every encoded message to this payload file.
        #[arg(long)]
        payloads_out: Option<PathBuf>,
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Send a payload file's messages with a bare librdkafka BaseProducer.
    BareProduce {
        /// Kafka bootstrap servers.
        #[arg(long, env = "COSTFLOW_BROKERS", default_value = "127.0.0.1:9092")]
        brokers: String,
        /// Full topic name.
        #[arg(long)]
        topic: String,
        /// Payload file written by `stage --payloads-out`.
        #[arg(long)]
        payloads: PathBuf,
    },
    /// Produce a steady load to cost.records while a store consumer runs, with a
    /// probe record every interval; print produce → visible latency percentiles.
    Latency {
        /// Kafka bootstrap servers.
        #[arg(long, env = "COSTFLOW_BROKERS", default_value = "127.0.0.1:9092")]
        brokers: String,
        /// Full name of the topic the store consumer reads.
        #[arg(long)]
        topic: String,
        #[command(flatten)]
        clickhouse: ClickHouseArgs,
        /// Payload file written by `stage --payloads-out`; its records make the load.
        #[arg(long)]
        payloads: PathBuf,
        /// Records per second.
        #[arg(long, default_value_t = 20_000)]
        rate: u64,
        /// Seconds the load runs.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Milliseconds between two probes.
        #[arg(long, default_value_t = 1000)]
        probe_interval_ms: u64,
        /// JSON file to write the figures to.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Upload an Azure export run (parts, then manifest.json) to Blob Storage while
    /// `ingest azure --watch-secs` and `consume store` run; print the seconds from
    /// the manifest's upload to every row showing in the daily projection.
    ManifestLatency {
        /// Blob endpoint with the account.
        #[arg(
            long,
            env = "COSTFLOW_AZURITE_URL",
            default_value = "http://127.0.0.1:10000/devstoreaccount1"
        )]
        endpoint: String,
        /// Storage account name.
        #[arg(long, default_value = "devstoreaccount1")]
        account: String,
        /// Storage account key (Azurite's well-known key by default).
        #[arg(
            long,
            env = "COSTFLOW_AZURE_STORAGE_KEY",
            hide_env_values = true,
            default_value = AZURITE_KEY,
            hide_default_value = true
        )]
        access_key: String,
        /// Container the watcher reads.
        #[arg(long)]
        container: String,
        /// Blob name prefix the watcher reads.
        #[arg(long, default_value = "")]
        prefix: String,
        /// A run folder written by `costflow generate --layout azure-export`.
        #[arg(long)]
        run_dir: PathBuf,
        /// Only create the container and upload the run's parts, not its
        /// manifest; run this first, then start the watcher, then run without it.
        #[arg(long)]
        parts_only: bool,
        #[command(flatten)]
        clickhouse: ClickHouseArgs,
        /// Longest seconds to wait for the rows.
        #[arg(long, default_value_t = 600)]
        deadline_secs: u64,
        /// NAME=PID of a process whose peak RSS to record once the rows are
        /// visible (the watcher, the store consumer); repeatable.
        #[arg(long = "process", value_parser = name_pid)]
        processes: Vec<(String, u32)>,
        /// JSON file to write the figures to.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a results file as Markdown tables with ratios and targets.
    Table {
        /// JSON-lines results file.
        results: PathBuf,
        /// A `latency --out` file, added to the targets.
        #[arg(long)]
        latency: Option<PathBuf>,
        /// A `manifest-latency --out` file, added to the targets.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

/// Where the store consumer writes.
#[derive(Debug, Args)]
struct ClickHouseArgs {
    /// ClickHouse HTTP endpoint.
    #[arg(
        long,
        env = "COSTFLOW_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    clickhouse_url: String,
    /// The store consumer's database.
    #[arg(long, env = "COSTFLOW_CLICKHOUSE_DATABASE", default_value = "costflow")]
    database: String,
    /// ClickHouse user.
    #[arg(long, env = "COSTFLOW_CLICKHOUSE_USER", default_value = "default")]
    clickhouse_user: String,
    /// ClickHouse password; never printed.
    #[arg(
        long,
        env = "COSTFLOW_CLICKHOUSE_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    clickhouse_password: String,
}

impl ClickHouseArgs {
    fn store(self) -> StoreConfig {
        StoreConfig {
            url: self.clickhouse_url,
            database: self.database,
            user: self.clickhouse_user,
            password: self.clickhouse_password,
        }
    }
}

/// Azurite's published development account key.
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Writes a step's figures for `table` to read.
fn write_json(path: &Path, report: &impl serde::Serialize) -> Result<()> {
    Ok(std::fs::write(path, serde_json::to_string(report)?)?)
}

/// Reads figures a step wrote with [`write_json`].
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn name_pid(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=PID"))?;
    let pid = pid.parse().map_err(|_| format!("`{pid}` is not a pid"))?;
    Ok((name.to_owned(), pid))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Measure {
            key,
            label,
            records,
            results,
            command,
        } => {
            let (program, args) = command.split_first().expect("clap requires a command");
            let m = measure::run_child(&key, &label, records, program.as_ref(), args)?;
            eprintln!(
                "measured {key}: {} records in {:.2} s = {:.0}/s, {:.2} CPU s per 1M, peak RSS {:.1} MiB",
                m.records,
                m.wall_s,
                m.rate(),
                m.cpu_s_per_million(),
                m.max_rss_kib as f64 / 1024.0
            );
            measure::append(&results, &m)
        }
        Command::Stage {
            format,
            payloads_out,
            paths,
        } => {
            let mut writer = payloads_out
                .as_deref()
                .map(PayloadWriter::create)
                .transpose()?;
            let counts = stage::parse_encode(format, &paths, writer.as_mut())?;
            if let Some(writer) = writer {
                writer.finish()?;
            }
            println!(
                "records {} rejected {} bytes {}",
                counts.records, counts.rejected, counts.bytes
            );
            Ok(())
        }
        Command::BareProduce {
            brokers,
            topic,
            payloads,
        } => {
            let delivered = bare::produce(&brokers, &topic, &payloads)?;
            println!("delivered {delivered}");
            Ok(())
        }
        Command::Latency {
            brokers,
            topic,
            clickhouse,
            payloads,
            rate,
            seconds,
            probe_interval_ms,
            out,
        } => {
            let options = latency::LatencyOptions {
                brokers,
                topic,
                store: clickhouse.store(),
                payloads,
                rate,
                duration: Duration::from_secs(seconds),
                probe_interval: Duration::from_millis(probe_interval_ms),
                settle: Duration::from_secs(60),
            };
            let report = latency::run(&options)?;
            println!(
                "sent {} at {:.0}/s; probes {} ({} unseen): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                report.sent,
                report.achieved_rate,
                report.probes,
                report.unseen,
                report.p50_ms,
                report.p99_ms,
                report.max_ms
            );
            print!("{}", report.minutes_table());
            if let Some(out) = out {
                write_json(&out, &report)?;
            }
            Ok(())
        }
        Command::ManifestLatency {
            endpoint,
            account,
            access_key,
            container,
            prefix,
            run_dir,
            parts_only,
            clickhouse,
            deadline_secs,
            processes,
            out,
        } => {
            let options = manifest::ManifestOptions {
                endpoint,
                account,
                access_key,
                container,
                prefix,
                run_dir,
                store: clickhouse.store(),
                deadline: Duration::from_secs(deadline_secs),
                processes,
            };
            if parts_only {
                let parts = manifest::upload_parts(&options)?;
                println!("uploaded {parts} parts");
                return Ok(());
            }
            let report = manifest::run(&options)?;
            println!(
                "{} rows in {} parts visible {:.1} s after the manifest",
                report.rows, report.parts, report.visible_s
            );
            if let Some(out) = out {
                write_json(&out, &report)?;
            }
            Ok(())
        }
        Command::Table {
            results,
            latency,
            manifest,
        } => {
            print!("{}", table::render(&table::read(&results)?));
            if let Some(path) = manifest {
                print!(
                    "{}",
                    read_json::<manifest::ManifestReport>(&path)?.target_row()
                );
            }
            if let Some(path) = latency {
                let report: latency::LatencyReport = read_json(&path)?;
                print!("{}", report.target_row());
                print!("{}", report.minutes_table());
            }
            Ok(())
        }
    }
}
