//! The normalised cost record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The FOCUS version whose column names and meanings [`CostRecord`] follows.
pub const FOCUS_VERSION: &str = "1.2";

/// One charge line, normalised to FOCUS 1.2 column names and meanings.
///
/// Field names serialise in PascalCase, which makes them the FOCUS column names
/// (`billed_cost` is `BilledCost`). Money and quantities are exact decimals; times
/// are UTC and every period is half-open, `[start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CostRecord {
    /// Deterministic key of the line; see [`RecordKey`].
    pub record_key: String,
    /// Who produced the data: `AWS`, `Azure`, or a collector's name.
    pub source_provider: String,
    /// Dataset within the provider: `FOCUS`, `CUR`, `ActualCost`, ...
    pub source_dataset: String,
    /// The file or API call the line came from.
    pub source_uri: String,
    /// 1-based line number in the source file, when there is one.
    pub source_line: Option<i64>,
    /// Version of the source data, microseconds since the Unix epoch. A newer
    /// version of a (billing account, billing period) replaces the older one.
    pub source_version: i64,
    /// FOCUS version of the column set this record was read from.
    pub focus_version: String,

    /// FOCUS BillingAccountId.
    pub billing_account_id: String,
    /// FOCUS BillingCurrency: ISO 4217 code of the billed, effective, list and
    /// contracted costs.
    pub billing_currency: String,
    /// FOCUS BillingPeriodStart, inclusive.
    #[serde(with = "micros")]
    pub billing_period_start: DateTime<Utc>,
    /// FOCUS BillingPeriodEnd, exclusive.
    #[serde(with = "micros")]
    pub billing_period_end: DateTime<Utc>,
    /// FOCUS ChargePeriodStart, inclusive.
    #[serde(with = "micros")]
    pub charge_period_start: DateTime<Utc>,
    /// FOCUS ChargePeriodEnd, exclusive.
    #[serde(with = "micros")]
    pub charge_period_end: DateTime<Utc>,
    /// FOCUS ChargeCategory: Usage, Purchase, Tax, Credit, Adjustment.
    pub charge_category: String,
    /// FOCUS BilledCost, in the billing currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub billed_cost: Decimal,
    /// FOCUS EffectiveCost, in the billing currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub effective_cost: Decimal,

    /// FOCUS ListCost.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub list_cost: Option<Decimal>,
    /// FOCUS ContractedCost.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub contracted_cost: Option<Decimal>,
    /// FOCUS ListUnitPrice.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub list_unit_price: Option<Decimal>,
    /// FOCUS ContractedUnitPrice.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub contracted_unit_price: Option<Decimal>,
    /// FOCUS PricingQuantity.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub pricing_quantity: Option<Decimal>,
    /// FOCUS ConsumedQuantity.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub consumed_quantity: Option<Decimal>,
    /// FOCUS CommitmentDiscountQuantity.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub commitment_discount_quantity: Option<Decimal>,
    /// FOCUS PricingCurrencyContractedUnitPrice, in the pricing currency.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub pricing_currency_contracted_unit_price: Option<Decimal>,
    /// FOCUS PricingCurrencyEffectiveCost, in the pricing currency.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub pricing_currency_effective_cost: Option<Decimal>,
    /// FOCUS PricingCurrencyListUnitPrice, in the pricing currency.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub pricing_currency_list_unit_price: Option<Decimal>,

    /// FOCUS AvailabilityZone.
    pub availability_zone: Option<String>,
    /// FOCUS BillingAccountName.
    pub billing_account_name: Option<String>,
    /// FOCUS BillingAccountType.
    pub billing_account_type: Option<String>,
    /// FOCUS CapacityReservationId.
    pub capacity_reservation_id: Option<String>,
    /// FOCUS CapacityReservationStatus.
    pub capacity_reservation_status: Option<String>,
    /// FOCUS ChargeClass: null, or `Correction`.
    pub charge_class: Option<String>,
    /// FOCUS ChargeDescription.
    pub charge_description: Option<String>,
    /// FOCUS ChargeFrequency.
    pub charge_frequency: Option<String>,
    /// FOCUS CommitmentDiscountCategory.
    pub commitment_discount_category: Option<String>,
    /// FOCUS CommitmentDiscountId.
    pub commitment_discount_id: Option<String>,
    /// FOCUS CommitmentDiscountName.
    pub commitment_discount_name: Option<String>,
    /// FOCUS CommitmentDiscountStatus.
    pub commitment_discount_status: Option<String>,
    /// FOCUS CommitmentDiscountType.
    pub commitment_discount_type: Option<String>,
    /// FOCUS CommitmentDiscountUnit.
    pub commitment_discount_unit: Option<String>,
    /// FOCUS ConsumedUnit.
    pub consumed_unit: Option<String>,
    /// FOCUS InvoiceId.
    pub invoice_id: Option<String>,
    /// FOCUS InvoiceIssuerName.
    pub invoice_issuer_name: Option<String>,
    /// FOCUS PricingCategory.
    pub pricing_category: Option<String>,
    /// FOCUS PricingCurrency.
    pub pricing_currency: Option<String>,
    /// FOCUS PricingUnit.
    pub pricing_unit: Option<String>,
    /// FOCUS ProviderName.
    pub provider_name: Option<String>,
    /// FOCUS PublisherName.
    pub publisher_name: Option<String>,
    /// FOCUS RegionId.
    pub region_id: Option<String>,
    /// FOCUS RegionName.
    pub region_name: Option<String>,
    /// FOCUS ResourceId.
    pub resource_id: Option<String>,
    /// FOCUS ResourceName.
    pub resource_name: Option<String>,
    /// FOCUS ResourceType.
    pub resource_type: Option<String>,
    /// FOCUS ServiceCategory.
    pub service_category: Option<String>,
    /// FOCUS ServiceName.
    pub service_name: Option<String>,
    /// FOCUS ServiceSubcategory.
    pub service_subcategory: Option<String>,
    /// FOCUS SkuId.
    pub sku_id: Option<String>,
    /// FOCUS SkuMeter.
    pub sku_meter: Option<String>,
    /// FOCUS SkuPriceDetails, as the JSON text of the source.
    pub sku_price_details: Option<String>,
    /// FOCUS SkuPriceId.
    pub sku_price_id: Option<String>,
    /// FOCUS SubAccountId.
    pub sub_account_id: Option<String>,
    /// FOCUS SubAccountName.
    pub sub_account_name: Option<String>,
    /// FOCUS SubAccountType.
    pub sub_account_type: Option<String>,

    /// FOCUS Tags, keys trimmed, values as strings.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Provider-native columns that are not FOCUS columns, named as FOCUS names
    /// custom columns: `x_` and the source column name (see [`extension_name`]).
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
}

/// The extension name of a provider-native source column: FOCUS prefixes custom
/// columns with `x_`, so `Id` becomes `x_Id` and `x_ServiceCode` stays as it is.
pub fn extension_name(source_column: &str) -> String {
    if source_column.starts_with("x_") {
        source_column.to_owned()
    } else {
        format!("x_{source_column}")
    }
}

impl CostRecord {
    /// A record with the mandatory columns set and every optional one empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        billing_account_id: impl Into<String>,
        billing_currency: impl Into<String>,
        billing_period: [DateTime<Utc>; 2],
        charge_period: [DateTime<Utc>; 2],
        charge_category: impl Into<String>,
        billed_cost: Decimal,
        effective_cost: Decimal,
    ) -> Self {
        Self {
            record_key: String::new(),
            source_provider: String::new(),
            source_dataset: String::new(),
            source_uri: String::new(),
            source_line: None,
            source_version: 0,
            focus_version: FOCUS_VERSION.to_owned(),
            billing_account_id: billing_account_id.into(),
            billing_currency: billing_currency.into(),
            billing_period_start: billing_period[0],
            billing_period_end: billing_period[1],
            charge_period_start: charge_period[0],
            charge_period_end: charge_period[1],
            charge_category: charge_category.into(),
            billed_cost,
            effective_cost,
            list_cost: None,
            contracted_cost: None,
            list_unit_price: None,
            contracted_unit_price: None,
            pricing_quantity: None,
            consumed_quantity: None,
            commitment_discount_quantity: None,
            pricing_currency_contracted_unit_price: None,
            pricing_currency_effective_cost: None,
            pricing_currency_list_unit_price: None,
            availability_zone: None,
            billing_account_name: None,
            billing_account_type: None,
            capacity_reservation_id: None,
            capacity_reservation_status: None,
            charge_class: None,
            charge_description: None,
            charge_frequency: None,
            commitment_discount_category: None,
            commitment_discount_id: None,
            commitment_discount_name: None,
            commitment_discount_status: None,
            commitment_discount_type: None,
            commitment_discount_unit: None,
            consumed_unit: None,
            invoice_id: None,
            invoice_issuer_name: None,
            pricing_category: None,
            pricing_currency: None,
            pricing_unit: None,
            provider_name: None,
            publisher_name: None,
            region_id: None,
            region_name: None,
            resource_id: None,
            resource_name: None,
            resource_type: None,
            service_category: None,
            service_name: None,
            service_subcategory: None,
            sku_id: None,
            sku_meter: None,
            sku_price_details: None,
            sku_price_id: None,
            sub_account_id: None,
            sub_account_name: None,
            sub_account_type: None,
            tags: BTreeMap::new(),
            extensions: BTreeMap::new(),
        }
    }
}

/// Builds the deterministic record key: lowercase hex SHA-256 over the parts of a
/// line's natural key, each part length-prefixed so that `("ab", "c")` and
/// `("a", "bc")` differ.
#[derive(Default)]
pub struct RecordKey(Sha256);

impl RecordKey {
    /// Starts an empty key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one part of the natural key.
    pub fn part(mut self, part: impl AsRef<[u8]>) -> Self {
        let bytes = part.as_ref();
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// The finished key.
    pub fn finish(self) -> String {
        let digest = self.0.finalize();
        let mut out = String::with_capacity(64);
        for byte in digest {
            out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
        }
        out
    }
}

/// Serde for a UTC time as microseconds since the Unix epoch, the Avro
/// `timestamp-micros` representation.
pub mod micros {
    use chrono::{DateTime, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes the time as microseconds.
    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(time.timestamp_micros())
    }

    /// Reads microseconds back into a time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let micros = i64::deserialize(d)?;
        DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| D::Error::custom(format!("timestamp out of range: {micros}")))
    }
}
