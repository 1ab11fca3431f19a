//! One function per subcommand: build the typed config, call the library, print
//! what an operator needs to see.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use costflow_bus::{topics::Applied, KafkaConfig, Topics};
use costflow_ingest::{
    AzureDataset, AzureFile, AzureOptions, CurOptions, FocusOptions, IngestReport,
};
use costflow_model::money::Amount;
use costflow_store::{CostQuery, Dimension, Granularity, Store, StoreConfig, StoreConsumerOptions};
use tokio::sync::watch;

use crate::cli::{
    Cli, Command, ConsumerKind, CostExplorerArgs, GenerateArgs, GenerateLayout, IngestSource,
    StoreArgs, TopicsAction,
};

/// Runs the subcommand; the exit code says whether everything it was given landed.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let kafka = KafkaConfig {
        brokers: cli.kafka.brokers,
        topic_prefix: cli.kafka.topic_prefix,
        extra: cli.kafka.kafka_options,
    };
    let store = Store::new(StoreConfig {
        url: cli.clickhouse.clickhouse_url,
        database: cli.clickhouse.clickhouse_database,
        user: cli.clickhouse.clickhouse_user,
        password: cli.clickhouse.clickhouse_password,
    });

    match cli.command {
        Command::Topics {
            action:
                TopicsAction::Apply {
                    replication_factor,
                    file,
                },
        } => topics_apply(&kafka, replication_factor, file.as_deref()).await,
        Command::Migrate => migrate(&store).await,
        Command::Ingest {
            source:
                IngestSource::Focus {
                    paths,
                    source_version,
                    assume,
                },
        } => ingest_focus(kafka, paths, source_version, assume).await,
        Command::Ingest {
            source:
                IngestSource::Cur {
                    paths,
                    source_version,
                },
        } => ingest_cur(kafka, paths, source_version).await,
        Command::Ingest {
            source: IngestSource::Azure(args),
        } => crate::runs::ingest_azure_runs(kafka, args).await,
        Command::Ingest {
            source: IngestSource::CurS3(args),
        } => crate::runs::ingest_cur_s3(kafka, args).await,
        Command::Ingest {
            source:
                IngestSource::AzureFile {
                    paths,
                    dataset,
                    source_version,
                    assume,
                },
        } => ingest_azure_files(kafka, paths, dataset, source_version, assume).await,
        Command::Ingest {
            source: IngestSource::CostExplorer(args),
        } => ingest_cost_explorer(kafka, args).await,
        Command::Consume {
            consumer: ConsumerKind::Store(args),
        } => consume_store(&kafka, &store, args).await,
        Command::Api { listen } => {
            costflow_api::serve(listen, store, async {
                let mut stop = shutdown_signal();
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .with_context(|| format!("serving the API on {listen}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { from, to, top } => report(&store, from, to, top).await,
        Command::Generate(args) => generate(args),
    }
}

/// A channel that turns true on SIGINT or SIGTERM.
pub(crate) fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        let _ = tx.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        let _ = tx.send(true);
    });
    rx
}

async fn topics_apply(
    kafka: &KafkaConfig,
    replication_factor: Option<i32>,
    file: Option<&Path>,
) -> Result<ExitCode> {
    let topics = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Topics::parse(&text)?
        }
        None => Topics::bundled(),
    };
    for applied in topics.apply(kafka, replication_factor).await? {
        match applied {
            Applied::Created(name) => println!("created  {name}"),
            Applied::Existed(name) => println!("exists   {name}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(store: &Store) -> Result<ExitCode> {
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("schema of {} is up to date", store.database());
    } else {
        println!("applied migrations {applied:?} to {}", store.database());
    }
    Ok(ExitCode::SUCCESS)
}

async fn ingest_focus(
    kafka: KafkaConfig,
    paths: Vec<PathBuf>,
    source_version: Option<String>,
    assume: Vec<(String, String)>,
) -> Result<ExitCode> {
    let files = list_files(&paths, &[".csv"])?;
    let source_version = source_version_of(source_version.as_deref(), &files)?;
    let options = FocusOptions {
        source_version,
        assume: assume.into_iter().collect(),
    };

    run_ingest(source_version, move || {
        costflow_ingest::ingest_files(&files, &options, &kafka)
    })
    .await
}

async fn ingest_cur(
    kafka: KafkaConfig,
    paths: Vec<PathBuf>,
    source_version: Option<String>,
) -> Result<ExitCode> {
    let files = costflow_ingest::cur::expand_cur_paths(&paths)
        .with_context(|| format!("listing {paths:?}"))?;
    let (files, superseded) = costflow_ingest::cur::drop_superseded(&paths, files)
        .with_context(|| format!("reading the manifests under {paths:?}"))?;
    for run in &superseded {
        println!(
            "delivery {} ({} {}): superseded by a newer delivery of the period, not read",
            run.run_id, run.report, run.billing_period
        );
    }
    if files.is_empty() {
        bail!("no *.csv, *.csv.gz or *.parquet files in {paths:?}");
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let source_version = source_version_of(source_version.as_deref(), &paths)?;
    let options = CurOptions { source_version };

    run_ingest(source_version, move || {
        costflow_ingest::cur::ingest_cur_files(&files, &options, &kafka)
    })
    .await
}

async fn ingest_azure_files(
    kafka: KafkaConfig,
    paths: Vec<PathBuf>,
    dataset: Option<String>,
    source_version: Option<String>,
    assume: Vec<(String, String)>,
) -> Result<ExitCode> {
    let files = list_files(&paths, &[".csv", ".csv.gz", ".parquet"])?;
    let source_version = source_version_of(source_version.as_deref(), &files)?;
    let dataset = match dataset {
        Some(name) => Some(AzureDataset::parse(&name).with_context(|| {
            format!("--dataset `{name}`: expected ActualCost or AmortizedCost")
        })?),
        None => None,
    };
    let assume: std::collections::BTreeMap<String, String> = assume.into_iter().collect();
    let files: Vec<AzureFile> = files
        .into_iter()
        .map(|path| {
            let dataset = dataset.unwrap_or_else(|| AzureDataset::from_file_name(&path));
            let mut options = AzureOptions::new(dataset, source_version);
            options.assume = assume.clone();
            AzureFile {
                path,
                options,
                focus: false,
            }
        })
        .collect();

    run_ingest(source_version, move || {
        costflow_ingest::ingest_azure(&files, &kafka, false)
    })
    .await
}

/// Files as given, and the `*.csv`, `*.csv.gz` and `*.parquet` files of directories
/// in name order.
async fn ingest_cost_explorer(kafka: KafkaConfig, args: CostExplorerArgs) -> Result<ExitCode> {
    use costflow_ingest::cost_explorer::{self, CostExplorerOptions, RetryOptions};

    let now = chrono::Utc::now();
    cost_explorer::check_range(args.start, args.end, now.date_naive())
        .map_err(anyhow::Error::msg)?;
    let options = CostExplorerOptions {
        start: args.start,
        end: args.end,
        tag_key: args.tag_key.filter(|k| !k.trim().is_empty()),
        billing_account: args.billing_account,
        endpoint_url: args.endpoint_url,
        source_version: now.timestamp_micros(),
        retry: RetryOptions {
            max_attempts: args.max_attempts.max(1),
            ..RetryOptions::default()
        },
    };

    let report = cost_explorer::ingest_cost_explorer(&options, &kafka).await?;
    print_ingest_report(&report, options.source_version);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_ingest_report(report: &IngestReport, source_version: i64) {
    println!("{:>9} {:>9} {:>9}  source", "read", "published", "rejected");
    for file in &report.files {
        println!(
            "{:>9} {:>9} {:>9}  {}",
            file.rows_read, file.published, file.rejected, file.uri
        );
        if let Some(error) = &file.error {
            println!("          FAILED: {error}");
        }
    }
    println!(
        "rows read {} = published {} + rejected {}; {} messages acknowledged by the broker; source version {}",
        report.rows_read(),
        report.published(),
        report.rejected(),
        report.delivered,
        source_version
    );
}

/// Files as given, and the `*.csv` files of directories in name order.
/// Files as given, and in each directory (not below it) every file whose name
/// ends in one of `suffixes`, case-insensitively, in name order.
fn list_files(paths: &[PathBuf], suffixes: &[&str]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("listing {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.to_string_lossy().to_ascii_lowercase();
                    suffixes.iter().any(|s| name.ends_with(s))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        bail!("no {} files in {paths:?}", suffixes.join(" or "));
    }
    Ok(files)
}

/// The run's source version: `--source-version`, or the newest modification
/// time of its files.
fn source_version_of(given: Option<&str>, files: &[PathBuf]) -> Result<i64> {
    match given {
        Some(text) => parse_source_version(text),
        None => newest_mtime_micros(files),
    }
}

/// Runs a blocking ingest, prints its report, and fails if a file failed.
async fn run_ingest(
    source_version: i64,
    ingest: impl FnOnce() -> Result<IngestReport, costflow_ingest::publish::IngestError>
        + Send
        + 'static,
) -> Result<ExitCode> {
    let report = tokio::task::spawn_blocking(ingest)
        .await
        .context("ingest thread")??;
    print_ingest_report(&report, source_version);
    if report.failed_files().next().is_some() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_source_version(text: &str) -> Result<i64> {
    if let Ok(micros) = text.parse::<i64>() {
        return Ok(micros);
    }
    let time = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
        format!("--source-version `{text}`: not microseconds nor an RFC 3339 time")
    })?;
    Ok(time.timestamp_micros())
}

fn newest_mtime_micros(files: &[PathBuf]) -> Result<i64> {
    let mut newest = 0;
    for file in files {
        let modified = std::fs::metadata(file)
            .and_then(|m| m.modified())
            .with_context(|| format!("reading the modification time of {}", file.display()))?;
        let micros = modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_micros();
        newest = newest.max(i64::try_from(micros).unwrap_or(i64::MAX));
    }
    Ok(newest)
}

async fn consume_store(kafka: &KafkaConfig, store: &Store, args: StoreArgs) -> Result<ExitCode> {
    let mut writer_schemas = Vec::with_capacity(args.writer_schema.len());
    for path in &args.writer_schema {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading writer schema {}", path.display()))?;
        writer_schemas.push(text);
    }
    store.migrate().await?;
    let options = StoreConsumerOptions {
        writer_schemas,
        group_id: args.group_id,
        batch_size: args.batch_size.max(1),
        refresh_interval: Duration::from_secs(args.refresh_interval_secs),
        live_refresh_interval: Duration::from_millis(args.live_refresh_interval_ms),
        until_caught_up: args.until_caught_up,
        crash_after_insert: args.crash_after_insert,
        ..StoreConsumerOptions::default()
    };
    let report =
        costflow_store::run_store_consumer(kafka, store, &options, shutdown_signal()).await?;
    println!(
        "stored {} records, rejected {}, {} commits; billing periods refreshed: {} incremental, {} recomputed; {} recomputed when quiet",
        report.records,
        report.rejected,
        report.commits,
        report.refreshes.incremental,
        report.refreshes.recomputed,
        report.verified
    );
    Ok(ExitCode::SUCCESS)
}

async fn report(
    store: &Store,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    top: usize,
) -> Result<ExitCode> {
    let query = |group_by| CostQuery {
        from,
        to,
        granularity: Granularity::Month,
        group_by,
    };
    let by_account = store
        .costs(&query(vec![Dimension::BillingAccountId]))
        .await?;
    let by_service = store.costs(&query(vec![Dimension::ServiceName])).await?;

    println!("cost per billing account and month [{from}, {to})");
    println!(
        "{:<8} {:<40} {:<4} {:>22} {:>22}",
        "month", "BillingAccountId", "cur", "BilledCost", "EffectiveCost"
    );
    for row in &by_account {
        let account = row.dimensions[0].1.as_deref().unwrap_or("-");
        println!(
            "{:<8} {:<40} {:<4} {:>22} {:>22}",
            row.period_start.format("%Y-%m"),
            account,
            row.billing_currency,
            row.billed_cost,
            row.effective_cost
        );
    }

    // Services summed over the whole range, per currency, largest first.
    let mut services: std::collections::BTreeMap<(String, String), Amount> = Default::default();
    for row in &by_service {
        let name = row.dimensions[0]
            .1
            .clone()
            .unwrap_or_else(|| "-".to_owned());
        *services
            .entry((name, row.billing_currency.clone()))
            .or_default() += row.effective_cost.clone();
    }
    let mut services: Vec<_> = services.into_iter().collect();
    services.sort_by(|a, b| b.1.cmp(&a.1));
    println!();
    println!("top {top} services by EffectiveCost");
    for ((name, currency), cost) in services.into_iter().take(top) {
        println!("{:<50} {:<4} {:>22}", name, currency, cost);
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenerateArgs) -> Result<ExitCode> {
    let end = args.end.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let mut options = costflow_generate::GenerateOptions::new(&args.out, end);
    options.days = args.days;
    options.seed = args.seed;
    options.scale = args.scale;
    options.layout = match args.layout {
        GenerateLayout::Focus => costflow_generate::Layout::Focus,
        GenerateLayout::AzureExport => costflow_generate::Layout::AzureExport,
        GenerateLayout::Cur => costflow_generate::Layout::Cur,
    };
    let summary = costflow_generate::generate(&options)?;
    println!("wrote {} rows to {}", summary.rows, args.out.display());
    for ((account, currency), totals) in &summary.totals {
        println!(
            "  {account:<40} {currency:<4} BilledCost {:>18} EffectiveCost {:>18} rows {}",
            totals.billed_cost, totals.effective_cost, totals.rows
        );
    }
    println!("  {} labelled spikes in spikes.csv", summary.spikes.len());
    Ok(ExitCode::SUCCESS)
}
