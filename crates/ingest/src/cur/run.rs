//! A CUR run: check every file, then publish every file.
//!
//! An export run's files share one source version, and a newer source version of
//! a billing period replaces the older one as a whole; half a run would replace a
//! whole month with part of one. So every file is first read through without
//! publishing: the gzip stream to its checksum, the CSV to its end, every date
//! against its column's layout. Only if all files pass is anything published. A
//! run with a refused file publishes one reject per refused file and nothing else.
//!
//! Both passes stream; a file is read twice, never held in memory.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use costflow_bus::topics::{COST_RECORDS, INGEST_REJECTS};
use costflow_bus::{KafkaConfig, Publisher};
use costflow_model::{Codec, Reject};

use super::{CurError, CurOptions, CurReader, DATASET_LEGACY};
use crate::input::expand_paths;
use crate::publish::{FileReport, IngestError, IngestReport};
use crate::Row;

/// How long the run waits for the broker to acknowledge the last messages.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// File names a CUR export directory holds data in.
const CUR_SUFFIXES: [&str; 2] = [".csv", ".csv.gz"];

/// Files as given, and under each directory every `*.csv` and `*.csv.gz` file,
/// recursively (an S3 export prefix copied to disk), in path order.
pub fn expand_cur_paths(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    expand_paths(paths, &CUR_SUFFIXES)
}

/// Reads every file through once; the refusal of each file that cannot be
/// published, with its URI and dataset.
pub fn check_files(paths: &[PathBuf], options: &CurOptions) -> Vec<(usize, String, CurError)> {
    let mut refused = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        if let Some((uri, err)) = refusal(path, options) {
            refused.push((index, uri, err));
        }
    }
    refused
}

/// Why a file cannot be published, with its URI; `None` when it reads through.
fn refusal(path: &Path, options: &CurOptions) -> Option<(String, CurError)> {
    let reader = match CurReader::open(path, options) {
        Ok(reader) => reader,
        Err(err) => return Some((format!("file://{}", path.display()), err)),
    };
    let uri = reader.uri().to_owned();
    for row in reader {
        if let Err(err) = row {
            return Some((uri, err));
        }
    }
    None
}

/// Checks every file, then publishes their records and rejects and waits for
/// every delivery report. If any file is refused, nothing but the refusals is
/// published and every file of the run reports an error.
///
/// Blocking: call it from a thread that may block (`spawn_blocking`).
pub fn ingest_cur_files(
    paths: &[PathBuf],
    options: &CurOptions,
    kafka: &KafkaConfig,
) -> Result<IngestReport, IngestError> {
    let records_topic = kafka.topic(COST_RECORDS);
    let rejects_topic = kafka.topic(INGEST_REJECTS);
    let record_codec = Codec::cost_record();
    let reject_codec = Codec::reject();
    let mut publisher = Publisher::new(kafka)?;
    let mut report = IngestReport::default();
    let send_reject = |publisher: &mut Publisher, reject: &Reject| {
        let payload = reject_codec.encode(reject)?;
        publisher.send(&rejects_topic, reject.source_uri.as_bytes(), &payload)?;
        Ok::<_, IngestError>(())
    };

    let refused = check_files(paths, options);
    if !refused.is_empty() {
        for (index, path) in paths.iter().enumerate() {
            let mut file = FileReport {
                uri: format!("file://{}", path.display()),
                ..FileReport::default()
            };
            match refused.iter().find(|(i, _, _)| *i == index) {
                Some((_, uri, err)) => {
                    tracing::error!(file = %uri, error = %err, "file refused");
                    send_reject(&mut publisher, &err.to_reject(uri, DATASET_LEGACY))?;
                    file.uri = uri.clone();
                    file.error = Some(err.to_string());
                }
                None => {
                    let why = "not published: another file of this run was refused";
                    file.error = Some(why.to_owned());
                }
            }
            report.files.push(file);
        }
        report.delivered = publisher.finish(DELIVERY_TIMEOUT)?.delivered;
        return Ok(report);
    }

    for path in paths {
        let mut file = FileReport {
            uri: format!("file://{}", path.display()),
            ..FileReport::default()
        };
        let reader = match CurReader::open(path, options) {
            Ok(reader) => reader,
            Err(err) => {
                // Readable a moment ago: the file changed or vanished under the run.
                tracing::error!(file = %file.uri, error = %err, "file refused on second read");
                send_reject(&mut publisher, &err.to_reject(&file.uri, DATASET_LEGACY))?;
                file.error = Some(err.to_string());
                report.files.push(file);
                continue;
            }
        };
        file.uri = reader.uri().to_owned();
        let dataset = reader.dataset();

        for row in reader {
            match row {
                Ok(Row::Record(record)) => {
                    let payload = record_codec.encode(&record)?;
                    let key = record.billing_account_id.as_bytes();
                    publisher.send(&records_topic, key, &payload)?;
                    file.published += 1;
                }
                Ok(Row::Reject(reject)) => {
                    tracing::debug!(file = %file.uri, line = ?reject.line, reason = %reject.reason, "row rejected");
                    send_reject(&mut publisher, &reject)?;
                    file.rejected += 1;
                }
                Err(err) => {
                    tracing::error!(file = %file.uri, error = %err, "file changed during the run");
                    send_reject(&mut publisher, &err.to_reject(&file.uri, dataset))?;
                    file.error = Some(err.to_string());
                }
            }
        }
        file.rows_read = file.published + file.rejected;
        tracing::info!(
            file = %file.uri,
            rows_read = file.rows_read,
            published = file.published,
            rejected = file.rejected,
            "file ingested"
        );
        report.files.push(file);
    }

    report.delivered = publisher.finish(DELIVERY_TIMEOUT)?.delivered;
    Ok(report)
}
