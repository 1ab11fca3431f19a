//! The rows of one export file as text records, whatever the file's format:
//! CSV, CSV.gz (both streamed) or Parquet (read one row group at a time).
//!
//! A Parquet row becomes the same text cells a CSV row has, so one set of
//! parsing rules serves both: strings as they are, numbers in plain decimal
//! notation (a double as its shortest exact round-trip text), dates and
//! timestamps as RFC 3339 UTC times, nulls as empty cells.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field as ParquetField;

use super::reader::AzureError;
use crate::lines::LineCounter;

/// A byte stream over a file, decompressed when its name ends in `.gz`.
type Stream = Box<dyn BufRead + Send>;

/// What reading the next record found.
pub(crate) enum Next {
    /// A record, starting on this 1-based line (the row number for Parquet).
    Record(u64),
    /// A CSV line that is not valid UTF-8.
    NotUtf8(u64),
    /// The end of the file.
    End,
}

/// An open export file.
pub(crate) enum Records {
    Csv {
        reader: csv::Reader<Stream>,
        lines: LineCounter<Stream>,
    },
    Parquet {
        rows: RowIter<'static>,
        row: u64,
    },
}

impl Records {
    /// Opens a file and reads its header (column names).
    pub(crate) fn open(path: &Path, uri: &str) -> Result<(Self, Vec<String>), AzureError> {
        let io_err = |source| AzureError::Io {
            uri: uri.to_owned(),
            source,
        };
        if has_extension(path, "parquet") {
            let parquet_err = |source| AzureError::Parquet {
                uri: uri.to_owned(),
                source,
            };
            let file = File::open(path).map_err(io_err)?;
            let reader = SerializedFileReader::new(file).map_err(parquet_err)?;
            let header = reader
                .metadata()
                .file_metadata()
                .schema_descr()
                .root_schema()
                .get_fields()
                .iter()
                .map(|field| field.name().to_owned())
                .collect();
            let rows = reader.into_iter();
            return Ok((Records::Parquet { rows, row: 0 }, header));
        }

        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(open_stream(path).map_err(io_err)?);
        let header = reader
            .headers()
            .map_err(|source| AzureError::Csv {
                uri: uri.to_owned(),
                line: 1,
                source,
            })?
            .iter()
            .map(str::to_owned)
            .collect();
        let lines = LineCounter::new(open_stream(path).map_err(io_err)?);
        Ok((Records::Csv { reader, lines }, header))
    }

    /// Reads the next record into `record`.
    pub(crate) fn next(
        &mut self,
        record: &mut csv::StringRecord,
        uri: &str,
    ) -> Result<Next, AzureError> {
        match self {
            Records::Csv { reader, lines } => {
                match reader.read_record(record) {
                    Ok(true) => {}
                    Ok(false) => return Ok(Next::End),
                    Err(err) if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) => {
                        return Ok(Next::NotUtf8(err.position().map_or(0, |p| p.line())));
                    }
                    Err(source) => return Err(csv_failure(uri, source)),
                }
                let start = record.position().map_or(0, |p| p.byte());
                let line = lines.line_at(start).map_err(|source| AzureError::Io {
                    uri: uri.to_owned(),
                    source,
                })?;
                Ok(Next::Record(line))
            }
            Records::Parquet { rows, row } => {
                let Some(next) = rows.next() else {
                    return Ok(Next::End);
                };
                let next = next.map_err(|source| AzureError::Parquet {
                    uri: uri.to_owned(),
                    source,
                })?;
                *row += 1;
                record.clear();
                for (_, field) in next.get_column_iter() {
                    record.push_field(&field_text(field));
                }
                Ok(Next::Record(*row))
            }
        }
    }
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

fn open_stream(path: &Path) -> io::Result<Stream> {
    let file = File::open(path)?;
    let inner: Box<dyn Read + Send> = if has_extension(path, "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, inner)))
}

/// A Parquet value as the text a CSV export would hold.
fn field_text(field: &ParquetField) -> String {
    let time = |micros: i64| {
        DateTime::<Utc>::from_timestamp_micros(micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    };
    match field {
        ParquetField::Null => String::new(),
        ParquetField::Str(text) => text.clone(),
        ParquetField::Bytes(bytes) => String::from_utf8_lossy(bytes.data()).into_owned(),
        // Rust writes the shortest text that reads back as the same double, in
        // plain notation: the value the file holds, digit for digit.
        ParquetField::Double(value) => value.to_string(),
        ParquetField::Float(value) => value.to_string(),
        ParquetField::Date(days) => time(i64::from(*days) * 86_400_000_000),
        ParquetField::TimestampMillis(millis) => time(millis.saturating_mul(1000)),
        ParquetField::TimestampMicros(micros) => time(*micros),
        other => other.to_string(),
    }
}

/// A csv failure as a file error: an I/O cause (a truncated gzip) says so.
fn csv_failure(uri: &str, source: csv::Error) -> AzureError {
    let line = source.position().map_or(0, |p| p.line());
    if !source.is_io_error() {
        return AzureError::Csv {
            uri: uri.to_owned(),
            line,
            source,
        };
    }
    match source.into_kind() {
        csv::ErrorKind::Io(source) => AzureError::Io {
            uri: uri.to_owned(),
            source,
        },
        kind => AzureError::Csv {
            uri: uri.to_owned(),
            line,
            source: io::Error::other(format!("{kind:?}")).into(),
        },
    }
}
