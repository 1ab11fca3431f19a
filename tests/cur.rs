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
use std::time::Duration;

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

// CUR and Data Exports deliveries in S3 (moto).

/// moto does not check request signatures, but refuses to overwrite an object
/// for a request that carries none: a well-formed header with a dummy signature.
const MOTO_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20231101/us-east-1/s3/aws4_request, \
     SignedHeaders=host, Signature=0";

/// A fresh bucket in moto, named after the test; plain HTTP puts the test's
/// objects.
async fn s3_bucket(test: &str) -> String {
    let bucket = format!("costflow-{}-{}", test.replace('_', "-"), std::process::id());
    let response = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto_url()))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    bucket
}

async fn s3_put(bucket: &str, key: &str, bytes: Vec<u8>) {
    let response = reqwest::Client::new()
        .put(format!("{}/{bucket}/{key}", moto_url()))
        .header("authorization", MOTO_AUTH)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

/// A legacy CUR manifest for November 2023, as AWS writes it.
fn legacy_manifest(bucket: &str, assembly: &str, keys: &[&str]) -> Vec<u8> {
    serde_json::json!({
        "assemblyId": assembly,
        "account": "123456789012",
        "columns": [],
        "charset": "UTF-8",
        "compression": "GZIP",
        "contentType": "text/csv",
        "reportId": "0f0e",
        "reportName": "costs",
        "billingPeriod": {"start": "20231101T000000.000Z", "end": "20231201T000000.000Z"},
        "bucket": bucket,
        "reportKeys": keys,
        "additionalArtifactKeys": []
    })
    .to_string()
    .into_bytes()
}

/// Puts a legacy CUR delivery: the gzip data file, the assembly's manifest and
/// the period-level copy of it.
async fn put_legacy_delivery(bucket: &str, assembly: &str, csv: &Path) {
    let period = "cur/costs/20231101-20231201";
    let key = format!("{period}/{assembly}/costs-00001.csv.gz");
    s3_put(bucket, &key, gzip(&std::fs::read(csv).unwrap())).await;
    let manifest = legacy_manifest(bucket, assembly, &[&key]);
    s3_put(
        bucket,
        &format!("{period}/{assembly}/costs-Manifest.json"),
        manifest.clone(),
    )
    .await;
    s3_put(bucket, &format!("{period}/costs-Manifest.json"), manifest).await;
}

async fn ingest_s3(env: &TestEnv, bucket: &str, prefix: &str) -> std::process::Output {
    let url = moto_url();
    let args = [
        "ingest",
        "cur-s3",
        "--bucket",
        bucket,
        "--prefix",
        prefix,
        "--endpoint-url",
        &url,
    ];
    env.costflow_with_env(&args, &AWS_ENV).await
}

fn deliveries(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("delivery ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_cur_delivery_in_s3_reconciles_is_read_once_and_restated_whole() {
    let env = TestEnv::new("cur_s3_legacy");
    let bucket = s3_bucket("cur_s3_legacy").await;
    put_legacy_delivery(&bucket, "a1", &real_cur()).await;
    env.apply_topics().await;

    let output = ingest_s3(&env, &bucket, "cur/").await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert_eq!(
        deliveries(&out).len(),
        1,
        "two manifests, one delivery:\n{out}"
    );
    assert!(
        out.contains("rows read 1281 = published 1281 + rejected 0"),
        "{out}"
    );
    env.store_until_caught_up().await;
    let expected = cur_file_totals(&real_cur());
    assert_eq!(clickhouse_period_totals(&env).await, expected);
    let uris = env
        .clickhouse("SELECT DISTINCT source_uri FROM line_items")
        .await;
    assert_eq!(
        uris,
        [[format!(
            "s3://{bucket}/cur/costs/20231101-20231201/a1/costs-00001.csv.gz"
        )]]
    );

    // The same delivery again: the checkpoint skips it.
    let output = ingest_s3(&env, &bucket, "cur/").await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(deliveries(&out).is_empty(), "{out}");
    assert!(out.contains("1 run(s) already ingested"), "{out}");

    // AWS restates the month in a new assembly: some amounts change, a line
    // goes. Only the new assembly is read and it replaces the month whole.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let restated = scratch_dir("cur-s3-restated").join("restated.csv");
    write_restated_month(&restated, &[(10, "12.5"), (20, "3.1E-3"), (30, "0")], 40);
    put_legacy_delivery(&bucket, "a2", &restated).await;
    let output = ingest_s3(&env, &bucket, "cur/").await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    let read = deliveries(&out);
    assert_eq!(read.len(), 1, "{out}");
    assert!(read[0].starts_with("delivery a2 "), "{out}");
    assert!(out.contains("rows read 1280 = published 1280"), "{out}");
    env.store_until_caught_up().await;
    let expected = cur_file_totals(&restated);
    assert_eq!(clickhouse_period_totals(&env).await, expected);
    assert_eq!(latest_line_items(&env).await, 1280);
    assert_eq!(projection_totals(&env).await, by_account(&expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_naming_a_missing_file_publishes_nothing() {
    let env = TestEnv::new("cur_s3_missing");
    let bucket = s3_bucket("cur_s3_missing").await;
    let period = "cur/costs/20231101-20231201";
    let present = format!("{period}/a1/costs-00001.csv.gz");
    let missing = format!("{period}/a1/costs-00002.csv.gz");
    s3_put(&bucket, &present, gzip(&std::fs::read(real_cur()).unwrap())).await;
    s3_put(
        &bucket,
        &format!("{period}/a1/costs-Manifest.json"),
        legacy_manifest(&bucket, "a1", &[&present, &missing]),
    )
    .await;
    env.apply_topics().await;

    let output = ingest_s3(&env, &bucket, "cur/").await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "the manifest names s3://{bucket}/{missing}, which does not exist"
        )),
        "{out}"
    );
    assert!(!out.contains("published 1281"), "{out}");
    let rejects = read_rejects(&env, 1).await;
    assert_eq!(
        rejects[0].source_uri,
        format!("s3://{bucket}/{period}/a1/costs-Manifest.json")
    );
    assert!(
        rejects[0].reason.contains("export run refused"),
        "{rejects:?}"
    );
    env.store_until_caught_up().await;
    let count = env.clickhouse("SELECT count() FROM line_items").await;
    assert_eq!(count[0][0], "0");
}

/// `lineItem/UnblendedCost` as CUR 2.0 spells it: `line_item_unblended_cost`.
fn cur2_name(legacy: &str) -> String {
    let mut name = String::new();
    for (i, c) in legacy.replace('/', "_").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !name.ends_with('_') {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// The real legacy CUR as a CUR 2.0 Parquet file, converted here (not an AWS
/// output): snake_case columns, costs as DOUBLE, dates as TIMESTAMP, and a
/// `resource_tags` map holding `user_team` on every other line.
fn cur2_parquet() -> Vec<u8> {
    use parquet::column::writer::ColumnWriter;
    use parquet::data_type::ByteArray;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;

    let mut reader = csv::Reader::from_path(real_cur()).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(cur2_name).collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let kind = |name: &str| match name {
        "line_item_unblended_cost" => "DOUBLE",
        "bill_billing_period_start_date"
        | "bill_billing_period_end_date"
        | "line_item_usage_start_date"
        | "line_item_usage_end_date" => "TIMESTAMP",
        _ => "STRING",
    };
    let mut fields: Vec<String> = header
        .iter()
        .map(|h| match kind(h) {
            "DOUBLE" => format!("OPTIONAL DOUBLE {h};"),
            "TIMESTAMP" => format!("OPTIONAL INT64 {h} (TIMESTAMP(MICROS,true));"),
            _ => format!("OPTIONAL BYTE_ARRAY {h} (UTF8);"),
        })
        .collect();
    fields.push(
        "OPTIONAL GROUP resource_tags (MAP) { REPEATED GROUP key_value { \
         REQUIRED BYTE_ARRAY key (UTF8); OPTIONAL BYTE_ARRAY value (UTF8); } }"
            .to_owned(),
    );
    let schema = format!("message cur2 {{ {} }}", fields.join(" "));
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&schema).unwrap());
    let properties = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(properties)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut index = 0;
    let tagged = |row: usize| row.is_multiple_of(2);
    while let Some(mut column) = group.next_column().unwrap() {
        if index >= header.len() {
            // The map's key column, then its value column: one entry on tagged
            // rows, an empty map on the others.
            let is_key = index == header.len();
            let defs: Vec<i16> = (0..rows.len())
                .map(|r| match (tagged(r), is_key) {
                    (false, _) => 1,
                    (true, true) => 2,
                    (true, false) => 3,
                })
                .collect();
            let reps = vec![0i16; rows.len()];
            let values: Vec<ByteArray> = (0..rows.len())
                .filter(|r| tagged(*r))
                .map(|r| {
                    if is_key {
                        ByteArray::from("user_team")
                    } else {
                        ByteArray::from(format!("team-{}", r % 3).as_str())
                    }
                })
                .collect();
            match column.untyped() {
                ColumnWriter::ByteArrayColumnWriter(w) => {
                    w.write_batch(&values, Some(&defs), Some(&reps)).unwrap();
                }
                _ => unreachable!("map keys and values are strings"),
            }
            column.close().unwrap();
            index += 1;
            continue;
        }
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
            ColumnWriter::Int64ColumnWriter(w) => {
                let values: Vec<i64> = present
                    .map(|c| {
                        chrono::DateTime::parse_from_rfc3339(c)
                            .unwrap()
                            .timestamp_micros()
                    })
                    .collect();
                w.write_batch(&values, Some(&defs), None).unwrap();
            }
            _ => unreachable!("only strings, doubles and timestamps are written"),
        }
        column.close().unwrap();
        index += 1;
    }
    group.close().unwrap();
    writer.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_exports_parquet_delivery_in_s3_reconciles() {
    let env = TestEnv::new("cur_s3_parquet");
    let bucket = s3_bucket("cur_s3_parquet").await;
    let data = "exports/costs2/data/BILLING_PERIOD=2023-11/costs2-00001.snappy.parquet";
    s3_put(&bucket, data, cur2_parquet()).await;
    let manifest = serde_json::json!({
        "version": "2.0",
        "executionId": "e-0001",
        "exportArn": "arn:aws:bcm-data-exports:us-east-1:123456789012:export/costs2",
        "exportName": "costs2",
        "billingPeriod": {"start": "2023-11-01T00:00:00.000Z", "end": "2023-12-01T00:00:00.000Z"},
        "dataFiles": [format!("s3://{bucket}/{data}")]
    });
    s3_put(
        &bucket,
        "exports/costs2/metadata/BILLING_PERIOD=2023-11/costs2-Manifest.json",
        manifest.to_string().into_bytes(),
    )
    .await;
    env.apply_topics().await;

    let output = ingest_s3(&env, &bucket, "exports/").await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("rows read 1281 = published 1281 + rejected 0"),
        "{out}"
    );
    env.store_until_caught_up().await;

    // Each cost is the DOUBLE the file holds, read back as its shortest text.
    let csv_path = scratch_dir("cur-s3-parquet").join("as-double.csv");
    let mut reader = csv::Reader::from_path(real_cur()).unwrap();
    let headers = reader.headers().unwrap().clone();
    let cost = headers
        .iter()
        .position(|h| h == "lineItem/UnblendedCost")
        .unwrap();
    let mut writer = csv::Writer::from_path(&csv_path).unwrap();
    writer.write_record(&headers).unwrap();
    for row in reader.records() {
        let mut row: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        row[cost] = row[cost].parse::<f64>().unwrap().to_string();
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(
        clickhouse_period_totals(&env).await,
        cur_file_totals(&csv_path)
    );
    let datasets = env
        .clickhouse("SELECT DISTINCT source_dataset FROM line_items")
        .await;
    assert_eq!(datasets, [["CUR2"]]);
    let tagged = env
        .clickhouse(
            "SELECT toString(count()) FROM line_items FINAL \
             WHERE has(tag_keys, 'user_team')",
        )
        .await;
    assert_eq!(tagged, [["641"]], "every other of 1281 lines");
}

/// `costflow ingest cur-s3 --watch-secs 1`, running.
fn start_cur_watcher(env: &TestEnv, bucket: &str) -> tokio::process::Child {
    let url = moto_url();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_costflow"))
        .args([
            "ingest",
            "cur-s3",
            "--bucket",
            bucket,
            "--prefix",
            "cur/",
            "--endpoint-url",
            &url,
            "--watch-secs",
            "1",
        ])
        .envs(AWS_ENV)
        .env("COSTFLOW_BROKERS", brokers())
        .env("COSTFLOW_TOPIC_PREFIX", env.topic_prefix())
        .env("COSTFLOW_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_s3_reads_a_new_delivery_once_across_restarts() {
    let env = TestEnv::new("cur_s3_watch");
    let bucket = s3_bucket("cur_s3_watch").await;
    env.apply_topics().await;

    let watcher = start_cur_watcher(&env, &bucket);
    tokio::time::sleep(Duration::from_secs(2)).await;
    put_legacy_delivery(&bucket, "a1", &real_cur()).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = stop_watcher(watcher).await;
    assert_eq!(deliveries(&out).len(), 1, "{out}");
    assert!(
        out.contains("rows read 1281 = published 1281 + rejected 0"),
        "{out}"
    );

    let watcher = start_cur_watcher(&env, &bucket);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = stop_watcher(watcher).await;
    assert!(deliveries(&out).is_empty(), "{out}");
    assert!(out.contains("1 run(s) already ingested"), "{out}");

    env.store_until_caught_up().await;
    assert_eq!(
        clickhouse_period_totals(&env).await,
        cur_file_totals(&real_cur())
    );
    assert_eq!(latest_line_items(&env).await, 1281);
}

/// Every file under `dir`, with its path relative to `dir`.
fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let key = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((key, path));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_cur_deliveries_reconcile_with_the_focus_files_of_the_same_estate() {
    let env = TestEnv::new("cur_generated");
    let focus_dir = scratch_dir("cur_generated_focus");
    let cur_dir = scratch_dir("cur_generated_cur");
    let generate = ["generate", "--days", "40", "--end", "2026-10-01", "--out"];
    env.costflow_ok(&[&generate[..], &[focus_dir.to_str().unwrap()]].concat())
        .await;
    // An earlier delivery of the same periods (another scale, so other amounts
    // and assembly ids) left in the folder, as AWS leaves restated deliveries in
    // the prefix: only the current one may be read, from S3 and from disk.
    let cur_dir_str = cur_dir.to_str().unwrap();
    env.costflow_ok(
        &[
            &generate[..],
            &[cur_dir_str, "--layout", "cur", "--scale", "2"],
        ]
        .concat(),
    )
    .await;
    let cur = env
        .costflow_ok(&[&generate[..], &[cur_dir_str, "--layout", "cur"]].concat())
        .await;
    assert!(
        cur.contains("418295730164") && cur.contains("772104938215"),
        "{cur}"
    );
    env.apply_topics().await;

    // One payer account's deliveries from S3, found by their manifests, the
    // other's from disk.
    let bucket = s3_bucket("cur_generated").await;
    let mut keys = 0;
    for (key, path) in files_under(&cur_dir.join("418295730164")) {
        s3_put(&bucket, &key, std::fs::read(path).unwrap()).await;
        keys += 1;
    }
    assert!(
        keys >= 8,
        "parts and manifests of two months, twice: {keys}"
    );
    let output = ingest_s3(&env, &bucket, "costflow-demo/").await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    let (superseded, read): (Vec<&str>, Vec<&str>) = deliveries(&out)
        .into_iter()
        .partition(|line| line.contains("superseded"));
    assert_eq!(read.len(), 2, "August and September:\n{out}");
    assert_eq!(superseded.len(), 2, "the earlier deliveries:\n{out}");
    assert!(out.contains("+ rejected 0"), "{out}");
    let local = cur_dir.join("772104938215");
    let out = env
        .costflow_ok(&["ingest", "cur", local.to_str().unwrap()])
        .await;
    assert!(out.contains("+ rejected 0"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("superseded")).count(),
        2,
        "{out}"
    );
    env.store_until_caught_up().await;

    // The FOCUS files' own sums for the AWS accounts, read with the csv crate.
    let mut expected = Totals::new();
    for (name, file) in files_under(&focus_dir) {
        if !name.starts_with("focus-") {
            continue;
        }
        for (key, (billed, effective)) in file_totals(&file, &[]) {
            if key.1 == "USD" {
                add_pair(expected.entry(key).or_default(), billed, effective);
            }
        }
    }
    let expected = normalize(expected);
    assert_eq!(expected.len(), 2, "{expected:?}");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
}
