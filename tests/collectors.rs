//! The collector contract (docs/collectors.md) against the real local stack:
//! collectors costflow did not write publish to `cost.records` with the clients
//! such collectors are written with, and costflow stores, rejects and serves
//! their records; a Python consumer reads costflow's own messages.
//!
//! The Python side is `docs/examples/python/`, run unchanged with the interpreter of
//! the virtual environment `scripts/test.sh` makes in `var/python` (or
//! `COSTFLOW_PYTHON`), which has confluent-kafka and fastavro installed.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use costflow_bus::{BatchConsumer, KafkaConfig};
use costflow_model::wire::COST_RECORD_SCHEMAS;
use costflow_model::{Codec, CostRecord, RecordKey};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use rust_decimal::Decimal;
use support::*;

/// Longest a Python example may run.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(180);

/// One export run's source version for every producer of a test, so that the
/// halves of a file sent by different producers count together.
const SOURCE_VERSION: &str = "1730419200000000";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python_bin() -> PathBuf {
    std::env::var_os("COSTFLOW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("var/python/bin/python3"))
}

/// Runs one of the Python examples and returns its standard output.
async fn python(script: &str, args: &[&str]) -> String {
    let python = python_bin();
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh, or set COSTFLOW_PYTHON to a python3 \
         with docs/examples/python/requirements.txt installed",
        python.display()
    );
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(repo_root().join("docs/examples/python").join(script))
        .args(args)
        .kill_on_drop(true);
    let output = tokio::time::timeout(PYTHON_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} ran past {PYTHON_TIMEOUT:?}"))
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn schema_v1() -> PathBuf {
    repo_root().join("schemas/cost_record.v1.avsc")
}

/// Runs the Python collector on a file into this environment's `cost.records`.
async fn python_collector(env: &TestEnv, schema: &Path, file: &Path, extra: &[&str]) -> String {
    let topic = format!("{}cost.records", env.topic_prefix());
    let brokers = brokers();
    let mut args = vec![
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--schema",
        schema.to_str().unwrap(),
        "--provider",
        "team-python",
        "--source-version",
        SOURCE_VERSION,
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    python("focus_collector.py", &args).await
}

/// Reads `count` records with the Python reader; one JSON object each.
async fn python_reader(
    env: &TestEnv,
    schemas: &Path,
    reader_version: Option<&str>,
    count: usize,
) -> Vec<serde_json::Value> {
    let topic = format!("{}cost.records", env.topic_prefix());
    let group = env.group(&format!(
        "python-reader-{}",
        reader_version.unwrap_or("new")
    ));
    let brokers = brokers();
    let count_text = count.to_string();
    let mut args = vec![
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--schemas",
        schemas.to_str().unwrap(),
        "--group",
        &group,
        "--count",
        &count_text,
        "--idle",
        "30",
    ];
    if let Some(version) = reader_version {
        args.extend_from_slice(&["--reader-version", version]);
    }
    let out = python("read_cost_records.py", &args).await;
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record per line"))
        .collect();
    assert_eq!(records.len(), count);
    records
}

/// Reads `count` messages of this environment's `cost.records` with a codec.
async fn rust_reader(env: &TestEnv, codec: &Codec, role: &str, count: usize) -> Vec<CostRecord> {
    let mut kafka = KafkaConfig::new(brokers());
    kafka.topic_prefix = env.topic_prefix();
    let topic = kafka.topic("cost.records");
    let consumer = BatchConsumer::new(&kafka, &env.group(role), &[topic]).unwrap();
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while records.len() < count && tokio::time::Instant::now() < deadline {
        let batch = consumer
            .next_batch(1000, Duration::from_secs(2), Duration::from_millis(100))
            .await
            .unwrap();
        for message in &batch.messages {
            use rdkafka::Message;
            let payload = message.payload().unwrap();
            records.push(codec.decode::<CostRecord>(payload).unwrap());
        }
    }
    assert_eq!(records.len(), count);
    records
}

/// Totals of JSON records as the Python reader prints them.
fn json_totals(records: &[serde_json::Value]) -> Totals {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            [
                "BillingAccountId",
                "BillingCurrency",
                "BilledCost",
                "EffectiveCost",
            ]
            .iter()
            .map(|k| r[*k].as_str().unwrap().to_owned())
            .collect()
        })
        .collect();
    totals_from_rows(&rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_collector_publishes_the_real_focus_sample_and_totals_reconcile() {
    let env = TestEnv::new("pycollector");
    let sample = focus_sample();
    let expected = file_totals(&sample, &[]);

    env.apply_topics().await;
    let out = python_collector(&env, &schema_v1(), &sample, &[]).await;
    assert!(out.contains("published 1000 records"), "{out}");
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 1000 records, rejected 0"), "{out}");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);

    // A re-send of the same export run collapses onto the stored lines.
    python_collector(&env, &schema_v1(), &sample, &[]).await;
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 1000 records, rejected 0"), "{out}");
    let count = env.clickhouse("SELECT count() FROM line_items FINAL").await;
    assert_eq!(count[0][0], "1000");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
    let providers = env
        .clickhouse("SELECT DISTINCT source_provider FROM line_items")
        .await;
    assert_eq!(providers, [["team-python"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reader_decodes_costflows_own_messages_into_the_same_values() {
    let env = TestEnv::new("pyreader");
    let sample = focus_sample();

    env.apply_topics().await;
    env.costflow_ok(&["ingest", "focus", sample.to_str().unwrap()])
        .await;
    let from_python = python_reader(&env, &repo_root().join("schemas"), None, 1000).await;
    let from_rust = rust_reader(&env, &Codec::cost_record(), "rust-reader", 1000).await;

    assert_eq!(json_totals(&from_python), file_totals(&sample, &[]));
    let by_key: BTreeMap<&str, &CostRecord> = from_rust
        .iter()
        .map(|r| (r.record_key.as_str(), r))
        .collect();
    assert_eq!(by_key.len(), 1000);
    for json in &from_python {
        let rust = by_key[json["RecordKey"].as_str().unwrap()];
        let decimal = |key: &str| Decimal::from_str(json[key].as_str().unwrap()).unwrap();
        assert_eq!(decimal("BilledCost"), rust.billed_cost);
        assert_eq!(decimal("EffectiveCost"), rust.effective_cost);
        assert_eq!(json["BillingAccountId"], rust.billing_account_id.as_str());
        let micros = |key: &str| json[key].as_i64().unwrap();
        assert_eq!(
            micros("ChargePeriodStart"),
            rust.charge_period_start.timestamp_micros()
        );
        assert_eq!(
            micros("BillingPeriodEnd"),
            rust.billing_period_end.timestamp_micros()
        );
        let tags: BTreeMap<String, String> = serde_json::from_value(json["Tags"].clone()).unwrap();
        assert_eq!(tags, rust.tags);
        assert_eq!(json["SourceVersion"].as_i64(), Some(rust.source_version));
    }
}

/// A record a Rust collector would send, as docs/collectors.md shows.
fn collector_record(line: i64, account: &str, billed: &str) -> CostRecord {
    let at = |m, d| Utc.with_ymd_and_hms(2025, m, d, 0, 0, 0).unwrap();
    let billed = Decimal::from_str(billed).unwrap();
    let mut record = CostRecord::new(
        account,
        "EUR",
        [at(3, 1), at(4, 1)],
        [at(3, 7), at(3, 8)],
        "Usage",
        billed,
        billed,
    );
    record.record_key = RecordKey::new()
        .part("team-rust")
        .part(account)
        .part(line.to_string())
        .finish();
    record.source_provider = "team-rust".into();
    record.source_dataset = "k8s-cost".into();
    record.source_uri = "k8s://cluster-a/2025-03-07".into();
    record.source_line = Some(line);
    record.source_version = 1_741_392_000_000_000;
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collectors_bad_records_are_rejected_with_their_reason_and_the_rest_stored() {
    let env = TestEnv::new("badrecords");
    env.apply_topics().await;

    let mut missing_account = collector_record(3, "", "1");
    missing_account.record_key = collector_record(3, "x", "1").record_key;
    let mut unknown_currency = collector_record(4, "acct-b", "1");
    unknown_currency.billing_currency = "EUD".into();
    let mut backwards = collector_record(5, "acct-b", "1");
    backwards.charge_period_end = backwards.charge_period_start - chrono::Duration::hours(1);
    // 24 integer digits: more than Decimal(38, 15) holds. Places are never too
    // many: line 8's single unit of the 28th place is stored exactly.
    let too_large = collector_record(6, "acct-b", "123456789012345678901234");
    let records = [
        collector_record(1, "acct-a", "10.25"),
        collector_record(2, "acct-b", "-0.000000000000001"),
        missing_account,
        unknown_currency,
        backwards,
        too_large,
        collector_record(7, "acct-a", "12345678901234567890.5"),
        collector_record(8, "acct-b", "0.0000000000000000000000000001"),
    ];

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let topic = format!("{}cost.records", env.topic_prefix());
    let codec = Codec::cost_record();
    for record in &records {
        let payload = codec.encode(record).unwrap();
        let message = FutureRecord::to(&topic)
            .key(record.billing_account_id.as_bytes())
            .payload(&payload);
        producer
            .send(message, Duration::from_secs(30))
            .await
            .map_err(|(err, _)| err)
            .unwrap();
    }

    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 4 records, rejected 4"), "{out}");
    // acct-b: a negative 15-place cost and a positive 28-place one; the sums of
    // the main and rest columns have opposite signs.
    let expected: Totals = [
        (("acct-a", "EUR"), "12345678901234567890.5", "10.25"),
        (
            ("acct-b", "EUR"),
            "-0.000000000000001",
            "0.0000000000000000000000000001",
        ),
    ]
    .into_iter()
    .map(|((account, currency), a, b)| {
        let sum = exact_add(exact(a), exact(b));
        ((account.to_owned(), currency.to_owned()), (sum, sum))
    })
    .collect();
    assert_eq!(line_item_totals(&env).await, normalize(expected.clone()));
    assert_eq!(projection_totals(&env).await, normalize(expected));

    let rejects = read_rejects(&env, 4).await;
    let mut found: Vec<(String, &str, &str)> = rejects
        .iter()
        .map(|r| {
            (
                r.reason.clone(),
                r.column.as_deref().unwrap_or(""),
                r.value.as_deref().unwrap_or(""),
            )
        })
        .map(|(reason, column, value)| {
            let rule = if reason.contains("mandatory column is empty") {
                "mandatory"
            } else if reason.contains("not an ISO 4217") {
                "currency"
            } else if reason.contains("at or before its start") {
                "period"
            } else if reason.contains("more than 23 integer digits") {
                "size"
            } else {
                "other"
            };
            (rule.to_owned(), column, value)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("currency".to_owned(), "BillingCurrency", "EUD"),
            ("mandatory".to_owned(), "BillingAccountId", ""),
            (
                "period".to_owned(),
                "ChargePeriodEnd",
                "2025-03-06T23:00:00+00:00"
            ),
            ("size".to_owned(), "BilledCost", "123456789012345678901234"),
        ]
    );
    let uri_prefix = format!("kafka://{topic}/");
    for reject in &rejects {
        let place = reject.source_uri.strip_prefix(&uri_prefix);
        let parts: Vec<&str> = place.map(|p| p.split('/').collect()).unwrap_or_default();
        assert!(
            parts.len() == 2 && parts.iter().all(|p| p.parse::<u64>().is_ok()),
            "{reject:?}"
        );
        assert!(
            reject.reason.contains("team-rust k8s://cluster-a"),
            "{reject:?}"
        );
    }
}

/// The kept v1 schema plus one optional field with a default: the change the
/// contract allows without a coordinated upgrade.
fn schema_v2_text() -> String {
    let v1 = COST_RECORD_SCHEMAS[0];
    let at = v1.rfind(']').unwrap();
    let field = r#",
    {
      "name": "CollectorRunId",
      "type": ["null", "string"],
      "default": null,
      "doc": "The collector run that sent the record."
    }
  "#;
    format!("{}{field}{}", v1[..at].trim_end(), &v1[at..])
}

/// Writes the rows of the sample whose 1-based file line satisfies `keep` into a
/// new file with the same header.
fn sample_part(path: &Path, keep: impl Fn(u64) -> bool) {
    let text = std::fs::read_to_string(focus_sample()).unwrap();
    let mut lines = text.lines();
    let mut out = String::new();
    out.push_str(lines.next().unwrap());
    out.push('\n');
    for (index, line) in lines.enumerate() {
        if keep(index as u64 + 2) {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(path, out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_schema_producers_share_a_topic_and_every_consumer_reads_both() {
    let env = TestEnv::new("evolution");
    let dir = scratch_dir(&env.name);
    let v2 = dir.join("cost_record.v2.avsc");
    std::fs::write(&v2, schema_v2_text()).unwrap();
    std::fs::copy(schema_v1(), dir.join("cost_record.v1.avsc")).unwrap();
    costflow_model::compat::check_dir(&dir).expect("the change is allowed");
    let (first, second) = (dir.join("first.csv"), dir.join("second.csv"));
    sample_part(&first, |line| line <= 501);
    sample_part(&second, |line| line > 501);

    // An old producer (costflow itself, schema v1) and a new one (the Python
    // collector writing v2 with the new field set) share the topic.
    env.apply_topics().await;
    env.costflow_ok(&[
        "ingest",
        "focus",
        first.to_str().unwrap(),
        "--source-version",
        SOURCE_VERSION,
    ])
    .await;
    python_collector(&env, &v2, &second, &["--field", "CollectorRunId=run-42"]).await;

    // Readers on the new schema and on the old one read both writers' messages.
    let new = python_reader(&env, &dir, None, 1000).await;
    let old = python_reader(&env, &dir, Some("1"), 1000).await;
    let run_ids = new
        .iter()
        .filter(|r| r["CollectorRunId"] == "run-42")
        .count();
    assert_eq!(run_ids, 500);
    assert!(old.iter().all(|r| r.get("CollectorRunId").is_none()));
    let expected = file_totals(&focus_sample(), &[]);
    assert_eq!(json_totals(&new), expected);
    assert_eq!(json_totals(&old), expected);

    let new_codec = Codec::new(&[COST_RECORD_SCHEMAS[0], &schema_v2_text()]);
    let old_codec = new_codec.reading_version(1).unwrap();
    rust_reader(&env, &new_codec, "rust-new", 1000).await;
    rust_reader(&env, &old_codec, "rust-old", 1000).await;

    // The store consumer of this build, given the new version as a file, stores all.
    let out = env
        .store_until_caught_up_with(&["--writer-schema", v2.to_str().unwrap()])
        .await;
    assert!(out.contains("stored 1000 records, rejected 0"), "{out}");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_consumer_not_told_of_a_newer_schema_rejects_its_messages_by_offset() {
    let env = TestEnv::new("unknownschema");
    let dir = scratch_dir(&env.name);
    let v2 = dir.join("cost_record.v2.avsc");
    std::fs::write(&v2, schema_v2_text()).unwrap();
    let part = dir.join("three.csv");
    sample_part(&part, |line| line <= 4);

    env.apply_topics().await;
    python_collector(&env, &v2, &part, &[]).await;
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 0 records, rejected 3"), "{out}");
    let rejects = read_rejects(&env, 3).await;
    assert!(
        rejects
            .iter()
            .all(|r| r.reason.contains("unknown writer schema fingerprint")),
        "{rejects:#?}"
    );
}
