//! Ingestion: the first stage of the pipeline.
//!
//! Source files are read row by row into [`costflow_model::CostRecord`]s; rows that
//! cannot be used become [`costflow_model::Reject`]s naming file, line, column,
//! value and reason. [`publish`] sends both to Kafka (`cost.records` and
//! `ingest.rejects`) and reports rows read = published + rejected.
//!
//! - [`text`]: the cell-level rules every source shares (nulls, decimals, dates, tags).
//! - [`focus`]: FOCUS CSV files from any provider.
//! - [`cur`]: AWS Cost and Usage Reports, legacy and CUR 2.0, CSV, gzip CSV and
//!   Parquet, from local files or S3.
//! - [`azure`]: Azure Cost Management exports (ActualCost, AmortizedCost, FocusCost).
//! - [`cost_explorer`]: the AWS Cost Explorer API, daily cost by linked account,
//!   service and tag.
//! - [`input`]: plain or gzip files as streams, record line numbers, directories.
//! - [`publish`]: a run over many files into the bus.
//! - [`checkpoint`]: which export runs a watching worker has finished with.

pub mod azure;
#[cfg(feature = "services")]
pub mod checkpoint;
#[cfg(feature = "services")]
pub mod cost_explorer;
pub mod cur;
pub mod focus;
pub mod input;
mod lines;
mod parquet_rows;
#[cfg(feature = "services")]
pub mod publish;
pub mod text;

pub use azure::{AzureDataset, AzureOptions, AzureReader};
pub use cur::{CurOptions, CurReader};
pub use focus::{FocusOptions, FocusReader};
#[cfg(feature = "services")]
pub use publish::{ingest_azure, ingest_files, publish_rejects, AzureFile, IngestReport};

use costflow_model::{CostRecord, Reject};

/// One source row's outcome.
#[derive(Debug, Clone)]
pub enum Row {
    /// The row became a record.
    Record(Box<CostRecord>),
    /// The row was refused.
    Reject(Reject),
}
