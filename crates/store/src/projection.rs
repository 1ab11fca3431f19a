//! The daily projection as readers see it (refreshing it is in [`crate::refresh`]).

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

impl Store {
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
