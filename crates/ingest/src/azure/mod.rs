//! Azure Cost Management exports: ActualCost and AmortizedCost CSV, CSV.gz and
//! Parquet files of EA (old and new column names), MCA, pay-as-you-go and partner
//! (camelCase) column sets, read into FOCUS records.
//!
//! - [`columns`]: which header names mean which field, and the column set a
//!   header is.
//! - [`reader`]: one file as records and rejects; the date layout is decided
//!   from every date value of the file first, and a file whose dates mix
//!   layouts is quarantined whole.
//! - [`manifest`]: a run's `manifest.json` or `_manifest.json`.
//! - [`blob`]: export runs in Blob Storage, found by their manifests and
//!   streamed to local spool files with the Azure SDK.
//!
//! FOCUS meanings: BilledCost and EffectiveCost are in the billing currency
//! (`CostInBillingCurrency`, `Cost` or `PreTaxCost`); the pricing-currency cost,
//! when the export has one, goes to PricingCurrencyEffectiveCost with its own
//! PricingCurrency and is never mixed with the billing currency. Azure's
//! inclusive billing period end becomes an exclusive one, and a charge day
//! becomes the charge period `[day, day + 1)`. Columns without a FOCUS meaning
//! stay as `x_` extensions under their English header name. An Azure FocusCost
//! export is FOCUS already and is read by [`crate::focus`].

#[cfg(feature = "services")]
pub mod blob;
pub mod columns;
pub mod manifest;
pub mod reader;
mod records;

pub use crate::input::file_uri;
#[cfg(feature = "services")]
pub use blob::{BlobCredential, BlobError, BlobSource, BrokenRun, ExportRun};
pub use columns::{ColumnSet, Field, Layout};
pub use manifest::Manifest;
pub use reader::{AzureDataset, AzureError, AzureOptions, AzureReader, PROVIDER};

#[cfg(test)]
mod tests;
