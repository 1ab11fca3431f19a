//! AWS Cost Explorer end to end: the AWS SDK against moto server (the local AWS
//! endpoint `scripts/stack.sh up` starts), the real tansu broker and ClickHouse.
//! The response shapes are the AWS CLI documentation's `get-cost-and-usage`
//! example (`../shared/data/aws-ce/`), queued into moto; the expected totals are
//! summed from those JSON values with serde_json and rust_decimal alone.
//!
//! moto answers `GetCostAndUsage` from one queue per server: every test here takes
//! `MOTO` and resets moto first, so the tests of this binary never share a queue.

mod support;

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use support::*;

/// moto holds one result queue; one test at a time uses it.
static MOTO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The payer account every record is billed to.
const PAYER: &str = "999988887777";
/// The linked account the AWS example's groups are filed under.
const LINKED: &str = "111122223333";

/// (BilledCost, EffectiveCost) per (account, billing period start in Unix
/// seconds, currency).
type PeriodTotals = BTreeMap<(String, i64, String), (Decimal, Decimal)>;

fn aws_example() -> Value {
    let path = shared_data("aws-ce/awscli-example_get-cost-and-usage_service-tag.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Empties moto's queues and remembered answers.
async fn reset_moto() {
    let response = reqwest::Client::new()
        .post(format!("{}/moto-api/reset", moto_url()))
        .send()
        .await
        .expect("moto server answers (scripts/stack.sh up starts it)");
    assert!(response.status().is_success(), "{response:?}");
}

/// Queues `GetCostAndUsage` answers: moto gives each new request body the next one.
async fn queue(results: &[Value]) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/moto-api/static/ce/cost-and-usage-results",
            moto_url()
        ))
        .json(&json!({ "results": results }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// The AWS example's groups, with AmortizedCost and NetAmortizedCost added. The
/// AWS example asked for BlendedCost; its BlendedCost amounts stand in for the
/// amortised ones, so the amounts stay the real example's text.
fn with_amortized(group: &Value) -> Value {
    let mut group = group.clone();
    let metrics = group["Metrics"].as_object_mut().unwrap();
    let blended = metrics["BlendedCost"].clone();
    metrics.insert("AmortizedCost".to_owned(), blended.clone());
    metrics.insert("NetAmortizedCost".to_owned(), blended);
    group
}

fn amount(metric: &Value) -> Decimal {
    Decimal::from_str(metric["Amount"].as_str().unwrap()).unwrap()
}

fn unix_seconds(day: &str) -> i64 {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp()
}

/// What the answers hold for (PAYER, month, currency), computed from the JSON:
/// UnblendedCost and AmortizedCost of every group that carries all three cost
/// metrics, under the month of its period's start.
fn expected_totals(pages: &[Value]) -> PeriodTotals {
    let mut totals = PeriodTotals::new();
    for page in pages {
        for result in page["ResultsByTime"].as_array().unwrap() {
            let start = result["TimePeriod"]["Start"].as_str().unwrap();
            let month = format!("{}-01", &start[..7]);
            for group in result["Groups"].as_array().unwrap() {
                let metrics = &group["Metrics"];
                if metrics.get("AmortizedCost").is_none()
                    || metrics.get("NetAmortizedCost").is_none()
                {
                    continue;
                }
                let currency = metrics["UnblendedCost"]["Unit"].as_str().unwrap();
                let entry = totals
                    .entry((PAYER.to_owned(), unix_seconds(&month), currency.to_owned()))
                    .or_default();
                entry.0 += amount(&metrics["UnblendedCost"]);
                entry.1 += amount(&metrics["AmortizedCost"]);
            }
        }
    }
    normalize_periods(totals)
}

fn normalize_periods(totals: PeriodTotals) -> PeriodTotals {
    totals
        .into_iter()
        .map(|(k, (b, e))| (k, (b.normalize(), e.normalize())))
        .collect()
}

/// Totals of the newest source version of each billing period in `line_items`.
async fn clickhouse_period_totals(env: &TestEnv) -> PeriodTotals {
    let rows = env
        .clickhouse(&format!(
            "SELECT billing_account_id, toString(toUnixTimestamp(billing_period_start)), \
             billing_currency, {SUM_PARTS} \
             FROM line_items FINAL \
             WHERE (billing_account_id, billing_period_start, source_version) IN \
               (SELECT billing_account_id, billing_period_start, max(source_version) \
                FROM line_items GROUP BY billing_account_id, billing_period_start) \
             GROUP BY billing_account_id, billing_period_start, billing_currency"
        ))
        .await;
    let mut totals = PeriodTotals::new();
    for row in rows {
        let key = (row[0].clone(), row[1].parse().unwrap(), row[2].clone());
        let entry = totals.entry(key).or_default();
        entry.0 = exact_add(entry.0, exact_add(exact(&row[3]), exact(&row[4])));
        entry.1 = exact_add(entry.1, exact_add(exact(&row[5]), exact(&row[6])));
    }
    normalize_periods(totals)
}

async fn ingest(env: &TestEnv, extra: &[&str]) -> String {
    let url = moto_url();
    let mut args = vec![
        "ingest",
        "cost-explorer",
        "--billing-account",
        PAYER,
        "--endpoint-url",
        &url,
    ];
    args.extend_from_slice(extra);
    let output = env.costflow_with_env(&args, &AWS_ENV).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "costflow {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn real_example_over_two_pages_reconciles_per_account_period_and_currency() {
    let _moto = MOTO.lock().await;
    reset_moto().await;
    let env = TestEnv::new("ce_pages");
    env.apply_topics().await;

    // Request 1 lists the linked accounts; request 2 groups the one account by
    // service and tag, over two pages: September as AWS printed it (amortised
    // metrics added), then October, whose second group is left exactly as in the
    // AWS example, without AmortizedCost, and must be rejected.
    let example = aws_example();
    let result = &example["ResultsByTime"][0];
    let groups = result["Groups"].as_array().unwrap();
    let accounts = json!({
        "ResultsByTime": [{
            "TimePeriod": result["TimePeriod"], "Total": {}, "Estimated": false,
            "Groups": [{ "Keys": [LINKED], "Metrics": groups[0]["Metrics"] }]
        }],
        "DimensionValueAttributes": [
            { "Value": LINKED, "Attributes": { "description": "Example member account" } }
        ]
    });
    let mut september = example.clone();
    september["ResultsByTime"][0]["Groups"] =
        Value::Array(groups.iter().map(with_amortized).collect());
    september["NextPageToken"] = json!("page-2-token");
    let mut october = example.clone();
    october["ResultsByTime"][0]["TimePeriod"] = json!({"Start": "2017-10-01", "End": "2017-11-01"});
    october["ResultsByTime"][0]["Groups"] = json!([with_amortized(&groups[0]), groups[1]]);
    queue(&[accounts, september.clone(), october.clone()]).await;

    let stdout = ingest(
        &env,
        &[
            "--start",
            "2017-09-01",
            "--end",
            "2017-11-01",
            "--tag-key",
            "Environment",
        ],
    )
    .await;
    assert!(
        stdout.contains("rows read 4 = published 3 + rejected 1"),
        "{stdout}"
    );
    env.store_until_caught_up().await;

    let expected = expected_totals(&[september, october]);
    assert_eq!(expected.len(), 2, "two billing periods: {expected:?}");
    assert_eq!(clickhouse_period_totals(&env).await, expected);

    // Tags from `Environment$Dev`, none from `Environment$` (untagged); the
    // linked account is the sub account, with its name from the attributes.
    let tagged = env
        .clickhouse(
            "SELECT arrayStringConcat(tag_keys, ','), arrayStringConcat(tag_values, ','), \
             sub_account_id, \
             sub_account_name, service_name, toString(billed_cost) FROM line_items FINAL \
             ORDER BY billing_period_start, billed_cost",
        )
        .await;
    assert_eq!(tagged.len(), 3, "{tagged:?}");
    assert_eq!(tagged[0][0..2], ["Environment", "Dev"], "{tagged:?}");
    assert_eq!(tagged[1][0..2], ["", ""], "{tagged:?}");
    assert_eq!(
        tagged[1][2..5],
        [
            LINKED,
            "Example member account",
            "Amazon Simple Storage Service"
        ]
    );

    let rejects = read_rejects(&env, 1).await;
    assert_eq!(rejects[0].column.as_deref(), Some("AmortizedCost"));
    assert_eq!(rejects[0].line, Some(2));
    assert!(
        rejects[0].source_uri.contains("request=2&page=2"),
        "{}",
        rejects[0].source_uri
    );
    assert_eq!(rejects[0].source_dataset, "CostExplorer");
}

/// One page of daily results for the linked account's S3 cost, grouped by
/// LINKED_ACCOUNT and SERVICE, with the given UnblendedCost amounts per day from
/// September 1st (AmortizedCost and NetAmortizedCost equal to it).
fn daily_page(amounts: &[&str], estimated: bool) -> Value {
    let results: Vec<Value> = amounts
        .iter()
        .enumerate()
        .map(|(i, amount)| {
            let metric = json!({ "Amount": amount, "Unit": "USD" });
            json!({
                "TimePeriod": {
                    "Start": format!("2017-09-{:02}", i + 1),
                    "End": format!("2017-09-{:02}", i + 2)
                },
                "Total": {},
                "Estimated": estimated,
                "Groups": [{
                    "Keys": [LINKED, "Amazon Simple Storage Service"],
                    "Metrics": {
                        "UnblendedCost": metric, "AmortizedCost": metric, "NetAmortizedCost": metric
                    }
                }]
            })
        })
        .collect();
    json!({ "GroupDefinitions": [
              { "Type": "DIMENSION", "Key": "LINKED_ACCOUNT" },
              { "Type": "DIMENSION", "Key": "SERVICE" } ],
            "ResultsByTime": results, "DimensionValueAttributes": [] })
}

async fn estimated_records(env: &TestEnv) -> usize {
    env.clickhouse(
        "SELECT count() FROM line_items FINAL WHERE position(record_json, 'x_Estimated') > 0 \
         AND source_version = (SELECT max(source_version) FROM line_items)",
    )
    .await[0][0]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn estimated_month_is_replaced_when_final_and_a_refetch_changes_nothing() {
    let _moto = MOTO.lock().await;
    let env = TestEnv::new("ce_estimated");
    env.apply_topics().await;
    let range = ["--start", "2017-09-01", "--end", "2017-10-01"];

    // The real example's S3 amounts: first as Estimated, then final and higher.
    let estimated = daily_page(&["0.2682364644", "40.3527508453"], true);
    let final_ = daily_page(&["0.2682364644", "40.3543773134"], false);

    reset_moto().await;
    queue(std::slice::from_ref(&estimated)).await;
    ingest(&env, &range).await;
    env.store_until_caught_up().await;
    assert_eq!(
        clickhouse_period_totals(&env).await,
        expected_totals(&[estimated])
    );
    assert_eq!(estimated_records(&env).await, 2);

    reset_moto().await;
    queue(std::slice::from_ref(&final_)).await;
    ingest(&env, &range).await;
    env.store_until_caught_up().await;
    let expected = expected_totals(std::slice::from_ref(&final_));
    assert_eq!(clickhouse_period_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, by_account(&expected));
    assert_eq!(estimated_records(&env).await, 0);

    // The same final data fetched again: a newer version with the same keys and
    // the same totals.
    reset_moto().await;
    queue(&[final_]).await;
    ingest(&env, &range).await;
    env.store_until_caught_up().await;
    assert_eq!(clickhouse_period_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, by_account(&expected));
    let keys = env
        .clickhouse("SELECT uniqExact(record_key), uniqExact(source_version) FROM line_items")
        .await;
    assert_eq!(keys[0], ["2", "3"], "three fetches of the same two days");
}

#[tokio::test]
async fn a_partial_month_is_refused_before_any_call() {
    let env = TestEnv::new("ce_partial");
    let url = moto_url();
    let output = env
        .costflow_with_env(
            &[
                "ingest",
                "cost-explorer",
                "--billing-account",
                PAYER,
                "--endpoint-url",
                &url,
                "--start",
                "2017-09-01",
                "--end",
                "2017-09-15",
            ],
            &AWS_ENV,
        )
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("whole months"), "{stderr}");
}

/// Period totals collapsed to the (account, currency) totals the projection reports.
fn by_account(totals: &PeriodTotals) -> Totals {
    let mut out = Totals::new();
    for ((account, _, currency), (billed, effective)) in totals {
        let entry = out.entry((account.clone(), currency.clone())).or_default();
        entry.0 += *billed;
        entry.1 += *effective;
    }
    normalize(out)
}
