-- One row per charge line of every source version. Rows with the same record key
-- in the same source version are the same line sent twice and collapse into one
-- (ReplacingMergeTree; readers use FINAL). Older source versions of a billing
-- account's billing period stay in the table but are never summed: readers take
-- only the latest version.
CREATE TABLE IF NOT EXISTS line_items
(
    billing_account_id String,
    billing_period_start DateTime,
    source_version Int64,
    record_key String,
    billing_period_end DateTime,
    charge_period_start DateTime,
    charge_period_end DateTime,
    billing_currency String,
    charge_category String,
    charge_class Nullable(String),
    billed_cost Decimal(38, 15),
    effective_cost Decimal(38, 15),
    list_cost Nullable(Decimal(38, 15)),
    contracted_cost Nullable(Decimal(38, 15)),
    pricing_quantity Nullable(Decimal(38, 18)),
    pricing_unit Nullable(String),
    consumed_quantity Nullable(Decimal(38, 18)),
    consumed_unit Nullable(String),
    billing_account_name Nullable(String),
    sub_account_id Nullable(String),
    sub_account_name Nullable(String),
    provider_name Nullable(String),
    publisher_name Nullable(String),
    invoice_issuer_name Nullable(String),
    service_name Nullable(String),
    service_category Nullable(String),
    region_id Nullable(String),
    resource_id Nullable(String),
    resource_name Nullable(String),
    sku_id Nullable(String),
    sku_price_id Nullable(String),
    charge_description Nullable(String),
    tag_keys Array(String),
    tag_values Array(String),
    source_provider String,
    source_dataset String,
    source_uri String,
    source_line Nullable(Int64),
    focus_version String,
    record_json String,
    ingested_at DateTime
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(billing_period_start)
ORDER BY (billing_account_id, billing_period_start, source_version, record_key)
