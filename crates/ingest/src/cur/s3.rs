//! CUR and Data Exports deliveries in an S3 bucket, read with `aws-sdk-s3`.
//!
//! A delivery is found by its manifest, never by listing data files: a data file
//! without a manifest naming it is part of a delivery still being written.
//!
//! - Legacy CUR writes `<prefix>/<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json`
//!   for the billing period, and a copy under each assembly's folder; both carry
//!   `assemblyId`, `billingPeriod` and `reportKeys` (object keys of the data).
//! - CUR 2.0 / Data Exports writes
//!   `<prefix>/<export>/metadata/BILLING_PERIOD=yyyy-mm/.../<export>-Manifest.json`
//!   with `executionId`, `billingPeriod` and `dataFiles` (`s3://` URIs).
//!
//! Each delivery becomes one run with one source version: the newest
//! modification time of the manifests naming its assembly or execution id. Of the
//! runs of one report and billing period only the current one is read (named by
//! the period-level manifest where there is one, else the newest): AWS restates
//! the whole period in each delivery, so an older one is superseded.
//!
//! Each data file is streamed to a local spool file as its bytes arrive (never
//! held in memory), then read like a local CUR file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_smithy_http_client::tls;
use chrono::DateTime;
use serde::Deserialize;

use super::run::CurFile;
use super::{DATASET_CUR2, DATASET_LEGACY};

/// Where CUR or Data Exports deliver.
#[derive(Debug, Clone)]
pub struct S3Source {
    /// The bucket.
    pub bucket: String,
    /// Key prefix of the report or export (its S3 path prefix); every delivery
    /// under it is read.
    pub prefix: String,
    /// S3 endpoint instead of AWS's, e.g. a local test server; addressed
    /// path-style.
    pub endpoint_url: Option<String>,
    /// The bucket's region.
    pub region: String,
}

/// A failure to reach the bucket or read an object.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// S3 refused or failed a request (after the SDK's retries).
    #[error("{what}: {message}")]
    Request {
        /// What was being done.
        what: String,
        /// The SDK's error, with its causes.
        message: String,
    },
    /// An object could not be spooled to local disk.
    #[error("spooling {path}: {source}")]
    Spool {
        /// The spool file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One delivery: the data files a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurRun {
    /// The manifest's key (the period-level one when there are two).
    pub manifest_key: String,
    /// `assemblyId` (legacy CUR) or `executionId` (Data Exports).
    pub run_id: String,
    /// The report or export name.
    pub report: String,
    /// `CUR` (legacy, `reportKeys`) or `CUR2` (Data Exports, `dataFiles`).
    pub dataset: &'static str,
    /// The billing period's first day as the manifest writes it.
    pub billing_period: String,
    /// Keys of the data files, in manifest order.
    pub data_keys: Vec<String>,
    /// Source version of every record: the newest manifest modification time
    /// of this run, in microseconds.
    pub source_version: i64,
}

/// A manifest that could not be read: the run it stands for fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRun {
    /// The manifest's key.
    pub manifest_key: String,
    /// Why it failed.
    pub reason: String,
}

/// What a listing found.
#[derive(Debug, Clone, Default)]
pub struct FoundRuns {
    /// The newest run of each report and billing period, oldest period first.
    pub runs: Vec<CurRun>,
    /// Older runs of a period that a newer one supersedes.
    pub superseded: Vec<CurRun>,
    /// Manifests that could not be read.
    pub broken: Vec<BrokenRun>,
}

/// The manifest fields costflow reads, legacy and Data Exports spellings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    assembly_id: Option<String>,
    execution_id: Option<String>,
    report_name: Option<String>,
    export_name: Option<String>,
    billing_period: Option<PeriodJson>,
    report_keys: Option<Vec<String>>,
    data_files: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct PeriodJson {
    start: String,
}

/// True for the key of a CUR or Data Exports manifest.
pub fn is_manifest(key: &str) -> bool {
    key.to_ascii_lowercase().ends_with("-manifest.json")
}

/// Reads a manifest into a run; `bucket` is the bucket it was found in, which
/// every data file must be in too.
pub fn parse_manifest(
    bucket: &str,
    manifest_key: &str,
    text: &str,
    modified_micros: i64,
) -> Result<CurRun, String> {
    let json: ManifestJson =
        serde_json::from_str(text).map_err(|err| format!("not a CUR manifest: {err}"))?;
    let run_id = json
        .assembly_id
        .or(json.execution_id)
        .filter(|id| !id.trim().is_empty())
        .ok_or("no assemblyId or executionId")?;
    let report = json
        .report_name
        .or(json.export_name)
        .unwrap_or_else(|| "-".to_owned());
    let billing_period = json
        .billing_period
        .map(|p| p.start)
        .ok_or("no billingPeriod")?;
    let (data_keys, dataset) = match (json.report_keys, json.data_files) {
        (Some(keys), _) => (keys, DATASET_LEGACY),
        (None, Some(uris)) => (
            uris.iter()
                .map(|uri| object_key(bucket, uri))
                .collect::<Result<_, _>>()?,
            DATASET_CUR2,
        ),
        (None, None) => return Err("no reportKeys or dataFiles".to_owned()),
    };
    Ok(CurRun {
        manifest_key: manifest_key.to_owned(),
        run_id,
        report,
        dataset,
        billing_period,
        data_keys,
        source_version: modified_micros,
    })
}

/// The key of an `s3://bucket/key` URI in `bucket`.
fn object_key(bucket: &str, uri: &str) -> Result<String, String> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("data file {uri} is not an s3:// URI"))?;
    match rest.split_once('/') {
        Some((in_bucket, key)) if in_bucket == bucket => Ok(key.to_owned()),
        _ => Err(format!(
            "data file {uri} is not in bucket {bucket}, where its manifest is"
        )),
    }
}

/// Merges the manifests of one run (legacy CUR writes two), then keeps the
/// current run of each report and billing period: the one the period-level
/// manifest names (each legacy delivery overwrites it), else the newest. So
/// manifests of one second (S3 keeps whole seconds) or copied to disk in any
/// order still pick the delivery AWS last wrote.
pub fn select_runs(parsed: Vec<CurRun>) -> (Vec<CurRun>, Vec<CurRun>) {
    let mut by_id: BTreeMap<String, CurRun> = BTreeMap::new();
    for run in parsed {
        match by_id.get_mut(&run.run_id) {
            Some(known) => {
                known.source_version = known.source_version.max(run.source_version);
                // The period-level manifest (the shorter key) names the run.
                if run.manifest_key.len() < known.manifest_key.len() {
                    known.manifest_key = run.manifest_key;
                }
            }
            None => {
                by_id.insert(run.run_id.clone(), run);
            }
        }
    }
    let mut newest: BTreeMap<(String, String), CurRun> = BTreeMap::new();
    let mut superseded = Vec::new();
    // A period-level manifest (fewer key segments) over an assembly-level one,
    // then the newer.
    let rank = |run: &CurRun| {
        let depth = run.manifest_key.matches('/').count();
        (std::cmp::Reverse(depth), run.source_version)
    };
    for run in by_id.into_values() {
        let slot = (run.report.clone(), run.billing_period.clone());
        match newest.remove(&slot) {
            Some(other) if rank(&other) >= rank(&run) => {
                superseded.push(run);
                newest.insert(slot, other);
            }
            Some(other) => {
                superseded.push(other);
                newest.insert(slot, run);
            }
            None => {
                newest.insert(slot, run);
            }
        }
    }
    let mut runs: Vec<CurRun> = newest.into_values().collect();
    runs.sort_by(|a, b| {
        (&a.billing_period, a.source_version).cmp(&(&b.billing_period, b.source_version))
    });
    (runs, superseded)
}

/// An S3 client for one source.
pub struct S3Reader {
    source: S3Source,
    client: aws_sdk_s3::Client,
}

impl S3Reader {
    /// A client with credentials from the default provider chain (environment,
    /// profile, web identity, container, instance metadata).
    pub async fn new(source: S3Source) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(source.region.clone()))
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .timeout_config(timeouts);
        if let Some(url) = &source.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(source.endpoint_url.is_some())
            .build();
        S3Reader {
            client: aws_sdk_s3::Client::from_conf(config),
            source,
        }
    }

    /// The source read.
    pub fn source(&self) -> &S3Source {
        &self.source
    }

    /// The `s3://` URI of an object, as records and rejects name it.
    pub fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.source.bucket)
    }

    /// Every delivery under the prefix whose manifest exists.
    pub async fn find_runs(&self) -> Result<FoundRuns, S3Error> {
        let mut manifests = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.source.bucket)
            .prefix(&self.source.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| {
                request_error(format!("listing {}", self.uri(&self.source.prefix)), err)
            })?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if is_manifest(key) {
                    let modified = object
                        .last_modified()
                        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                        .map_or(0, |t| t.timestamp_micros());
                    manifests.push((key.to_owned(), modified));
                }
            }
        }

        let mut found = FoundRuns::default();
        let mut parsed = Vec::new();
        for (key, modified) in manifests {
            let text = self.read_text(&key).await?;
            match parse_manifest(&self.source.bucket, &key, &text, modified) {
                Ok(run) => parsed.push(run),
                Err(reason) => found.broken.push(BrokenRun {
                    manifest_key: key,
                    reason: format!("manifest: {reason}"),
                }),
            }
        }
        (found.runs, found.superseded) = select_runs(parsed);
        Ok(found)
    }

    async fn read_text(&self, key: &str) -> Result<String, S3Error> {
        let what = || format!("reading {}", self.uri(key));
        let object = self
            .client
            .get_object()
            .bucket(&self.source.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| request_error(what(), err))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|err| S3Error::Request {
                what: what(),
                message: err.to_string(),
            })?;
        Ok(String::from_utf8_lossy(&bytes.into_bytes()).into_owned())
    }

    /// Streams every data file of a run into `spool` and returns the files to
    /// read, or why the run cannot be read (a data file the manifest names that
    /// does not exist, a format costflow does not read). Storage failures are
    /// errors.
    pub async fn fetch_run(
        &self,
        run: &CurRun,
        spool: &Path,
    ) -> Result<Result<Vec<CurFile>, String>, S3Error> {
        std::fs::create_dir_all(spool).map_err(|source| S3Error::Spool {
            path: spool.to_owned(),
            source,
        })?;
        let mut files = Vec::with_capacity(run.data_keys.len());
        for (index, key) in run.data_keys.iter().enumerate() {
            let lower = key.to_ascii_lowercase();
            let extension = if lower.ends_with(".csv.gz") {
                "csv.gz"
            } else if lower.ends_with(".csv") {
                "csv"
            } else if lower.ends_with(".parquet") || lower.ends_with(".snappy.parquet") {
                "parquet"
            } else {
                return Ok(Err(format!(
                    "data file {key}: only CSV, gzip CSV and Parquet deliveries are read (not ZIP)"
                )));
            };
            let path = spool.join(format!("part-{index:05}.{extension}"));
            match self.spool_object(key, &path).await {
                Ok(true) => files.push(CurFile {
                    path,
                    uri: self.uri(key),
                }),
                Ok(false) => {
                    return Ok(Err(format!(
                        "the manifest names {}, which does not exist",
                        self.uri(key)
                    )))
                }
                Err(err) => return Err(err),
            }
        }
        Ok(Ok(files))
    }

    /// Writes an object to a local file as its bytes arrive; false when the
    /// object does not exist.
    async fn spool_object(&self, key: &str, path: &Path) -> Result<bool, S3Error> {
        let what = || format!("reading {}", self.uri(key));
        let object = match self
            .client
            .get_object()
            .bucket(&self.source.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(SdkError::ServiceError(err)) if err.err().is_no_such_key() => return Ok(false),
            Err(err) => return Err(request_error(what(), err)),
        };
        let spool_err = |source| S3Error::Spool {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::create(path).map_err(spool_err)?;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut body = object.body;
        while let Some(chunk) = body.try_next().await.map_err(|err| S3Error::Request {
            what: what(),
            message: err.to_string(),
        })? {
            file.write_all(&chunk).map_err(spool_err)?;
        }
        file.flush().map_err(spool_err)?;
        Ok(true)
    }
}

fn request_error<E, R>(what: String, err: SdkError<E, R>) -> S3Error
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    S3Error::Request {
        what,
        message: DisplayErrorContext(&err).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = r#"{"assemblyId":"a1","account":"123","reportName":"cur",
        "billingPeriod":{"start":"20231101T000000.000Z","end":"20231201T000000.000Z"},
        "bucket":"b","reportKeys":["p/cur/20231101-20231201/a1/cur-00001.csv.gz"]}"#;
    const CUR2: &str = r#"{"executionId":"e1","exportName":"ex",
        "billingPeriod":{"start":"2023-11-01T00:00:00.000Z","end":"2023-12-01T00:00:00.000Z"},
        "dataFiles":["s3://b/p/ex/data/BILLING_PERIOD=2023-11/ex-00001.snappy.parquet"]}"#;

    #[test]
    fn both_manifest_spellings_give_a_run() {
        let legacy = parse_manifest("b", "m1", LEGACY, 5).unwrap();
        assert_eq!(legacy.run_id, "a1");
        assert_eq!(legacy.report, "cur");
        assert_eq!(
            legacy.data_keys,
            ["p/cur/20231101-20231201/a1/cur-00001.csv.gz"]
        );
        let cur2 = parse_manifest("b", "m2", CUR2, 6).unwrap();
        assert_eq!(cur2.run_id, "e1");
        assert_eq!(
            cur2.data_keys,
            ["p/ex/data/BILLING_PERIOD=2023-11/ex-00001.snappy.parquet"]
        );
        let elsewhere = CUR2.replace("s3://b/", "s3://other/");
        let err = parse_manifest("b", "m2", &elsewhere, 6).unwrap_err();
        assert!(err.contains("not in bucket b"), "{err}");
        let err = parse_manifest("b", "m", "{}", 1).unwrap_err();
        assert!(err.contains("no assemblyId"), "{err}");
    }

    #[test]
    fn one_run_per_report_and_period_the_newest() {
        let run = |key: &str, id: &str, period: &str, version: i64| CurRun {
            manifest_key: key.to_owned(),
            run_id: id.to_owned(),
            report: "cur".to_owned(),
            dataset: DATASET_LEGACY,
            billing_period: period.to_owned(),
            data_keys: vec![],
            source_version: version,
        };
        // Periods as the manifests give them, which sort in time order.
        let (runs, superseded) = select_runs(vec![
            run("p/cur/nov/a1/cur-Manifest.json", "a1", "2023-11", 10),
            run("p/cur/nov/a2/cur-Manifest.json", "a2", "2023-11", 20),
            run("p/cur/nov/cur-Manifest.json", "a2", "2023-11", 21),
            run("p/cur/oct/a0/cur-Manifest.json", "a0", "2023-10", 5),
        ]);
        assert_eq!(
            runs,
            [
                run("p/cur/oct/a0/cur-Manifest.json", "a0", "2023-10", 5),
                run("p/cur/nov/cur-Manifest.json", "a2", "2023-11", 21),
            ]
        );
        assert_eq!(
            superseded,
            [run("p/cur/nov/a1/cur-Manifest.json", "a1", "2023-11", 10)]
        );

        // Two deliveries within one second, or copied to disk in any order: the
        // period-level manifest names the current one, whichever id sorts first.
        for (old, new, old_time) in [("a1", "b2", 30), ("b2", "a1", 30), ("a1", "b2", 31)] {
            let (runs, superseded) = select_runs(vec![
                run(
                    &format!("p/cur/nov/{old}/cur-Manifest.json"),
                    old,
                    "2023-11",
                    old_time,
                ),
                run(
                    &format!("p/cur/nov/{new}/cur-Manifest.json"),
                    new,
                    "2023-11",
                    30,
                ),
                run("p/cur/nov/cur-Manifest.json", new, "2023-11", 30),
            ]);
            assert_eq!(
                runs,
                [run("p/cur/nov/cur-Manifest.json", new, "2023-11", 30)]
            );
            assert_eq!(superseded.len(), 1);
            assert_eq!(superseded[0].run_id, old);
        }
    }
}
