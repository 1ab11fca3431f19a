//! Stage A's CPU part in process: source rows into normalised records into Avro
//! messages, exactly as `costflow ingest` does it, minus the broker.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use costflow_ingest::input::expand_paths;
use costflow_ingest::{
    AzureDataset, AzureOptions, AzureReader, CurOptions, CurReader, FocusOptions, FocusReader, Row,
};
use costflow_model::Codec;

use crate::payloads::PayloadWriter;

/// The source formats a stage run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// FOCUS CSV (`costflow ingest focus`).
    Focus,
    /// AWS CUR CSV or CSV.gz (`costflow ingest cur`).
    Cur,
    /// Azure Cost Management export parts of the amortized cost dataset, as
    /// `costflow generate --layout azure-export` writes them (`costflow ingest
    /// azure-file --dataset AmortizedCost`).
    Azure,
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
            each_row(
                paths,
                &[".csv"],
                |p| FocusReader::open(p, &options),
                &mut handle,
            )?;
        }
        Format::Cur => {
            let options = CurOptions { source_version: 0 };
            let suffixes = [".csv", ".csv.gz"];
            each_row(
                paths,
                &suffixes,
                |p| CurReader::open(p, &options),
                &mut handle,
            )?;
        }
        Format::Azure => {
            let options = AzureOptions::new(AzureDataset::AmortizedCost, 0);
            let suffixes = [".csv", ".csv.gz"];
            each_row(
                paths,
                &suffixes,
                |p| AzureReader::open(p, &options),
                &mut handle,
            )?;
        }
    }
    Ok(counts)
}

/// Opens each file under `paths` whose name ends in one of `suffixes` and hands
/// every row to `handle`.
fn each_row<R, E>(
    paths: &[PathBuf],
    suffixes: &[&str],
    open: impl Fn(&Path) -> Result<R, E>,
    handle: &mut impl FnMut(Row) -> Result<()>,
) -> Result<()>
where
    R: Iterator<Item = Result<Row, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    for path in expand_paths(paths, suffixes)? {
        let reader = open(&path).with_context(|| format!("opening {}", path.display()))?;
        for row in reader {
            handle(row.with_context(|| format!("reading {}", path.display()))?)?;
        }
    }
    Ok(())
}
