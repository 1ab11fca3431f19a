//! `costflow-bench`: the stage benchmarks' harness. `scripts/bench.sh` calls it;
//! see `BENCHMARKS.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use costflow_bench::{bare, measure, payloads::PayloadWriter, stage, table};

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
    /// Print a results file as Markdown tables with ratios and targets.
    Table {
        /// JSON-lines results file.
        results: PathBuf,
    },
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
        Command::Table { results } => {
            print!("{}", table::render(&table::read(&results)?));
            Ok(())
        }
    }
}
