//! The Azure enterprise agreement's charges written the way Cost Management
//! delivers them: one export run per billing period, in the EA column set of the
//! amortized cost dataset, cut into parts and described by a `manifest.json`.
//!
//! A run lands in `<YYYYMMDD-YYYYMMDD>/<run id>/` (the billing period's first and
//! last day, as Cost Management names the folder): `part_0_0001.csv`,
//! `part_0_0002.csv`, ... of at most [`PART_ROWS`](crate::parts::PART_ROWS) rows each, then `manifest.json`
//! naming every part with its rows and bytes. The manifest is written last, as
//! Cost Management does, so a watcher that trusts only runs with a manifest never
//! reads a run in the middle of being written.
//!
//! The amortized dataset is chosen because it carries the same amounts as the
//! FOCUS files: usage a reservation paid for costs its amortised share and has no
//! billed cost, and the reservation's monthly purchase is billed once. Read back
//! as `AmortizedCost`, every row gives the BilledCost and EffectiveCost of the
//! FOCUS row it was written from.

use std::path::PathBuf;

use chrono::{Days, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::parts::{self, Parts};
use crate::period::BillingPeriod;
use crate::row::FocusRow;
use crate::{GenerateError, GenerateOptions};

/// The export's name in the manifest.
const EXPORT_NAME: &str = "costflow-demo-amortized";

/// One row of an EA amortized cost export, columns in the order EA writes them
/// (2021 names). Columns the demo has no value for stay empty, as they often do
/// in real exports.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AzureRow<'a> {
    invoice_section_name: &'a str,
    account_name: &'a str,
    account_owner_id: &'a str,
    subscription_id: Option<&'a str>,
    subscription_name: Option<&'a str>,
    resource_group: Option<&'a str>,
    resource_location: Option<&'a str>,
    date: String,
    product_name: &'a str,
    meter_category: &'a str,
    meter_sub_category: &'a str,
    meter_id: Option<&'a str>,
    meter_region: Option<&'a str>,
    unit_of_measure: Option<&'a str>,
    quantity: Option<Decimal>,
    effective_price: Option<Decimal>,
    cost_in_billing_currency: Decimal,
    resource_id: Option<&'a str>,
    tags: Option<&'a str>,
    offer_id: &'a str,
    resource_name: Option<&'a str>,
    reservation_id: Option<&'a str>,
    reservation_name: Option<&'a str>,
    unit_price: Option<Decimal>,
    publisher_type: &'a str,
    publisher_name: &'a str,
    charge_type: &'a str,
    frequency: &'a str,
    pricing_model: Option<&'a str>,
    availability_zone: Option<&'a str>,
    billing_account_id: &'a str,
    billing_account_name: &'a str,
    billing_currency_code: &'a str,
    billing_period_start_date: String,
    billing_period_end_date: String,
    is_azure_credit_eligible: &'a str,
    part_number: Option<&'a str>,
    #[serde(rename = "PayGPrice")]
    payg_price: Option<Decimal>,
    service_family: &'a str,
    #[serde(rename = "benefitId")]
    benefit_id: Option<&'a str>,
    #[serde(rename = "benefitName")]
    benefit_name: Option<&'a str>,
}

impl<'a> AzureRow<'a> {
    fn from_focus(row: &'a FocusRow<'a>, run: &ExportRun) -> AzureRow<'a> {
        let commitment = row.commitment_discount_id.is_some();
        // Amortized: usage a reservation covered costs its amortised share.
        let cost = if commitment && row.charge_category == "Usage" {
            row.effective_cost
        } else {
            row.billed_cost
        };
        let pricing_model = match (row.commitment_discount_type, row.charge_category) {
            (Some("Savings Plan"), _) => Some("SavingsPlan"),
            (Some(_), _) => Some("Reservation"),
            (None, "Usage" | "Purchase") => Some("OnDemand"),
            (None, _) => None,
        };
        AzureRow {
            invoice_section_name: "Unassigned",
            account_name: "Cloud Platform",
            account_owner_id: "cloud-platform@northwind.example",
            subscription_id: row.sub_account_id,
            subscription_name: row.sub_account_name,
            resource_group: row.resource_id.and_then(resource_group),
            resource_location: row.region_id,
            date: us_date(day_of(row.charge_period_start).unwrap_or(run.period_start)),
            product_name: row.charge_description,
            meter_category: row.service_name,
            meter_sub_category: row.service_subcategory,
            meter_id: row.sku_price_id,
            meter_region: row.region_name,
            unit_of_measure: row.pricing_unit,
            quantity: row.pricing_quantity,
            effective_price: row.contracted_unit_price,
            cost_in_billing_currency: cost,
            resource_id: row.resource_id,
            tags: row.tags.map(without_braces),
            offer_id: "MS-AZR-0017P",
            resource_name: row.resource_name,
            reservation_id: row.commitment_discount_id,
            reservation_name: row.commitment_discount_name,
            unit_price: row.contracted_unit_price,
            publisher_type: "Azure",
            publisher_name: row.publisher_name,
            charge_type: charge_type(row.charge_category),
            frequency: frequency(row.charge_frequency),
            pricing_model,
            availability_zone: row.availability_zone,
            billing_account_id: row.billing_account_id,
            billing_account_name: row.billing_account_name,
            billing_currency_code: row.billing_currency,
            billing_period_start_date: us_date(run.period_start),
            billing_period_end_date: us_date(run.period_last_day),
            is_azure_credit_eligible: if row.charge_category == "Usage" {
                "True"
            } else {
                "False"
            },
            part_number: row.sku_id,
            payg_price: row.list_unit_price,
            service_family: row.service_category,
            benefit_id: row.commitment_discount_id,
            benefit_name: row.commitment_discount_name,
        }
    }
}

/// Cost Management's ChargeType for a FOCUS charge category.
fn charge_type(category: &str) -> &'static str {
    match category {
        "Purchase" => "Purchase",
        "Tax" => "Tax",
        "Credit" => "Credit",
        "Adjustment" => "RoundingAdjustment",
        _ => "Usage",
    }
}

/// Cost Management's Frequency for a FOCUS charge frequency.
fn frequency(charge_frequency: &str) -> &'static str {
    match charge_frequency {
        "One-Time" => "OneTime",
        "Recurring" => "Recurring",
        _ => "UsageBased",
    }
}

/// EA exports write tags as JSON members without the object's braces.
fn without_braces(tags: &str) -> &str {
    tags.strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
        .unwrap_or(tags)
}

/// The resource group named in an Azure resource id.
fn resource_group(resource_id: &str) -> Option<&str> {
    let (_, rest) = resource_id.split_once("/resourceGroups/")?;
    rest.split('/').next()
}

/// The day of an ISO 8601 timestamp (`2025-10-03T00:00:00Z`).
fn day_of(timestamp: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(timestamp.get(..10)?, "%Y-%m-%d").ok()
}

/// EA's date layout: `10/03/2025`.
fn us_date(day: NaiveDate) -> String {
    day.format("%m/%d/%Y").to_string()
}

/// One billing period's export run being written.
pub(crate) struct ExportRun {
    period_start: NaiveDate,
    period_last_day: NaiveDate,
    run_id: String,
    submitted: String,
    parts: Parts,
}

impl ExportRun {
    /// A run for `period` under `options.out_dir`. Its id is derived from the seed
    /// and the period, so the same options write the same files; it is submitted
    /// at 06:00 UTC on the day after the period's last day in range.
    pub(crate) fn create(
        options: &GenerateOptions,
        period: &BillingPeriod,
    ) -> Result<ExportRun, GenerateError> {
        let last_day = period.end.pred_opt().unwrap_or(period.end);
        let folder = format!(
            "{}-{}",
            period.start.format("%Y%m%d"),
            last_day.format("%Y%m%d")
        );
        let run_id = run_id(options.content_key(), period.month_key());
        let dir = options.out_dir.join(folder).join(&run_id);
        std::fs::create_dir_all(&dir).map_err(|source| GenerateError::Io {
            path: dir.clone(),
            source,
        })?;
        let submitted_day = period
            .days
            .last()
            .map_or(period.end, |day| day.date + Days::new(1));
        Ok(ExportRun {
            period_start: period.start,
            period_last_day: last_day,
            run_id,
            submitted: format!("{}T06:00:00Z", submitted_day.format("%Y-%m-%d")),
            parts: Parts::new(dir, |index| format!("part_0_{:04}.csv", index + 1)),
        })
    }

    pub(crate) fn write(&mut self, row: &FocusRow<'_>) -> Result<(), GenerateError> {
        let azure_row = AzureRow::from_focus(row, self);
        self.parts.write(azure_row)
    }

    /// Ends the last part and writes the manifest; returns every file written,
    /// the manifest last.
    pub(crate) fn finish(mut self) -> Result<(Vec<PathBuf>, u64), GenerateError> {
        self.parts.finish()?;
        let manifest = self.parts.dir().join("manifest.json");
        parts::write_json(&manifest, &self.manifest())?;
        let rows = self.parts.rows;
        let mut files: Vec<PathBuf> = self.parts.done.into_iter().map(|part| part.path).collect();
        files.push(manifest);
        Ok((files, rows))
    }

    fn manifest(&self) -> serde_json::Value {
        let blobs: Vec<serde_json::Value> = self
            .parts
            .done
            .iter()
            .map(|part| {
                let name = part.path.file_name().map(|n| n.to_string_lossy());
                serde_json::json!({
                    "blobName": name,
                    "byteCount": part.bytes,
                    "dataRowCount": part.rows,
                })
            })
            .collect();
        serde_json::json!({
            "manifestVersion": "2024-04-01",
            "byteCount": self.parts.bytes(),
            "blobCount": blobs.len(),
            "dataRowCount": self.parts.rows,
            "exportConfig": {
                "exportName": EXPORT_NAME,
                "dataVersion": "2021-10-01",
                "type": "AmortizedCost",
                "timeFrame": "MonthToDate",
                "granularity": "Daily",
            },
            "deliveryConfig": {
                "partitionData": true,
                "dataOverwriteBehavior": "CreateNewReport",
                "fileFormat": "Csv",
                "compressionMode": "None",
            },
            "runInfo": {
                "executionType": "Scheduled",
                "submittedTime": self.submitted,
                "runId": self.run_id,
                "startDate": format!("{}T00:00:00", self.period_start),
                "endDate": format!("{}T00:00:00", self.period_last_day),
            },
            "blobs": blobs,
        })
    }
}

/// A run id shaped like Cost Management's (a UUID), drawn from the seed and month.
pub(crate) fn run_id(seed: u64, month_key: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed ^ month_key.rotate_left(32));
    let hex: String = (0..16)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
