//! AWS Cost Explorer: `GetCostAndUsage` at daily granularity, through the AWS SDK.
//!
//! - [`api`]: the boundary to the service: the queries costflow sends, the pages
//!   it reads back, and the SDK client behind the [`api::CostExplorerApi`] trait.
//! - [`reader`]: one page's groups into records and rejects, without I/O.
//! - [`run`]: a fetch: every request and every page is read before anything is
//!   published, then records and rejects go to the bus.
//!
//! # Requests
//!
//! Cost Explorer accepts at most two `GroupBy` definitions per request. Without a
//! tag key, one request groups by `LINKED_ACCOUNT` and `SERVICE`. With a tag key
//! (`--tag-key`), a first request groups by `LINKED_ACCOUNT` alone to learn which
//! accounts have cost in the range, then one request per linked account filters
//! on that account and groups by `SERVICE` and the tag. Every request asks for
//! `UnblendedCost`, `AmortizedCost` and `NetAmortizedCost` at `DAILY` granularity.
//! A `NextPageToken` is followed with an otherwise identical request until the
//! service returns none.
//!
//! Throttling (`LimitExceededException`, `ThrottlingException`) and transient
//! errors are retried by the SDK's standard retry strategy with exponential
//! backoff and jitter. When the retries run out, the fetch fails and nothing is
//! published: no day of the range is skipped silently, and a half-fetched month
//! never replaces a whole one.
//!
//! # Mapping to FOCUS
//!
//! One record per (day, linked account, service[, tag value]) group:
//!
//! | FOCUS | Cost Explorer |
//! |---|---|
//! | BillingAccountId | `--billing-account`: the management (payer) account whose Cost Explorer is queried |
//! | SubAccountId, SubAccountName | the `LINKED_ACCOUNT` key and its `description` in `DimensionValueAttributes` |
//! | ServiceName | the `SERVICE` key |
//! | BilledCost | `UnblendedCost` |
//! | EffectiveCost | `AmortizedCost` |
//! | BillingCurrency | the metrics' `Unit` (all three must agree) |
//! | ChargePeriodStart, ChargePeriodEnd | the result's `TimePeriod`, half-open |
//! | BillingPeriodStart, BillingPeriodEnd | the calendar month of the charge period |
//! | ChargeCategory | `Tax` for the service Cost Explorer calls `Tax`, else `Usage` |
//! | Tags | `{KEY: VALUE}` from a tag group key `KEY$VALUE`; none for `KEY$` (untagged) |
//! | ProviderName | `AWS` |
//!
//! `NetAmortizedCost` is kept as the extension `x_NetAmortizedCost`, and a result
//! Cost Explorer marks `Estimated` carries `x_Estimated = true`.
//!
//! **Billing account.** Cost Explorer's `LINKED_ACCOUNT` is a member account, and
//! no `GetCostAndUsage` answer names the payer. The payer is therefore given with
//! `--billing-account`; it is the account whose credentials call the API (the
//! management account of the organisation) and is not guessed.
//!
//! **Charge category.** Cost Explorer does not split a group's cost into usage,
//! credits, refunds or fees unless grouped by `RECORD_TYPE`, and a third grouping
//! is not allowed. costflow keeps the service grouping, which the projection and
//! the API are built around, and files every group under Usage, except the
//! service `Tax`. Credits and refunds are netted into their service's Usage cost;
//! use CUR for a per-category split.
//!
//! # Versions and whole months
//!
//! The source version of every record of one fetch is the fetch's start time, the
//! same for all requests and pages. A newer version of a (billing account,
//! billing period) replaces the older one as a whole, so a fetch must cover whole
//! months: `--start` must be the first day of a month, and `--end` the first day
//! of a month, or a day in the current (UTC) month for the month in progress. An
//! `Estimated` day is replaced by the next fetch that covers its month. The
//! record key is made from the billing account, linked account, service, tag
//! group key, day and metric set, so the same data fetched again gives the same
//! keys.
//!
//! # Rejects
//!
//! A group that cannot become a record goes to `ingest.rejects`: its source URI
//! names the request and page (`aws-ce://GetCostAndUsage?request=2&page=1&...`),
//! its line is the group's 1-based index within the page, with the column (a
//! metric, `Keys`, `TimePeriod`), the value and the reason.

pub mod api;
pub mod reader;
pub mod run;

use chrono::{Datelike, NaiveDate};

pub use api::{CostExplorerApi, SdkCostExplorer};
pub use run::{fetch, ingest_cost_explorer, publish};

/// `SourceProvider` of every Cost Explorer record.
pub const PROVIDER: &str = "AWS";
/// `SourceDataset` of every Cost Explorer record.
pub const DATASET: &str = "CostExplorer";
/// The region the Cost Explorer API is served from.
pub const REGION: &str = "us-east-1";

/// The cost metrics every request asks for, in the order they enter the record key.
pub const METRICS: [&str; 3] = [UNBLENDED_COST, AMORTIZED_COST, NET_AMORTIZED_COST];
/// Metric read as BilledCost.
pub const UNBLENDED_COST: &str = "UnblendedCost";
/// Metric read as EffectiveCost.
pub const AMORTIZED_COST: &str = "AmortizedCost";
/// Metric kept as the `x_NetAmortizedCost` extension.
pub const NET_AMORTIZED_COST: &str = "NetAmortizedCost";

/// What a Cost Explorer fetch asks for.
#[derive(Debug, Clone)]
pub struct CostExplorerOptions {
    /// First day, inclusive: the first day of a month.
    pub start: NaiveDate,
    /// Last day, exclusive: the first day of a month, or a day of the current month.
    pub end: NaiveDate,
    /// Tag key to group by as well, if any.
    pub tag_key: Option<String>,
    /// BillingAccountId of every record: the management (payer) account.
    pub billing_account: String,
    /// Endpoint instead of AWS's (a local test server).
    pub endpoint_url: Option<String>,
    /// Source version of every record, microseconds: the fetch time.
    pub source_version: i64,
    /// Retry policy for throttling and transient errors.
    pub retry: RetryOptions,
}

/// How the SDK retries a throttled or failed call.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry; it doubles per retry, with jitter.
    pub initial_backoff: std::time::Duration,
    /// Longest backoff between two attempts.
    pub max_backoff: std::time::Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        // Cost Explorer allows a few requests per second per account; ten attempts
        // with up to 20 s between them ride out a burst of other callers.
        Self {
            max_attempts: 10,
            initial_backoff: std::time::Duration::from_secs(1),
            max_backoff: std::time::Duration::from_secs(20),
        }
    }
}

/// Why a fetch cannot run or could not complete; nothing is published then.
#[derive(Debug, thiserror::Error)]
pub enum CostExplorerError {
    /// The date range does not cover whole months.
    #[error("{0}")]
    Range(String),
    /// The billing account is missing.
    #[error("--billing-account is required: the management (payer) account id whose Cost Explorer is queried")]
    NoBillingAccount,
    /// A call failed after every retry, or failed in a way retries can't fix.
    #[error("{uri}: GetCostAndUsage failed: {message}")]
    Call {
        /// The request and page.
        uri: String,
        /// The service's or the transport's error.
        message: String,
    },
    /// The service kept returning pages past the limit.
    #[error("{uri}: more than {limit} pages; refusing to follow NextPageToken further")]
    TooManyPages {
        /// The request.
        uri: String,
        /// The limit.
        limit: u32,
    },
}

/// Checks that `[start, end)` covers whole months, or whole months and the month
/// in progress up to `end` when `end` falls in the month of `today`.
pub fn check_range(start: NaiveDate, end: NaiveDate, today: NaiveDate) -> Result<(), String> {
    if end <= start {
        return Err(format!("--end {end} must be after --start {start}"));
    }
    if start.day() != 1 {
        return Err(format!(
            "--start {start} is not the first day of a month: a fetch replaces every \
             billing period it touches as a whole, so it must cover whole months"
        ));
    }
    let current_month = (today.year(), today.month());
    let in_progress = (end.year(), end.month()) == current_month;
    if end.day() != 1 && !in_progress {
        return Err(format!(
            "--end {end} is not the first day of a month nor in the current month: a \
             fetch replaces every billing period it touches as a whole, so it must \
             cover whole months (use {} or {})",
            month_start(end),
            next_month_start(end)
        ));
    }
    Ok(())
}

/// The first day of the date's month.
pub fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The first day of the month after the date's.
pub fn next_month_start(date: NaiveDate) -> NaiveDate {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_fetch_must_cover_whole_months() {
        let today = day("2024-09-16");
        assert!(check_range(day("2024-07-01"), day("2024-09-01"), today).is_ok());
        assert!(check_range(day("2024-08-01"), day("2024-09-16"), today).is_ok());
        assert!(check_range(day("2024-07-01"), day("2024-08-15"), today).is_err());
        assert!(check_range(day("2024-07-02"), day("2024-08-01"), today).is_err());
        assert!(check_range(day("2024-08-01"), day("2024-08-01"), today).is_err());
    }

    #[test]
    fn months_roll_over_the_year() {
        assert_eq!(next_month_start(day("2023-12-31")), day("2024-01-01"));
        assert_eq!(month_start(day("2024-02-29")), day("2024-02-01"));
    }
}
