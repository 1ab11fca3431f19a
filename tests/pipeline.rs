//! End to end against the real local stack (tansu broker, ClickHouse): a cost file
//! through Kafka into ClickHouse and out of the API, with totals that reconcile to
//! the file's own sums to the last digit.
//!
//! Start the stack first (`scripts/stack.sh up`); `scripts/test.sh` does it.

mod support;

use support::*;

const RANGE: (&str, &str) = ("2024-01-01", "2025-12-31");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_focus_sample_reconciles_in_clickhouse_and_through_the_api() {
    let env = TestEnv::new("reconcile");
    let sample = focus_sample();
    let expected = file_totals(&sample, &[]);
    assert!(
        expected.len() >= 3,
        "the sample spans several accounts: {expected:?}"
    );

    env.apply_topics().await;
    let out = env
        .costflow_ok(&["ingest", "focus", sample.to_str().unwrap()])
        .await;
    assert!(
        out.contains("rows read 1000 = published 1000 + rejected 0"),
        "{out}"
    );
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 1000 records"), "{out}");

    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
    assert_eq!(api_totals(&env, RANGE.0, RANGE.1).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_stored_in_many_inserts_is_added_to_the_projection_and_reconciles() {
    let env = TestEnv::new("increments");
    let sample = focus_sample();
    let expected = file_totals(&sample, &[]);

    env.apply_topics().await;
    env.costflow_ok(&["ingest", "focus", sample.to_str().unwrap()])
        .await;
    // Full batches of 100 with no wait: an insert and a refresh per batch.
    let out = env
        .store_until_caught_up_with(&["--batch-size", "100", "--refresh-interval-secs", "0"])
        .await;
    assert!(out.contains("stored 1000 records"), "{out}");
    let (incremental, recomputed) = refreshes(&out);
    assert!(incremental > 0, "{out}");
    assert!(
        out.contains(" recomputed when quiet") && !out.contains("; 0 recomputed when quiet"),
        "the periods refreshed incrementally are recomputed at the end: {out}"
    );
    assert!(
        recomputed > 0,
        "each period's first refresh recomputes: {out}"
    );

    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
    assert_eq!(api_totals(&env, RANGE.0, RANGE.1).await, expected);
}

/// The store consumer's "N incremental, M recomputed" billing period refreshes.
fn refreshes(out: &str) -> (u64, u64) {
    let counts = out
        .split("billing periods refreshed: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no refresh counts: {out}"));
    let number = |word: &str| -> u64 {
        let before = counts.split(word).next().unwrap();
        before
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    (number(" incremental"), number(" recomputed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingesting_the_same_file_twice_changes_no_total() {
    let env = TestEnv::new("twice");
    let sample = focus_sample();
    let expected = file_totals(&sample, &[]);

    env.apply_topics().await;
    env.costflow_ok(&["ingest", "focus", sample.to_str().unwrap()])
        .await;
    env.store_until_caught_up().await;
    // No merge may collapse the resent rows before the refresh sees them: the
    // refresh itself must find and drop the duplicates.
    env.clickhouse_statement(&format!("SYSTEM STOP MERGES {}.line_items", env.database()))
        .await;
    env.costflow_ok(&["ingest", "focus", sample.to_str().unwrap()])
        .await;
    let out = env.store_until_caught_up().await;
    assert!(
        out.contains("stored 1000 records"),
        "second pass read the resend: {out}"
    );
    assert_eq!(
        refreshes(&out).0,
        0,
        "every resent record was stored: {out}"
    );

    let stored = env.clickhouse("SELECT count() FROM line_items").await;
    assert_eq!(stored[0][0], "2000", "both copies are still stored");
    let count = env.clickhouse("SELECT count() FROM line_items FINAL").await;
    assert_eq!(count[0][0], "1000");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
    assert_eq!(api_totals(&env, RANGE.0, RANGE.1).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_consumer_killed_between_insert_and_commit_changes_no_total() {
    let env = TestEnv::new("crash");
    let sample = focus_sample();
    let expected = file_totals(&sample, &[]);
    let group = env.group("store");

    env.apply_topics().await;
    env.costflow_ok(&["ingest", "focus", sample.to_str().unwrap()])
        .await;
    let crashed = env
        .costflow(&[
            "consume",
            "store",
            "--group-id",
            &group,
            "--crash-after-insert",
        ])
        .await;
    assert!(!crashed.status.success(), "the hook aborts the process");
    let inserted = env.clickhouse("SELECT count() FROM line_items").await;
    assert_ne!(inserted[0][0], "0", "the crash came after an insert");

    // Nothing was committed, so the restarted consumer reads every record again.
    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 1000 records"), "{out}");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
    assert_eq!(api_totals(&env, RANGE.0, RANGE.1).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_are_rejected_by_line_while_the_rest_lands() {
    let env = TestEnv::new("malformed");
    let path = scratch_dir("malformed").join("sample-with-bad-rows.csv");
    write_sample_with_bad_rows(
        &path,
        &[
            (10, "BilledCost", "12,5O"),
            (20, "ChargePeriodStart", "2024-09-31 00:00:00"),
        ],
    );
    let expected = file_totals(&path, &[10, 20]);

    env.apply_topics().await;
    let out = env
        .costflow_ok(&["ingest", "focus", path.to_str().unwrap()])
        .await;
    assert!(
        out.contains("rows read 1000 = published 998 + rejected 2"),
        "{out}"
    );
    env.store_until_caught_up().await;
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(api_totals(&env, RANGE.0, RANGE.1).await, expected);

    let rejects = read_rejects(&env, 2).await;
    let found: Vec<(Option<i64>, Option<&str>, Option<&str>)> = rejects
        .iter()
        .map(|r| (r.line, r.column.as_deref(), r.value.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(10), Some("BilledCost"), Some("12,5O")),
            (
                Some(20),
                Some("ChargePeriodStart"),
                Some("2024-09-31 00:00:00")
            ),
        ]
    );
    assert!(rejects
        .iter()
        .all(|r| r.source_uri.ends_with("sample-with-bad-rows.csv")));
    assert!(
        rejects[1].reason.contains("YYYY-MM-DD HH:MM:SS"),
        "{}",
        rejects[1].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_focus_spec_example_lands_or_is_rejected_with_a_reason() {
    let env = TestEnv::new("spec");
    let dir = shared_data("focus");
    env.apply_topics().await;
    let out = env
        .costflow_ok(&[
            "ingest",
            "focus",
            dir.to_str().unwrap(),
            "--assume",
            "BillingAccountId=spec-examples",
            "--assume",
            "BillingCurrency=USD",
        ])
        .await;
    assert!(!out.contains("FAILED"), "{out}");
    // The examples hold two impossible timestamps (T30:00:00) and seven SaaS rows
    // whose amounts are written like "$10,000.00 "; nothing else is refused.
    let summary = out.lines().last().unwrap();
    let rejected: u64 = summary
        .split("rejected ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert_eq!(rejected, 9, "{out}");
    let rejects = read_rejects(&env, 9).await;
    let timestamps = rejects
        .iter()
        .filter(|r| r.value.as_deref() == Some("2023-02-01T30:00:00Z"))
        .count();
    let formatted = rejects
        .iter()
        .filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with("$")))
        .filter(|r| r.reason.contains("no currency symbols"))
        .count();
    assert_eq!((timestamps, formatted), (2, 7), "{rejects:#?}");

    // Every published row also passes the store's checks, virtual pricing
    // currencies ("Token") included.
    let published: u64 = summary
        .split("published ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let out = env.store_until_caught_up().await;
    assert!(
        out.contains(&format!("stored {published} records, rejected 0")),
        "{out}"
    );
}

/// Copies the real sample, replacing the named cells on the given file lines.
fn write_sample_with_bad_rows(path: &std::path::Path, faults: &[(u64, &str, &str)]) {
    let mut reader = csv::Reader::from_path(focus_sample()).unwrap();
    let headers = reader.headers().unwrap().clone();
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(&headers).unwrap();
    for (index, row) in reader.records().enumerate() {
        let mut row: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        let line = index as u64 + 2;
        for (fault_line, column, value) in faults {
            if *fault_line == line {
                let at = headers.iter().position(|h| h == *column).unwrap();
                row[at] = (*value).to_owned();
            }
        }
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
}

/// What `consume store --until-caught-up` stops on: a consumer knows it has been
/// handed every message the topic holds (`at_end`) before it commits, and counts
/// as caught up (`caught_up`) only once it has committed them. A partition never
/// read from counts as read only while empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_knows_it_has_read_to_the_end_before_it_has_committed() {
    use std::time::Duration;

    let env = TestEnv::new("at-end");
    env.apply_topics().await;
    let mut kafka = costflow_bus::KafkaConfig::new(brokers());
    kafka.topic_prefix = env.topic_prefix();
    let topic = kafka.topic("cost.records");
    let send = |count: usize| {
        let mut publisher = costflow_bus::Publisher::new(&kafka).unwrap();
        for index in 0..count {
            // Three keys: some of the topic's six partitions stay empty.
            let key = format!("account-{}", index % 3);
            publisher.send(&topic, key.as_bytes(), b"not read").unwrap();
        }
        publisher.finish(Duration::from_secs(30)).unwrap();
    };
    send(50);

    let topics = std::slice::from_ref(&topic);
    let consumer = costflow_bus::BatchConsumer::new(&kafka, &env.group("reader"), topics).unwrap();
    let mut read = costflow_bus::Offsets::default();
    let mut count = 0;
    while count < 50 {
        let batch = consumer
            .next_batch(20, Duration::from_secs(20), Duration::from_millis(100))
            .await
            .unwrap();
        assert!(!batch.is_empty(), "{count} of 50 messages read");
        count += batch.messages.len();
        read.merge(&batch.offsets);
        assert_eq!(consumer.at_end().unwrap(), count == 50, "{count} read");
    }
    assert!(!consumer.caught_up().unwrap(), "nothing committed yet");
    consumer.commit(&read).unwrap();
    assert!(consumer.caught_up().unwrap());

    send(1);
    assert!(!consumer.at_end().unwrap(), "a message arrived since");
    assert!(!consumer.caught_up().unwrap());
}

/// A run under a topic prefix nobody applied stops before it reads a row, naming
/// the topic and the command that creates it, rather than queueing every message
/// until its delivery times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_without_its_topics_stops_at_once_and_says_which() {
    let env = TestEnv::new("no-topics");
    let sample = focus_sample();
    let out = env
        .costflow(&["ingest", "focus", sample.to_str().unwrap()])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let topic = format!("{}cost.records", env.topic_prefix());
    assert!(
        stderr.contains(&format!(
            "topic {topic} does not exist; run `costflow topics apply`"
        )),
        "{stderr}"
    );
    // No file was read: nothing is reported as published.
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}
