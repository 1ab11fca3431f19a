//! AWS CUR and restatements end to end against the real local stack (tansu
//! broker, ClickHouse): the real legacy CUR file reconciles per billing account,
//! billing period and currency; a truncated gzip publishes nothing; a restated
//! month replaces the old one; a FOCUS closed-period correction lands in the
//! charge period it corrects.
//!
//! Start the stack first (`scripts/stack.sh up`); `scripts/test.sh` does it.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use support::*;

/// (BilledCost, EffectiveCost) per (account, billing period start in Unix
/// seconds, currency).
type PeriodTotals = BTreeMap<(String, i64, String), (Decimal, Decimal)>;

fn real_cur() -> PathBuf {
    shared_data("aws-cur/focus-converters_sample-anonymous-aws-cur-legacy.csv")
}

/// A CUR amount, plain or scientific, parsed by rust_decimal alone.
fn amount(text: &str) -> Decimal {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).unwrap()
    } else {
        Decimal::from_str(text).unwrap()
    }
}

fn unix_seconds(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

/// The file's own sums, computed with the csv crate alone. The real file holds
/// only Usage and Tax lines, whose BilledCost and EffectiveCost are both
/// `lineItem/UnblendedCost`; any other line type fails the test.
fn cur_file_totals(path: &Path) -> PeriodTotals {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (payer, start, currency) = (
        at("bill/PayerAccountId"),
        at("bill/BillingPeriodStartDate"),
        at("lineItem/CurrencyCode"),
    );
    let (cost, kind) = (at("lineItem/UnblendedCost"), at("lineItem/LineItemType"));
    let mut totals = PeriodTotals::new();
    for row in reader.records() {
        let row = row.unwrap();
        assert!(matches!(&row[kind], "Usage" | "Tax"), "{:?}", &row[kind]);
        let key = (
            row[payer].to_owned(),
            unix_seconds(&row[start]),
            row[currency].to_owned(),
        );
        let entry = totals.entry(key).or_default();
        entry.0 += amount(&row[cost]);
        entry.1 += amount(&row[cost]);
    }
    normalize_periods(totals)
}

fn normalize_periods(totals: PeriodTotals) -> PeriodTotals {
    totals
        .into_iter()
        .map(|(k, (b, e))| (k, (b.normalize(), e.normalize())))
        .collect()
}

/// The same totals over the latest source version of each billing period in
/// ClickHouse's `line_items`.
async fn clickhouse_period_totals(env: &TestEnv) -> PeriodTotals {
    let rows = env
        .clickhouse(
            "SELECT billing_account_id, toString(toUnixTimestamp(billing_period_start)), \
             billing_currency, toString(sum(billed_cost)), toString(sum(effective_cost)) \
             FROM line_items FINAL \
             WHERE (billing_account_id, billing_period_start, source_version) IN \
               (SELECT billing_account_id, billing_period_start, max(source_version) \
                FROM line_items GROUP BY billing_account_id, billing_period_start) \
             GROUP BY billing_account_id, billing_period_start, billing_currency",
        )
        .await;
    let mut totals = PeriodTotals::new();
    for row in rows {
        let key = (row[0].clone(), row[1].parse().unwrap(), row[2].clone());
        let entry = totals.entry(key).or_default();
        entry.0 += Decimal::from_str(&row[3]).unwrap();
        entry.1 += Decimal::from_str(&row[4]).unwrap();
    }
    normalize_periods(totals)
}

/// Period totals collapsed to the (account, currency) totals the projection and
/// the API report.
fn by_account(totals: &PeriodTotals) -> Totals {
    let mut out = Totals::new();
    for ((account, _, currency), (billed, effective)) in totals {
        let entry = out.entry((account.clone(), currency.clone())).or_default();
        entry.0 += billed;
        entry.1 += effective;
    }
    normalize(out)
}

async fn latest_line_items(env: &TestEnv) -> u64 {
    let rows = env
        .clickhouse(
            "SELECT count() FROM line_items FINAL \
             WHERE (billing_account_id, billing_period_start, source_version) IN \
               (SELECT billing_account_id, billing_period_start, max(source_version) \
                FROM line_items GROUP BY billing_account_id, billing_period_start)",
        )
        .await;
    rows[0][0].parse().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_cur_legacy_file_reconciles_per_account_period_and_currency() {
    let env = TestEnv::new("cur_reconcile");
    let path = real_cur();
    let expected = cur_file_totals(&path);
    assert_eq!(expected.len(), 1, "one payer, one month, one currency");

    env.apply_topics().await;
    let out = env
        .costflow_ok(&["ingest", "cur", path.to_str().unwrap()])
        .await;
    assert!(
        out.contains("rows read 1281 = published 1281 + rejected 0"),
        "{out}"
    );
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 1281 records"), "{out}");

    assert_eq!(clickhouse_period_totals(&env).await, expected);
    assert_eq!(latest_line_items(&env).await, 1281);
    assert_eq!(projection_totals(&env).await, by_account(&expected));
    let api = api_totals(&env, "2023-11-01", "2023-12-01").await;
    assert_eq!(api, by_account(&expected));

    let categories = env
        .clickhouse(
            "SELECT charge_category, toString(count()) FROM line_items FINAL \
             GROUP BY charge_category ORDER BY charge_category",
        )
        .await;
    assert_eq!(categories, [["Tax", "12"], ["Usage", "1269"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_gzip_fails_the_run_and_publishes_nothing() {
    let env = TestEnv::new("cur_truncated");
    let dir = scratch_dir("cur-truncated");
    let gz = gzip(&std::fs::read(real_cur()).unwrap());
    let good = dir.join("report-00001.csv.gz");
    let cut = dir.join("report-00002.csv.gz");
    std::fs::write(&good, &gz).unwrap();
    std::fs::write(&cut, &gz[..gz.len() * 3 / 4]).unwrap();

    env.apply_topics().await;
    let failed = env
        .costflow(&["ingest", "cur", dir.to_str().unwrap()])
        .await;
    let out = String::from_utf8_lossy(&failed.stdout);
    assert!(!failed.status.success(), "{out}");
    assert!(
        out.contains("rows read 0 = published 0 + rejected 0"),
        "{out}"
    );
    assert!(out.contains("report-00002.csv.gz: unreadable"), "{out}");
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 0 records"), "{out}");
    let rejects = read_rejects(&env, 1).await;
    assert!(rejects[0].source_uri.ends_with("report-00002.csv.gz"));
    assert!(
        rejects[0].reason.contains("truncated"),
        "{}",
        rejects[0].reason
    );

    // The intact file of the same run, alone, lands whole.
    let out = env
        .costflow_ok(&["ingest", "cur", good.to_str().unwrap()])
        .await;
    assert!(out.contains("published 1281 + rejected 0"), "{out}");
    env.store_until_caught_up().await;
    assert_eq!(
        clickhouse_period_totals(&env).await,
        cur_file_totals(&real_cur())
    );
}

/// Writes the real CUR month restated: new amounts on some lines, one line gone.
fn write_restated_month(path: &Path, changed: &[(u64, &str)], removed: u64) {
    let mut reader = csv::Reader::from_path(real_cur()).unwrap();
    let headers = reader.headers().unwrap().clone();
    let cost = headers
        .iter()
        .position(|h| h == "lineItem/UnblendedCost")
        .unwrap();
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(&headers).unwrap();
    for (index, row) in reader.records().enumerate() {
        let line = index as u64 + 2;
        if line == removed {
            continue;
        }
        let mut row: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        if let Some((_, value)) = changed.iter().find(|(l, _)| *l == line) {
            row[cost] = (*value).to_owned();
        }
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restated_month_replaces_previous_version_and_rerun_changes_nothing() {
    let env = TestEnv::new("cur_restated");
    let original = real_cur();
    let restated = scratch_dir("cur-restated").join("restated-00001.csv");
    write_restated_month(&restated, &[(10, "12.5"), (20, "3.1E-3"), (30, "0")], 40);
    let expected = cur_file_totals(&restated);
    assert_ne!(
        expected,
        cur_file_totals(&original),
        "the restatement changes totals"
    );

    env.apply_topics().await;
    let v1 = "2023-12-02T00:00:00Z";
    let v2 = "2023-12-03T00:00:00Z";
    env.costflow_ok(&[
        "ingest",
        "cur",
        original.to_str().unwrap(),
        "--source-version",
        v1,
    ])
    .await;
    env.store_until_caught_up().await;
    assert_eq!(
        clickhouse_period_totals(&env).await,
        cur_file_totals(&original)
    );

    let restate = [
        "ingest",
        "cur",
        restated.to_str().unwrap(),
        "--source-version",
        v2,
    ];
    let out = env.costflow_ok(&restate).await;
    assert!(out.contains("rows read 1280 = published 1280"), "{out}");
    env.store_until_caught_up().await;
    assert_eq!(clickhouse_period_totals(&env).await, expected);
    assert_eq!(latest_line_items(&env).await, 1280);
    assert_eq!(projection_totals(&env).await, by_account(&expected));
    assert_eq!(
        api_totals(&env, "2023-11-01", "2023-12-01").await,
        by_account(&expected)
    );

    // The same run again: same keys, same version, nothing changes.
    env.costflow_ok(&restate).await;
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 1280 records"), "{out}");
    assert_eq!(clickhouse_period_totals(&env).await, expected);
    assert_eq!(latest_line_items(&env).await, 1280);
    assert_eq!(projection_totals(&env).await, by_account(&expected));
}

/// (BillingPeriodStart, ChargePeriodStart, ResourceId) to (BilledCost,
/// EffectiveCost), all as text, summed from FOCUS spec files with the csv crate.
type CorrectionTotals = BTreeMap<(i64, i64, String), (Decimal, Decimal)>;

fn correction_file_totals(files: &[&str]) -> CorrectionTotals {
    let mut totals = CorrectionTotals::new();
    for file in files {
        let mut reader = csv::Reader::from_path(shared_data(&format!("focus/{file}"))).unwrap();
        let headers = reader.headers().unwrap().clone();
        let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (period, charge, resource) = (
            at("BillingPeriodStart"),
            at("ChargePeriodStart"),
            at("ResourceId"),
        );
        let (billed, effective) = (at("BilledCost"), at("EffectiveCost"));
        for row in reader.records() {
            let row = row.unwrap();
            let key = (
                unix_seconds(&row[period]),
                unix_seconds(&row[charge]),
                row[resource].to_owned(),
            );
            let entry = totals.entry(key).or_default();
            entry.0 += Decimal::from_str(&row[billed]).unwrap();
            entry.1 += Decimal::from_str(&row[effective]).unwrap();
        }
    }
    totals
        .into_iter()
        .map(|(k, (b, e))| (k, (b.normalize(), e.normalize())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_period_correction_lands_in_the_charge_period_it_corrects() {
    let env = TestEnv::new("correction");
    let original = "focus-spec_correction_closed-period_scenario1_original.csv";
    let delta = "focus-spec_correction_closed-period_scenario1_delta.csv";
    let ledger = "focus-spec_correction_closed-period_scenario1_ledger.csv";
    // The ledger states the same correction in negate-and-re-add form.
    let expected = correction_file_totals(&[original, ledger]);
    assert_eq!(expected, correction_file_totals(&[original, delta]));

    env.apply_topics().await;
    for (file, exported) in [
        (original, "2025-05-04T00:00:00Z"),
        (delta, "2025-07-05T00:00:00Z"),
    ] {
        let path = shared_data(&format!("focus/{file}"));
        let out = env
            .costflow_ok(&[
                "ingest",
                "focus",
                path.to_str().unwrap(),
                "--source-version",
                exported,
                "--assume",
                "BillingAccountId=spec-correction",
                "--assume",
                "BillingCurrency=USD",
            ])
            .await;
        assert!(out.contains("rejected 0"), "{out}");
    }
    env.store_until_caught_up().await;

    // The June correction (a newer version, another billing period) does not
    // supersede May: both count, per billing period, charge period and resource.
    let rows = env
        .clickhouse(
            "SELECT toString(toUnixTimestamp(billing_period_start)), \
             toString(toUnixTimestamp(charge_period_start)), ifNull(resource_id, ''), \
             toString(sum(billed_cost)), toString(sum(effective_cost)) \
             FROM line_items FINAL \
             WHERE (billing_account_id, billing_period_start, source_version) IN \
               (SELECT billing_account_id, billing_period_start, max(source_version) \
                FROM line_items GROUP BY billing_account_id, billing_period_start) \
             GROUP BY billing_period_start, charge_period_start, resource_id",
        )
        .await;
    let actual: CorrectionTotals = rows
        .iter()
        .map(|r| {
            let key = (r[0].parse().unwrap(), r[1].parse().unwrap(), r[2].clone());
            let billed = Decimal::from_str(&r[3]).unwrap().normalize();
            let effective = Decimal::from_str(&r[4]).unwrap().normalize();
            (key, (billed, effective))
        })
        .collect();
    assert_eq!(actual, expected);
    let classes = env
        .clickhouse(
            "SELECT toString(toUnixTimestamp(billing_period_start)), ifNull(charge_class, '-'), \
             toString(count()) FROM line_items FINAL \
             GROUP BY billing_period_start, charge_class ORDER BY billing_period_start",
        )
        .await;
    let june = unix_seconds("2025-06-01T00:00:00Z").to_string();
    let may = unix_seconds("2025-05-01T00:00:00Z").to_string();
    assert_eq!(
        classes,
        [
            [may, "-".to_owned(), "1".to_owned()],
            [june, "Correction".to_owned(), "2".to_owned()]
        ]
    );

    // Cost per charge period: May carries the corrected total, June nothing.
    let may_total: Decimal = expected.values().map(|(billed, _)| billed).sum();
    let key = ("spec-correction".to_owned(), "USD".to_owned());
    let in_may = api_totals(&env, "2025-05-01", "2025-06-01").await;
    assert_eq!(in_may[&key].0, may_total.normalize());
    assert_eq!(in_may[&key].0, Decimal::from(1500));
    assert!(api_totals(&env, "2025-06-01", "2025-08-01")
        .await
        .is_empty());
}
