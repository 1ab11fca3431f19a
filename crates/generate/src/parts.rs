//! A run's data cut into CSV parts of at most [`PART_ROWS`] rows, as Cost
//! Management and CUR deliver large exports; the caller writes the manifest that
//! names them once every part is complete.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::GenerateError;

/// Most data rows in one part; a larger run is cut into several parts. The unit
/// tests use small parts so that the demo's runs are cut too.
#[cfg(not(test))]
pub const PART_ROWS: u64 = 250_000;
#[cfg(test)]
pub const PART_ROWS: u64 = 1_000;

/// Buffer of each part's writer.
const WRITE_BUFFER: usize = 1 << 16;

/// The parts of one run being written into one folder.
pub(crate) struct Parts {
    dir: PathBuf,
    /// The file name of the part at a 0-based position.
    name: fn(usize) -> String,
    part: Option<Part>,
    /// Parts complete so far, in order.
    pub(crate) done: Vec<DonePart>,
    /// Data rows written over all parts.
    pub(crate) rows: u64,
}

struct Part {
    path: PathBuf,
    writer: csv::Writer<File>,
    rows: u64,
}

/// A complete part.
pub(crate) struct DonePart {
    pub(crate) path: PathBuf,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
}

impl Parts {
    /// Parts named by `name` in `dir`, which must exist.
    pub(crate) fn new(dir: PathBuf, name: fn(usize) -> String) -> Parts {
        Parts {
            dir,
            name,
            part: None,
            done: Vec::new(),
            rows: 0,
        }
    }

    /// The folder the parts are written in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one row, starting a new part when the current one is full; the
    /// header is written at the top of each part.
    pub(crate) fn write(&mut self, row: impl Serialize) -> Result<(), GenerateError> {
        if self
            .part
            .as_ref()
            .is_some_and(|part| part.rows >= PART_ROWS)
        {
            self.finish()?;
        }
        let part = match &mut self.part {
            Some(part) => part,
            None => self.part.insert(self.open()?),
        };
        part.writer
            .serialize(row)
            .map_err(|source| GenerateError::Csv {
                path: part.path.clone(),
                source,
            })?;
        part.rows += 1;
        self.rows += 1;
        Ok(())
    }

    fn open(&self) -> Result<Part, GenerateError> {
        let path = self.dir.join((self.name)(self.done.len()));
        let file = File::create(&path).map_err(|source| GenerateError::Io {
            path: path.clone(),
            source,
        })?;
        let writer = csv::WriterBuilder::new()
            .buffer_capacity(WRITE_BUFFER)
            .from_writer(file);
        Ok(Part {
            path,
            writer,
            rows: 0,
        })
    }

    /// Ends the part being written, if any, and adds it to [`Parts::done`].
    pub(crate) fn finish(&mut self) -> Result<(), GenerateError> {
        let Some(mut part) = self.part.take() else {
            return Ok(());
        };
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| GenerateError::Io { path, source }
        };
        part.writer.flush().map_err(io_error(&part.path))?;
        let bytes = std::fs::metadata(&part.path)
            .map_err(io_error(&part.path))?
            .len();
        self.done.push(DonePart {
            path: part.path,
            rows: part.rows,
            bytes,
        });
        Ok(())
    }

    /// Total bytes of the complete parts.
    pub(crate) fn bytes(&self) -> u64 {
        self.done.iter().map(|part| part.bytes).sum()
    }
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), GenerateError> {
    let io_error = |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = serde_json::to_vec_pretty(value).map_err(|e| io_error(e.into()))?;
    std::fs::write(path, text).map_err(io_error)
}
