//! The rows of one export file as text records, whatever the file's format:
//! CSV, CSV.gz (both streamed) or Parquet (as text cells, see
//! [`crate::parquet_rows`]), so one set of parsing rules serves every format.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::reader::AzureError;
use crate::lines::LineCounter;
use crate::parquet_rows::ParquetRows;

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
    Parquet(ParquetRows),
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
            let (rows, header) = ParquetRows::open(file).map_err(parquet_err)?;
            return Ok((Records::Parquet(rows), header));
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
            Records::Parquet(rows) => match rows.next(record) {
                Ok(Some(row)) => Ok(Next::Record(row)),
                Ok(None) => Ok(Next::End),
                Err(source) => Err(AzureError::Parquet {
                    uri: uri.to_owned(),
                    source,
                }),
            },
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
