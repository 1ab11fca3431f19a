//! The daily projection: refreshing it and reading it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use costflow_model::money::{Amount, MONEY_SCALE};

use crate::{ch_err, Store, StoreError};

/// Subquery naming the newest refresh of every (billing account, billing period).
const CURRENT_REFRESH: &str = "(billing_account_id, billing_period_start, refreshed_at) IN \
     (SELECT billing_account_id, billing_period_start, max(refreshed_at) \
      FROM cost_daily_refresh GROUP BY billing_account_id, billing_period_start)";

/// A billing account's billing period: the unit a source version replaces and a
/// refresh recomputes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingPeriodKey {
    /// BillingAccountId.
    pub billing_account_id: String,
    /// BillingPeriodStart.
    pub billing_period_start: DateTime<Utc>,
}

/// A period start as the seconds of a ClickHouse `DateTime`.
fn period_seconds(period: &BillingPeriodKey) -> u32 {
    u32::try_from(period.billing_period_start.timestamp()).unwrap_or(0)
}

#[derive(clickhouse::Row, serde::Serialize)]
struct RefreshRow<'a> {
    billing_account_id: &'a str,
    billing_period_start: u32,
    refreshed_at: u64,
    source_version: i64,
    line_items: u64,
}

/// Most billing periods one refresh statement names.
const REFRESH_CHUNK: usize = 500;

/// Most bytes of billing account ids one refresh statement names, which keeps
/// each statement well inside ClickHouse's default 256 KiB query size whatever
/// the ids' length.
const REFRESH_CHUNK_ID_BYTES: usize = 64 * 1024;

/// `periods` in runs of at most [`REFRESH_CHUNK`] periods and
/// [`REFRESH_CHUNK_ID_BYTES`] of account ids (a run holds one period at least).
fn refresh_chunks<'a>(periods: &'a [&'a BillingPeriodKey]) -> Vec<&'a [&'a BillingPeriodKey]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, period) in periods.iter().enumerate() {
        let len = period.billing_account_id.len();
        if i > start && (i - start == REFRESH_CHUNK || bytes + len > REFRESH_CHUNK_ID_BYTES) {
            chunks.push(&periods[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < periods.len() {
        chunks.push(&periods[start..]);
    }
    chunks
}

/// `(billing_account_id, billing_period_start) IN (...)` for `count` periods,
/// with a placeholder for each account and period start (seconds).
fn periods_in(count: usize) -> String {
    let tuples = vec!["(?, toDateTime(?))"; count].join(", ");
    format!("(billing_account_id, billing_period_start) IN ({tuples})")
}

/// `(billing_account_id, billing_period_start, source_version) IN (...)` for
/// `count` periods' latest versions, with placeholders as [`periods_in`] has.
fn versions_in(count: usize) -> String {
    let tuples = vec!["(?, toDateTime(?), ?)"; count].join(", ");
    format!("(billing_account_id, billing_period_start, source_version) IN ({tuples})")
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct PeriodVersion {
    billing_account_id: String,
    billing_period_start: u32,
    source_version: i64,
}

impl PeriodVersion {
    fn key(&self) -> (&str, u32) {
        (&self.billing_account_id, self.billing_period_start)
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct PeriodDuplicates {
    billing_account_id: String,
    billing_period_start: u32,
    rows: u64,
    duplicated: u8,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct PeriodCount {
    billing_account_id: String,
    billing_period_start: u32,
    line_items: u64,
}

impl Store {
    /// Recomputes the projection of each given billing period from the latest
    /// source version of its line items, then makes it the one readers see.
    ///
    /// The periods are refreshed together, a few statements for many periods:
    /// one query finds each period's latest source version, one checks which of
    /// them hold a line item twice (a redelivery, a re-sent run), one `INSERT
    /// ... SELECT` recomputes those with `FINAL` and one the rest without it,
    /// one insert switches readers over, and one mutation drops what they
    /// superseded.
    ///
    /// `FINAL` collapses duplicates but, on ClickHouse 18.16, costs about five
    /// times the plain read of the same rows; the check reads one column. It is
    /// exact: a period counts as free of duplicates only when its rows' count
    /// equals the number of distinct 64-bit hashes of their record keys, which
    /// cannot happen if two rows share a key (rows of one period and source
    /// version that share a record key are what `FINAL` collapses). And a period
    /// recomputed without `FINAL` must count as many rows as the check did, or
    /// the recompute is done again with `FINAL`: inserts only add rows and merges
    /// only remove duplicates, so the same count means the same duplicate-free
    /// rows.
    pub async fn refresh_daily(
        &self,
        periods: &BTreeSet<BillingPeriodKey>,
    ) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let periods: Vec<&BillingPeriodKey> = periods.iter().collect();
        for chunk in refresh_chunks(&periods) {
            self.refresh_periods(chunk).await?;
        }
        tracing::debug!(
            periods = periods.len(),
            refresh_ms = started.elapsed().as_millis() as u64,
            "projection refreshed"
        );
        Ok(())
    }

    async fn refresh_periods(&self, periods: &[&BillingPeriodKey]) -> Result<(), StoreError> {
        let what = || format!("refresh cost_daily for {} billing period(s)", periods.len());
        let bind_periods = |mut query: clickhouse::query::Query| {
            for period in periods {
                query = query
                    .bind(period.billing_account_id.as_str())
                    .bind(period_seconds(period));
            }
            query
        };

        // A period whose records were all unstorable has no line items and is
        // left as it was.
        let versions: Vec<PeriodVersion> = bind_periods(self.client.query(&format!(
            "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
               max(source_version) FROM line_items WHERE {} \
             GROUP BY billing_account_id, billing_period_start",
            periods_in(periods.len())
        )))
        .fetch_all()
        .await
        .map_err(ch_err(what()))?;
        if versions.is_empty() {
            return Ok(());
        }

        let bind_versions = |mut query: clickhouse::query::Query, versions: &[&PeriodVersion]| {
            for version in versions {
                query = query
                    .bind(version.billing_account_id.as_str())
                    .bind(version.billing_period_start)
                    .bind(version.source_version);
            }
            query
        };
        let all: Vec<&PeriodVersion> = versions.iter().collect();
        let checks: Vec<PeriodDuplicates> = bind_versions(
            self.client.query(&format!(
                "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
                   count(), count() != uniqExact(cityHash64(record_key)) \
                 FROM line_items WHERE {} \
                 GROUP BY billing_account_id, billing_period_start",
                versions_in(all.len())
            )),
            &all,
        )
        .fetch_all()
        .await
        .map_err(ch_err(what()))?;
        let checks: HashMap<(&str, u32), &PeriodDuplicates> = checks
            .iter()
            .map(|c| ((c.billing_account_id.as_str(), c.billing_period_start), c))
            .collect();
        let check = |version: &PeriodVersion| checks.get(&version.key()).copied();
        let duplicated =
            |version: &PeriodVersion| check(version).is_some_and(|c| c.duplicated != 0);
        let checked_rows = |version: &PeriodVersion| check(version).map_or(0, |c| c.rows);

        // The projection rows a recompute writes hold each period's line item count.
        let count_sql = format!(
            "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
               sum(line_items) FROM cost_daily WHERE refreshed_at = ? AND {} \
             GROUP BY billing_account_id, billing_period_start",
            periods_in(periods.len())
        );
        let counted = |counts: &HashMap<(String, u32), u64>, version: &PeriodVersion| {
            counts
                .get(&(
                    version.billing_account_id.clone(),
                    version.billing_period_start,
                ))
                .copied()
                .unwrap_or(0)
        };

        // A period read without FINAL must have been read as it was checked: if
        // its row count moved in between (another consumer replaying the same
        // messages after a rebalance, say), the chunk is recomputed, all of it
        // with FINAL, under a later refresh time that supersedes this one.
        let mut all_final = false;
        let (refreshed_at, counts) = loop {
            let (with_final, plain): (Vec<&PeriodVersion>, Vec<&PeriodVersion>) =
                versions.iter().partition(|v| all_final || duplicated(v));
            tracing::debug!(
                periods = versions.len(),
                with_final = with_final.len(),
                "recomputing projection"
            );
            // Microseconds keep refreshes ordered even when two land in one second.
            let refreshed_at = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
            for (final_, group) in [("FINAL", &with_final), ("", &plain)] {
                if group.is_empty() {
                    continue;
                }
                let recompute = self.client.query(&format!(
                    "INSERT INTO cost_daily (billing_account_id, billing_period_start, \
                       refreshed_at, day, sub_account_id, service_name, region_id, \
                       charge_category, billing_currency, billed_cost, billed_cost_rest, \
                       effective_cost, effective_cost_rest, list_cost, list_cost_rest, \
                       line_items, source_version) \
                     SELECT billing_account_id, billing_period_start, toUInt64(?), \
                       toDate(charge_period_start) AS day, ifNull(sub_account_id, '') AS sub, \
                       ifNull(service_name, '') AS service, ifNull(region_id, '') AS region, \
                       charge_category, billing_currency, sum(billed_cost), \
                       sum(billed_cost_rest), sum(effective_cost), sum(effective_cost_rest), \
                       sum(list_cost), sum(list_cost_rest), count(), any(source_version) \
                     FROM line_items {final_} WHERE {} \
                     GROUP BY billing_account_id, billing_period_start, day, sub, service, \
                       region, charge_category, billing_currency",
                    versions_in(group.len())
                ));
                bind_versions(recompute.bind(refreshed_at), group)
                    .execute()
                    .await
                    .map_err(ch_err(what()))?;
            }
            let counts: HashMap<(String, u32), u64> =
                bind_periods(self.client.query(&count_sql).bind(refreshed_at))
                    .fetch_all::<PeriodCount>()
                    .await
                    .map_err(ch_err(what()))?
                    .into_iter()
                    .map(|c| ((c.billing_account_id, c.billing_period_start), c.line_items))
                    .collect();
            if plain.iter().all(|v| counted(&counts, v) == checked_rows(v)) {
                break (refreshed_at, counts);
            }
            tracing::warn!(
                periods = versions.len(),
                "line items changed while the projection was recomputed; again with FINAL"
            );
            all_final = true;
        };

        let mut insert = self
            .client
            .insert::<RefreshRow<'_>>("cost_daily_refresh")
            .await
            .map_err(ch_err(what()))?;
        for version in &versions {
            let line_items = counted(&counts, version);
            insert
                .write(&RefreshRow {
                    billing_account_id: &version.billing_account_id,
                    billing_period_start: version.billing_period_start,
                    refreshed_at,
                    source_version: version.source_version,
                    line_items,
                })
                .await
                .map_err(ch_err(what()))?;
        }
        insert.end().await.map_err(ch_err(what()))?;

        // Superseded refreshes are never read; dropping them keeps the table small.
        let prune_sql = format!(
            "ALTER TABLE cost_daily DELETE WHERE refreshed_at < ? AND {}",
            periods_in(periods.len())
        );
        bind_periods(self.client.query(&prune_sql).bind(refreshed_at))
            .execute()
            .await
            .map_err(ch_err(what()))?;
        Ok(())
    }

    /// Costs from the projection, summed by period and the requested dimensions,
    /// always split by currency. Each amount's main and rest columns are summed
    /// separately in ClickHouse and combined exactly here.
    pub async fn costs(&self, query: &CostQuery) -> Result<Vec<CostRow>, StoreError> {
        let period = match query.granularity {
            Granularity::Day => "day",
            Granularity::Month => "toStartOfMonth(day)",
        };
        let dims: Vec<String> = Dimension::ALL
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let expr = if query.group_by.contains(d) {
                    d.column()
                } else {
                    "''"
                };
                format!("{expr} AS dim{}", i + 1)
            })
            .collect();
        let group: Vec<String> = (1..=dims.len()).map(|i| format!("dim{i}")).collect();
        let sql = format!(
            "SELECT toString({period}) AS period, {dims}, billing_currency, \
               sum(billed_cost), sum(billed_cost_rest), sum(effective_cost), \
               sum(effective_cost_rest), count() \
             FROM cost_daily WHERE {CURRENT_REFRESH} AND day >= toDate(?) AND day < toDate(?) \
             GROUP BY period, {group}, billing_currency \
             ORDER BY period, {group}, billing_currency",
            dims = dims.join(", "),
            group = group.join(", "),
        );

        let rows: Vec<RawCostRow> = self
            .client
            .query(&sql)
            .bind(query.from.to_string())
            .bind(query.to.to_string())
            .fetch_all()
            .await
            .map_err(ch_err("read cost_daily"))?;
        Ok(rows
            .into_iter()
            .map(|raw| raw.into_row(&query.group_by))
            .collect())
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct RawCostRow {
    period: String,
    dim1: String,
    dim2: String,
    dim3: String,
    dim4: String,
    dim5: String,
    billing_currency: String,
    billed_cost: i128,
    billed_cost_rest: i128,
    effective_cost: i128,
    effective_cost_rest: i128,
    rows: u64,
}

impl RawCostRow {
    fn into_row(self, group_by: &[Dimension]) -> CostRow {
        let values = [self.dim1, self.dim2, self.dim3, self.dim4, self.dim5];
        let dimensions = Dimension::ALL
            .iter()
            .zip(values)
            .filter(|(d, _)| group_by.contains(d))
            .map(|(d, v)| (*d, if v.is_empty() { None } else { Some(v) }))
            .collect();
        CostRow {
            period_start: NaiveDate::parse_from_str(&self.period, "%Y-%m-%d").unwrap_or_default(),
            dimensions,
            billing_currency: self.billing_currency,
            billed_cost: Amount::from_parts(self.billed_cost, MONEY_SCALE, self.billed_cost_rest),
            effective_cost: Amount::from_parts(
                self.effective_cost,
                MONEY_SCALE,
                self.effective_cost_rest,
            ),
            projection_rows: self.rows,
        }
    }
}

/// A dimension costs can be grouped by; the names are FOCUS column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// BillingAccountId.
    BillingAccountId,
    /// SubAccountId.
    SubAccountId,
    /// ServiceName.
    ServiceName,
    /// RegionId.
    RegionId,
    /// ChargeCategory.
    ChargeCategory,
}

impl Dimension {
    /// Every dimension, in output order.
    pub const ALL: [Dimension; 5] = [
        Dimension::BillingAccountId,
        Dimension::SubAccountId,
        Dimension::ServiceName,
        Dimension::RegionId,
        Dimension::ChargeCategory,
    ];

    /// The FOCUS name, as used in the API.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::BillingAccountId => "BillingAccountId",
            Dimension::SubAccountId => "SubAccountId",
            Dimension::ServiceName => "ServiceName",
            Dimension::RegionId => "RegionId",
            Dimension::ChargeCategory => "ChargeCategory",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Dimension::BillingAccountId => "billing_account_id",
            Dimension::SubAccountId => "sub_account_id",
            Dimension::ServiceName => "service_name",
            Dimension::RegionId => "region_id",
            Dimension::ChargeCategory => "charge_category",
        }
    }

    /// The dimension with this FOCUS name, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Time buckets of a cost query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// UTC calendar days.
    Day,
    /// UTC calendar months.
    Month,
}

/// A question for the projection: costs in `[from, to)` by `group_by`.
#[derive(Debug, Clone)]
pub struct CostQuery {
    /// First day, inclusive (UTC).
    pub from: NaiveDate,
    /// Last day, exclusive (UTC).
    pub to: NaiveDate,
    /// Bucket size.
    pub granularity: Granularity,
    /// Dimensions to split by, besides currency.
    pub group_by: Vec<Dimension>,
}

/// One bucket of costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    /// First day of the bucket.
    pub period_start: NaiveDate,
    /// Requested dimensions and their values (`None` where the source had none).
    pub dimensions: Vec<(Dimension, Option<String>)>,
    /// Currency of the amounts.
    pub billing_currency: String,
    /// Sum of BilledCost, exact: the sums of both stored parts put together.
    pub billed_cost: Amount,
    /// Sum of EffectiveCost, exact: the sums of both stored parts put together.
    pub effective_cost: Amount,
    /// Projection rows summed into this bucket.
    pub projection_rows: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(account: String) -> BillingPeriodKey {
        BillingPeriodKey {
            billing_account_id: account,
            billing_period_start: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn refresh_chunks_cap_periods_and_id_bytes() {
        let short: Vec<BillingPeriodKey> = (0..1200).map(|i| period(format!("a{i}"))).collect();
        let refs: Vec<&BillingPeriodKey> = short.iter().collect();
        let sizes: Vec<usize> = refresh_chunks(&refs).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [500, 500, 200]);

        // Ids of 20 KiB: three fit in 64 KiB, a fourth starts the next chunk; an
        // id longer than the cap still gets a chunk of its own.
        let long: Vec<BillingPeriodKey> = (0..7)
            .map(|i| period(format!("{i}{}", "x".repeat(20 * 1024))))
            .chain([period("y".repeat(100 * 1024))])
            .collect();
        let refs: Vec<&BillingPeriodKey> = long.iter().collect();
        let sizes: Vec<usize> = refresh_chunks(&refs).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [3, 3, 1, 1]);
        assert!(refresh_chunks(&[]).is_empty());
    }
}
