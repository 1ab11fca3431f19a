//! Every real Azure export file in `shared/data/azure-export/`, read end to end,
//! with sums checked against the file's own text (csv crate, no costflow code).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{TimeZone, Utc};
use costflow_model::{CostRecord, Reject};
use rust_decimal::Decimal;

use super::*;
use crate::text::DateLayout;
use crate::Row;

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/azure-export")
        .join(name)
}

fn options(dataset: AzureDataset) -> AzureOptions {
    AzureOptions::new(dataset, 1_700_000_000_000_000)
}

fn with_currency(dataset: AzureDataset, code: &str) -> AzureOptions {
    let mut options = options(dataset);
    options
        .assume
        .insert("BillingCurrency".to_owned(), code.to_owned());
    options
}

fn read_all(path: &Path, options: &AzureOptions) -> (Vec<CostRecord>, Vec<Reject>) {
    let mut records = Vec::new();
    let mut rejects = Vec::new();
    for row in AzureReader::open(path, options).unwrap() {
        match row.unwrap() {
            Row::Record(record) => records.push(*record),
            Row::Reject(reject) => rejects.push(reject),
        }
    }
    (records, rejects)
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("costflow-azure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// `a + b`, failing the test if `Decimal` had to round the sum: it rounds only by
/// dropping decimal places, so an exact sum of values without trailing zeros
/// keeps the larger scale.
fn exact_add(a: Decimal, b: Decimal) -> Decimal {
    let (a, b) = (a.normalize(), b.normalize());
    let sum = a.checked_add(b).unwrap();
    assert_eq!(sum.scale(), a.scale().max(b.scale()), "{a} + {b} rounded");
    sum
}

/// Sum of one column per (account column, currency column) over the file's
/// rows, skipping the given 1-based lines; read with the csv crate alone.
fn file_sums(
    path: &Path,
    account: &str,
    currency: &str,
    cost: &str,
    skip_lines: &[u64],
) -> BTreeMap<(String, String), Decimal> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .unwrap()
    };
    let (account, currency, cost) = (at(account), at(currency), at(cost));
    let mut sums = BTreeMap::new();
    for (index, row) in reader.records().enumerate() {
        if skip_lines.contains(&(index as u64 + 2)) {
            continue;
        }
        let row = row.unwrap();
        let sum = sums
            .entry((row[account].to_owned(), row[currency].to_owned()))
            .or_insert(Decimal::ZERO);
        *sum = exact_add(*sum, dec(&row[cost]));
    }
    sums.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

fn sums_of(
    records: &[CostRecord],
    cost: impl Fn(&CostRecord) -> Decimal,
) -> BTreeMap<(String, String), Decimal> {
    let mut sums = BTreeMap::new();
    for record in records {
        *sums
            .entry((
                record.billing_account_id.clone(),
                record.billing_currency.clone(),
            ))
            .or_insert(Decimal::ZERO) += cost(record);
    }
    sums.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

fn lines_and_columns(rejects: &[Reject]) -> Vec<(i64, Option<&str>)> {
    rejects
        .iter()
        .map(|r| (r.line.unwrap_or(0), r.column.as_deref()))
        .collect()
}

fn day(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

#[test]
fn ea_actual_cost_reads_every_row_and_keeps_its_sums() {
    let path = shared("finops-toolkit_EA_ActualCost_Small.csv");
    let reader = AzureReader::open(&path, &options(AzureDataset::ActualCost)).unwrap();
    assert_eq!(reader.column_set(), ColumnSet::EnterpriseLegacy);
    assert_eq!(reader.date_layout(), Some(DateLayout::UsDate));
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));

    // Line 12's cost has 16 decimal places; all 28 a Decimal holds are kept.
    assert_eq!((records.len(), rejects.len()), (11, 0), "{rejects:#?}");
    assert_eq!(records[10].source_line, Some(12));
    assert_eq!(records[10].billed_cost, dec("0.4838709677419368"));

    let expected = file_sums(&path, "BillingAccountId", "BillingCurrency", "Cost", &[]);
    assert_eq!(sums_of(&records, |r| r.billed_cost), expected);
    assert_eq!(sums_of(&records, |r| r.effective_cost), expected);
    assert_eq!(
        expected[&("8611537".to_owned(), "USD".to_owned())],
        dec("8.5450077867419368")
    );

    for record in &records {
        assert_eq!(record.billing_period_start, day(2023, 9, 1));
        assert_eq!(record.billing_period_end, day(2023, 10, 1));
        assert_eq!(record.source_dataset, "ActualCost");
        assert_eq!(record.source_provider, "Azure");
        assert_eq!(record.source_version, 1_700_000_000_000_000);
    }
    let purchase = &records[0];
    assert_eq!(purchase.charge_category, "Purchase");
    assert_eq!(purchase.charge_period_start, day(2023, 9, 21));
    assert_eq!(purchase.charge_period_end, day(2023, 9, 22));
    assert_eq!(
        purchase.commitment_discount_type.as_deref(),
        Some("Reservation")
    );
    assert_eq!(purchase.charge_frequency.as_deref(), Some("Recurring"));
    assert_eq!(purchase.extensions["x_ChargeType"], "Purchase");
    let storage = &records[1];
    assert_eq!(storage.tags["env"], "prod");
    assert_eq!(storage.tags["databricks-environment"], "true");
    assert_eq!(storage.region_id.as_deref(), Some("eastus2"));
    assert_eq!(storage.pricing_category.as_deref(), Some("Standard"));
    assert_eq!(
        storage.sub_account_name.as_deref(),
        Some("Trey Research IT")
    );
    assert_eq!(
        storage.extensions["x_MeterId"],
        "aaaef613-418a-4a5f-af72-d224d7dee2c6"
    );
}

#[test]
fn ea_amortized_cost_moves_commitment_usage_out_of_billed_cost() {
    let path = shared("finops-toolkit_EA_AmortizedCost_Small.csv");
    let (records, rejects) = read_all(&path, &options(AzureDataset::AmortizedCost));
    // Six costs have 16 to 28 decimal places; every one is kept exactly.
    assert_eq!((records.len(), rejects.len()), (28, 0), "{rejects:#?}");
    let precise = |line: i64| {
        let record = records.iter().find(|r| r.source_line == Some(line));
        record.unwrap().effective_cost
    };
    assert_eq!(precise(11), dec("0.0001188669167459011366"));
    assert_eq!(precise(13), dec("0.0000000072922557592391990000"));
    assert_eq!(precise(15), dec("0.00000001911073923110962"));
    assert_eq!(precise(19), dec("0.161000000000000136"));

    let expected = file_sums(&path, "BillingAccountId", "BillingCurrency", "Cost", &[]);
    assert_eq!(sums_of(&records, |r| r.effective_cost), expected);
    assert_eq!(
        expected[&("8611537".to_owned(), "USD".to_owned())],
        dec("16.296932136636644627485419")
    );
    let reservation = &records[0];
    assert_eq!(reservation.billed_cost, Decimal::ZERO);
    assert_eq!(reservation.effective_cost, dec("0.493152"));
    assert_eq!(
        reservation.commitment_discount_status.as_deref(),
        Some("Used")
    );
    assert_eq!(
        reservation.commitment_discount_category.as_deref(),
        Some("Usage")
    );
    assert_eq!(reservation.pricing_category.as_deref(), Some("Committed"));
    let savings_plan = &records[1];
    assert_eq!(savings_plan.billed_cost, Decimal::ZERO);
    assert_eq!(
        savings_plan.commitment_discount_type.as_deref(),
        Some("Savings Plan")
    );
    assert_eq!(
        savings_plan.commitment_discount_category.as_deref(),
        Some("Spend")
    );
    // Billed is the amortised total less what the two commitments paid for.
    let billed = sums_of(&records, |r| r.billed_cost);
    let key = ("8611537".to_owned(), "USD".to_owned());
    assert_eq!(
        billed[&key],
        expected[&key] - dec("0.493152") - dec("0.006000000468")
    );
}

#[test]
fn ea_export_without_rows_reads_nothing_and_fails_nothing() {
    let path = shared("finops-toolkit_EA_NoRows.csv");
    let reader = AzureReader::open(&path, &options(AzureDataset::ActualCost)).unwrap();
    assert_eq!(reader.column_set(), ColumnSet::EnterpriseLegacy);
    assert_eq!(reader.date_layout(), None);
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!((records.len(), rejects.len()), (0, 0));
}

#[test]
fn bom_header_is_read_and_its_empty_row_is_rejected_by_column() {
    let path = shared("opencost_headersets_BOM.csv");
    let reader = AzureReader::open(&path, &options(AzureDataset::ActualCost)).unwrap();
    assert_eq!(reader.column_set(), ColumnSet::PayAsYouGo);
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!(records.len(), 0);
    assert_eq!(lines_and_columns(&rejects), [(2, Some("SubscriptionGuid"))]);
    assert_eq!(rejects[0].reason, "mandatory value is missing");
    assert_eq!(rejects[0].source_provider, "Azure");
}

#[test]
fn ea_2021_names_with_us_dates_and_braceless_tags() {
    let path = shared("opencost_headersets_Enterprise.csv");
    let reader = AzureReader::open(&path, &options(AzureDataset::ActualCost)).unwrap();
    assert_eq!(reader.column_set(), ColumnSet::Enterprise);
    assert_eq!(reader.date_layout(), Some(DateLayout::UsDate));
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!((records.len(), rejects.len()), (1, 0), "{rejects:#?}");
    let record = &records[0];
    assert_eq!(
        sums_of(&records, |r| r.billed_cost),
        file_sums(
            &path,
            "BillingAccountId",
            "BillingCurrencyCode",
            "CostInBillingCurrency",
            &[]
        )
    );
    assert_eq!(record.billing_account_id, "12345678");
    assert_eq!(record.billing_currency, "CAD");
    assert_eq!(record.billing_period_start, day(2021, 5, 1));
    assert_eq!(record.billing_period_end, day(2021, 6, 1));
    assert_eq!(record.charge_period_start, day(2021, 2, 2));
    assert_eq!(record.tags.len(), 5);
    assert_eq!(record.tags["poolName"], "defaultpool");
    assert!(record.extensions["x_AdditionalInfo"].starts_with("{\"UsageType\""));
    assert_eq!(record.pricing_quantity, Some(dec("10")));
    assert_eq!(record.contracted_unit_price, Some(dec("0.1")));
}

#[test]
fn partner_camel_case_keeps_billing_and_pricing_currency_apart() {
    let path = shared("opencost_headersets_EnterpriseCamel.csv");
    let reader = AzureReader::open(&path, &options(AzureDataset::ActualCost)).unwrap();
    assert_eq!(reader.column_set(), ColumnSet::Partner);
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!((records.len(), rejects.len()), (1, 0), "{rejects:#?}");
    let record = &records[0];
    assert_eq!(
        sums_of(&records, |r| r.billed_cost),
        file_sums(
            &path,
            "SubscriptionId",
            "billingCurrency",
            "costInBillingCurrency",
            &[]
        )
    );
    // No billing account column: the subscription is the billed account.
    assert_eq!(
        record.billing_account_id,
        "11111111-1111-1111-1111-123456789012"
    );
    assert_eq!(
        record.extensions["x_BillingAccountIdSource"],
        "SubscriptionId"
    );
    assert_eq!(record.billing_currency, "USD");
    assert_eq!(record.pricing_currency.as_deref(), Some("USD"));
    assert_eq!(record.extensions["x_costInUsd"], "0.012");
    assert_eq!(record.extensions["x_exchangeRatePricingToBilling"], "1");
    assert_eq!(record.invoice_issuer_name.as_deref(), Some("PartnerName"));
    // The period cells are empty, so the period is the charge day's month.
    assert_eq!(record.billing_period_start, day(2021, 2, 1));
    assert_eq!(record.billing_period_end, day(2021, 3, 1));
    assert_eq!(record.charge_period_start, day(2021, 2, 2));
    assert_eq!(record.tags["Vendor"], "Databricks");
}

#[test]
fn pay_as_you_go_usage_export_reads_as_usage() {
    let path = shared("opencost_headersets_PayAsYouGo.csv");
    let reader = AzureReader::open(&path, &options(AzureDataset::ActualCost)).unwrap();
    assert_eq!(reader.date_layout(), Some(DateLayout::IsoDate));
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!((records.len(), rejects.len()), (1, 0), "{rejects:#?}");
    assert_eq!(
        sums_of(&records, |r| r.effective_cost),
        file_sums(&path, "SubscriptionGuid", "Currency", "PreTaxCost", &[])
    );
    let record = &records[0];
    assert_eq!(record.charge_category, "Usage");
    assert_eq!(record.region_name.as_deref(), Some("US East"));
    assert_eq!(record.pricing_quantity, Some(dec("3")));
    assert_eq!(record.billing_period_start, day(2021, 2, 1));
}

#[test]
fn localised_headers_match_by_the_english_name_in_parentheses() {
    let path = shared("opencost_headersets_YA.csv");
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!((records.len(), rejects.len()), (1, 0), "{rejects:#?}");
    assert_eq!(
        sums_of(&records, |r| r.billed_cost),
        file_sums(
            &path,
            "subscriptionId",
            "Currency",
            "costInBillingCurrency",
            &[]
        )
    );
    let record = &records[0];
    assert_eq!(record.pricing_quantity, Some(dec("3")));
    assert_eq!(record.pricing_unit.as_deref(), Some("100 Hours"));
    assert_eq!(
        record.extensions["x_ResourceGroup"],
        "Example-Resource-Group"
    );
    assert!(
        !record.extensions.contains_key("x_ServiceInfo1"),
        "empty cells are nulls"
    );
    assert_eq!(record.charge_period_start, day(2021, 2, 2));
}

#[test]
fn file_without_currency_is_refused_unless_one_is_assumed() {
    let path = shared("opencost_values_VirtualMachine.csv");
    let err = AzureReader::open(&path, &options(AzureDataset::ActualCost))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            AzureError::MissingColumn {
                what: "currency",
                ..
            }
        ),
        "{err}"
    );

    let (records, rejects) = read_all(&path, &with_currency(AzureDataset::ActualCost, "USD"));
    assert_eq!((records.len(), rejects.len()), (1, 0), "{rejects:#?}");
    let record = &records[0];
    assert_eq!(
        record.billing_account_id,
        "11111111-12ab-34dc-56ef-123456billing"
    );
    assert_eq!(record.billed_cost, dec("4"));
    assert_eq!(record.extensions["x_paygcostinbillingcurrency"], "5");
    assert_eq!(
        record.tags["creationSource"],
        "aks-aks-nodepool1-12345678-vmss"
    );
}

#[test]
fn ragged_rows_are_rejected_not_shifted() {
    let path = shared("opencost_values_Template.csv");
    let (records, rejects) = read_all(&path, &with_currency(AzureDataset::ActualCost, "USD"));
    assert_eq!((records.len(), rejects.len()), (0, 87));
    assert!(rejects
        .iter()
        .all(|r| r.reason.starts_with("row has 10 fields, the header has 11")));
    assert_eq!(rejects[0].line, Some(2));
    assert_eq!(rejects[86].line, Some(88));
}

const HEADER: &str = "BillingAccountId,BillingPeriodStartDate,BillingPeriodEndDate,Date,CostInBillingCurrency,BillingCurrencyCode,ChargeType,PricingModel,benefitId,Tags";

#[test]
fn a_file_whose_dates_mix_layouts_is_quarantined_whole() {
    let text = format!(
        "{HEADER}\n\
         a,2024-09-01,2024-09-30,2024-09-02,1,USD,Usage,OnDemand,,\n\
         a,2024-09-01,2024-09-30,09/03/2024,1,USD,Usage,OnDemand,,\n"
    );
    let path = temp_file("mixed.csv", text.as_bytes());
    let err = AzureReader::open(&path, &options(AzureDataset::ActualCost))
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        matches!(err, AzureError::MixedDateLayouts { .. }),
        "{message}"
    );
    assert!(message.contains("line 3 Date `09/03/2024`"), "{message}");
    assert!(message.contains("quarantined"), "{message}");
}

#[test]
fn a_date_in_another_layout_after_many_repeated_dates_is_still_found() {
    // The first pass votes each column's value only when it differs from the
    // one before; the odd value out must still be seen, with its own line.
    let same = "a,2024-09-01,2024-09-30,2024-09-02,1,USD,Usage,OnDemand,,\n";
    let text = format!(
        "{HEADER}\n{}a,2024-09-01,09/30/2024,2024-09-02,1,USD,Usage,OnDemand,,\n{same}",
        same.repeat(3)
    );
    let path = temp_file("mixed-late.csv", text.as_bytes());
    let err = AzureReader::open(&path, &options(AzureDataset::ActualCost))
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("line 5 BillingPeriodEndDate `09/30/2024`"),
        "{message}"
    );
}

#[test]
fn csv_shapes_nulls_and_numbers_follow_the_shared_rules() {
    let text = format!(
        "\u{feff}{HEADER}\r\n\
         \u{feff}a,2024-09-01,2024-09-30,2024-09-02,1.5E-3,USD,Usage,OnDemand,NULL,\"{{\"\"k\"\": \"\"v, w\"\"}}\"\r\n\
         \r\n\
         a,2024-09-01,2024-09-30,2024-09-03,-2e+1,USD,Refund,OnDemand,(null),\r\n\
         a,2024-09-01,2024-09-30,2024-09-04,N/A,USD,Usage,OnDemand,,\r\n\
         a,2024-09-01,2024-09-30,2024-09-04,1,USD,Bonus,OnDemand,,\r\n\
         a,2024-09-01,2024-09-30,2024-09-31,1,USD,Usage,OnDemand,,\r\n"
    );
    let path = temp_file("shapes.csv", text.as_bytes());
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!(records.len(), 2, "{rejects:#?}");
    assert_eq!(records[0].billed_cost, dec("0.0015"));
    assert_eq!(
        records[0].billing_account_id, "a",
        "BOM at the start of a cell"
    );
    assert_eq!(records[0].tags["k"], "v, w");
    assert_eq!(records[0].billing_period_end, day(2024, 10, 1));
    assert_eq!(records[1].billed_cost, dec("-20"));
    assert_eq!(records[1].charge_category, "Purchase");
    assert_eq!(records[1].charge_class.as_deref(), Some("Correction"));
    assert_eq!(
        lines_and_columns(&rejects),
        [
            (5, Some("CostInBillingCurrency")),
            (6, Some("ChargeType")),
            (7, Some("Date")),
        ]
    );
    assert!(
        rejects[2].reason.contains("YYYY-MM-DD"),
        "{}",
        rejects[2].reason
    );
}

#[test]
fn amortized_commitment_purchase_is_billed_but_not_effective() {
    let text = format!(
        "{HEADER}\n\
         a,2024-09-01,2024-09-30,2024-09-01,100,USD,Purchase,Reservation,r1,\n\
         a,2024-09-01,2024-09-30,2024-09-02,3,USD,UnusedReservation,Reservation,r1,\n"
    );
    let path = temp_file("amortized-purchase.csv", text.as_bytes());
    let (records, _) = read_all(&path, &options(AzureDataset::AmortizedCost));
    assert_eq!(
        (records[0].billed_cost, records[0].effective_cost),
        (dec("100"), Decimal::ZERO)
    );
    assert_eq!(
        (records[1].billed_cost, records[1].effective_cost),
        (Decimal::ZERO, dec("3"))
    );
    assert_eq!(
        records[1].commitment_discount_status.as_deref(),
        Some("Unused")
    );
    let (actual, _) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!(
        (actual[0].billed_cost, actual[0].effective_cost),
        (dec("100"), dec("100"))
    );
}

#[test]
fn gzip_parts_read_like_plain_ones_and_a_truncated_one_fails_the_file() {
    let plain = shared("finops-toolkit_EA_ActualCost_Small.csv");
    let bytes = std::fs::read(&plain).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&bytes).unwrap();
    let gz = encoder.finish().unwrap();
    let path = temp_file("part_0_0001.csv.gz", &gz);
    let opts = options(AzureDataset::ActualCost);
    let (from_gz, gz_rejects) = read_all(&path, &opts);
    let (from_plain, _) = read_all(&plain, &opts);
    assert_eq!((from_gz.len(), gz_rejects.len()), (11, 0));
    let keys = |records: &[CostRecord]| {
        records
            .iter()
            .map(|r| r.record_key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&from_gz), keys(&from_plain));

    let truncated = temp_file("part_0_0002.csv.gz", &gz[..gz.len() * 2 / 3]);
    let err = AzureReader::open(&truncated, &opts).err().unwrap();
    assert!(matches!(err, AzureError::Io { .. }), "{err}");
}

#[test]
fn a_part_with_another_row_count_than_its_manifest_is_refused() {
    let path = shared("finops-toolkit_EA_AmortizedCost_Small.csv");
    let mut opts = options(AzureDataset::AmortizedCost);
    opts.expected_rows = Some(28);
    assert!(AzureReader::open(&path, &opts).is_ok());
    opts.expected_rows = Some(30);
    let err = AzureReader::open(&path, &opts).err().unwrap();
    assert!(
        matches!(
            err,
            AzureError::RowCount {
                expected: 30,
                found: 28,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn mca_billing_and_pricing_currencies_stay_apart() {
    // MCA column names as MS Learn lists them for cost details; values made up.
    let text = "invoiceId,billingAccountId,billingProfileId,invoiceSectionId,date,\
                billingPeriodStartDate,billingPeriodEndDate,chargeType,pricingModel,\
                costInBillingCurrency,billingCurrency,costInPricingCurrency,pricingCurrency,\
                exchangeRatePricingToBilling,quantity,unitOfMeasure,tags\n\
                E2A-1,acct-1,prof-1,sec-1,2024-03-05,2024-03-01,2024-03-31,Usage,OnDemand,\
                92.5,EUR,100,USD,0.925,4,1 Hour,\"{\"\"team\"\": \"\"data\"\"}\"\n";
    let path = temp_file("mca.csv", text.as_bytes());
    let reader = AzureReader::open(&path, &options(AzureDataset::ActualCost)).unwrap();
    assert_eq!(reader.column_set(), ColumnSet::MicrosoftCustomerAgreement);
    let (records, rejects) = read_all(&path, &options(AzureDataset::ActualCost));
    assert_eq!((records.len(), rejects.len()), (1, 0), "{rejects:#?}");
    let record = &records[0];
    assert_eq!(record.billing_account_id, "acct-1");
    assert_eq!(
        (record.billed_cost, record.effective_cost),
        (dec("92.5"), dec("92.5"))
    );
    assert_eq!(record.billing_currency, "EUR");
    assert_eq!(record.pricing_currency_effective_cost, Some(dec("100")));
    assert_eq!(record.pricing_currency.as_deref(), Some("USD"));
    assert_eq!(record.invoice_id.as_deref(), Some("E2A-1"));
    assert_eq!(record.billing_period_end, day(2024, 4, 1));
    assert_eq!(record.extensions["x_billingProfileId"], "prof-1");
    assert_eq!(record.tags["team"], "data");
}

/// Writes a CSV export as a Parquet file the way Azure types its columns:
/// dates as DATE, the cost as DOUBLE, everything else as UTF-8 strings.
fn csv_to_parquet(csv_path: &Path, name: &str) -> PathBuf {
    use parquet::column::writer::ColumnWriter;
    use parquet::data_type::ByteArray;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;

    let mut reader = csv::Reader::from_path(csv_path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let kind = |name: &str| match name {
        "Date" | "BillingPeriodStartDate" | "BillingPeriodEndDate" => "INT32",
        "Cost" => "DOUBLE",
        _ => "BYTE_ARRAY",
    };
    let fields: Vec<String> = header
        .iter()
        .map(|h| match kind(h) {
            "INT32" => format!("OPTIONAL INT32 {h} (DATE);"),
            "DOUBLE" => format!("OPTIONAL DOUBLE {h};"),
            _ => format!("OPTIONAL BYTE_ARRAY {h} (UTF8);"),
        })
        .collect();
    let schema = format!("message export {{ {} }}", fields.join(" "));
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&schema).unwrap());
    let properties = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();

    let path = temp_file(name, b"");
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(properties)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut index = 0;
    while let Some(mut column) = group.next_column().unwrap() {
        let cells: Vec<&str> = rows.iter().map(|r| &r[index]).collect();
        let defs: Vec<i16> = cells.iter().map(|c| i16::from(!c.is_empty())).collect();
        let present = cells.iter().filter(|c| !c.is_empty());
        match column.untyped() {
            ColumnWriter::ByteArrayColumnWriter(w) => {
                let values: Vec<ByteArray> = present.map(|c| ByteArray::from(*c)).collect();
                w.write_batch(&values, Some(&defs), None).unwrap();
            }
            ColumnWriter::DoubleColumnWriter(w) => {
                let values: Vec<f64> = present.map(|c| c.parse().unwrap()).collect();
                w.write_batch(&values, Some(&defs), None).unwrap();
            }
            ColumnWriter::Int32ColumnWriter(w) => {
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
                let values: Vec<i32> = present
                    .map(|c| {
                        let date = chrono::NaiveDate::parse_from_str(c, "%m/%d/%Y").unwrap();
                        (date - epoch).num_days() as i32
                    })
                    .collect();
                w.write_batch(&values, Some(&defs), None).unwrap();
            }
            _ => unreachable!("only the three types above are written"),
        }
        column.close().unwrap();
        index += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
    path
}

#[test]
fn parquet_parts_read_like_their_csv() {
    let csv_path = shared("finops-toolkit_EA_ActualCost_Small.csv");
    let path = csv_to_parquet(&csv_path, "part_0_0001.parquet");
    let opts = options(AzureDataset::ActualCost);
    let reader = AzureReader::open(&path, &opts).unwrap();
    assert_eq!(reader.column_set(), ColumnSet::EnterpriseLegacy);
    assert_eq!(reader.date_layout(), Some(DateLayout::Rfc3339));
    let (from_parquet, rejects) = read_all(&path, &opts);
    let (from_csv, _) = read_all(&csv_path, &opts);

    // The 16-place cost, written as a DOUBLE, reads back as the CSV's text.
    assert_eq!((from_parquet.len(), rejects.len()), (11, 0), "{rejects:#?}");
    assert_eq!(from_parquet[10].billed_cost, dec("0.4838709677419368"));
    let money = |records: &[CostRecord]| sums_of(records, |r| r.billed_cost);
    assert_eq!(money(&from_parquet), money(&from_csv));
    for (parquet, csv) in from_parquet.iter().zip(&from_csv) {
        assert_eq!(parquet.billing_period_start, csv.billing_period_start);
        assert_eq!(parquet.billing_period_end, csv.billing_period_end);
        assert_eq!(parquet.charge_period_start, csv.charge_period_start);
        assert_eq!(parquet.tags, csv.tags);
    }

    let truncated = temp_file("part_0_0002.parquet", &std::fs::read(&path).unwrap()[..500]);
    let err = AzureReader::open(&truncated, &opts).err().unwrap();
    assert!(matches!(err, AzureError::Parquet { .. }), "{err}");
}
