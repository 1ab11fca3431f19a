//! A run over source files into the bus: records to `cost.records`, rejects to
//! `ingest.rejects`, and a count that shows nothing was lost.

use std::path::PathBuf;
use std::time::Duration;

use costflow_bus::topics::{COST_RECORDS, INGEST_REJECTS};
use costflow_bus::{BusError, KafkaConfig, Publisher};
use costflow_model::{Codec, Reject, WireError};

use crate::azure::{AzureOptions, AzureReader};
use crate::focus::{FocusOptions, FocusReader};
use crate::Row;

/// How long the run waits for the broker to acknowledge the last messages.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Rejected rows per file logged at warn; the rest only go to ingest.rejects.
const SHOWN_REJECTS: u64 = 10;

/// Counts for one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The file as a URI.
    pub uri: String,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows published as cost records.
    pub published: u64,
    /// Rows published as rejects.
    pub rejected: u64,
    /// Why the file stopped early or was refused whole, if it was.
    pub error: Option<String>,
}

/// Counts for a run over many files; rows read = published + rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// One entry per file, in the order given.
    pub files: Vec<FileReport>,
    /// Messages the broker acknowledged, records and rejects together.
    pub delivered: u64,
}

impl IngestReport {
    /// Data rows read over all files.
    pub fn rows_read(&self) -> u64 {
        self.files.iter().map(|f| f.rows_read).sum()
    }

    /// Rows published as records over all files.
    pub fn published(&self) -> u64 {
        self.files.iter().map(|f| f.published).sum()
    }

    /// Rows rejected over all files.
    pub fn rejected(&self) -> u64 {
        self.files.iter().map(|f| f.rejected).sum()
    }

    /// Files that could not be read to the end.
    pub fn failed_files(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.error.is_some())
    }
}

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The bus refused a message or did not acknowledge it.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A value did not fit the Avro schema: a defect, since the reader built it.
    #[error("encoding a message: {0}")]
    Encode(#[from] WireError),
}

/// Where an ingest run sends what it reads: records to `cost.records`, keyed by
/// billing account so one account's lines keep their order, and rejects to
/// `ingest.rejects`, each counted in its file's report. Every source's run
/// publishes through it.
pub(crate) struct Outlet {
    publisher: Publisher,
    records_topic: String,
    rejects_topic: String,
    record_codec: Codec,
    reject_codec: Codec,
}

impl Outlet {
    /// Connects the run's producer.
    pub(crate) fn new(kafka: &KafkaConfig) -> Result<Self, IngestError> {
        let publisher = Publisher::new(kafka)?;
        let records_topic = kafka.topic(COST_RECORDS);
        let rejects_topic = kafka.topic(INGEST_REJECTS);
        publisher.require_topics(&[&records_topic, &rejects_topic])?;
        Ok(Self {
            publisher,
            records_topic,
            rejects_topic,
            record_codec: Codec::cost_record(),
            reject_codec: Codec::reject(),
        })
    }

    /// Sends a reject, keyed by its source.
    pub(crate) fn reject(&mut self, reject: &Reject) -> Result<(), IngestError> {
        let payload = self.reject_codec.encode(reject)?;
        self.publisher
            .send(&self.rejects_topic, reject.source_uri.as_bytes(), &payload)?;
        Ok(())
    }

    /// Sends a row's outcome and counts it in `file`. The first few rejects of a
    /// file are logged at warn, so an operator sees why without a Kafka client;
    /// all of them are on `ingest.rejects`.
    pub(crate) fn row(&mut self, file: &mut FileReport, row: &Row) -> Result<(), IngestError> {
        match row {
            Row::Record(record) => {
                let payload = self.record_codec.encode(record)?;
                let key = record.billing_account_id.as_bytes();
                self.publisher.send(&self.records_topic, key, &payload)?;
                file.published += 1;
            }
            Row::Reject(reject) => {
                if file.rejected < SHOWN_REJECTS {
                    tracing::warn!(
                        file = %file.uri,
                        line = reject.line.unwrap_or_default(),
                        column = reject.column.as_deref().unwrap_or("-"),
                        value = reject.value.as_deref().unwrap_or("-"),
                        reason = %reject.reason,
                        "row rejected"
                    );
                } else if file.rejected == SHOWN_REJECTS {
                    tracing::warn!(file = %file.uri, "more rows rejected; all are on ingest.rejects");
                }
                self.reject(reject)?;
                file.rejected += 1;
            }
        }
        Ok(())
    }

    /// Waits for every delivery report and records how many were acknowledged.
    pub(crate) fn finish(self, report: &mut IngestReport) -> Result<(), IngestError> {
        report.delivered = self.publisher.finish(DELIVERY_TIMEOUT)?.delivered;
        Ok(())
    }
}

impl FileReport {
    /// Closes the file's count (rows read = published + rejected) and logs it.
    pub(crate) fn close(&mut self) {
        self.rows_read = self.published + self.rejected;
        tracing::info!(
            file = %self.uri,
            rows_read = self.rows_read,
            published = self.published,
            rejected = self.rejected,
            "file ingested"
        );
    }
}

/// Reads FOCUS files and publishes their records and rejects; waits for every
/// delivery report. A file that cannot be read becomes one reject naming it and
/// the run goes on to the next file.
///
/// Blocking: call it from a thread that may block (`spawn_blocking`).
pub fn ingest_files(
    paths: &[PathBuf],
    options: &FocusOptions,
    kafka: &KafkaConfig,
) -> Result<IngestReport, IngestError> {
    let mut outlet = Outlet::new(kafka)?;
    let mut report = IngestReport::default();

    for path in paths {
        let mut file = FileReport {
            uri: path.display().to_string(),
            ..FileReport::default()
        };

        let reader = match FocusReader::open(path, options) {
            Ok(reader) => reader,
            Err(err) => {
                tracing::error!(file = %path.display(), error = %err, "file refused");
                outlet.reject(&err.to_reject(&file.uri))?;
                file.error = Some(err.to_string());
                report.files.push(file);
                continue;
            }
        };
        file.uri = reader.uri().to_owned();

        for row in reader {
            match row {
                Ok(row) => outlet.row(&mut file, &row)?,
                Err(err) => {
                    tracing::error!(file = %file.uri, error = %err, "file stopped early");
                    outlet.reject(&err.to_reject(&file.uri))?;
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

/// One Azure export file of a run and how to read it.
#[derive(Debug, Clone)]
pub struct AzureFile {
    /// The local file (a downloaded blob part, or a file given on the command line).
    pub path: PathBuf,
    /// Dataset, source version and the URI records name.
    pub options: AzureOptions,
    /// The part is a FocusCost export (FOCUS columns, uncompressed), read by the
    /// FOCUS reader; its records carry the dataset `FocusCost`.
    pub focus: bool,
}

/// An opened file of a run.
enum Part {
    Export(AzureReader),
    Focus(FocusReader),
}

/// A whole-file failure as the reject to send and the message to report.
type PartFailure = Box<(Reject, String)>;

impl AzureFile {
    fn open(&self, uri: &str) -> Result<Part, PartFailure> {
        if self.focus {
            let options = FocusOptions {
                source_version: self.options.source_version,
                assume: self.options.assume.clone(),
            };
            return FocusReader::open(&self.path, &options)
                .map(Part::Focus)
                .map_err(|err| Box::new((err.to_reject(uri), err.to_string())));
        }
        AzureReader::open(&self.path, &self.options)
            .map(Part::Export)
            .map_err(|err| Box::new((err.to_reject(uri, self.options.dataset), err.to_string())))
    }
}

impl Part {
    /// The rows, with records and rejects naming `uri` (a FocusCost part is read
    /// from a spool file whose name means nothing to an operator).
    fn rows(self, uri: String) -> Box<dyn Iterator<Item = Result<Row, PartFailure>>> {
        match self {
            Part::Export(reader) => {
                let dataset = reader.dataset();
                Box::new(reader.map(move |row| {
                    row.map_err(|err| Box::new((err.to_reject(&uri, dataset), err.to_string())))
                }))
            }
            Part::Focus(reader) => Box::new(reader.map(move |row| match row {
                Ok(Row::Record(mut record)) => {
                    record.source_uri = uri.clone();
                    record.source_dataset = FOCUS_COST.to_owned();
                    Ok(Row::Record(record))
                }
                Ok(Row::Reject(mut reject)) => {
                    reject.source_uri = uri.clone();
                    reject.source_dataset = FOCUS_COST.to_owned();
                    Ok(Row::Reject(reject))
                }
                Err(err) => Err(Box::new((err.to_reject(&uri), err.to_string()))),
            })),
        }
    }
}

/// The Azure dataset whose parts are FOCUS files.
const FOCUS_COST: &str = "FocusCost";

/// Reads Azure export files and publishes their records and rejects; waits for
/// every delivery report.
///
/// Every file is opened first, which reads it to the end once to decide its date
/// layout. With `whole_run`, one file that cannot be opened (unreadable, a
/// truncated gzip, mixed date layouts) stops the whole run before anything but
/// its rejects is published, so no billing period of the run is published in
/// part. Without it, each file stands alone, as files given on a command line do.
///
/// Blocking: call it from a thread that may block (`spawn_blocking`).
pub fn ingest_azure(
    files: &[AzureFile],
    kafka: &KafkaConfig,
    whole_run: bool,
) -> Result<IngestReport, IngestError> {
    let mut outlet = Outlet::new(kafka)?;
    let mut report = IngestReport::default();

    let mut opened = Vec::with_capacity(files.len());
    for file in files {
        let uri = file
            .options
            .uri
            .clone()
            .unwrap_or_else(|| crate::azure::file_uri(&file.path));
        match file.open(&uri) {
            Ok(part) => opened.push((uri, Ok(part))),
            Err(failure) => {
                let (reject, message) = *failure;
                tracing::error!(file = %uri, error = %message, "file refused");
                outlet.reject(&reject)?;
                opened.push((uri, Err(message)));
            }
        }
    }
    let run_failed = whole_run && opened.iter().any(|(_, r)| r.is_err());

    for (uri, reader) in opened {
        let mut file = FileReport {
            uri,
            ..FileReport::default()
        };
        let reader = match reader {
            Ok(_) if run_failed => {
                file.error = Some("not published: another file of the run failed".to_owned());
                report.files.push(file);
                continue;
            }
            Ok(reader) => reader,
            Err(error) => {
                file.error = Some(error);
                report.files.push(file);
                continue;
            }
        };
        for row in reader.rows(file.uri.clone()) {
            match row {
                Ok(row) => outlet.row(&mut file, &row)?,
                Err(failure) => {
                    let (reject, message) = *failure;
                    tracing::error!(file = %file.uri, error = %message, "file stopped early");
                    outlet.reject(&reject)?;
                    file.error = Some(message);
                }
            }
        }
        file.close();
        report.files.push(file);
    }

    outlet.finish(&mut report)?;
    Ok(report)
}

/// Publishes rejects that stand for a whole run or file (a run whose manifest
/// names a part that does not exist, say) and waits for their delivery.
///
/// Blocking: call it from a thread that may block (`spawn_blocking`).
pub fn publish_rejects(rejects: &[Reject], kafka: &KafkaConfig) -> Result<u64, IngestError> {
    let mut outlet = Outlet::new(kafka)?;
    for reject in rejects {
        outlet.reject(reject)?;
    }
    let mut report = IngestReport::default();
    outlet.finish(&mut report)?;
    Ok(report.delivered)
}
