//! A CUR run: check every file, then publish every file.
//!
//! An export run's files share one source version, and a newer source version of
//! a billing period replaces the older one as a whole; half a run would replace a
//! whole month with part of one. So every file is first read through without
//! publishing: the gzip stream to its checksum, the CSV to its end, every date
//! against its column's layout. Only if all files pass is anything published. A
//! run with a refused file publishes one reject per refused file and nothing else.
//!
//! Both passes stream; a file is read twice, never held in memory. The first
//! pass only tokenises the rows and reads their dates ([`CurReader::check`]),
//! which is all a file can be refused for.

use std::io;
use std::path::{Path, PathBuf};

use costflow_bus::KafkaConfig;

use super::s3::{parse_manifest, select_runs, CurRun};
use super::{CurError, CurOptions, CurReader, DATASET_LEGACY};
use crate::input::expand_paths;
use crate::publish::{FileReport, IngestError, IngestReport, Outlet};

/// File names a CUR export directory holds data in.
const CUR_SUFFIXES: [&str; 3] = [".csv", ".csv.gz", ".parquet"];

/// One file of a run: where it is read from and what records name it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurFile {
    /// The local file (for an S3 delivery, its spooled copy).
    pub path: PathBuf,
    /// The file as records and rejects name it: `file://…` or `s3://…`.
    pub uri: String,
}

impl CurFile {
    /// A local file, named by its absolute `file://` URI.
    pub fn local(path: PathBuf) -> Self {
        let uri = crate::input::file_uri(&path);
        CurFile { path, uri }
    }

    fn open(&self, options: &CurOptions) -> Result<CurReader, CurError> {
        Ok(CurReader::open(&self.path, options)?.with_uri(&self.uri))
    }
}

/// Files as given, and under each directory every `*.csv`, `*.csv.gz` and
/// `*.parquet` file, recursively (an S3 export prefix copied to disk), in path
/// order.
pub fn expand_cur_paths(paths: &[PathBuf]) -> io::Result<Vec<CurFile>> {
    Ok(expand_paths(paths, &CUR_SUFFIXES)?
        .into_iter()
        .map(CurFile::local)
        .collect())
}

/// Leaves out the data files of superseded legacy CUR deliveries. Under each
/// directory given, the `*-Manifest.json` files are read as `ingest cur-s3`
/// reads them on S3 (their times are the files' modification times), and of the
/// deliveries of one report and billing period only the current one is kept (the
/// one the period-level manifest names, else the newest; see `select_runs`): the data
/// files an older one names, matched by their object keys against the paths under
/// the directory, are dropped. A directory copied from an S3 prefix that AWS
/// restated into is so read once, not once per delivery. A manifest that is not a
/// legacy CUR manifest (CUR 2.0 ones name `s3://` URIs) is ignored; files given
/// by name are always read. Returns the files kept and the deliveries dropped.
pub fn drop_superseded(
    paths: &[PathBuf],
    files: Vec<CurFile>,
) -> io::Result<(Vec<CurFile>, Vec<CurRun>)> {
    let mut stale: Vec<(PathBuf, String)> = Vec::new();
    let mut dropped = Vec::new();
    for dir in paths.iter().filter(|p| p.is_dir()) {
        let mut parsed = Vec::new();
        for manifest in expand_paths(std::slice::from_ref(dir), &["-manifest.json"])? {
            let key = relative_key(dir, &manifest);
            let modified = std::fs::metadata(&manifest)?.modified()?;
            let micros = chrono::DateTime::<chrono::Utc>::from(modified).timestamp_micros();
            let text = std::fs::read_to_string(&manifest)?;
            match parse_manifest("", &key, &text, micros) {
                Ok(run) if run.dataset == DATASET_LEGACY => parsed.push(run),
                Ok(_) => {}
                Err(reason) => {
                    tracing::warn!(manifest = %manifest.display(), %reason, "not read as a CUR manifest")
                }
            }
        }
        let (_, superseded) = select_runs(parsed);
        for run in superseded {
            stale.extend(run.data_keys.iter().map(|key| (dir.clone(), key.clone())));
            dropped.push(run);
        }
    }
    let kept = files
        .into_iter()
        .filter(|file| {
            !stale.iter().any(|(dir, key)| {
                file.path.starts_with(dir) && same_object(&relative_key(dir, &file.path), key)
            })
        })
        .collect();
    Ok((kept, dropped))
}

/// A path under `dir` as an object key: relative, `/`-separated.
fn relative_key(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Whether a file at `relative` under the directory given is the object `key`:
/// the directory may be the bucket's root, a folder above the bucket's copy, or a
/// folder inside the prefix (then at least the assembly folder must match, never
/// a part's name alone, which every delivery repeats).
fn same_object(relative: &str, key: &str) -> bool {
    relative == key
        || relative.ends_with(&format!("/{key}"))
        || (relative.contains('/') && key.ends_with(&format!("/{relative}")))
}

/// Reads every file through once; the refusal of each file that cannot be
/// published, with its index and error.
pub fn check_files(files: &[CurFile], options: &CurOptions) -> Vec<(usize, CurError)> {
    let mut refused = Vec::new();
    for (index, file) in files.iter().enumerate() {
        if let Some(err) = refusal(file, options) {
            refused.push((index, err));
        }
    }
    refused
}

/// Why a file cannot be published; `None` when it reads through.
fn refusal(file: &CurFile, options: &CurOptions) -> Option<CurError> {
    file.open(options).and_then(CurReader::check).err()
}

/// Checks every file, then publishes their records and rejects and waits for
/// every delivery report. If any file is refused, nothing but the refusals is
/// published and every file of the run reports an error.
///
/// Blocking: call it from a thread that may block (`spawn_blocking`).
pub fn ingest_cur_files(
    files: &[CurFile],
    options: &CurOptions,
    kafka: &KafkaConfig,
) -> Result<IngestReport, IngestError> {
    let mut outlet = Outlet::new(kafka)?;
    let mut report = IngestReport::default();

    let refused = check_files(files, options);
    if !refused.is_empty() {
        for (index, source) in files.iter().enumerate() {
            let mut file = FileReport {
                uri: source.uri.clone(),
                ..FileReport::default()
            };
            match refused.iter().find(|(i, _)| *i == index) {
                Some((_, err)) => {
                    tracing::error!(file = %file.uri, error = %err, "file refused");
                    outlet.reject(&err.to_reject(&file.uri, DATASET_LEGACY))?;
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

    for source in files {
        let mut file = FileReport {
            uri: source.uri.clone(),
            ..FileReport::default()
        };
        let reader = match source.open(options) {
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

#[cfg(test)]
mod tests {
    use super::same_object;

    #[test]
    fn a_file_is_its_object_from_the_bucket_root_above_it_or_inside_it() {
        let key = "cur/20261201-20270101/a1/cur-00001.csv";
        assert!(same_object(key, key));
        assert!(same_object(&format!("418295730164/{key}"), key));
        assert!(same_object("20261201-20270101/a1/cur-00001.csv", key));
        assert!(same_object("a1/cur-00001.csv", key));
        // Another assembly's part of the same name, or a bare part name.
        assert!(!same_object("b2/cur-00001.csv", key));
        assert!(!same_object("cur-00001.csv", key));
    }
}
