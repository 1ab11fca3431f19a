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

use costflow_bus::KafkaConfig;

use super::{CurError, CurOptions, CurReader, DATASET_LEGACY};
use crate::input::expand_paths;
use crate::publish::{FileReport, IngestError, IngestReport, Outlet};

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
    let mut outlet = Outlet::new(kafka)?;
    let mut report = IngestReport::default();

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
                    outlet.reject(&err.to_reject(uri, DATASET_LEGACY))?;
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
        outlet.finish(&mut report)?;
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
                outlet.reject(&err.to_reject(&file.uri, DATASET_LEGACY))?;
                file.error = Some(err.to_string());
                report.files.push(file);
                continue;
            }
        };
        file.uri = reader.uri().to_owned();
        let dataset = reader.dataset();

        for row in reader {
            match row {
                Ok(row) => outlet.row(&mut file, &row)?,
                Err(err) => {
                    tracing::error!(file = %file.uri, error = %err, "file changed during the run");
                    outlet.reject(&err.to_reject(&file.uri, dataset))?;
                    file.error = Some(err.to_string());
                }
            }
        }
        file.close();
        report.files.push(file);
    }

    outlet.finish(&mut report)?;
    Ok(report)
}
