//! Flags and subcommands. Every connection setting can also come from a
//! `COSTFLOW_*` environment variable; flags win.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// costflow: cloud cost data from AWS, Azure and FOCUS files, through Kafka, into
/// ClickHouse and out of an API.
#[derive(Debug, Parser)]
#[command(name = "costflow", version)]
pub struct Cli {
    /// Log filter when RUST_LOG is unset (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "info", env = "COSTFLOW_LOG")]
    pub log: String,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub clickhouse: ClickHouseArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// How to reach Kafka.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(
        long,
        global = true,
        env = "COSTFLOW_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,

    /// Prefix for every topic name of topics.yaml (separates environments or test runs).
    #[arg(long, global = true, env = "COSTFLOW_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,

    /// Extra librdkafka property KEY=VALUE (security.protocol, sasl.*, ...); repeatable.
    #[arg(long = "kafka-option", global = true, value_parser = key_value)]
    pub kafka_options: Vec<(String, String)>,
}

/// How to reach ClickHouse.
#[derive(Debug, Args)]
pub struct ClickHouseArgs {
    /// ClickHouse HTTP endpoint.
    #[arg(
        long,
        global = true,
        env = "COSTFLOW_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,

    /// ClickHouse database for costflow's tables.
    #[arg(
        long,
        global = true,
        env = "COSTFLOW_CLICKHOUSE_DATABASE",
        default_value = "costflow"
    )]
    pub clickhouse_database: String,

    /// ClickHouse user.
    #[arg(
        long,
        global = true,
        env = "COSTFLOW_CLICKHOUSE_USER",
        default_value = "default"
    )]
    pub clickhouse_user: String,

    /// ClickHouse password (prefer the environment variable).
    #[arg(
        long,
        global = true,
        env = "COSTFLOW_CLICKHOUSE_PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub clickhouse_password: String,
}

/// The pipeline roles.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Kafka topics declared in topics.yaml.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Apply the ClickHouse schema migrations.
    Migrate,
    /// Read cost data and publish it to cost.records (bad rows to ingest.rejects).
    Ingest {
        #[command(subcommand)]
        source: IngestSource,
    },
    /// Run a consumer.
    Consume {
        #[command(subcommand)]
        consumer: ConsumerKind,
    },
    /// Serve the HTTP API over the ClickHouse projections.
    Api {
        /// Address to listen on.
        #[arg(long, env = "COSTFLOW_API_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Print cost per billing account and the top services from the projection.
    Report {
        /// First UTC day, inclusive (YYYY-MM-DD).
        #[arg(long, default_value = "2000-01-01")]
        from: chrono::NaiveDate,
        /// Last UTC day, exclusive (YYYY-MM-DD).
        #[arg(long, default_value = "2100-01-01")]
        to: chrono::NaiveDate,
        /// How many services to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Write realistic demo data (accounts, services, seasonality, credits, tax,
    /// labelled spikes) as FOCUS files, Azure export runs or CUR deliveries, for trying costflow
    /// without real exports.
    Generate(GenerateArgs),
}

/// `topics` actions.
#[derive(Debug, Subcommand)]
pub enum TopicsAction {
    /// Create every missing topic; existing ones are left as they are.
    Apply {
        /// Override every topic's replication factor (1 for a one-broker stack).
        #[arg(long)]
        replication_factor: Option<i32>,
        /// A topics.yaml to use instead of the one built in.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// Sources `ingest` reads.
#[derive(Debug, Subcommand)]
pub enum IngestSource {
    /// FOCUS CSV files (1.0 to 1.2 column sets), from any provider.
    Focus {
        /// Files, or directories whose *.csv files are read in name order.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Source version for every record: microseconds since the epoch or an
        /// RFC 3339 time. Defaults to the newest file modification time, so the
        /// same files give the same version and a re-exported file a newer one.
        /// All files of one export run must share a version.
        #[arg(long)]
        source_version: Option<String>,
        /// Value for a FOCUS column the files lack, COLUMN=VALUE (e.g.
        /// BillingAccountId=acme); repeatable. Never overrides a column that exists.
        #[arg(long, value_parser = key_value)]
        assume: Vec<(String, String)>,
    },
    /// AWS Cost and Usage Reports: legacy CUR and CUR 2.0 / Data Exports, CSV or
    /// CSV.gz. Every file is checked before anything is published: a truncated or
    /// unreadable file fails the run and publishes none of its rows.
    Cur {
        /// Files, or directories searched recursively for *.csv, *.csv.gz and
        /// *.parquet.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Source version for every record: microseconds since the epoch or an
        /// RFC 3339 time. Defaults to the newest file modification time. All files
        /// of one export run must be ingested together or share a version.
        #[arg(long)]
        source_version: Option<String>,
    },
    /// AWS CUR and Data Exports deliveries in an S3 bucket: for each report and
    /// billing period the newest delivery whose manifest exists, read whole or
    /// not at all. Deliveries already ingested (see ingest.checkpoints) are
    /// skipped.
    CurS3(CurS3Args),
    /// Azure Cost Management export runs in Blob Storage: every run under the
    /// prefix whose manifest.json (or legacy _manifest.json) exists, oldest first.
    /// A run is published whole or not at all.
    Azure(AzureArgs),
    /// Azure Cost Management export files on local disk (CSV, CSV.gz or Parquet): EA,
    /// MCA, pay-as-you-go and partner column sets. Each file stands alone.
    AzureFile {
        /// Files, or directories whose *.csv, *.csv.gz and *.parquet files are read
        /// in name order.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// ActualCost or AmortizedCost. Defaults to AmortizedCost for a file whose
        /// name says "amortized" and ActualCost otherwise.
        #[arg(long)]
        dataset: Option<String>,
        /// Source version for every record, as for `ingest focus`.
        #[arg(long)]
        source_version: Option<String>,
        /// BillingAccountId=ID or BillingCurrency=CODE for files that lack the
        /// column; repeatable. Never overrides a column that exists.
        #[arg(long, value_parser = key_value)]
        assume: Vec<(String, String)>,
    },
    /// AWS Cost Explorer API: daily UnblendedCost, AmortizedCost and
    /// NetAmortizedCost per linked account and service (and tag). Every page is
    /// fetched before anything is published; a failed call publishes nothing.
    CostExplorer(CostExplorerArgs),
}

/// `ingest azure` flags.
#[derive(Debug, Args)]
pub struct AzureArgs {
    /// Storage account name.
    #[arg(long, env = "COSTFLOW_AZURE_STORAGE_ACCOUNT")]
    pub account: String,
    /// Container the export delivers to.
    #[arg(long)]
    pub container: String,
    /// Folder of the export (blob name prefix); every run under it is read.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Blob endpoint with the account, for Azurite or sovereign clouds, e.g.
    /// http://127.0.0.1:10000/devstoreaccount1. Defaults to the public cloud.
    #[arg(long, env = "COSTFLOW_AZURE_BLOB_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Storage account key (prefer the environment variable).
    #[arg(
        long,
        env = "COSTFLOW_AZURE_STORAGE_KEY",
        hide_env_values = true,
        conflicts_with = "sas_token"
    )]
    pub access_key: Option<String>,
    /// Shared access signature with read and list rights (prefer the environment variable).
    #[arg(long, env = "COSTFLOW_AZURE_STORAGE_SAS", hide_env_values = true)]
    pub sas_token: Option<String>,
    /// Seconds to wait for a first run's manifest to appear; 0 reads what is there.
    #[arg(long, default_value_t = 0)]
    pub wait_secs: u64,
    #[command(flatten)]
    pub runs: RunArgs,
    /// BillingAccountId=ID or BillingCurrency=CODE for exports that lack the
    /// column; repeatable.
    #[arg(long, value_parser = key_value)]
    pub assume: Vec<(String, String)>,
}

/// `ingest cur-s3` flags. Credentials come from the AWS default provider chain,
/// as for `ingest cost-explorer`.
#[derive(Debug, Args)]
pub struct CurS3Args {
    /// The bucket the report or export delivers to.
    #[arg(long)]
    pub bucket: String,
    /// The report's or export's S3 path prefix; every delivery under it is read.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// The bucket's region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// S3 endpoint instead of AWS's, e.g. a local test server (path-style).
    #[arg(long, env = "COSTFLOW_S3_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    #[command(flatten)]
    pub runs: RunArgs,
}

/// How export runs found by their manifests are watched and remembered.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Keep running and look for new runs every this many seconds, until SIGINT
    /// or SIGTERM; 0 reads once and exits.
    #[arg(long, default_value_t = 0)]
    pub watch_secs: u64,
    /// Read runs again even if ingest.checkpoints says they were ingested
    /// (re-reading changes no total: the records replace themselves).
    #[arg(long)]
    pub reread: bool,
}

/// `ingest cost-explorer` flags. Credentials come from the AWS default provider
/// chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE with keys or an
/// assumed role, web identity, container or instance role; not SSO nor
/// credential_process profiles); the region is us-east-1.
#[derive(Debug, Args)]
pub struct CostExplorerArgs {
    /// First day, inclusive (YYYY-MM-DD): the first day of a month.
    #[arg(long)]
    pub start: chrono::NaiveDate,
    /// Last day, exclusive (YYYY-MM-DD): the first day of a month, or a day of the
    /// current month for the month in progress. Whole months only, because a fetch
    /// replaces every billing period it touches.
    #[arg(long)]
    pub end: chrono::NaiveDate,
    /// The management (payer) account id whose Cost Explorer is queried; every
    /// record's BillingAccountId. Linked accounts become SubAccountId.
    #[arg(long, env = "COSTFLOW_AWS_BILLING_ACCOUNT")]
    pub billing_account: String,
    /// Cost allocation tag key to group by as well (one request per linked account).
    #[arg(long)]
    pub tag_key: Option<String>,
    /// Cost Explorer endpoint instead of AWS's, e.g. a local test server.
    #[arg(long, env = "COSTFLOW_AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included; throttled calls back off
    /// exponentially between attempts.
    #[arg(long, default_value_t = 10)]
    pub max_attempts: u32,
}

/// Consumers.
#[derive(Debug, Subcommand)]
pub enum ConsumerKind {
    /// cost.records into ClickHouse line items and the daily projection.
    Store(StoreArgs),
}

/// `consume store` flags.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Consumer group id; all instances of the store consumer share it.
    #[arg(long, env = "COSTFLOW_STORE_GROUP", default_value = "costflow-store")]
    pub group_id: String,
    /// Stop once every assigned partition is consumed and committed to its end.
    #[arg(long)]
    pub until_caught_up: bool,
    /// Most records decoded at a time; one ClickHouse insert spans every batch
    /// between two refreshes.
    #[arg(long, default_value_t = 5000)]
    pub batch_size: usize,
    /// Longest seconds inserted rows wait for their projection refresh and commit
    /// while the consumer catches up (its batches come back full).
    #[arg(long, default_value_t = 5)]
    pub refresh_interval_secs: u64,
    /// Milliseconds between projection refreshes while the consumer keeps up
    /// with the topic: how soon new rows become visible. A refresh never starts
    /// before the one before it has ended, so slow refreshes stretch this.
    #[arg(long, default_value_t = 250)]
    pub live_refresh_interval_ms: u64,
    /// Test hook: abort right after the first insert, before any commit.
    #[arg(long, hide = true)]
    pub crash_after_insert: bool,
    /// Also read messages written with this cost record schema (.avsc), a version
    /// newer than this build carries; repeatable. Deploy a new schema version here
    /// before producers use it, and upgrade consumers later.
    #[arg(long, env = "COSTFLOW_WRITER_SCHEMAS", value_delimiter = ',')]
    pub writer_schema: Vec<PathBuf>,
}

/// `generate` flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write focus-YYYY-MM.csv and spikes.csv into.
    #[arg(long, default_value = "var/demo")]
    pub out: PathBuf,
    /// Days of data.
    #[arg(long, default_value_t = costflow_generate::DEFAULT_DAYS)]
    pub days: u32,
    /// Exclusive last day (YYYY-MM-DD); defaults to today (UTC).
    #[arg(long)]
    pub end: Option<chrono::NaiveDate>,
    /// Random seed; the same seed writes the same files.
    #[arg(long, default_value_t = costflow_generate::DEFAULT_SEED)]
    pub seed: u64,
    /// Resources per workload; 1 writes about 28,000 rows for 90 days, 36 about a million.
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// focus: focus-YYYY-MM.csv files, every billing account. azure-export: the
    /// Azure enterprise agreement's charges as Cost Management export runs (EA
    /// amortized cost CSV parts and manifest.json per billing period, about 6,800
    /// rows per unit of scale for 90 days), ready to upload to Blob Storage. cur:
    /// the AWS payer accounts' charges as legacy Cost and Usage Report deliveries
    /// (CSV parts and manifests per account and billing period, about 22,700
    /// lines per unit of scale for 90 days), for `ingest cur DIR` or S3.
    #[arg(long, value_enum, default_value_t = GenerateLayout::Focus)]
    pub layout: GenerateLayout,
}

/// `generate --layout` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerateLayout {
    /// FOCUS 1.2 CSV files.
    Focus,
    /// Azure Cost Management export runs.
    AzureExport,
    /// AWS Cost and Usage Report deliveries.
    Cur,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    if key.trim().is_empty() {
        return Err(format!("`{text}` has an empty key"));
    }
    Ok((key.trim().to_owned(), value.to_owned()))
}
