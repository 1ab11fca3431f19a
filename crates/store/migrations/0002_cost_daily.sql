-- The daily projection the API reads: cost per billing account, sub account,
-- service, region, charge category and currency per UTC day of ChargePeriodStart.
-- A refresh recomputes one (billing account, billing period) from the latest
-- source version of its line items and is stamped with refreshed_at; readers use
-- only the newest refresh listed in cost_daily_refresh, so a refresh in progress
-- or a superseded one is never mixed in.
CREATE TABLE IF NOT EXISTS cost_daily
(
    billing_account_id String,
    billing_period_start DateTime,
    refreshed_at UInt64,
    day Date,
    sub_account_id String,
    service_name String,
    region_id String,
    charge_category String,
    billing_currency String,
    billed_cost Decimal(38, 15),
    effective_cost Decimal(38, 15),
    list_cost Nullable(Decimal(38, 15)),
    line_items UInt64,
    source_version Int64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(billing_period_start)
ORDER BY (billing_account_id, billing_period_start, refreshed_at, day)
