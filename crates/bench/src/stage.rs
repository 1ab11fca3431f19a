//! Stage A's CPU part in process: source rows into normalised records into Avro
//! messages, exactly as `costflow ingest` does it, minus the broker.

use std::path::PathBuf;

use anyhow::{Context, Result};
use costflow_ingest::input::expand_paths;
use costflow_ingest::{CurOptions, CurReader, FocusOptions, FocusReader, Row};
use costflow_model::Codec;

use crate::payloads::PayloadWriter;

/// The source formats a stage run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// FOCUS CSV (`costflow ingest focus`).
    Focus,
    /// AWS CUR CSV or CSV.gz (`costflow ingest cur`).
    Cur,
}

/// Counts of a stage run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageCounts {
    /// Records encoded.
    pub records: u64,
    /// Rows rejected by the reader.
    pub rejected: u64,
    /// Bytes of encoded messages.
    pub bytes: u64,
}

/// Reads every file, normalises each row and encodes each record; with `out`,
/// also writes each message (key and payload) for a later bare-producer run.
pub fn parse_encode(
    format: Format,
    paths: &[PathBuf],
    mut out: Option<&mut PayloadWriter>,
) -> Result<StageCounts> {
    let codec = Codec::cost_record();
    let mut counts = StageCounts::default();
    let mut handle = |row: Row| -> Result<()> {
        match row {
            Row::Record(record) => {
                let payload = codec.encode(&record)?;
                counts.records += 1;
                counts.bytes += payload.len() as u64;
                if let Some(out) = out.as_deref_mut() {
                    out.write(record.billing_account_id.as_bytes(), &payload)?;
                }
            }
            Row::Reject(_) => counts.rejected += 1,
        }
        Ok(())
    };

    match format {
        Format::Focus => {
            let options = FocusOptions::default();
            for path in expand_paths(paths, &[".csv"])? {
                let reader = FocusReader::open(&path, &options)
                    .with_context(|| format!("opening {}", path.display()))?;
                for row in reader {
                    handle(row.with_context(|| format!("reading {}", path.display()))?)?;
                }
            }
        }
        Format::Cur => {
            let options = CurOptions { source_version: 0 };
            for path in expand_paths(paths, &[".csv", ".csv.gz"])? {
                let reader = CurReader::open(&path, &options)
                    .with_context(|| format!("opening {}", path.display()))?;
                for row in reader {
                    handle(row.with_context(|| format!("reading {}", path.display()))?)?;
                }
            }
        }
    }
    Ok(counts)
}
