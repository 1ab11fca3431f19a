//! Export runs in Azure Blob Storage, read with the Azure SDK
//! (`azure_storage_blobs`).
//!
//! A run is found by its manifest: parts without a manifest beside them are a
//! run still being written and are never read. Each part of a run is streamed to
//! a local spool file, chunk by chunk, so no part is ever held in memory whole;
//! the reader then streams the spool file (decompressing `.csv.gz` as it goes).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::StatusCode;
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{ClientBuilder, ContainerClient};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::manifest::{is_manifest, part_path, Manifest};
use super::reader::{AzureDataset, AzureOptions};
use crate::publish::AzureFile;

/// How to authenticate to the storage account.
#[derive(Clone)]
pub enum BlobCredential {
    /// A storage account key (also how Azurite's well-known account is reached).
    AccessKey(String),
    /// A shared access signature, without the leading `?`.
    SasToken(String),
    /// No credential: a container with public read access.
    Anonymous,
}

impl fmt::Debug for BlobCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets never reach a log or a Debug print.
        f.write_str(match self {
            BlobCredential::AccessKey(_) => "AccessKey(<redacted>)",
            BlobCredential::SasToken(_) => "SasToken(<redacted>)",
            BlobCredential::Anonymous => "Anonymous",
        })
    }
}

/// Where a Cost Management export delivers its runs.
#[derive(Debug, Clone)]
pub struct BlobSource {
    /// Storage account name.
    pub account: String,
    /// Container the export writes to.
    pub container: String,
    /// Folder (blob name prefix) of the export; every run under it is read.
    pub prefix: String,
    /// Blob service endpoint including the account for emulators, e.g.
    /// `http://127.0.0.1:10000/devstoreaccount1`; the public cloud's when `None`.
    pub endpoint: Option<String>,
    /// How to authenticate.
    pub credential: BlobCredential,
}

/// A failure to reach the storage account or read a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The storage service refused or failed a request.
    #[error("{what}: {source}")]
    Storage {
        /// What was being done.
        what: String,
        /// The SDK's error.
        source: azure_core::Error,
    },
    /// A part could not be spooled to local disk.
    #[error("spooling {path}: {source}")]
    Spool {
        /// The spool file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The credential is not usable.
    #[error("credential: {0}")]
    Credential(String),
    /// No run's manifest appeared under the prefix in time.
    #[error("no manifest.json or _manifest.json under {prefix} after waiting {waited:?}")]
    NoRun {
        /// The prefix searched.
        prefix: String,
        /// How long was waited.
        waited: Duration,
    },
}

/// One export run: its manifest and where it is.
#[derive(Debug, Clone)]
pub struct ExportRun {
    /// The manifest's blob name.
    pub manifest_blob: String,
    /// What the manifest says.
    pub manifest: Manifest,
}

impl ExportRun {
    /// The run's source version: its submitted time in microseconds.
    pub fn source_version(&self) -> i64 {
        self.manifest.submitted.timestamp_micros()
    }
}

/// A listed manifest that could not be read: the run it stands for fails.
#[derive(Debug, Clone)]
pub struct BrokenRun {
    /// The manifest's blob name.
    pub manifest_blob: String,
    /// Why it failed.
    pub reason: String,
}

impl BlobSource {
    fn container_client(&self) -> Result<ContainerClient, BlobError> {
        let credentials = match &self.credential {
            BlobCredential::AccessKey(key) => {
                StorageCredentials::access_key(self.account.clone(), key.clone())
            }
            BlobCredential::SasToken(token) => StorageCredentials::sas_token(token.clone())
                .map_err(|err| BlobError::Credential(err.to_string()))?,
            BlobCredential::Anonymous => StorageCredentials::anonymous(),
        };
        let location = match &self.endpoint {
            Some(uri) => CloudLocation::Custom {
                account: self.account.clone(),
                uri: uri.trim_end_matches('/').to_owned(),
            },
            None => CloudLocation::Public {
                account: self.account.clone(),
            },
        };
        Ok(ClientBuilder::with_location(location, credentials).container_client(&self.container))
    }

    /// The URL of a blob, as records and rejects name it.
    pub fn blob_url(&self, blob: &str) -> String {
        let base = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://{}.blob.core.windows.net", self.account));
        format!("{}/{}/{blob}", base.trim_end_matches('/'), self.container)
    }

    /// Every run under the prefix whose manifest exists, oldest submitted first,
    /// and the manifests that could not be read. Waits up to `wait` for a first
    /// manifest to appear, polling every `poll`.
    pub async fn find_runs(
        &self,
        wait: Duration,
        poll: Duration,
    ) -> Result<(Vec<ExportRun>, Vec<BrokenRun>), BlobError> {
        let container = self.container_client()?;
        let started = tokio::time::Instant::now();
        let manifests = loop {
            let found = self.list_manifests(&container).await?;
            if !found.is_empty() || started.elapsed() >= wait {
                break found;
            }
            tracing::info!(prefix = %self.prefix, "no export run manifest yet; waiting");
            tokio::time::sleep(poll).await;
        };
        if manifests.is_empty() && !wait.is_zero() {
            return Err(BlobError::NoRun {
                prefix: self.prefix.clone(),
                waited: wait,
            });
        }

        let mut runs = Vec::new();
        let mut broken = Vec::new();
        for (name, modified) in manifests {
            let bytes = download(&container, &name).await?;
            let text = String::from_utf8_lossy(&bytes);
            match Manifest::parse(&text, modified) {
                Ok(manifest) => runs.push(ExportRun {
                    manifest_blob: name,
                    manifest,
                }),
                Err(reason) => broken.push(BrokenRun {
                    manifest_blob: name,
                    reason: format!("manifest: {reason}"),
                }),
            }
        }
        runs.sort_by_key(|run| run.manifest.submitted);
        Ok((runs, broken))
    }

    async fn list_manifests(
        &self,
        container: &ContainerClient,
    ) -> Result<Vec<(String, Option<DateTime<Utc>>)>, BlobError> {
        let mut pages = container
            .list_blobs()
            .prefix(self.prefix.clone())
            .into_stream();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|source| BlobError::Storage {
                what: format!("listing {}/{}", self.container, self.prefix),
                source,
            })?;
            for blob in page.blobs.blobs() {
                if is_manifest(&blob.name) {
                    let modified =
                        DateTime::from_timestamp(blob.properties.last_modified.unix_timestamp(), 0);
                    found.push((blob.name.clone(), modified));
                }
            }
        }
        Ok(found)
    }

    /// Streams every part of a run into `spool` and returns the files to read,
    /// or why the run cannot be read (an unknown dataset, Parquet parts, a part
    /// the manifest names that does not exist). Storage failures are errors.
    pub async fn fetch_run(
        &self,
        run: &ExportRun,
        spool: &Path,
    ) -> Result<Result<Vec<AzureFile>, String>, BlobError> {
        let focus = run.manifest.dataset.eq_ignore_ascii_case("FocusCost");
        let dataset = match AzureDataset::parse(&run.manifest.dataset) {
            Some(dataset) => dataset,
            // FocusCost parts go to the FOCUS reader; the export dataset is unused.
            None if focus => AzureDataset::ActualCost,
            None => {
                return Ok(Err(format!(
                    "dataset {} is not read by `ingest azure` (ActualCost, AmortizedCost, Usage and FocusCost are)",
                    run.manifest.dataset
                )))
            }
        };
        let format = run.manifest.file_format.as_deref().unwrap_or("Csv");
        let known = ["csv", "parquet"];
        if !known.iter().any(|k| format.eq_ignore_ascii_case(k)) {
            return Ok(Err(format!(
                "{format} parts are not read; CSV, CSV.gz and Parquet are"
            )));
        }
        std::fs::create_dir_all(spool).map_err(|source| BlobError::Spool {
            path: spool.to_owned(),
            source,
        })?;

        let container = self.container_client()?;
        let mut files = Vec::with_capacity(run.manifest.parts.len());
        for (index, part) in run.manifest.parts.iter().enumerate() {
            let blob = part_path(&self.container, &run.manifest_blob, &part.blob_name);
            let lower = blob.to_ascii_lowercase();
            let extension = if lower.ends_with(".csv.gz") {
                "csv.gz"
            } else if lower.ends_with(".csv") {
                "csv"
            } else if lower.ends_with(".parquet") && !focus {
                "parquet"
            } else {
                return Ok(Err(format!(
                    "part {blob}: only .csv, .csv.gz and (but for FocusCost) .parquet parts are read"
                )));
            };
            let path = spool.join(format!("part-{index:05}.{extension}"));
            match spool_blob(&container, &blob, &path).await {
                Ok(()) => {}
                Err(BlobError::Storage { source, .. }) if is_not_found(&source) => {
                    return Ok(Err(format!(
                        "the manifest names part {blob}, which does not exist"
                    )));
                }
                Err(err) => return Err(err),
            }
            // The FOCUS reader reads plain files only: a gzip FocusCost part is
            // unpacked on disk first, which also finds a truncated one.
            let path = if focus {
                let expected = part.data_row_count;
                let gzipped = extension == "csv.gz";
                let prepared = tokio::task::spawn_blocking(move || {
                    prepare_focus_part(path, gzipped, expected)
                })
                .await
                .map_err(|err| BlobError::Spool {
                    path: spool.to_owned(),
                    source: std::io::Error::other(err),
                })?;
                match prepared {
                    Ok(path) => path,
                    Err(reason) => return Ok(Err(format!("part {blob}: {reason}"))),
                }
            } else {
                path
            };
            let mut options = AzureOptions::new(dataset, run.source_version());
            options.uri = Some(self.blob_url(&blob));
            options.expected_rows = part.data_row_count;
            files.push(AzureFile {
                path,
                options,
                focus,
            });
        }
        Ok(Ok(files))
    }
}

/// Makes a spooled FocusCost part ready for the FOCUS reader, which reads plain
/// files and checks no manifest counts: unpacks it if gzipped (which also finds
/// a truncated one) and compares its rows with the manifest's count. Blocking.
fn prepare_focus_part(
    path: PathBuf,
    gzipped: bool,
    expected: Option<u64>,
) -> Result<PathBuf, String> {
    let path = if gzipped {
        gunzip(&path).map_err(|err| err.to_string())?
    } else {
        path
    };
    if let Some(expected) = expected {
        let found = count_rows(&path).map_err(|err| err.to_string())?;
        if found != expected {
            return Err(format!(
                "the manifest says {expected} data rows, the part has {found}"
            ));
        }
    }
    Ok(path)
}

/// Data rows of a CSV file.
fn count_rows(path: &Path) -> Result<u64, csv::Error> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(path)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record)? {
        rows += 1;
    }
    Ok(rows)
}

/// Unpacks `name.csv.gz` into `name.csv` beside it, as a stream.
fn gunzip(path: &Path) -> std::io::Result<PathBuf> {
    let plain = path.with_extension("");
    let mut source =
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    let mut target = std::io::BufWriter::new(std::fs::File::create(&plain)?);
    std::io::copy(&mut source, &mut target)?;
    target.flush()?;
    std::fs::remove_file(path)?;
    Ok(plain)
}

fn is_not_found(err: &azure_core::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::HttpResponse {
            status: StatusCode::NotFound,
            ..
        }
    )
}

async fn download(container: &ContainerClient, blob: &str) -> Result<Vec<u8>, BlobError> {
    let storage = |source| BlobError::Storage {
        what: format!("reading {blob}"),
        source,
    };
    let mut chunks = container.blob_client(blob).get().into_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let mut body = chunk.map_err(storage)?.data;
        while let Some(piece) = body.next().await {
            bytes.extend_from_slice(&piece.map_err(storage)?);
        }
    }
    Ok(bytes)
}

/// Writes a blob to a local file as its chunks arrive.
async fn spool_blob(container: &ContainerClient, blob: &str, path: &Path) -> Result<(), BlobError> {
    let storage = |source| BlobError::Storage {
        what: format!("reading {blob}"),
        source,
    };
    let spool_err = |source| BlobError::Spool {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::create(path).map_err(spool_err)?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut chunks = container.blob_client(blob).get().into_stream();
    while let Some(chunk) = chunks.next().await {
        let mut body = chunk.map_err(storage)?.data;
        while let Some(piece) = body.next().await {
            file.write_all(&piece.map_err(storage)?)
                .map_err(spool_err)?;
        }
    }
    file.flush().map_err(spool_err)?;
    Ok(())
}
