-- The newest refresh of each (billing account, billing period) in cost_daily.
-- Written after the refresh's rows, so it switches readers over in one step.
CREATE TABLE IF NOT EXISTS cost_daily_refresh
(
    billing_account_id String,
    billing_period_start DateTime,
    refreshed_at UInt64,
    source_version Int64,
    line_items UInt64
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY (billing_account_id, billing_period_start)
