//! The rules a cost record keeps, whoever produced it.
//!
//! costflow's own readers refuse bad rows while parsing, but `cost.records` is a
//! public interface: collectors costflow did not write publish to it directly. A
//! record that decodes can still break the contract, so every consumer passes what
//! it reads through [`read_cost_record`] and sends a refusal to `ingest.rejects`
//! instead of storing or acting on it. `docs/collectors.md` states the same rules
//! for collector authors.

use std::fmt;

use chrono::{DateTime, Utc};
use iso_currency::Currency;
use rust_decimal::Decimal;

use crate::money::{integer_digits, split, MONEY_SCALE, QUANTITY_SCALE, REST_SCALE};
use crate::wire::{Codec, WireError};
use crate::CostRecord;

/// Length of a record key: lowercase hex of a SHA-256 digest.
const RECORD_KEY_LEN: usize = 64;

/// One broken rule: the column at fault, its value and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// FOCUS or envelope column name, as in the Avro schema.
    pub column: &'static str,
    /// The offending value as text, cut like any reject value.
    pub value: String,
    /// What is wrong, in words a collector author can act on.
    pub reason: String,
}

impl Violation {
    fn new(column: &'static str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        Self {
            column,
            value: crate::Reject::clip(&value.to_string()),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}", self.column, self.value, self.reason)
    }
}

impl std::error::Error for Violation {}

/// Checks a decoded record against the collector contract and returns the first
/// rule it breaks.
///
/// The rules: mandatory text is not blank; the record key is a SHA-256 in
/// lowercase hex; the billing currency is the ISO 4217 code of a real currency
/// and the pricing currency that or a virtual currency's name; billing and
/// charge periods are half-open with the end after the start; every amount is
/// stored exactly: any number of decimal places a `Decimal` holds (28), and at
/// most 23 integer digits for money, 20 for unit prices and quantities (the
/// `Decimal(38, 15)` and `Decimal(38, 18)` main columns; the places beyond 15 or
/// 18 go to a `Decimal(38, 28)` rest column); tag keys are not empty.
pub fn validate(record: &CostRecord) -> Result<(), Violation> {
    check_mandatory(record)?;
    check_record_key(&record.record_key)?;

    check_currency("BillingCurrency", &record.billing_currency)?;
    if let Some(code) = &record.pricing_currency {
        check_pricing_currency(code)?;
    }

    check_period(
        "BillingPeriodEnd",
        record.billing_period_start,
        record.billing_period_end,
    )?;
    check_period(
        "ChargePeriodEnd",
        record.charge_period_start,
        record.charge_period_end,
    )?;

    for (column, value, scale) in amounts(record) {
        if let Some(value) = value {
            check_amount(column, value, scale)?;
        }
    }

    if record.tags.keys().any(|key| key.trim().is_empty()) {
        return Err(Violation::new("Tags", "", "a tag key is empty"));
    }
    Ok(())
}

fn check_mandatory(record: &CostRecord) -> Result<(), Violation> {
    let mandatory = [
        ("RecordKey", &record.record_key),
        ("SourceProvider", &record.source_provider),
        ("SourceDataset", &record.source_dataset),
        ("SourceUri", &record.source_uri),
        ("FocusVersion", &record.focus_version),
        ("BillingAccountId", &record.billing_account_id),
        ("BillingCurrency", &record.billing_currency),
        ("ChargeCategory", &record.charge_category),
    ];
    for (column, value) in mandatory {
        if value.trim().is_empty() {
            return Err(Violation::new(column, value, "mandatory column is empty"));
        }
    }
    if record.source_version < 0 {
        return Err(Violation::new(
            "SourceVersion",
            record.source_version,
            "source version is negative; use microseconds since the Unix epoch",
        ));
    }
    Ok(())
}

fn check_record_key(key: &str) -> Result<(), Violation> {
    let hex = key
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if key.len() != RECORD_KEY_LEN || !hex {
        return Err(Violation::new(
            "RecordKey",
            key,
            "not a SHA-256 in lowercase hex (64 characters)",
        ));
    }
    Ok(())
}

/// FOCUS lets PricingCurrency be a virtual currency ("Token", "Credits") as well
/// as a national one. A three-letter upper-case value is taken as an ISO 4217
/// code and must be one; anything else must at least start with a letter.
fn check_pricing_currency(code: &str) -> Result<(), Violation> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        return check_currency("PricingCurrency", code);
    }
    if code.chars().next().is_some_and(char::is_alphabetic) {
        return Ok(());
    }
    Err(Violation::new(
        "PricingCurrency",
        code,
        "neither an ISO 4217 code nor the name of a virtual currency",
    ))
}

fn check_currency(column: &'static str, code: &str) -> Result<(), Violation> {
    match Currency::from_code(code) {
        Some(currency) if !currency.is_special() => Ok(()),
        Some(_) => Err(Violation::new(
            column,
            code,
            "an ISO 4217 code that is not a currency costs are billed in (metal, fund unit, test or no-currency code)",
        )),
        None => Err(Violation::new(
            column,
            code,
            "not an ISO 4217 currency code (three upper-case letters such as USD or EUR)",
        )),
    }
}

fn check_period(
    end_column: &'static str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), Violation> {
    if end <= start {
        return Err(Violation::new(
            end_column,
            end.to_rfc3339(),
            format!(
                "period ends at or before its start ({}); periods are half-open [start, end)",
                start.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// Every amount of a record, with its column name and stored decimal places.
fn amounts(record: &CostRecord) -> [(&'static str, Option<Decimal>, u32); 12] {
    [
        ("BilledCost", Some(record.billed_cost), MONEY_SCALE),
        ("EffectiveCost", Some(record.effective_cost), MONEY_SCALE),
        ("ListCost", record.list_cost, MONEY_SCALE),
        ("ContractedCost", record.contracted_cost, MONEY_SCALE),
        (
            "PricingCurrencyEffectiveCost",
            record.pricing_currency_effective_cost,
            MONEY_SCALE,
        ),
        ("ListUnitPrice", record.list_unit_price, QUANTITY_SCALE),
        (
            "ContractedUnitPrice",
            record.contracted_unit_price,
            QUANTITY_SCALE,
        ),
        ("PricingQuantity", record.pricing_quantity, QUANTITY_SCALE),
        ("ConsumedQuantity", record.consumed_quantity, QUANTITY_SCALE),
        (
            "CommitmentDiscountQuantity",
            record.commitment_discount_quantity,
            QUANTITY_SCALE,
        ),
        (
            "PricingCurrencyContractedUnitPrice",
            record.pricing_currency_contracted_unit_price,
            QUANTITY_SCALE,
        ),
        (
            "PricingCurrencyListUnitPrice",
            record.pricing_currency_list_unit_price,
            QUANTITY_SCALE,
        ),
    ]
}

/// True when the value is stored exactly as a `Decimal(38, scale)` main part and
/// a `Decimal(38, 28)` rest: at most `38 - scale` integer digits; every number of
/// decimal places a `Decimal` holds fits.
pub fn fits_storage(value: Decimal, scale: u32) -> bool {
    split(value, scale).is_some()
}

fn check_amount(column: &'static str, value: Decimal, scale: u32) -> Result<(), Violation> {
    if !fits_storage(value, scale) {
        let digits = integer_digits(scale);
        return Err(Violation::new(
            column,
            value,
            format!(
                "more than {digits} integer digits: does not fit Decimal(38, {scale}) plus a Decimal(38, {REST_SCALE}) rest; costflow never rounds"
            ),
        ));
    }
    Ok(())
}

/// Why a consumer refused a message from `cost.records`.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The bytes are not a cost record in any known schema version.
    #[error("message does not decode: {0}")]
    Undecodable(#[from] WireError),
    /// The record decodes but breaks a rule of the collector contract.
    #[error("record from {origin} breaks the collector contract: {violation}")]
    Invalid {
        /// The rule broken.
        violation: Violation,
        /// Where the record says it came from: provider, URI and line.
        origin: String,
    },
}

impl Refusal {
    /// The column at fault, when one is.
    pub fn column(&self) -> Option<&'static str> {
        match self {
            Refusal::Undecodable(_) => None,
            Refusal::Invalid { violation, .. } => Some(violation.column),
        }
    }

    /// The offending value, when there is one.
    pub fn value(&self) -> Option<&str> {
        match self {
            Refusal::Undecodable(_) => None,
            Refusal::Invalid { violation, .. } => Some(&violation.value),
        }
    }
}

/// Decodes a `cost.records` message and checks it with [`validate`]: what every
/// consumer of the topic calls, so that all of them accept exactly the same
/// records.
pub fn read_cost_record(codec: &Codec, payload: &[u8]) -> Result<CostRecord, Refusal> {
    let record: CostRecord = codec.decode(payload)?;
    validate(&record).map_err(|violation| Refusal::Invalid {
        violation,
        origin: describe_source(&record),
    })?;
    Ok(record)
}

fn describe_source(record: &CostRecord) -> String {
    let mut source = format!("{} {}", record.source_provider, record.source_uri);
    if let Some(line) = record.source_line {
        source.push_str(&format!(" line {line}"));
    }
    source.chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;

    use super::*;
    use crate::RecordKey;

    fn good() -> CostRecord {
        let day = |m, d| Utc.with_ymd_and_hms(2024, m, d, 0, 0, 0).unwrap();
        let mut record = CostRecord::new(
            "acct-1",
            "EUR",
            [day(9, 1), day(10, 1)],
            [day(9, 18), day(9, 19)],
            "Usage",
            Decimal::from_str("12.5").unwrap(),
            Decimal::from_str("-0.000000000000001").unwrap(),
        );
        record.record_key = RecordKey::new().part("acct-1").part("line-1").finish();
        record.source_provider = "team-python".into();
        record.source_dataset = "FOCUS".into();
        record.source_uri = "collector://team-python/run-7".into();
        record.source_version = 1_725_148_800_000_000;
        record
    }

    fn refused(record: &CostRecord) -> (&'static str, String) {
        let violation = validate(record).expect_err("record must be refused");
        (violation.column, violation.reason)
    }

    #[test]
    fn a_complete_record_passes() {
        assert_eq!(validate(&good()), Ok(()));
        let mut historic = good();
        historic.billing_currency = "HRK".into();
        historic.pricing_currency = Some("USD".into());
        historic.list_cost = Some(Decimal::from_str("99999999999999999999999.5").unwrap());
        assert_eq!(validate(&historic), Ok(()));
    }

    #[test]
    fn blank_mandatory_columns_are_refused() {
        let mut record = good();
        record.billing_account_id = "  ".into();
        assert_eq!(refused(&record).0, "BillingAccountId");
        let mut record = good();
        record.charge_category = String::new();
        assert_eq!(refused(&record).0, "ChargeCategory");
        let mut record = good();
        record.billing_currency = String::new();
        assert_eq!(refused(&record).0, "BillingCurrency");
    }

    #[test]
    fn record_key_must_be_a_lowercase_sha256() {
        let mut record = good();
        record.record_key = record.record_key.to_uppercase();
        assert_eq!(refused(&record).0, "RecordKey");
        record.record_key = "line-7".into();
        assert_eq!(refused(&record).0, "RecordKey");
    }

    #[test]
    fn unknown_and_non_billing_currencies_are_refused() {
        for code in ["EURO", "usd", "ABC", "XTS", "XAU", "Token"] {
            let mut record = good();
            record.billing_currency = code.into();
            assert_eq!(refused(&record).0, "BillingCurrency", "{code}");
        }
        for code in ["$", "ABC", "XAU", " Token"] {
            let mut record = good();
            record.pricing_currency = Some(code.into());
            assert_eq!(refused(&record).0, "PricingCurrency", "{code}");
        }
    }

    #[test]
    fn pricing_currency_may_be_virtual_as_focus_allows() {
        for code in ["Token", "Credits", "EUR"] {
            let mut record = good();
            record.pricing_currency = Some(code.into());
            assert_eq!(validate(&record), Ok(()), "{code}");
        }
    }

    #[test]
    fn periods_must_end_after_they_start() {
        let mut record = good();
        record.charge_period_end = record.charge_period_start;
        let (column, reason) = refused(&record);
        assert_eq!(column, "ChargePeriodEnd");
        assert!(reason.contains("half-open"), "{reason}");
        let mut record = good();
        record.billing_period_end = Utc.with_ymd_and_hms(2024, 8, 1, 0, 0, 0).unwrap();
        assert_eq!(refused(&record).0, "BillingPeriodEnd");
    }

    #[test]
    fn amounts_keep_28_places_and_their_integer_digits() {
        let mut record = good();
        record.billed_cost = Decimal::from_str("0.1234567890123456789012345678").unwrap();
        record.list_cost = Some(Decimal::from_str("-0.0000000072922557592391990000").unwrap());
        record.consumed_quantity = Some(Decimal::from_str("0.1234567890123456789").unwrap());
        assert_eq!(validate(&record), Ok(()), "28 places are stored exactly");

        let mut record = good();
        record.effective_cost = Decimal::from_str("99999999999999999999999.99999").unwrap();
        assert_eq!(validate(&record), Ok(()), "money keeps 23 integer digits");
        record.effective_cost = Decimal::from_str("-123456789012345678901234").unwrap();
        let (column, reason) = refused(&record);
        assert_eq!(column, "EffectiveCost");
        assert!(reason.contains("more than 23 integer digits"), "{reason}");
        assert!(reason.contains("Decimal(38, 15)"), "{reason}");

        let mut record = good();
        record.consumed_quantity = Some(Decimal::from_str("99999999999999999999.5").unwrap());
        assert_eq!(
            validate(&record),
            Ok(()),
            "quantities keep 20 integer digits"
        );
        record.consumed_quantity = Some(Decimal::from_str("100000000000000000000").unwrap());
        let (column, reason) = refused(&record);
        assert_eq!(column, "ConsumedQuantity");
        assert!(reason.contains("more than 20 integer digits"), "{reason}");
    }

    #[test]
    fn empty_tag_keys_are_refused() {
        let mut record = good();
        record.tags.insert(" ".into(), "x".into());
        assert_eq!(refused(&record).0, "Tags");
    }

    #[test]
    fn reading_separates_undecodable_from_invalid() {
        let codec = Codec::cost_record();
        let mut record = good();
        let ok = read_cost_record(&codec, &codec.encode(&record).unwrap());
        assert_eq!(ok.unwrap(), record);

        record.billing_currency = "ZZZ".into();
        let refusal = read_cost_record(&codec, &codec.encode(&record).unwrap()).unwrap_err();
        assert_eq!(refusal.column(), Some("BillingCurrency"));
        assert_eq!(refusal.value(), Some("ZZZ"));
        let reason = refusal.to_string();
        assert!(
            reason.contains("team-python collector://team-python/run-7"),
            "{reason}"
        );

        let refusal = read_cost_record(&codec, b"not avro").unwrap_err();
        assert!(matches!(refusal, Refusal::Undecodable(_)));
    }
}
