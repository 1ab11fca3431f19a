//! Demo cost data: FOCUS 1.2 CSV files for people who have no real cost export yet.
//!
//! This crate stands in for a cloud provider at the very start of the data flow.
//! `costflow generate` writes one `focus-<YYYY-MM>.csv` per billing period into a
//! directory; `ingest` reads them like any other FOCUS file on their way to
//! `cost.records`, ClickHouse and the API. Alongside goes `spikes.csv`, the cost spikes
//! planted in the data, so anomaly scoring can be checked against a known answer.
//! With [`Layout::AzureExport`] the Azure account's rows are written as Cost
//! Management export runs instead, for `ingest azure` and the benchmarks; with
//! [`Layout::Cur`] the AWS accounts' rows as Cost and Usage Reports, for
//! `ingest cur`.
//!
//! The demo estate is fixed (two AWS payer accounts in USD, one Azure enterprise
//! agreement in EUR, their sub accounts and workloads, see `catalog`); the seed decides
//! the resources, the day-to-day usage and the spikes, and the same options always write
//! byte-identical files. Rows are streamed to disk one at a time, so memory stays flat
//! however large `scale` is.
//!
//! - `catalog`: accounts, services, products and list prices.
//! - `period`: the date range cut into billing periods and days.
//! - `resource`: one resource's ids, tags and daily consumption.
//! - `row`: the FOCUS row and how each kind of charge fills it.
//! - `month`: writes one billing period's file and keeps its totals.
//! - `azure`: the same rows as an Azure export run: EA columns, parts, manifest.
//! - `cur`: the AWS rows as legacy Cost and Usage Report deliveries.
//! - `parts`: a run cut into CSV parts, for both.
//! - `spike`: plans the labelled spikes and writes `spikes.csv`.

mod azure;
mod catalog;
mod cur;
mod month;
mod parts;
mod period;
mod resource;
mod row;
mod spike;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

/// Days of data written when the caller does not say.
pub const DEFAULT_DAYS: u32 = 90;

/// Seed used when the caller does not say.
pub const DEFAULT_SEED: u64 = 1;

/// What to generate and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Directory the files are written to; created when missing. Files of the same name
    /// are replaced, other files are left alone.
    pub out_dir: PathBuf,
    /// The day after the last day of data: the range is `[end - days, end)`.
    pub end: NaiveDate,
    /// Number of days of data, at least 1.
    pub days: u32,
    /// Decides resources, usage and spikes; the same seed writes the same bytes.
    pub seed: u64,
    /// Resources per workload, as a multiple of the demo size, at least 1. Scale 1 writes
    /// about 30 000 rows for 90 days; rows grow in proportion.
    pub scale: u32,
    /// How the rows are laid out, and so which billing accounts are written.
    pub layout: Layout,
}

/// The files [`generate`] writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// `focus-<YYYY-MM>.csv` per billing period, every billing account of the estate.
    #[default]
    Focus,
    /// The Azure enterprise agreement's charges as Cost Management export runs, one
    /// per billing period: EA amortized cost CSV parts and a `manifest.json`, in
    /// `<YYYYMMDD-YYYYMMDD>/<run id>/` (see `azure`). The AWS accounts are left out:
    /// an Azure export holds Azure charges only. Scale 1 writes about 6,800 rows
    /// for 90 days.
    AzureExport,
    /// The AWS payer accounts' charges as legacy Cost and Usage Report
    /// deliveries, one per account and billing period: CSV parts and manifests
    /// in `<account>/costflow-demo/<yyyymmdd-yyyymmdd>/<assembly id>/` (see
    /// `cur`). A savings plan's covered usage is two CUR lines (the usage and its
    /// negation), so the report has more lines than the FOCUS files have rows for
    /// the same accounts. Scale 1 writes about 22,700 lines for 90 days.
    Cur,
}

impl Layout {
    /// Whether the layout holds this billing account's charges.
    fn includes(self, account: &catalog::BillingAccount) -> bool {
        match self {
            Layout::Focus => true,
            Layout::AzureExport => account.provider.name == "Microsoft",
            Layout::Cur => account.provider.name == "AWS",
        }
    }
}

impl GenerateOptions {
    /// Options for the default demo: [`DEFAULT_DAYS`] days ending before `end`,
    /// [`DEFAULT_SEED`], scale 1.
    pub fn new(out_dir: impl Into<PathBuf>, end: NaiveDate) -> Self {
        GenerateOptions {
            out_dir: out_dir.into(),
            end,
            days: DEFAULT_DAYS,
            seed: DEFAULT_SEED,
            scale: 1,
            layout: Layout::Focus,
        }
    }

    /// The seed mixed with everything else that decides the rows (scale, days, end),
    /// for the ids of export runs and report deliveries: files generated again with
    /// other options get new ids, as a restated export or delivery does, so a
    /// reader that remembers what it ingested by id does not skip them.
    pub(crate) fn content_key(&self) -> u64 {
        [
            u64::from(self.scale),
            u64::from(self.days),
            u64::from(self.end.num_days_from_ce().unsigned_abs()),
        ]
        .into_iter()
        .fold(self.seed, |key, part| {
            key.rotate_left(21) ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        })
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Every file written: the billing period files in date order (for an Azure
    /// export, each run's parts and then its manifest; for CUR, each account's
    /// parts and then its two manifests), then `spikes.csv`.
    pub files: Vec<PathBuf>,
    /// Cost rows written over all billing period files (headers not counted; for
    /// CUR, line items, which are more than the FOCUS rows they come from).
    pub rows: u64,
    /// Sums per `(BillingAccountId, BillingCurrency)`, exactly equal to the files'.
    pub totals: BTreeMap<(String, String), AccountTotals>,
    /// The spikes planted in the data, also listed in `spikes.csv`, by day.
    pub spikes: Vec<Spike>,
}

/// Sums of one billing account's rows over all files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountTotals {
    /// Sum of `BilledCost`.
    pub billed_cost: Decimal,
    /// Sum of `EffectiveCost`.
    pub effective_cost: Decimal,
    /// Number of rows written (for CUR, line items).
    pub rows: u64,
}

/// A labelled cost spike: one service of one sub account used `factor` times its
/// normal amount on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spike {
    /// The day (UTC) of the spike; its charges have `ChargePeriodStart` on this day.
    pub day: NaiveDate,
    /// `BillingAccountId` of the spiked rows.
    pub billing_account_id: String,
    /// `SubAccountId` of the spiked rows.
    pub sub_account_id: String,
    /// `ServiceName` of the spiked rows.
    pub service_name: String,
    /// How many times the normal usage was consumed that day, 5 to 20.
    pub factor: u32,
    /// What a FinOps engineer would find caused it.
    pub reason: String,
}

/// Why [`generate`] failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The options describe no data (zero days or scale, dates out of range); nothing
    /// was written. Fix the options.
    #[error("invalid generate options: {0}")]
    InvalidOptions(&'static str),
    /// A directory or file could not be created, written or renamed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A row could not be written to a file.
    #[error("cannot write a row to {}: {source}", path.display())]
    Csv {
        /// The file being written.
        path: PathBuf,
        /// The CSV writer's error.
        source: csv::Error,
    },
}

/// Writes the demo data described by `options` and says what was written.
///
/// Each billing period file is written under a temporary name and renamed when
/// complete, so a directory watcher never ingests half a file.
pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    if options.scale == 0 {
        return Err(GenerateError::InvalidOptions("scale must be at least 1"));
    }
    let periods = period::billing_periods(options.end, options.days)?;
    let mut spikes = spike::plan(options.seed, &periods);
    // Usage is drawn with every planned spike, so the same seed gives the same
    // rows in every layout; a layout only lists the spikes in what it writes.
    let listed = |spike: &spike::PlannedSpike| options.layout.includes(spike.account());
    std::fs::create_dir_all(&options.out_dir).map_err(|source| GenerateError::Io {
        path: options.out_dir.clone(),
        source,
    })?;

    let mut totals = BTreeMap::new();
    let mut files = Vec::with_capacity(periods.len() + 1);
    let mut rows = 0;
    for period in &periods {
        let written = month::write(options, period, &spikes, &mut totals)?;
        rows += written.rows;
        files.extend(written.files);
    }

    spikes.retain(listed);
    files.push(spike::write(&options.out_dir, &spikes)?);
    let spikes = spikes.iter().map(spike::PlannedSpike::to_public).collect();
    Ok(GenerateSummary {
        files,
        rows,
        totals,
        spikes,
    })
}

#[cfg(test)]
mod tests;
