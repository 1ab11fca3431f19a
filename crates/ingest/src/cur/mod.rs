//! AWS Cost and Usage Reports: legacy CUR (`lineItem/UnblendedCost` columns) and
//! CUR 2.0 / Data Exports (`line_item_unblended_cost`), as CSV, gzip-compressed
//! CSV or Parquet, from local files and directories or an S3 bucket.
//!
//! - [`columns`]: the CUR columns read, matched by name in either spelling.
//! - [`charge`]: line item types and their FOCUS meaning.
//! - [`reader`]: one file, streamed row by row into records and rejects.
//! - [`run`]: a run over many files: every file is read through once before
//!   anything is published, so a truncated or unreadable file publishes nothing.
//! - [`s3`]: deliveries in an S3 bucket, found by their manifests.
//!
//! # Mapping to FOCUS
//!
//! Each CUR line becomes one [`CostRecord`](costflow_model::CostRecord) with FOCUS
//! 1.2 meanings. BilledCost is what the invoice carries, `lineItem/UnblendedCost`,
//! for every line. EffectiveCost is the amortised cost: commitment purchases are
//! spread over the usage they cover, as FOCUS defines it and as the FinOps
//! Foundation's `focus_converters` compute it.
//!
//! | `lineItem/LineItemType` | ChargeCategory | ChargeFrequency | EffectiveCost |
//! |---|---|---|---|
//! | `Usage` | Usage | Usage-Based | UnblendedCost |
//! | `DiscountedUsage` | Usage | Usage-Based | `reservation/EffectiveCost` |
//! | `SavingsPlanCoveredUsage` | Usage | Usage-Based | `savingsPlan/SavingsPlanEffectiveCost` |
//! | `SavingsPlanNegation` | Usage | Usage-Based | 0 |
//! | `Fee` | Purchase | One-Time | 0 when `reservation/ReservationARN` is set (an RI upfront fee), else UnblendedCost |
//! | `RIFee` | Purchase | Recurring | `reservation/UnusedAmortizedUpfrontFeeForBillingPeriod` + `reservation/UnusedRecurringFee` |
//! | `SavingsPlanRecurringFee` | Purchase | Recurring | `savingsPlan/TotalCommitmentToDate` − `savingsPlan/UsedCommitment` |
//! | `SavingsPlanUpfrontFee` | Purchase | One-Time | 0 |
//! | `Tax` | Tax | from `bill/BillType` | UnblendedCost |
//! | `Credit`, `Refund` | Credit | from `bill/BillType` | UnblendedCost |
//! | `BundledDiscount`, `EdpDiscount`, `PrivateRateDiscount`, `SppDiscount`, `DistributorDiscount`, `Discount` | Credit | from `bill/BillType` | UnblendedCost |
//!
//! `focus_converters` file Credit and Refund under Adjustment and discounts under
//! Usage, from FOCUS versions before the Credit category existed; FOCUS 1.2 names
//! a charge that lowers the amount owed a Credit. Any other line item type is
//! rejected with its value, so a new AWS type is seen rather than guessed at. A
//! line whose EffectiveCost column is empty (a `SavingsPlanCoveredUsage` line
//! without `savingsPlan/SavingsPlanEffectiveCost`, say) is rejected by column.
//!
//! The other FOCUS columns:
//!
//! | FOCUS | CUR |
//! |---|---|
//! | BillingAccountId, BillingAccountName | `bill/PayerAccountId`, `bill/PayerAccountName` |
//! | SubAccountId, SubAccountName | `lineItem/UsageAccountId`, `lineItem/UsageAccountName` |
//! | BillingCurrency | `lineItem/CurrencyCode` |
//! | PricingCurrency | `pricing/currency` (kept apart from the billing currency) |
//! | BillingPeriodStart, BillingPeriodEnd | `bill/BillingPeriodStartDate`, `bill/BillingPeriodEndDate` |
//! | ChargePeriodStart, ChargePeriodEnd | `lineItem/UsageStartDate`, `lineItem/UsageEndDate` |
//! | ChargeDescription | `lineItem/LineItemDescription` |
//! | InvoiceId, InvoiceIssuerName, PublisherName | `bill/InvoiceId`, `bill/InvoicingEntity`, `lineItem/LegalEntity` |
//! | ProviderName | `AWS` |
//! | ServiceName | `product/ProductName`, else `lineItem/ProductCode` |
//! | RegionId, RegionName | `product/regionCode`, else `product/region`; `product/location` |
//! | AvailabilityZone, ResourceId | `lineItem/AvailabilityZone`, `lineItem/ResourceId` |
//! | SkuId, SkuPriceId | `product/sku`, `pricing/RateId` |
//! | PricingUnit, PricingQuantity | `pricing/unit`, `lineItem/UsageAmount` |
//! | ConsumedUnit, ConsumedQuantity | the same, on Usage lines only |
//! | ListCost, ListUnitPrice | `pricing/publicOnDemandCost`, `pricing/publicOnDemandRate` |
//! | PricingCategory | `Committed` for covered usage, else from `pricing/term` |
//! | CommitmentDiscountId, Type, Category | `savingsPlan/SavingsPlanARN` (Savings Plan, Spend) or `reservation/ReservationARN` (Reserved Instance, Usage) |
//! | Tags | legacy `resourceTags/KEY` columns, one per tag; CUR 2.0 `resource_tags`, a JSON map |
//!
//! Every other non-empty column, and the columns that feed a rule above
//! (`lineItem/LineItemType`, the amortisation columns, `identity/LineItemId`, ...),
//! is kept in the record's Extensions under its header name.
//!
//! # Files
//!
//! Headers are matched by name, case-insensitively, in any order; a localised
//! header that carries the English name in parentheses is matched by that name.
//! Byte-order marks, CRLF or LF endings, blank lines and quoted fields are read as
//! CSV. Amounts are exact decimals, plain or in scientific notation (`1.8E-9`).
//!
//! The layout of each date column is decided from its first value, once per file.
//! A later value in another recognised layout means the file's dates cannot be
//! trusted: the whole file is refused. A value in no layout at all rejects its row.
//!
//! Legacy tag columns and CUR 2.0 tag maps become the same FOCUS Tags map, keys
//! trimmed. CUR 2.0 writes tag keys as AWS normalises them there (`user_team`),
//! legacy CUR as they were set (`user:Team`); costflow keeps each as written.

pub mod charge;
pub mod columns;
pub mod reader;
#[cfg(feature = "services")]
pub mod run;
#[cfg(feature = "services")]
pub mod s3;

use std::io;
use std::path::PathBuf;

use chrono::Utc;
use costflow_model::Reject;

pub use reader::CurReader;
#[cfg(feature = "services")]
pub use run::{drop_superseded, expand_cur_paths, ingest_cur_files, CurFile};

/// `SourceProvider` of every CUR record.
pub const PROVIDER: &str = "AWS";
/// `SourceDataset` of legacy CUR files.
pub const DATASET_LEGACY: &str = "CUR";
/// `SourceDataset` of CUR 2.0 / Data Exports files.
pub const DATASET_CUR2: &str = "CUR2";

/// What CUR files are read with.
#[derive(Debug, Clone, Default)]
pub struct CurOptions {
    /// Source version stamped on every record (microseconds since the epoch). All
    /// files of one export run must share it.
    pub source_version: i64,
}

/// A whole-file failure: the file is refused and nothing of the run is published.
#[derive(Debug, thiserror::Error)]
pub enum CurError {
    /// The file could not be opened.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading stopped part way: a truncated or corrupt gzip file, or an I/O error.
    #[error("{path}: unreadable after line {line}: {source} (a truncated or corrupt file?)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Last line read.
        line: u64,
        /// The cause.
        source: io::Error,
    },
    /// A Parquet file could not be read (a bad footer, a truncated or corrupt
    /// row group).
    #[error("{path}: unreadable Parquet: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// The CSV structure broke down past recovery.
    #[error("{path}: line {line}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Line where reading stopped.
        line: u64,
        /// The cause.
        source: csv::Error,
    },
    /// A mandatory CUR column is absent.
    #[error("{path}: not a CUR file: missing column {column} (or its CUR 2.0 spelling)")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The legacy CUR name.
        column: &'static str,
    },
    /// Two headers name the same column.
    #[error("{path}: column {column} appears twice in the header ({first} and {second})")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The legacy CUR name.
        column: &'static str,
        /// The first header naming it.
        first: String,
        /// The second.
        second: String,
    },
    /// A date column mixes layouts, so no value of it can be trusted.
    #[error("{path}: line {line}: {column} value {value:?} is written as {found}, but the file's first value (line {first_line}) was {layout}; a file whose dates mix layouts is refused whole")]
    MixedDateLayouts {
        /// The file.
        path: PathBuf,
        /// The legacy CUR name.
        column: &'static str,
        /// The line of the odd value.
        line: u64,
        /// The odd value.
        value: String,
        /// Its layout.
        found: &'static str,
        /// The layout decided for the file.
        layout: &'static str,
        /// The line the layout was decided on.
        first_line: u64,
    },
}

impl CurError {
    /// The reject sent for a refused file.
    pub fn to_reject(&self, uri: &str, dataset: &str) -> Reject {
        let (line, column, value) = match self {
            CurError::Read { line, .. } | CurError::Csv { line, .. } => (Some(*line), None, None),
            CurError::MissingColumn { column, .. } | CurError::DuplicateColumn { column, .. } => {
                (None, Some(*column), None)
            }
            CurError::MixedDateLayouts {
                line,
                column,
                value,
                ..
            } => (Some(*line), Some(*column), Some(Reject::clip(value))),
            CurError::Open { .. } | CurError::Parquet { .. } => (None, None, None),
        };
        Reject {
            source_provider: PROVIDER.to_owned(),
            source_dataset: dataset.to_owned(),
            source_uri: uri.to_owned(),
            line: line.map(|l| l as i64),
            column: column.map(str::to_owned),
            value,
            reason: self.to_string(),
            rejected_at: Utc::now(),
        }
    }
}
