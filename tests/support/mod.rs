//! What every end-to-end test needs: the local stack's addresses, unique names so
//! tests never see each other's data, the costflow binary, and sums computed
//! straight from the source files without any costflow code.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rust_decimal::Decimal;

/// Longest a costflow command may run in a test.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// Kafka bootstrap servers of the local stack.
pub fn brokers() -> String {
    std::env::var("COSTFLOW_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// ClickHouse HTTP endpoint of the local stack.
pub fn clickhouse_url() -> String {
    std::env::var("COSTFLOW_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".to_owned())
}

/// The moto server (`scripts/stack.sh` starts it): S3, Cost Explorer, EC2.
pub fn moto_url() -> String {
    std::env::var("COSTFLOW_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:4599".to_owned())
}

/// Dummy static credentials for moto, and no instance-metadata lookups.
pub const AWS_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
];

/// A file of the shared real data set.
pub fn shared_data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative)
}

/// The real multi-provider FOCUS sample.
pub fn focus_sample() -> PathBuf {
    shared_data("focus/focus-sample-data_FOCUS-1.0_focus_sample.csv")
}

/// A scratch directory unique to this test run.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("costflow-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One test's private corner of the shared stack: its own topic prefix, ClickHouse
/// database and consumer group ids.
pub struct TestEnv {
    pub name: String,
}

impl TestEnv {
    /// A fresh environment; names carry the process id, a counter and the time so
    /// reruns never meet old topics, databases or consumer groups.
    pub fn new(test: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Self {
            name: format!("t{}_{n}_{nanos}_{test}", std::process::id()),
        }
    }

    pub fn topic_prefix(&self) -> String {
        format!("{}.", self.name)
    }

    pub fn database(&self) -> String {
        self.name.clone()
    }

    pub fn group(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }

    /// Runs the costflow binary with this environment's settings.
    pub async fn costflow(&self, args: &[&str]) -> Output {
        self.costflow_with_env(args, &[]).await
    }

    /// Runs the costflow binary with this environment's settings and more
    /// environment variables (credentials for a local AWS endpoint, say).
    pub async fn costflow_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_costflow"));
        command
            .args(args)
            .envs(env.iter().copied())
            .env("COSTFLOW_BROKERS", brokers())
            .env("COSTFLOW_CLICKHOUSE_URL", clickhouse_url())
            .env("COSTFLOW_TOPIC_PREFIX", self.topic_prefix())
            .env("COSTFLOW_CLICKHOUSE_DATABASE", self.database())
            .env("COSTFLOW_LOG", "warn")
            .kill_on_drop(true);
        match tokio::time::timeout(COMMAND_TIMEOUT, command.output()).await {
            Ok(output) => output.expect("costflow runs"),
            Err(_) => panic!("costflow {args:?} ran past {COMMAND_TIMEOUT:?}"),
        }
    }

    /// Runs costflow and fails the test, showing its output, unless it succeeded.
    pub async fn costflow_ok(&self, args: &[&str]) -> String {
        let output = self.costflow(args).await;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "costflow {args:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Creates this environment's topics on the one-broker stack.
    pub async fn apply_topics(&self) {
        self.costflow_ok(&["topics", "apply", "--replication-factor", "1"])
            .await;
    }

    /// Runs the store consumer until it has caught up.
    pub async fn store_until_caught_up(&self) -> String {
        self.store_until_caught_up_with(&[]).await
    }

    /// Runs the store consumer, with these flags too, until it has caught up.
    pub async fn store_until_caught_up_with(&self, flags: &[&str]) -> String {
        let group = self.group("store");
        let mut args = vec![
            "consume",
            "store",
            "--group-id",
            &group,
            "--until-caught-up",
        ];
        args.extend_from_slice(flags);
        self.costflow_ok(&args).await
    }

    /// Runs a query against this environment's database; tab-separated rows.
    pub async fn clickhouse(&self, sql: &str) -> Vec<Vec<String>> {
        self.clickhouse_statement(&format!("{sql} FORMAT TabSeparated"))
            .await
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }

    /// Runs a statement against this environment's database; its raw answer.
    pub async fn clickhouse_statement(&self, sql: &str) -> String {
        let response = reqwest::Client::new()
            .post(clickhouse_url())
            .query(&[("database", self.database())])
            .body(sql.to_owned())
            .send()
            .await
            .expect("ClickHouse answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{sql}\n{text}");
        text
    }
}

/// `a + b`, failing the test if `Decimal` had to round the sum: it rounds only by
/// dropping decimal places, so an exact sum of values without trailing zeros
/// keeps the larger scale. Sums that need more than 28 significant digits fail
/// here instead of comparing rounded.
pub fn exact_add(a: Decimal, b: Decimal) -> Decimal {
    let (a, b) = (a.normalize(), b.normalize());
    let sum = a.checked_add(b).expect("sum fits Decimal");
    assert_eq!(sum.scale(), a.scale().max(b.scale()), "{a} + {b} rounded");
    sum
}

/// A decimal read from text, failing rather than rounding past 28 significant
/// digits. Trailing fractional zeros (ClickHouse writes `Decimal(38, 15)` sums
/// with all 15 places) are dropped first: they carry no value.
pub fn exact(text: &str) -> Decimal {
    let text = text.trim();
    let digits = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    Decimal::from_str_exact(digits).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Adds one (billed, effective) pair to a total, exactly.
pub fn add_pair(entry: &mut (Decimal, Decimal), billed: Decimal, effective: Decimal) {
    entry.0 = exact_add(entry.0, billed);
    entry.1 = exact_add(entry.1, effective);
}

/// (BilledCost, EffectiveCost) per (BillingAccountId, BillingCurrency).
pub type Totals = BTreeMap<(String, String), (Decimal, Decimal)>;

/// Totals summed straight from a FOCUS CSV file with the csv crate, skipping the
/// given 1-based file lines. Independent of costflow's reader on purpose.
pub fn file_totals(path: &Path, skip_lines: &[u64]) -> Totals {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .unwrap()
    };
    let (account, currency) = (column("BillingAccountId"), column("BillingCurrency"));
    let (billed, effective) = (column("BilledCost"), column("EffectiveCost"));

    let mut totals = Totals::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.unwrap();
        // Header is line 1; the files these tests use have one line per row.
        if skip_lines.contains(&(index as u64 + 2)) {
            continue;
        }
        let entry = totals
            .entry((row[account].to_owned(), row[currency].to_owned()))
            .or_default();
        add_pair(entry, exact(&row[billed]), exact(&row[effective]));
    }
    normalize(totals)
}

/// Drops trailing zeros so totals compare by value.
pub fn normalize(totals: Totals) -> Totals {
    totals
        .into_iter()
        .map(|(k, (b, e))| (k, (b.normalize(), e.normalize())))
        .collect()
}

/// Totals from rows of (account, currency, billed, effective) text.
pub fn totals_from_rows(rows: &[Vec<String>]) -> Totals {
    let mut totals = Totals::new();
    for row in rows {
        let entry = totals.entry((row[0].clone(), row[1].clone())).or_default();
        add_pair(entry, exact(&row[2]), exact(&row[3]));
    }
    normalize(totals)
}

/// Totals from ClickHouse rows of (account, currency, sum(billed_cost),
/// sum(billed_cost_rest), sum(effective_cost), sum(effective_cost_rest)) text:
/// each amount is its main part plus its rest, added here without costflow code.
pub fn totals_from_parts(rows: &[Vec<String>]) -> Totals {
    let combined: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let billed = exact_add(exact(&row[2]), exact(&row[3]));
            let effective = exact_add(exact(&row[4]), exact(&row[5]));
            vec![
                row[0].clone(),
                row[1].clone(),
                billed.to_string(),
                effective.to_string(),
            ]
        })
        .collect();
    totals_from_rows(&combined)
}

/// The SQL select list of both parts of the billed and effective cost sums.
pub const SUM_PARTS: &str = "toString(sum(billed_cost)), toString(sum(billed_cost_rest)), \
     toString(sum(effective_cost)), toString(sum(effective_cost_rest))";

/// Totals of the latest source version of each billing period in `line_items`.
pub async fn line_item_totals(env: &TestEnv) -> Totals {
    let rows = env
        .clickhouse(&format!(
            "SELECT billing_account_id, billing_currency, {SUM_PARTS} FROM line_items FINAL \
                 WHERE (billing_account_id, billing_period_start, source_version) IN \
                   (SELECT billing_account_id, billing_period_start, max(source_version) \
                    FROM line_items GROUP BY billing_account_id, billing_period_start) \
                 GROUP BY billing_account_id, billing_currency"
        ))
        .await;
    totals_from_parts(&rows)
}

/// Distinct line items of the latest source version of each billing period.
pub async fn latest_line_items(env: &TestEnv) -> u64 {
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

/// Totals of the daily projection's current refreshes.
pub async fn projection_totals(env: &TestEnv) -> Totals {
    let rows = env
        .clickhouse(&format!(
            "SELECT billing_account_id, billing_currency, {SUM_PARTS} FROM cost_daily \
                 WHERE (billing_account_id, billing_period_start, refreshed_at) IN \
                   (SELECT billing_account_id, billing_period_start, max(refreshed_at) \
                    FROM cost_daily_refresh GROUP BY billing_account_id, billing_period_start) \
                 GROUP BY billing_account_id, billing_currency"
        ))
        .await;
    totals_from_parts(&rows)
}

/// Totals through the HTTP API, served in-process on a free port.
pub async fn api_totals(env: &TestEnv, from: &str, to: &str) -> Totals {
    let store = costflow_store::Store::new(costflow_store::StoreConfig {
        url: clickhouse_url(),
        database: env.database(),
        user: "default".to_owned(),
        password: String::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, costflow_api::router(store))
            .await
            .unwrap();
    });

    let url = format!(
        "http://{address}/v1/costs?from={from}&to={to}&group_by=BillingAccountId&granularity=month"
    );
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let body: serde_json::Value = response.json().await.unwrap();
    server.abort();

    let rows: Vec<Vec<String>> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            [
                "BillingAccountId",
                "BillingCurrency",
                "BilledCost",
                "EffectiveCost",
            ]
            .iter()
            .map(|k| row[*k].as_str().unwrap().to_owned())
            .collect()
        })
        .collect();
    totals_from_rows(&rows)
}

/// Reads `count` rejects from this environment's `ingest.rejects`, oldest line
/// first, waiting up to a minute for them.
pub async fn read_rejects(env: &TestEnv, count: usize) -> Vec<costflow_model::Reject> {
    use rdkafka::Message;

    if count == 0 {
        return Vec::new();
    }

    let mut kafka = costflow_bus::KafkaConfig::new(brokers());
    kafka.topic_prefix = env.topic_prefix();
    let topic = kafka.topic("ingest.rejects");
    let consumer =
        costflow_bus::BatchConsumer::new(&kafka, &env.group("rejects-reader"), &[topic]).unwrap();
    let codec = costflow_model::Codec::reject();
    let mut rejects = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while rejects.len() < count && tokio::time::Instant::now() < deadline {
        let batch = consumer
            .next_batch(100, Duration::from_secs(2), Duration::from_millis(100))
            .await
            .unwrap();
        for message in &batch.messages {
            rejects.push(codec.decode(message.payload().unwrap()).unwrap());
        }
    }
    assert_eq!(rejects.len(), count, "{rejects:#?}");
    rejects.sort_by_key(|r: &costflow_model::Reject| r.line);
    rejects
}

/// Sends SIGTERM and returns what the watcher printed; it must exit cleanly.
pub async fn stop_watcher(watcher: tokio::process::Child) -> String {
    let pid = watcher.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(60), watcher.wait_with_output())
        .await
        .expect("the watcher stops on SIGTERM")
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{out}");
    out
}
