//! Every real Azure export file of `shared/data/azure-export/` through the real
//! local stack (tansu, ClickHouse): the totals per billing account, billing
//! period and currency in ClickHouse equal the file's own sums, computed here
//! with the csv crate alone, and rows read = published + rejected.
//!
//! Start the stack first (`scripts/stack.sh up`); `scripts/test.sh` does it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rust_decimal::Decimal;
use support::*;

/// (BilledCost, EffectiveCost) per (BillingAccountId, BillingPeriodStart as
/// YYYY-MM-DD, BillingCurrency).
type PeriodTotals = BTreeMap<(String, String, String), (Decimal, Decimal)>;

/// How a test reads one export file's own sums, column by column.
struct Expect {
    file: &'static str,
    /// Extra `ingest azure-file` arguments.
    args: &'static [&'static str],
    account: &'static str,
    /// The currency column, or `=CODE` for a currency assumed on the command line.
    currency: &'static str,
    cost: &'static str,
    /// The period-start column (MM/DD/YYYY), or the charge-date column whose
    /// month is the period when the file has no period.
    period: Period,
    /// Amortized: rows covered by a commitment are not billed again.
    amortized: bool,
    /// Data rows in the file.
    rows: u64,
    /// 1-based lines refused, with the column named in their reject.
    rejected: Vec<(i64, &'static str)>,
}

#[derive(Clone, Copy)]
enum Period {
    StartColumnUs(&'static str),
    MonthOfIso(&'static str),
    MonthOfUs(&'static str),
}

/// The file's own totals, skipping the rejected lines. Each data row of these
/// files is one line, so line = row index + 2.
fn file_totals(expect: &Expect) -> PeriodTotals {
    file_totals_with(expect, str::to_owned)
}

/// The file's own totals with each cost's text passed through `cost_text` first.
fn file_totals_with(expect: &Expect, cost_text: impl Fn(&str) -> String) -> PeriodTotals {
    let path = shared_data(&format!("azure-export/{}", expect.file));
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .unwrap_or_else(|| panic!("{} has no {name}", expect.file))
    };
    let skip: Vec<i64> = expect.rejected.iter().map(|(line, _)| *line).collect();

    let mut totals = PeriodTotals::new();
    for (index, row) in reader.records().enumerate() {
        if skip.contains(&(index as i64 + 2)) {
            continue;
        }
        let row = row.unwrap();
        let currency = match expect.currency.strip_prefix('=') {
            Some(code) => code.to_owned(),
            None => row[at(expect.currency)].to_owned(),
        };
        let period = match expect.period {
            Period::StartColumnUs(column) => us_to_iso(&row[at(column)]),
            Period::MonthOfIso(column) => format!("{}-01", &row[at(column)][..7]),
            Period::MonthOfUs(column) => format!("{}-01", &us_to_iso(&row[at(column)])[..7]),
        };
        let cost = exact(&cost_text(&row[at(expect.cost)]));
        let (mut billed, mut effective) = (cost, cost);
        if expect.amortized {
            let commitment = matches!(&row[at("PricingModel")], "Reservation" | "SavingsPlan");
            match &row[at("ChargeType")] {
                "Usage" | "UnusedReservation" | "UnusedSavingsPlan" if commitment => {
                    billed = Decimal::ZERO
                }
                "Purchase" | "Refund" if commitment => effective = Decimal::ZERO,
                _ => {}
            }
        }
        let entry = totals
            .entry((row[at(expect.account)].to_owned(), period, currency))
            .or_default();
        add_pair(entry, billed, effective);
    }
    normalize_periods(totals)
}

/// Period totals summed over periods: per (account, currency), as the
/// projection helpers of `support` give them.
fn by_account(totals: &PeriodTotals) -> Totals {
    let mut out = Totals::new();
    for ((account, _, currency), (billed, effective)) in totals {
        let entry = out.entry((account.clone(), currency.clone())).or_default();
        add_pair(entry, *billed, *effective);
    }
    normalize(out)
}

fn us_to_iso(date: &str) -> String {
    let parts: Vec<&str> = date.split('/').collect();
    format!("{}-{:0>2}-{:0>2}", parts[2], parts[0], parts[1])
}

fn normalize_periods(totals: PeriodTotals) -> PeriodTotals {
    totals
        .into_iter()
        .map(|(k, (b, e))| (k, (b.normalize(), e.normalize())))
        .collect()
}

/// Totals of the latest source version per billing period in `line_items`: the
/// sums of each amount's main and rest columns, added here.
async fn clickhouse_totals(env: &TestEnv) -> PeriodTotals {
    let rows = env
        .clickhouse(&format!(
            "SELECT billing_account_id, toString(toDate(billing_period_start)), billing_currency, \
             {SUM_PARTS} FROM line_items FINAL \
             WHERE (billing_account_id, billing_period_start, source_version) IN \
               (SELECT billing_account_id, billing_period_start, max(source_version) \
                FROM line_items GROUP BY billing_account_id, billing_period_start) \
             GROUP BY billing_account_id, billing_period_start, billing_currency"
        ))
        .await;
    let mut totals = PeriodTotals::new();
    for row in rows {
        let entry = totals
            .entry((row[0].clone(), row[1].clone(), row[2].clone()))
            .or_default();
        let billed = exact_add(exact(&row[3]), exact(&row[4]));
        let effective = exact_add(exact(&row[5]), exact(&row[6]));
        add_pair(entry, billed, effective);
    }
    normalize_periods(totals)
}

/// Ingests one real file into a fresh environment and checks counts, rejects
/// and totals against the file.
async fn reconcile(name: &str, expect: Expect) {
    let env = TestEnv::new(name);
    let path = shared_data(&format!("azure-export/{}", expect.file));
    let expected = file_totals(&expect);
    let published = expect.rows - expect.rejected.len() as u64;

    env.apply_topics().await;
    let mut args = vec!["ingest", "azure-file", path.to_str().unwrap()];
    args.extend_from_slice(expect.args);
    let out = env.costflow_ok(&args).await;
    let counts = format!(
        "rows read {} = published {published} + rejected {}",
        expect.rows,
        expect.rejected.len()
    );
    assert!(out.contains(&counts), "expected `{counts}`:\n{out}");
    let out = env.store_until_caught_up().await;
    assert!(
        out.contains(&format!("stored {published} records")),
        "{out}"
    );

    assert_eq!(clickhouse_totals(&env).await, expected, "{}", expect.file);
    let per_account = by_account(&expected);
    assert_eq!(
        projection_totals(&env).await,
        per_account,
        "{}",
        expect.file
    );
    // The API over the billing periods, a year either side: charge days may lie
    // outside their billing period (opencost_headersets_Enterprise: February
    // usage billed in May).
    let periods: Vec<chrono::NaiveDate> = expected
        .keys()
        .map(|(_, period, _)| period.parse().unwrap())
        .collect();
    if let (Some(first), Some(last)) = (periods.iter().min(), periods.iter().max()) {
        let from = (*first - chrono::Days::new(366)).to_string();
        let to = (*last + chrono::Days::new(366)).to_string();
        let api = api_totals(&env, &from, &to).await;
        assert_eq!(api, per_account, "{}", expect.file);
    }
    let rejects = read_rejects(&env, expect.rejected.len()).await;
    let found: Vec<(i64, &str)> = rejects
        .iter()
        .map(|r| (r.line.unwrap(), r.column.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(found, expect.rejected, "{rejects:#?}");
    assert!(rejects.iter().all(|r| r.source_uri.ends_with(expect.file)
        && r.source_provider == "Azure"
        && !r.reason.is_empty()));
}

/// The lines of a file whose cost has more decimal places than the main money
/// column keeps (15), found from the text alone: they are stored with their rest.
fn lines_beyond_15_places(file: &str, cost: &str) -> Vec<i64> {
    let path = shared_data(&format!("azure-export/{file}"));
    let mut reader = csv::Reader::from_path(Path::new(&path)).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = headers.iter().position(|h| h == cost).unwrap();
    reader
        .records()
        .enumerate()
        .filter(|(_, row)| {
            let text = &row.as_ref().unwrap()[at];
            let places = text
                .split_once('.')
                .map_or(0, |(_, frac)| frac.trim_end_matches('0').len());
            places > 15
        })
        .map(|(index, _)| index as i64 + 2)
        .collect()
}

const EA_ACTUAL: &str = "finops-toolkit_EA_ActualCost_Small.csv";
const EA_AMORTIZED: &str = "finops-toolkit_EA_AmortizedCost_Small.csv";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ea_actual_cost_reconciles_per_account_period_and_currency() {
    assert_eq!(lines_beyond_15_places(EA_ACTUAL, "Cost"), [12]);
    reconcile(
        "az_ea_actual",
        Expect {
            file: EA_ACTUAL,
            args: &[],
            account: "BillingAccountId",
            currency: "BillingCurrency",
            cost: "Cost",
            period: Period::StartColumnUs("BillingPeriodStartDate"),
            amortized: false,
            rows: 11,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ea_amortized_cost_reconciles_per_account_period_and_currency() {
    assert_eq!(
        lines_beyond_15_places(EA_AMORTIZED, "Cost"),
        [11, 13, 15, 18, 19, 29]
    );
    reconcile(
        "az_ea_amortized",
        Expect {
            file: EA_AMORTIZED,
            args: &[],
            account: "BillingAccountId",
            currency: "BillingCurrency",
            cost: "Cost",
            period: Period::StartColumnUs("BillingPeriodStartDate"),
            amortized: true,
            rows: 28,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ea_export_without_rows_lands_nothing() {
    reconcile(
        "az_ea_norows",
        Expect {
            file: "finops-toolkit_EA_NoRows.csv",
            args: &[],
            account: "BillingAccountId",
            currency: "BillingCurrency",
            cost: "Cost",
            period: Period::StartColumnUs("BillingPeriodStartDate"),
            amortized: false,
            rows: 0,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ea_2021_names_reconcile() {
    reconcile(
        "az_ea_2021",
        Expect {
            file: "opencost_headersets_Enterprise.csv",
            args: &[],
            account: "BillingAccountId",
            currency: "BillingCurrencyCode",
            cost: "CostInBillingCurrency",
            period: Period::StartColumnUs("BillingPeriodStartDate"),
            amortized: false,
            rows: 1,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_camel_case_reconciles_on_the_subscription() {
    reconcile(
        "az_partner",
        Expect {
            file: "opencost_headersets_EnterpriseCamel.csv",
            args: &[],
            account: "SubscriptionId",
            currency: "billingCurrency",
            cost: "costInBillingCurrency",
            period: Period::MonthOfUs("date"),
            amortized: false,
            rows: 1,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_as_you_go_reconciles_on_the_subscription() {
    reconcile(
        "az_payg",
        Expect {
            file: "opencost_headersets_PayAsYouGo.csv",
            args: &[],
            account: "SubscriptionGuid",
            currency: "Currency",
            cost: "PreTaxCost",
            period: Period::MonthOfIso("UsageDateTime"),
            amortized: false,
            rows: 1,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bom_file_with_an_empty_row_rejects_it_by_column() {
    reconcile(
        "az_bom",
        Expect {
            file: "opencost_headersets_BOM.csv",
            args: &[],
            account: "SubscriptionGuid",
            currency: "Currency",
            cost: "PreTaxCost",
            period: Period::MonthOfIso("UsageDateTime"),
            amortized: false,
            rows: 1,
            rejected: vec![(2, "SubscriptionGuid")],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localised_headers_reconcile() {
    reconcile(
        "az_localised",
        Expect {
            file: "opencost_headersets_YA.csv",
            args: &[],
            account: "subscriptionId",
            currency: "Currency",
            cost: "costInBillingCurrency",
            period: Period::MonthOfUs("date"),
            amortized: false,
            rows: 1,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_file_without_currency_reconciles_with_an_assumed_one() {
    reconcile(
        "az_vm",
        Expect {
            file: "opencost_values_VirtualMachine.csv",
            args: &["--assume", "BillingCurrency=USD"],
            account: "billingaccountid",
            currency: "=USD",
            cost: "costinbillingcurrency",
            period: Period::MonthOfIso("UsageDateTime"),
            amortized: false,
            rows: 1,
            rejected: vec![],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ragged_values_file_is_rejected_row_by_row() {
    reconcile(
        "az_ragged",
        Expect {
            file: "opencost_values_Template.csv",
            args: &["--assume", "BillingCurrency=USD"],
            account: "billingaccountid",
            currency: "=USD",
            cost: "costinbillingcurrency",
            period: Period::MonthOfIso("UsageDateTime"),
            amortized: false,
            rows: 87,
            rejected: (2..=88).map(|line| (line, "")).collect(),
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_currency_fails_and_lands_nothing() {
    let env = TestEnv::new("az_nocurrency");
    let path = shared_data("azure-export/opencost_values_VirtualMachine.csv");
    env.apply_topics().await;
    let output = env
        .costflow(&["ingest", "azure-file", path.to_str().unwrap()])
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("FAILED: "), "{stdout}");
    assert!(stdout.contains("--assume BillingCurrency=CODE"), "{stdout}");
    let rejects = read_rejects(&env, 1).await;
    assert_eq!(rejects[0].line, None);
    assert_eq!(rejects[0].column.as_deref(), Some("currency"));
}

// ------------------------------------------------------------- Blob Storage --

use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{ClientBuilder, ContainerClient};

/// Azurite's well-known development account and key (public, emulator only).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azurite_endpoint() -> String {
    std::env::var("COSTFLOW_AZURITE_URL")
        .unwrap_or_else(|_| format!("http://127.0.0.1:10000/{AZURITE_ACCOUNT}"))
}

/// A fresh container named after the test environment.
async fn azurite_container(env: &TestEnv) -> (String, ContainerClient) {
    let name: String = env
        .name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let name = name.trim_end_matches('-').to_owned();
    let location = CloudLocation::Custom {
        account: AZURITE_ACCOUNT.to_owned(),
        uri: azurite_endpoint(),
    };
    let credentials = StorageCredentials::access_key(AZURITE_ACCOUNT, AZURITE_KEY);
    let client = ClientBuilder::with_location(location, credentials).container_client(&name);
    client
        .create()
        .await
        .expect("Azurite is up (scripts/stack.sh up)");
    (name, client)
}

async fn upload(container: &ContainerClient, blob: &str, bytes: Vec<u8>) {
    container
        .blob_client(blob)
        .put_block_blob(bytes)
        .await
        .unwrap_or_else(|err| panic!("uploading {blob}: {err}"));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An improved-export manifest.json naming the given parts and their rows.
fn manifest(dataset: &str, submitted: &str, parts: &[(&str, u64)]) -> Vec<u8> {
    let blobs: Vec<serde_json::Value> = parts
        .iter()
        .map(|(name, rows)| serde_json::json!({"blobName": name, "dataRowCount": rows}))
        .collect();
    serde_json::json!({
        "manifestVersion": "2024-04-01",
        "blobCount": parts.len(),
        "dataRowCount": parts.iter().map(|(_, rows)| rows).sum::<u64>(),
        "exportConfig": {"exportName": "costflow-test", "type": dataset, "timeFrame": "MonthToDate"},
        "deliveryConfig": {"partitionData": true, "fileFormat": "Csv"},
        "runInfo": {"executionType": "Scheduled", "submittedTime": submitted,
                    "runId": "6f2b3c1e-0000-4000-8000-000000000001"},
        "blobs": blobs
    })
    .to_string()
    .into_bytes()
}

/// `costflow ingest azure` against Azurite for one container and prefix.
async fn ingest_from_azurite(
    env: &TestEnv,
    container: &str,
    prefix: &str,
    extra: &[&str],
) -> std::process::Output {
    let endpoint = azurite_endpoint();
    let mut args = vec![
        "ingest",
        "azure",
        "--account",
        AZURITE_ACCOUNT,
        "--container",
        container,
        "--prefix",
        prefix,
        "--endpoint",
        &endpoint,
        "--access-key",
        AZURITE_KEY,
    ];
    args.extend_from_slice(extra);
    env.costflow(&args).await
}

fn ea_amortized_expect() -> Expect {
    Expect {
        file: EA_AMORTIZED,
        args: &[],
        account: "BillingAccountId",
        currency: "BillingCurrency",
        cost: "Cost",
        period: Period::StartColumnUs("BillingPeriodStartDate"),
        amortized: true,
        rows: 28,
        rejected: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_run_in_blob_storage_reconciles_through_its_manifest() {
    let env = TestEnv::new("az_blob_run");
    let (container, client) = azurite_container(&env).await;
    let expect = ea_amortized_expect();
    let text = std::fs::read(shared_data(&format!("azure-export/{EA_AMORTIZED}"))).unwrap();
    let run = "costs/amortized/20230901-20230930/run1";
    let part = format!("{run}/part_0_0001.csv.gz");
    upload(&client, &part, gzip(&text)).await;
    upload(
        &client,
        &format!("{run}/manifest.json"),
        manifest("AmortizedCost", "2023-10-02T06:01:02.5Z", &[(&part, 28)]),
    )
    .await;

    env.apply_topics().await;
    let output = ingest_from_azurite(&env, &container, "costs/amortized/", &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("rows read 28 = published 28 + rejected 0"),
        "{out}"
    );
    assert!(out.contains("source version 1696226462500000"), "{out}");
    env.store_until_caught_up().await;

    assert_eq!(clickhouse_totals(&env).await, file_totals(&expect));
    let versions = env
        .clickhouse("SELECT DISTINCT source_version, source_uri FROM line_items")
        .await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0][0], "1696226462500000");
    assert!(
        versions[0][1].ends_with(&format!("/{container}/{part}")),
        "{versions:?}"
    );
    assert_eq!(
        projection_totals(&env).await,
        by_account(&file_totals(&expect))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_partitioned_run_is_read_through_its_underscore_manifest() {
    let env = TestEnv::new("az_blob_legacy");
    let (container, client) = azurite_container(&env).await;
    let path = shared_data(&format!("azure-export/{EA_ACTUAL}"));
    let run = "legacy/actual/20230901-20230930/0f1e2d3c";
    let part = format!("{container}/{run}/part_1_0001.csv");
    upload(
        &client,
        &format!("{run}/part_1_0001.csv"),
        std::fs::read(&path).unwrap(),
    )
    .await;
    let manifest = format!(
        r#"{{"ExportConfig": {{"Type": "ActualCost"}}, "BlobCount": 1,
            "RunInfo": {{"SubmittedTime": "2023-10-01T00:00:00Z"}},
            "Blobs": [{{"BlobName": "/{part}", "DataRowCount": 11}}]}}"#
    );
    upload(
        &client,
        &format!("{run}/_manifest.json"),
        manifest.into_bytes(),
    )
    .await;

    env.apply_topics().await;
    let output = ingest_from_azurite(&env, &container, "legacy/", &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("rows read 11 = published 11 + rejected 0"),
        "{out}"
    );
    env.store_until_caught_up().await;
    let expect = Expect {
        file: EA_ACTUAL,
        args: &[],
        account: "BillingAccountId",
        currency: "BillingCurrency",
        cost: "Cost",
        period: Period::StartColumnUs("BillingPeriodStartDate"),
        amortized: false,
        rows: 11,
        rejected: vec![],
    };
    assert_eq!(clickhouse_totals(&env).await, file_totals(&expect));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_a_missing_or_truncated_part_publishes_nothing() {
    let env = TestEnv::new("az_blob_broken");
    let (container, client) = azurite_container(&env).await;
    let text = std::fs::read(shared_data(&format!("azure-export/{EA_AMORTIZED}"))).unwrap();
    let actual = std::fs::read(shared_data(&format!("azure-export/{EA_ACTUAL}"))).unwrap();

    // Run 1: the manifest names two parts, only one was delivered.
    let run1 = "broken/missing/run1";
    upload(&client, &format!("{run1}/part_0.csv"), text.clone()).await;
    upload(
        &client,
        &format!("{run1}/manifest.json"),
        manifest(
            "AmortizedCost",
            "2023-10-02T00:00:00Z",
            &[
                (&format!("{run1}/part_0.csv"), 28),
                (&format!("{run1}/part_1.csv"), 5),
            ],
        ),
    )
    .await;
    // Run 2: a good part and a gzip part cut short.
    let run2 = "broken/truncated/run2";
    let gz = gzip(&actual);
    upload(&client, &format!("{run2}/part_0.csv"), text).await;
    upload(
        &client,
        &format!("{run2}/part_1.csv.gz"),
        gz[..gz.len() / 2].to_vec(),
    )
    .await;
    upload(
        &client,
        &format!("{run2}/manifest.json"),
        manifest(
            "AmortizedCost",
            "2023-10-03T00:00:00Z",
            &[
                (&format!("{run2}/part_0.csv"), 28),
                (&format!("{run2}/part_1.csv.gz"), 11),
            ],
        ),
    )
    .await;

    env.apply_topics().await;
    let output = ingest_from_azurite(&env, &container, "broken/", &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "the manifest names part {run1}/part_1.csv, which does not exist"
        )),
        "{out}"
    );
    assert!(
        out.contains("not published: another file of the run failed"),
        "{out}"
    );
    env.store_until_caught_up().await;
    let count = env.clickhouse("SELECT count() FROM line_items").await;
    assert_eq!(count[0][0], "0", "nothing of either run landed");

    // One reject per refused run or file; none for the rows of the good parts.
    let rejects = read_rejects(&env, 2).await;
    let reasons: Vec<&str> = rejects.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("does not exist")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("{run2}/part_1.csv.gz"))),
        "{reasons:?}"
    );
    assert!(rejects.iter().all(|r| r.line.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_read_only_once_their_manifest_exists() {
    let env = TestEnv::new("az_blob_wait");
    let (container, client) = azurite_container(&env).await;
    let path = shared_data(&format!("azure-export/{EA_ACTUAL}"));
    let run = "waiting/run1";
    let part = format!("{run}/part_0.csv");
    upload(&client, &part, std::fs::read(&path).unwrap()).await;
    env.apply_topics().await;

    // Parts alone are a run still being written: nothing is read.
    let output = ingest_from_azurite(&env, &container, "waiting/", &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("no export run under"), "{out}");

    // With --wait-secs the command waits for the manifest, then reads the run.
    let waiting = ingest_from_azurite(&env, &container, "waiting/", &["--wait-secs", "60"]);
    let late_manifest = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        upload(
            &client,
            &format!("{run}/manifest.json"),
            manifest("ActualCost", "2023-10-01T00:00:00Z", &[(&part, 11)]),
        )
        .await;
    };
    let (output, ()) = tokio::join!(waiting, late_manifest);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("rows read 11 = published 11 + rejected 0"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_cost_run_is_read_with_the_focus_reader_and_reconciles() {
    let env = TestEnv::new("az_blob_focus");
    let (container, client) = azurite_container(&env).await;
    let sample = focus_sample();
    let run = "focus/20240901-20240930/run1";
    let part = format!("{run}/part_0_0001.csv.gz");
    upload(&client, &part, gzip(&std::fs::read(&sample).unwrap())).await;
    upload(
        &client,
        &format!("{run}/manifest.json"),
        manifest("FocusCost", "2024-10-01T00:00:00Z", &[(&part, 1000)]),
    )
    .await;

    env.apply_topics().await;
    let output = ingest_from_azurite(&env, &container, "focus/", &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("rows read 1000 = published 1000 + rejected 0"),
        "{out}"
    );
    env.store_until_caught_up().await;
    assert_eq!(
        line_item_totals(&env).await,
        support::file_totals(&sample, &[])
    );
    let datasets = env
        .clickhouse("SELECT DISTINCT source_dataset, source_uri FROM line_items")
        .await;
    assert_eq!(datasets.len(), 1, "{datasets:?}");
    assert_eq!(datasets[0][0], "FocusCost");
    assert!(datasets[0][1].ends_with(&part), "{datasets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_run_replaces_the_period_and_reading_again_changes_nothing() {
    let env = TestEnv::new("az_blob_restate");
    let (container, client) = azurite_container(&env).await;
    let actual = std::fs::read(shared_data(&format!("azure-export/{EA_ACTUAL}"))).unwrap();
    let amortized = std::fs::read(shared_data(&format!("azure-export/{EA_AMORTIZED}"))).unwrap();
    // Two runs for account 8611537, September 2023; the later one was listed
    // first by name, so only the submitted time can order them.
    let (newer, older) = ("restate/a-run", "restate/b-run");
    upload(&client, &format!("{older}/part.csv"), actual).await;
    upload(
        &client,
        &format!("{older}/manifest.json"),
        manifest(
            "ActualCost",
            "2023-10-01T00:00:00Z",
            &[(&format!("{older}/part.csv"), 11)],
        ),
    )
    .await;
    upload(&client, &format!("{newer}/part.csv"), amortized).await;
    upload(
        &client,
        &format!("{newer}/manifest.json"),
        manifest(
            "AmortizedCost",
            "2023-10-05T00:00:00Z",
            &[(&format!("{newer}/part.csv"), 28)],
        ),
    )
    .await;

    env.apply_topics().await;
    // The second time the checkpoints skip both runs; the third time --reread
    // reads them again, which changes nothing either.
    for pass in 0..3 {
        let extra: &[&str] = if pass == 2 { &["--reread"] } else { &[] };
        let output = ingest_from_azurite(&env, &container, "restate/", extra).await;
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{out}");
        let runs: Vec<&str> = out.lines().filter(|l| l.starts_with("run ")).collect();
        if pass == 1 {
            assert!(runs.is_empty(), "{out}");
            assert!(out.contains("2 run(s) already ingested"), "{out}");
        } else {
            assert!(
                runs[0].contains("ActualCost") && runs[1].contains("AmortizedCost"),
                "{out}"
            );
        }
        env.store_until_caught_up().await;
        let expected = file_totals(&ea_amortized_expect());
        assert_eq!(clickhouse_totals(&env).await, expected);
        assert_eq!(projection_totals(&env).await, by_account(&expected));
    }
    let count = env.clickhouse("SELECT count() FROM line_items FINAL").await;
    assert_eq!(
        count[0][0], "39",
        "11 actual and 28 amortized lines, each once"
    );
}

/// `costflow ingest azure --watch-secs 1` on the `watched/` prefix, running.
fn start_watcher(env: &TestEnv, container: &str) -> tokio::process::Child {
    let endpoint = azurite_endpoint();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_costflow"))
        .args([
            "ingest",
            "azure",
            "--account",
            AZURITE_ACCOUNT,
            "--container",
            container,
            "--prefix",
            "watched/",
            "--endpoint",
            &endpoint,
            "--access-key",
            AZURITE_KEY,
            "--watch-secs",
            "1",
        ])
        .env("COSTFLOW_BROKERS", brokers())
        .env("COSTFLOW_TOPIC_PREFIX", env.topic_prefix())
        .env("COSTFLOW_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn upload_run(
    client: &ContainerClient,
    run: &str,
    dataset: &str,
    submitted: &str,
    bytes: Vec<u8>,
    rows: u64,
) {
    let part = format!("{run}/part.csv");
    upload(client, &part, bytes).await;
    upload(
        client,
        &format!("{run}/manifest.json"),
        manifest(dataset, submitted, &[(&part, rows)]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_reads_each_new_run_once_across_restarts() {
    let env = TestEnv::new("az_blob_watch");
    let (container, client) = azurite_container(&env).await;
    let actual = std::fs::read(shared_data(&format!("azure-export/{EA_ACTUAL}"))).unwrap();
    let amortized = std::fs::read(shared_data(&format!("azure-export/{EA_AMORTIZED}"))).unwrap();
    let enterprise = Expect {
        file: "opencost_headersets_Enterprise.csv",
        args: &[],
        account: "BillingAccountId",
        currency: "BillingCurrencyCode",
        cost: "CostInBillingCurrency",
        period: Period::StartColumnUs("BillingPeriodStartDate"),
        amortized: false,
        rows: 1,
        rejected: vec![],
    };
    env.apply_topics().await;

    // Two runs arrive while it watches, the second one a restatement.
    let watcher = start_watcher(&env, &container);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run1 = ("watched/run1", "ActualCost", "2023-10-01T00:00:00Z");
    upload_run(&client, run1.0, run1.1, run1.2, actual, 11).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run2 = ("watched/run2", "AmortizedCost", "2023-10-05T00:00:00Z");
    upload_run(&client, run2.0, run2.1, run2.2, amortized, 28).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = stop_watcher(watcher).await;
    let runs: Vec<&str> = out.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(runs.len(), 2, "each run read once:\n{out}");
    assert!(
        out.contains("rows read 11 = published 11 + rejected 0"),
        "{out}"
    );
    assert!(
        out.contains("rows read 28 = published 28 + rejected 0"),
        "{out}"
    );

    // A third run lands while no watcher runs. The restarted watcher reads it,
    // and only it: the checkpoints say the first two were ingested.
    let bytes = std::fs::read(shared_data(&format!("azure-export/{}", enterprise.file))).unwrap();
    let run3 = ("watched/run3", "ActualCost", "2023-10-06T00:00:00Z");
    upload_run(&client, run3.0, run3.1, run3.2, bytes, 1).await;
    let watcher = start_watcher(&env, &container);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = stop_watcher(watcher).await;
    let runs: Vec<&str> = out.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(runs.len(), 1, "only the new run:\n{out}");
    assert!(out.contains("2 run(s) already ingested"), "{out}");
    assert!(
        out.contains("rows read 1 = published 1 + rejected 0"),
        "{out}"
    );

    env.store_until_caught_up().await;
    let mut expected = file_totals(&ea_amortized_expect());
    let third = file_totals(&enterprise);
    assert!(third.keys().all(|k| !expected.contains_key(k)));
    expected.extend(third);
    assert_eq!(clickhouse_totals(&env).await, expected);
    let count = env.clickhouse("SELECT count() FROM line_items FINAL").await;
    assert_eq!(count[0][0], "40", "11 + 28 + 1 lines, each once");
}

/// The CSV export as a Snappy Parquet file: the cost as DOUBLE, the rest as
/// UTF-8 strings (a conversion of the real file, made here, not an Azure output).
fn parquet_of(csv_path: &Path) -> Vec<u8> {
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
    let fields: Vec<String> = header
        .iter()
        .map(|h| match h.as_str() {
            "Cost" => format!("OPTIONAL DOUBLE {h};"),
            _ => format!("OPTIONAL BYTE_ARRAY {h} (UTF8);"),
        })
        .collect();
    let schema = format!("message export {{ {} }}", fields.join(" "));
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&schema).unwrap());
    let properties = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(properties)).unwrap();
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
            _ => unreachable!("only strings and doubles are written"),
        }
        column.close().unwrap();
        index += 1;
    }
    group.close().unwrap();
    writer.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_run_reconciles_like_its_csv() {
    let env = TestEnv::new("az_blob_parquet");
    let (container, client) = azurite_container(&env).await;
    let run = "parquet/amortized/run1";
    let part = format!("{run}/part_0_0001.parquet");
    let bytes = parquet_of(&shared_data(&format!("azure-export/{EA_AMORTIZED}")));
    upload(&client, &part, bytes).await;
    let mut manifest = manifest("AmortizedCost", "2023-10-02T00:00:00Z", &[(&part, 28)]);
    manifest = String::from_utf8(manifest)
        .unwrap()
        .replace("\"fileFormat\":\"Csv\"", "\"fileFormat\":\"Parquet\"")
        .into_bytes();
    upload(&client, &format!("{run}/manifest.json"), manifest).await;

    env.apply_topics().await;
    let output = ingest_from_azurite(&env, &container, "parquet/", &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("rows read 28 = published 28 + rejected 0"),
        "{out}"
    );
    env.store_until_caught_up().await;
    // The Parquet cost is a DOUBLE: each CSV cost as the nearest f64, read back
    // as its shortest text (19 and 18 significant digits on lines 11 and 19 do
    // not survive f64), and those values are stored to the last digit.
    let as_double = |text: &str| text.parse::<f64>().unwrap().to_string();
    let expected = file_totals_with(&ea_amortized_expect(), as_double);
    assert_ne!(expected, file_totals(&ea_amortized_expect()));
    assert_eq!(clickhouse_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, by_account(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_dates_mix_layouts_is_quarantined_and_lands_nothing() {
    let env = TestEnv::new("az_mixed_dates");
    // The real EA export with one row's date rewritten in ISO form.
    let source = shared_data(&format!("azure-export/{EA_ACTUAL}"));
    let text = std::fs::read_to_string(&source).unwrap();
    let mixed = text.replacen(",09/05/2023,", ",2023-09-05,", 1);
    assert_ne!(mixed, text);
    let path = scratch_dir("az_mixed_dates").join("ea-mixed-dates.csv");
    std::fs::write(&path, mixed).unwrap();

    env.apply_topics().await;
    let output = env
        .costflow(&["ingest", "azure-file", path.to_str().unwrap()])
        .await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains("rows read 0 = published 0 + rejected 0"),
        "{out}"
    );
    assert!(out.contains("quarantined: dates mix layouts"), "{out}");
    let rejects = read_rejects(&env, 1).await;
    assert_eq!(rejects[0].line, None);
    assert!(
        rejects[0].reason.contains("`2023-09-05` is YYYY-MM-DD"),
        "{rejects:#?}"
    );
    env.store_until_caught_up().await;
    let count = env.clickhouse("SELECT count() FROM line_items").await;
    assert_eq!(count[0][0], "0");
}

/// Uploads every export run `costflow generate --layout azure-export` wrote under
/// `dir` to `prefix` in the container: each run's parts first, its manifest last.
async fn upload_generated_runs(client: &ContainerClient, dir: &Path, prefix: &str) -> usize {
    let mut runs = 0;
    for period in std::fs::read_dir(dir).unwrap() {
        let period = period.unwrap().path();
        if !period.is_dir() {
            continue; // spikes.csv
        }
        for run in std::fs::read_dir(&period).unwrap() {
            let run = run.unwrap().path();
            let mut files: Vec<_> = std::fs::read_dir(&run)
                .unwrap()
                .map(|f| f.unwrap().path())
                .collect();
            files.sort_by_key(|f| f.ends_with("manifest.json"));
            for file in files {
                let blob = format!("{prefix}{}", file.strip_prefix(dir).unwrap().display());
                upload(client, &blob, std::fs::read(&file).unwrap()).await;
            }
            runs += 1;
        }
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_export_runs_reconcile_with_the_focus_files_of_the_same_estate() {
    let env = TestEnv::new("az_generated");
    let (container, client) = azurite_container(&env).await;
    let focus_dir = scratch_dir("az_generated_focus");
    let azure_dir = scratch_dir("az_generated_azure");
    let generate = ["generate", "--days", "40", "--end", "2026-10-01", "--out"];
    let focus = env
        .costflow_ok(&[&generate[..], &[focus_dir.to_str().unwrap()]].concat())
        .await;
    let azure = env
        .costflow_ok(
            &[
                &generate[..],
                &[azure_dir.to_str().unwrap(), "--layout", "azure-export"],
            ]
            .concat(),
        )
        .await;
    assert!(azure.contains("86115370"), "{azure}\n{focus}");
    let runs = upload_generated_runs(&client, &azure_dir, "generated/").await;
    assert_eq!(runs, 2, "August and September");

    env.apply_topics().await;
    let output = ingest_from_azurite(&env, &container, "generated/", &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("rejected 0"), "{out}");
    env.store_until_caught_up().await;

    // The FOCUS files' own sums for the Azure account, read with the csv crate.
    let mut expected = Totals::new();
    for file in std::fs::read_dir(&focus_dir).unwrap() {
        let file = file.unwrap().path();
        if !file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("focus-")
        {
            continue;
        }
        for (key, (billed, effective)) in support::file_totals(&file, &[]) {
            if key.0 == "86115370" {
                add_pair(expected.entry(key).or_default(), billed, effective);
            }
        }
    }
    let expected = normalize(expected);
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
}
