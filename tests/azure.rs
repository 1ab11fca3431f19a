//! Every real Azure export file of `shared/data/azure-export/` through the real
//! local stack (tansu, ClickHouse): the totals per billing account, billing
//! period and currency in ClickHouse equal the file's own sums, computed here
//! with the csv crate alone, and rows read = published + rejected.
//!
//! Start the stack first (`scripts/stack.sh up`); `scripts/test.sh` does it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use costflow_bus::{BatchConsumer, KafkaConfig};
use costflow_model::{Codec, Reject};
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
        let cost = Decimal::from_str(&row[at(expect.cost)]).unwrap();
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
        entry.0 += billed;
        entry.1 += effective;
    }
    normalize_periods(totals)
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

/// Totals of the latest source version per billing period in `line_items`.
async fn clickhouse_totals(env: &TestEnv) -> PeriodTotals {
    let rows = env
        .clickhouse(
            "SELECT billing_account_id, toString(toDate(billing_period_start)), billing_currency, \
             toString(sum(billed_cost)), toString(sum(effective_cost)) FROM line_items FINAL \
             WHERE (billing_account_id, billing_period_start, source_version) IN \
               (SELECT billing_account_id, billing_period_start, max(source_version) \
                FROM line_items GROUP BY billing_account_id, billing_period_start) \
             GROUP BY billing_account_id, billing_period_start, billing_currency",
        )
        .await;
    let mut totals = PeriodTotals::new();
    for row in rows {
        let entry = totals
            .entry((row[0].clone(), row[1].clone(), row[2].clone()))
            .or_default();
        entry.0 += Decimal::from_str(&row[3]).unwrap();
        entry.1 += Decimal::from_str(&row[4]).unwrap();
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
    let rejects = azure_rejects(&env, expect.rejected.len()).await;
    let found: Vec<(i64, &str)> = rejects
        .iter()
        .map(|r| (r.line.unwrap(), r.column.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(found, expect.rejected, "{rejects:#?}");
    assert!(rejects.iter().all(|r| r.source_uri.ends_with(expect.file)
        && r.source_provider == "Azure"
        && !r.reason.is_empty()));
}

/// Reads `count` rejects from the environment's `ingest.rejects`, by line.
async fn azure_rejects(env: &TestEnv, count: usize) -> Vec<Reject> {
    if count == 0 {
        return Vec::new();
    }
    let mut kafka = KafkaConfig::new(brokers());
    kafka.topic_prefix = env.topic_prefix();
    let topic = kafka.topic("ingest.rejects");
    let consumer = BatchConsumer::new(&kafka, &env.group("rejects-reader"), &[topic]).unwrap();
    let codec = Codec::reject();
    let mut rejects = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while rejects.len() < count && tokio::time::Instant::now() < deadline {
        let batch = consumer
            .next_batch(100, Duration::from_secs(2), Duration::from_millis(100))
            .await
            .unwrap();
        for message in &batch.messages {
            use rdkafka::Message;
            rejects.push(codec.decode::<Reject>(message.payload().unwrap()).unwrap());
        }
    }
    assert_eq!(rejects.len(), count, "{rejects:#?}");
    rejects.sort_by_key(|r| r.line);
    rejects
}

/// The lines of a file whose cost has more decimal places than ClickHouse keeps
/// (15), found from the text alone.
fn too_precise_lines(file: &str, cost: &str) -> Vec<i64> {
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
    assert_eq!(too_precise_lines(EA_ACTUAL, "Cost"), [12]);
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
            rejected: vec![(12, "Cost")],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ea_amortized_cost_reconciles_per_account_period_and_currency() {
    assert_eq!(
        too_precise_lines(EA_AMORTIZED, "Cost"),
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
            rejected: vec![
                (11, "Cost"),
                (13, "Cost"),
                (15, "Cost"),
                (18, "Cost"),
                (19, "Cost"),
                (29, "Cost"),
            ],
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
    let rejects = azure_rejects(&env, 1).await;
    assert_eq!(rejects[0].line, None);
    assert_eq!(rejects[0].column.as_deref(), Some("currency"));
}
