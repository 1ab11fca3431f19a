//! Manifest appeared → rows visible: an Azure export run written by
//! `costflow generate --layout azure-export` is uploaded to Blob Storage (Azurite
//! locally) the way Cost Management delivers it, parts first ([`upload_parts`])
//! and `manifest.json` last ([`run`]), while `costflow ingest azure --watch-secs`
//! and `costflow consume store` run. The clock starts when the manifest's upload
//! has completed, the moment a watcher could first see the run, and stops when
//! the daily projection counts every row of the run in `cost_daily_refresh`, the
//! record of what each current refresh of a billing period holds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{ClientBuilder, ContainerClient};
use costflow_store::StoreConfig;
use serde::{Deserialize, Serialize};

/// How often the projection is read while waiting.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The target: one million rows visible within a minute of the manifest.
pub const TARGET_SECS: f64 = 60.0;

/// What to upload and where to look.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    /// Blob endpoint with the account, e.g. `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: String,
    /// Storage account name.
    pub account: String,
    /// Storage account key.
    pub access_key: String,
    /// Container the watcher reads; created when missing.
    pub container: String,
    /// Blob name prefix the watcher reads (ends with `/`).
    pub prefix: String,
    /// A run folder written by `costflow generate --layout azure-export`:
    /// `<period>/<run id>/` with its parts and `manifest.json`.
    pub run_dir: PathBuf,
    /// The store consumer's ClickHouse.
    pub store: StoreConfig,
    /// Longest wait for the rows after the manifest.
    pub deadline: Duration,
    /// Processes (the watcher, the store consumer) whose peak resident memory to
    /// record once the rows are visible, by name.
    pub processes: Vec<(String, u32)>,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestReport {
    /// Data rows of the run, from its manifest.
    pub rows: u64,
    /// Parts the manifest names.
    pub parts: usize,
    /// Seconds from the manifest's upload to every row being visible.
    pub visible_s: f64,
    /// Peak resident memory (VmHWM) of each named process by then, MiB.
    #[serde(default)]
    pub peak_rss_mib: Vec<(String, f64)>,
}

/// The run's manifest, read from its folder.
struct RunManifest {
    path: PathBuf,
    rows: u64,
    parts: Vec<PathBuf>,
}

impl RunManifest {
    fn read(run_dir: &Path) -> Result<RunManifest> {
        let path = run_dir.join("manifest.json");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).context("the run's manifest")?)?;
        let rows = json["dataRowCount"]
            .as_u64()
            .context("manifest without dataRowCount")?;
        let parts = json["blobs"]
            .as_array()
            .context("manifest without blobs")?
            .iter()
            .filter_map(|blob| blob["blobName"].as_str())
            .map(|name| run_dir.join(name))
            .collect();
        Ok(RunManifest { path, rows, parts })
    }
}

impl ManifestReport {
    /// The figure as one row of the targets table.
    pub fn target_row(&self) -> String {
        let verdict = if self.rows < 1_000_000 {
            "not run at 1M rows"
        } else if self.visible_s < TARGET_SECS {
            "met"
        } else {
            "MISSED"
        };
        let memory: Vec<String> = self
            .peak_rss_mib
            .iter()
            .map(|(name, mib)| format!("{name} {mib:.0} MiB"))
            .collect();
        format!(
            "| manifest → visible < 60 s for a 1M-row export ({} rows in {} parts; peak RSS {}) | {:.1} s | {verdict} |\n",
            self.rows,
            self.parts,
            memory.join(", "),
            self.visible_s
        )
    }
}

/// Creates the container if needed and uploads the run's parts, not its
/// manifest: a run being delivered, which a watcher must not read yet.
pub fn upload_parts(options: &ManifestOptions) -> Result<usize> {
    block_on(async {
        let manifest = RunManifest::read(&options.run_dir)?;
        let container = container(options).await?;
        let folder = run_folder(&options.run_dir)?;
        for part in &manifest.parts {
            upload(&container, &blob_name(options, &folder, part)?, part).await?;
        }
        Ok(manifest.parts.len())
    })
}

/// Uploads the run's manifest, starting the clock when it is stored, and waits
/// until the projection counts every row of the run.
pub fn run(options: &ManifestOptions) -> Result<ManifestReport> {
    block_on(async {
        let manifest = RunManifest::read(&options.run_dir)?;
        let container = container(options).await?;
        let folder = run_folder(&options.run_dir)?;
        let clickhouse = clickhouse_client(&options.store);
        let before = visible_rows(&clickhouse).await?;
        let blob = blob_name(options, &folder, &manifest.path)?;
        upload(&container, &blob, &manifest.path).await?;

        let appeared = Instant::now();
        loop {
            let visible = visible_rows(&clickhouse).await?.saturating_sub(before);
            if visible >= manifest.rows {
                break;
            }
            if appeared.elapsed() > options.deadline {
                bail!(
                    "{visible} of {} rows visible {:?} after the manifest",
                    manifest.rows,
                    options.deadline
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        let visible_s = appeared.elapsed().as_secs_f64();
        let peak_rss_mib = options
            .processes
            .iter()
            .map(|(name, pid)| Ok((name.clone(), peak_rss_kib(*pid)? as f64 / 1024.0)))
            .collect::<Result<_>>()?;
        Ok(ManifestReport {
            rows: manifest.rows,
            parts: manifest.parts.len(),
            visible_s,
            peak_rss_mib,
        })
    })
}

fn block_on<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(work)
}

async fn container(options: &ManifestOptions) -> Result<ContainerClient> {
    let location = CloudLocation::Custom {
        account: options.account.clone(),
        uri: options.endpoint.clone(),
    };
    let credentials = StorageCredentials::access_key(&options.account, options.access_key.clone());
    let client =
        ClientBuilder::with_location(location, credentials).container_client(&options.container);
    if !client.exists().await.context("reaching Blob Storage")? {
        client.create().await.context("creating the container")?;
    }
    Ok(client)
}

/// `<period>/<run id>`: where the run sits under the prefix, as generated.
fn run_folder(run_dir: &Path) -> Result<String> {
    let run = run_dir.file_name().context("a run folder")?;
    let period = run_dir
        .parent()
        .and_then(Path::file_name)
        .context("a run folder inside its period's folder")?;
    Ok(format!(
        "{}/{}",
        period.to_string_lossy(),
        run.to_string_lossy()
    ))
}

fn blob_name(options: &ManifestOptions, folder: &str, file: &Path) -> Result<String> {
    let name = file.file_name().context("a file")?.to_string_lossy();
    Ok(format!("{}{folder}/{name}", options.prefix))
}

async fn upload(container: &ContainerClient, blob: &str, file: &Path) -> Result<()> {
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    container
        .blob_client(blob)
        .put_block_blob(bytes)
        .await
        .with_context(|| format!("uploading {blob}"))?;
    Ok(())
}

/// A running process's peak resident memory so far (`VmHWM`), KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is not running"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM for process {pid}"))
}

/// A client of the store consumer's database; built once, polled many times.
fn clickhouse_client(store: &StoreConfig) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&store.url)
        .with_database(&store.database)
        .with_user(&store.user)
        .with_password(&store.password)
        .with_validation(false)
}

/// Line items the projection's current refreshes count, over every period.
async fn visible_rows(client: &clickhouse::Client) -> Result<u64> {
    let count = client
        .query("SELECT toUInt64(sum(line_items)) FROM cost_daily_refresh FINAL")
        .fetch_one::<u64>()
        .await
        .context("reading cost_daily_refresh")?;
    Ok(count)
}
