//! Writing cost records to the `line_items` table.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use costflow_model::money::{integer_digits, split, Split, MONEY_SCALE, QUANTITY_SCALE};
use costflow_model::CostRecord;
use rust_decimal::Decimal;

use crate::projection::BillingPeriodKey;
use crate::{ch_err, Store, StoreError};

/// One `line_items` row, borrowed from a record.
#[derive(clickhouse::Row, serde::Serialize)]
struct LineItemRow<'a> {
    billing_account_id: &'a str,
    billing_period_start: u32,
    source_version: i64,
    record_key: &'a str,
    billing_period_end: u32,
    charge_period_start: u32,
    charge_period_end: u32,
    billing_currency: &'a str,
    charge_category: &'a str,
    charge_class: Option<&'a str>,
    billed_cost: i128,
    billed_cost_rest: i128,
    effective_cost: i128,
    effective_cost_rest: i128,
    list_cost: Option<i128>,
    list_cost_rest: i128,
    contracted_cost: Option<i128>,
    contracted_cost_rest: i128,
    pricing_quantity: Option<i128>,
    pricing_quantity_rest: i128,
    pricing_unit: Option<&'a str>,
    consumed_quantity: Option<i128>,
    consumed_quantity_rest: i128,
    consumed_unit: Option<&'a str>,
    billing_account_name: Option<&'a str>,
    sub_account_id: Option<&'a str>,
    sub_account_name: Option<&'a str>,
    provider_name: Option<&'a str>,
    publisher_name: Option<&'a str>,
    invoice_issuer_name: Option<&'a str>,
    service_name: Option<&'a str>,
    service_category: Option<&'a str>,
    region_id: Option<&'a str>,
    resource_id: Option<&'a str>,
    resource_name: Option<&'a str>,
    sku_id: Option<&'a str>,
    sku_price_id: Option<&'a str>,
    charge_description: Option<&'a str>,
    tag_keys: Vec<&'a str>,
    tag_values: Vec<&'a str>,
    source_provider: &'a str,
    source_dataset: &'a str,
    source_uri: &'a str,
    source_line: Option<i64>,
    focus_version: &'a str,
    record_json: String,
    ingested_at: u32,
    insert_id: u64,
}

/// Seconds for a ClickHouse `DateTime` column, which holds whole seconds from
/// 1970 to 2105; anything else cannot be stored.
fn seconds(record: &CostRecord, time: DateTime<Utc>) -> Result<u32, StoreError> {
    u32::try_from(time.timestamp()).map_err(|_| StoreError::Unstorable {
        record_key: record.record_key.clone(),
        reason: format!("{time} is outside the range ClickHouse DateTime holds"),
    })
}

/// The value's main column (`scale` places) and `Decimal(38, 28)` rest.
fn parts(record: &CostRecord, value: Decimal, scale: u32) -> Result<Split, StoreError> {
    split(value, scale).ok_or_else(|| StoreError::Unstorable {
        record_key: record.record_key.clone(),
        reason: format!(
            "{value} has more than {} integer digits",
            integer_digits(scale)
        ),
    })
}

/// An optional value's main column, NULL when absent, and its rest, 0 when absent.
fn parts_opt(
    record: &CostRecord,
    value: Option<Decimal>,
    scale: u32,
) -> Result<(Option<i128>, i128), StoreError> {
    Ok(match value {
        Some(value) => {
            let parts = parts(record, value, scale)?;
            (Some(parts.main), parts.rest)
        }
        None => (None, 0),
    })
}

impl<'a> LineItemRow<'a> {
    fn from_record(
        record: &'a CostRecord,
        ingested_at: u32,
        insert_id: u64,
    ) -> Result<Self, StoreError> {
        let record_json = serde_json::to_string(&OtherFields::of(record)).unwrap_or_default();
        let billed = parts(record, record.billed_cost, MONEY_SCALE)?;
        let effective = parts(record, record.effective_cost, MONEY_SCALE)?;
        let list = parts_opt(record, record.list_cost, MONEY_SCALE)?;
        let contracted = parts_opt(record, record.contracted_cost, MONEY_SCALE)?;
        let pricing_quantity = parts_opt(record, record.pricing_quantity, QUANTITY_SCALE)?;
        let consumed_quantity = parts_opt(record, record.consumed_quantity, QUANTITY_SCALE)?;
        Ok(Self {
            billing_account_id: &record.billing_account_id,
            billing_period_start: seconds(record, record.billing_period_start)?,
            source_version: record.source_version,
            record_key: &record.record_key,
            billing_period_end: seconds(record, record.billing_period_end)?,
            charge_period_start: seconds(record, record.charge_period_start)?,
            charge_period_end: seconds(record, record.charge_period_end)?,
            billing_currency: &record.billing_currency,
            charge_category: &record.charge_category,
            charge_class: record.charge_class.as_deref(),
            billed_cost: billed.main,
            billed_cost_rest: billed.rest,
            effective_cost: effective.main,
            effective_cost_rest: effective.rest,
            list_cost: list.0,
            list_cost_rest: list.1,
            contracted_cost: contracted.0,
            contracted_cost_rest: contracted.1,
            pricing_quantity: pricing_quantity.0,
            pricing_quantity_rest: pricing_quantity.1,
            pricing_unit: record.pricing_unit.as_deref(),
            consumed_quantity: consumed_quantity.0,
            consumed_quantity_rest: consumed_quantity.1,
            consumed_unit: record.consumed_unit.as_deref(),
            billing_account_name: record.billing_account_name.as_deref(),
            sub_account_id: record.sub_account_id.as_deref(),
            sub_account_name: record.sub_account_name.as_deref(),
            provider_name: record.provider_name.as_deref(),
            publisher_name: record.publisher_name.as_deref(),
            invoice_issuer_name: record.invoice_issuer_name.as_deref(),
            service_name: record.service_name.as_deref(),
            service_category: record.service_category.as_deref(),
            region_id: record.region_id.as_deref(),
            resource_id: record.resource_id.as_deref(),
            resource_name: record.resource_name.as_deref(),
            sku_id: record.sku_id.as_deref(),
            sku_price_id: record.sku_price_id.as_deref(),
            charge_description: record.charge_description.as_deref(),
            tag_keys: record.tags.keys().map(String::as_str).collect(),
            tag_values: record.tags.values().map(String::as_str).collect(),
            source_provider: &record.source_provider,
            source_dataset: &record.source_dataset,
            source_uri: &record.source_uri,
            source_line: record.source_line,
            focus_version: &record.focus_version,
            record_json,
            ingested_at,
            insert_id,
        })
    }
}

/// The record's fields that have no `line_items` column of their own, written
/// as the `record_json` column so they stay queryable
/// (`JSONExtractString(record_json, 'SkuMeter')`, `... 'Extensions', 'x_Foo'`).
/// Names are the record's own (FOCUS column names); fields without a value are
/// left out. Every other field is in its column, so the record is the columns
/// plus this. Rows stored by builds before the evening of 2026-12-04 hold the
/// whole record here instead; the same paths read both.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct OtherFields<'a> {
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    list_unit_price: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    contracted_unit_price: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    commitment_discount_quantity: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pricing_currency_contracted_unit_price: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pricing_currency_effective_cost: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pricing_currency_list_unit_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_account_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity_reservation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity_reservation_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    charge_frequency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_discount_category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_discount_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_discount_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_discount_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_discount_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commitment_discount_unit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing_category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing_currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_subcategory: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku_meter: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku_price_details: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_account_type: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, String>,
}

impl<'a> OtherFields<'a> {
    fn of(record: &'a CostRecord) -> Self {
        Self {
            list_unit_price: record.list_unit_price,
            contracted_unit_price: record.contracted_unit_price,
            commitment_discount_quantity: record.commitment_discount_quantity,
            pricing_currency_contracted_unit_price: record.pricing_currency_contracted_unit_price,
            pricing_currency_effective_cost: record.pricing_currency_effective_cost,
            pricing_currency_list_unit_price: record.pricing_currency_list_unit_price,
            availability_zone: record.availability_zone.as_deref(),
            billing_account_type: record.billing_account_type.as_deref(),
            capacity_reservation_id: record.capacity_reservation_id.as_deref(),
            capacity_reservation_status: record.capacity_reservation_status.as_deref(),
            charge_frequency: record.charge_frequency.as_deref(),
            commitment_discount_category: record.commitment_discount_category.as_deref(),
            commitment_discount_id: record.commitment_discount_id.as_deref(),
            commitment_discount_name: record.commitment_discount_name.as_deref(),
            commitment_discount_status: record.commitment_discount_status.as_deref(),
            commitment_discount_type: record.commitment_discount_type.as_deref(),
            commitment_discount_unit: record.commitment_discount_unit.as_deref(),
            invoice_id: record.invoice_id.as_deref(),
            pricing_category: record.pricing_category.as_deref(),
            pricing_currency: record.pricing_currency.as_deref(),
            region_name: record.region_name.as_deref(),
            resource_type: record.resource_type.as_deref(),
            service_subcategory: record.service_subcategory.as_deref(),
            sku_meter: record.sku_meter.as_deref(),
            sku_price_details: record.sku_price_details.as_deref(),
            sub_account_type: record.sub_account_type.as_deref(),
            extensions: &record.extensions,
        }
    }
}

impl Store {
    /// An `INSERT INTO line_items` to stream records into, batch after batch.
    pub fn line_item_writer(&self) -> LineItemWriter {
        LineItemWriter {
            client: self.client.clone(),
            insert: None,
            inserted: Inserted::new(),
        }
    }
}

/// Rows ClickHouse gathers into one block (one data part) of a streamed insert.
/// An insert spans every batch between two refreshes, hundreds of thousands of
/// rows when the consumer is catching up; in one block they would run ClickHouse
/// 18.16 past its 4 GB query memory limit (seen at about 300,000 rows).
const INSERT_BLOCK_ROWS: usize = 50_000;

/// One `INSERT INTO line_items` kept open across batches of records.
///
/// Rows are serialised as they are written and streamed to ClickHouse in the
/// background, so the server parses one batch while the next is being decoded,
/// and one insert covers many batches (a data part per [`INSERT_BLOCK_ROWS`]).
/// Only when [`LineItemWriter::end`] returns are all rows known to be stored;
/// an insert cut short may have stored some of its blocks already. Either way
/// inserting a record again is harmless: rows with the same key and source
/// version collapse.
///
/// Amounts are stored in two exact parts (see [`costflow_model::money`]).
pub struct LineItemWriter {
    client: clickhouse::Client,
    insert: Option<clickhouse::insert::Insert<LineItemRow<'static>>>,
    inserted: Inserted,
}

/// What one insert stored: its id, written into every row as `insert_id`, and
/// how many rows it stored for each billing period, in which source versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// Random and not 0 (the id of rows stored before inserts had ids): two
    /// inserts, of this consumer or another, share an id with a chance of 2^-64.
    pub insert_id: u64,
    /// Rows stored by billing period.
    pub periods: BTreeMap<BillingPeriodKey, PeriodRows>,
}

/// One insert's rows of one billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodRows {
    /// Rows written.
    pub rows: u64,
    /// Lowest source version among them.
    pub min_version: i64,
    /// Highest source version among them.
    pub max_version: i64,
}

impl Inserted {
    /// Nothing stored yet, under a new id.
    fn new() -> Self {
        Self {
            insert_id: new_insert_id(),
            periods: BTreeMap::new(),
        }
    }

    /// Rows stored in all.
    pub fn rows(&self) -> u64 {
        self.periods.values().map(|p| p.rows).sum()
    }

    /// Counts a stored record. The account id is cloned only when a record's
    /// period differs from the last one's: batches hold runs of one account.
    fn add(&mut self, record: &CostRecord, last: &mut Option<BillingPeriodKey>) {
        let same = last.as_ref().is_some_and(|key| {
            key.billing_period_start == record.billing_period_start
                && key.billing_account_id == record.billing_account_id
        });
        if !same {
            *last = Some(BillingPeriodKey {
                billing_account_id: record.billing_account_id.clone(),
                billing_period_start: record.billing_period_start,
            });
        }
        let key = last.as_ref().expect("set above");
        let version = record.source_version;
        match self.periods.get_mut(key) {
            Some(rows) => {
                rows.rows += 1;
                rows.min_version = rows.min_version.min(version);
                rows.max_version = rows.max_version.max(version);
            }
            None => {
                self.periods.insert(
                    key.clone(),
                    PeriodRows {
                        rows: 1,
                        min_version: version,
                        max_version: version,
                    },
                );
            }
        }
    }
}

impl LineItemWriter {
    /// The id the rows written next are stored under, until the next `end`.
    pub fn insert_id(&self) -> u64 {
        self.inserted.insert_id
    }

    /// The billing periods rows were written for since the last `end`.
    pub fn periods(&self) -> impl Iterator<Item = &BillingPeriodKey> {
        self.inserted.periods.keys()
    }

    /// Writes records into the open insert, starting one if needed. Records that
    /// cannot be stored exactly (a time outside `DateTime`, more integer digits
    /// than the column) are left out and returned with the reason, by their
    /// index in `records`, for the caller to reject.
    pub async fn write(
        &mut self,
        records: &[CostRecord],
    ) -> Result<Vec<(usize, StoreError)>, StoreError> {
        let now = u32::try_from(Utc::now().timestamp()).unwrap_or(u32::MAX);
        let insert_id = self.inserted.insert_id;
        let mut unstorable = Vec::new();
        let mut last = None;
        for (index, record) in records.iter().enumerate() {
            let row = match LineItemRow::from_record(record, now, insert_id) {
                Ok(row) => row,
                Err(err) => {
                    unstorable.push((index, err));
                    continue;
                }
            };
            let insert = match &mut self.insert {
                Some(insert) => insert,
                None => self.insert.insert(
                    self.client
                        .insert::<LineItemRow<'static>>("line_items")
                        .await
                        .map_err(ch_err("insert line_items"))?
                        .with_setting("max_insert_block_size", INSERT_BLOCK_ROWS.to_string()),
                ),
            };
            if let Err(err) = insert.write(&row).await {
                self.insert = None;
                self.inserted = Inserted::new();
                return Err(ch_err("insert line_items")(err));
            }
            self.inserted.add(record, &mut last);
        }
        Ok(unstorable)
    }

    /// Ends the insert and returns once ClickHouse acknowledged it: every row
    /// written since the last `end` is durable. Returns what they were.
    pub async fn end(&mut self) -> Result<Inserted, StoreError> {
        let inserted = std::mem::replace(&mut self.inserted, Inserted::new());
        if let Some(insert) = self.insert.take() {
            insert.end().await.map_err(ch_err("insert line_items"))?;
        }
        Ok(inserted)
    }
}

/// A random insert id, never 0.
fn new_insert_id() -> u64 {
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The record fields `LineItemRow` stores in columns of their own.
    const COLUMNS: [&str; 38] = [
        "RecordKey",
        "SourceProvider",
        "SourceDataset",
        "SourceUri",
        "SourceLine",
        "SourceVersion",
        "FocusVersion",
        "BillingAccountId",
        "BillingCurrency",
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ChargeCategory",
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "PricingQuantity",
        "ConsumedQuantity",
        "BillingAccountName",
        "ChargeClass",
        "ChargeDescription",
        "ConsumedUnit",
        "InvoiceIssuerName",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "RegionId",
        "ResourceId",
        "ResourceName",
        "ServiceCategory",
        "ServiceName",
        "SkuId",
        "SkuPriceId",
        "SubAccountId",
        "SubAccountName",
        "Tags",
    ];

    /// A record with only the mandatory fields set.
    fn minimal_record() -> CostRecord {
        let day = |d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        CostRecord::new(
            "acct",
            "USD",
            [day(1), day(30)],
            [day(2), day(3)],
            "Usage",
            Decimal::ONE,
            Decimal::ONE,
        )
    }

    /// A record with every field set: each empty field of a minimal record is
    /// given "1.5", which reads as text and as an amount alike (the source line
    /// a number).
    fn full_record() -> CostRecord {
        let mut record = minimal_record();
        record.extensions.insert("x_Foo".into(), "bar".into());
        record.tags.insert("team".into(), "a".into());
        let mut json = serde_json::to_value(&record).unwrap();
        for (name, value) in json.as_object_mut().unwrap() {
            if value.is_null() {
                *value = if name == "SourceLine" {
                    7.into()
                } else {
                    "1.5".into()
                };
            }
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn record_json_holds_exactly_the_fields_without_a_column() {
        let record = full_record();
        let full = serde_json::to_value(&record).unwrap();
        let full = full.as_object().unwrap();
        let unbroken = serde_json::to_value(OtherFields::of(&record)).unwrap();
        let unbroken = unbroken.as_object().unwrap();

        for (name, value) in full {
            match unbroken.get(name) {
                Some(kept) => assert_eq!(kept, value, "{name} as the record writes it"),
                None => assert!(COLUMNS.contains(&name.as_str()), "{name} is stored nowhere"),
            }
        }
        for name in unbroken.keys() {
            assert!(
                full.contains_key(name) && !COLUMNS.contains(&name.as_str()),
                "{name}"
            );
        }
    }

    #[test]
    fn record_json_leaves_out_fields_without_a_value() {
        let mut record = minimal_record();
        assert_eq!(
            serde_json::to_string(&OtherFields::of(&record)).unwrap(),
            "{}"
        );
        record.list_unit_price = Some(Decimal::new(1_000_000_000_000_000_001, 28));
        assert_eq!(
            serde_json::to_string(&OtherFields::of(&record)).unwrap(),
            r#"{"ListUnitPrice":"0.0000000001000000000000000001"}"#
        );
    }
}
