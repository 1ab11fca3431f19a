//! The daily projection: refreshing it and reading it.

use std::collections::BTreeSet;
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

#[derive(clickhouse::Row, serde::Serialize)]
struct RefreshRow<'a> {
    billing_account_id: &'a str,
    billing_period_start: u32,
    refreshed_at: u64,
    source_version: i64,
    line_items: u64,
}

impl Store {
    /// Recomputes the projection of each given billing period from the latest
    /// source version of its line items, then makes it the one readers see.
    pub async fn refresh_daily(
        &self,
        periods: &BTreeSet<BillingPeriodKey>,
    ) -> Result<(), StoreError> {
        for period in periods {
            self.refresh_period(period).await?;
        }
        Ok(())
    }

    async fn refresh_period(&self, period: &BillingPeriodKey) -> Result<(), StoreError> {
        let account = period.billing_account_id.as_str();
        let start = u32::try_from(period.billing_period_start.timestamp()).unwrap_or(0);
        let what = || {
            format!(
                "refresh cost_daily for {account} {}",
                period.billing_period_start
            )
        };

        let source_version: i64 = self
            .client
            .query(
                "SELECT max(source_version) FROM line_items \
                 WHERE billing_account_id = ? AND billing_period_start = toDateTime(?)",
            )
            .bind(account)
            .bind(start)
            .fetch_one()
            .await
            .map_err(ch_err(what()))?;

        // Microseconds keep refreshes ordered even when two land in one second.
        let refreshed_at = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
        self.client
            .query(
                "INSERT INTO cost_daily (billing_account_id, billing_period_start, refreshed_at, \
                   day, sub_account_id, service_name, region_id, charge_category, billing_currency, \
                   billed_cost, billed_cost_rest, effective_cost, effective_cost_rest, \
                   list_cost, list_cost_rest, line_items, source_version) \
                 SELECT billing_account_id, billing_period_start, toUInt64(?), \
                   toDate(charge_period_start) AS day, ifNull(sub_account_id, '') AS sub, \
                   ifNull(service_name, '') AS service, ifNull(region_id, '') AS region, \
                   charge_category, billing_currency, sum(billed_cost), sum(billed_cost_rest), \
                   sum(effective_cost), sum(effective_cost_rest), sum(list_cost), \
                   sum(list_cost_rest), count(), any(source_version) \
                 FROM line_items FINAL \
                 WHERE billing_account_id = ? AND billing_period_start = toDateTime(?) \
                   AND source_version = ? \
                 GROUP BY billing_account_id, billing_period_start, day, sub, service, region, \
                   charge_category, billing_currency",
            )
            .bind(refreshed_at)
            .bind(account)
            .bind(start)
            .bind(source_version)
            .execute()
            .await
            .map_err(ch_err(what()))?;

        let line_items: u64 = self
            .client
            .query(
                "SELECT count() FROM line_items FINAL WHERE billing_account_id = ? \
                 AND billing_period_start = toDateTime(?) AND source_version = ?",
            )
            .bind(account)
            .bind(start)
            .bind(source_version)
            .fetch_one()
            .await
            .map_err(ch_err(what()))?;
        let mut insert = self
            .client
            .insert::<RefreshRow<'_>>("cost_daily_refresh")
            .await
            .map_err(ch_err(what()))?;
        insert
            .write(&RefreshRow {
                billing_account_id: account,
                billing_period_start: start,
                refreshed_at,
                source_version,
                line_items,
            })
            .await
            .map_err(ch_err(what()))?;
        insert.end().await.map_err(ch_err(what()))?;

        // Superseded refreshes are never read; dropping them keeps the table small.
        self.client
            .query(
                "ALTER TABLE cost_daily DELETE WHERE billing_account_id = ? \
                 AND billing_period_start = toDateTime(?) AND refreshed_at < ?",
            )
            .bind(account)
            .bind(start)
            .bind(refreshed_at)
            .execute()
            .await
            .map_err(ch_err(what()))?;
        tracing::debug!(account, source_version, line_items, "projection refreshed");
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
