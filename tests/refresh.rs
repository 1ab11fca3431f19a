//! The projection refresh against real ClickHouse: an insert is added to a
//! period's current projection only when that is exact, and the period is
//! recomputed from all its line items whenever it is not (a redelivered record,
//! another writer's rows, a new source version).
//!
//! Start the stack first (`scripts/stack.sh up`); `scripts/test.sh` does it.

mod support;

use std::collections::BTreeSet;

use costflow_ingest::focus::{FocusOptions, FocusReader};
use costflow_ingest::Row;
use costflow_model::CostRecord;
use costflow_store::line_items::Inserted;
use costflow_store::{RefreshReport, Store, StoreConfig};
use support::*;

fn store(env: &TestEnv) -> Store {
    Store::new(StoreConfig {
        url: clickhouse_url(),
        database: env.database(),
        user: "default".to_owned(),
        password: String::new(),
    })
}

/// The real FOCUS sample's records, stamped with `source_version`.
fn sample_records(source_version: i64) -> Vec<CostRecord> {
    let options = FocusOptions {
        source_version,
        ..FocusOptions::default()
    };
    FocusReader::open(&focus_sample(), &options)
        .unwrap()
        .map(|row| match row.unwrap() {
            Row::Record(record) => *record,
            Row::Reject(reject) => panic!("the sample has no bad row: {reject:?}"),
        })
        .collect()
}

/// Every record's (account, period start) as a set.
fn periods(records: &[CostRecord]) -> BTreeSet<(String, i64)> {
    records
        .iter()
        .map(|r| {
            (
                r.billing_account_id.clone(),
                r.billing_period_start.timestamp(),
            )
        })
        .collect()
}

async fn insert(store: &Store, records: &[CostRecord]) -> Inserted {
    let mut writer = store.line_item_writer();
    assert!(writer.write(records).await.unwrap().is_empty());
    writer.end().await.unwrap()
}

/// Refreshes after `inserted`; how many periods went which way.
async fn refresh(store: &Store, inserted: &Inserted, streaming: Option<u64>) -> RefreshReport {
    store
        .refresh_inserted(inserted, streaming, &BTreeSet::new())
        .await
        .unwrap()
}

fn went(incremental: u64, recomputed: u64) -> RefreshReport {
    RefreshReport {
        incremental,
        recomputed,
    }
}

/// (duplicate_free, incremental) of each period's current generation.
async fn generation_kinds(env: &TestEnv) -> std::collections::BTreeMap<(String, i64), (u8, u8)> {
    env.clickhouse(
        "SELECT billing_account_id, toUInt32(billing_period_start), \
           argMax(duplicate_free, refreshed_at), argMax(incremental, refreshed_at) \
         FROM cost_daily_refresh GROUP BY billing_account_id, billing_period_start",
    )
    .await
    .into_iter()
    .map(|row| {
        (
            (row[0].clone(), row[1].parse().unwrap()),
            (row[2].parse().unwrap(), row[3].parse().unwrap()),
        )
    })
    .collect()
}

/// The projection sums what the latest source version of the line items holds,
/// each record once, and counts each record once.
async fn assert_projection_exact(env: &TestEnv, step: &str) {
    assert_eq!(
        projection_totals(env).await,
        line_item_totals(env).await,
        "{step}"
    );
    let counted = env
        .clickhouse(
            "SELECT sum(line_items) FROM cost_daily_refresh FINAL \
             WHERE (billing_account_id, billing_period_start, refreshed_at) IN \
               (SELECT billing_account_id, billing_period_start, max(refreshed_at) \
                FROM cost_daily_refresh GROUP BY billing_account_id, billing_period_start)",
        )
        .await;
    assert_eq!(
        counted[0][0].parse::<u64>().unwrap(),
        latest_line_items(env).await,
        "{step}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_is_added_to_the_projection_only_when_that_is_exact() {
    let env = TestEnv::new("refresh");
    let store = store(&env);
    store.migrate().await.unwrap();
    // Merges could collapse a redelivered row with its first copy before the
    // refresh looks; with them stopped the check itself must find the copy.
    env.clickhouse_statement(&format!("SYSTEM STOP MERGES {}.line_items", env.database()))
        .await;
    let records = sample_records(1_000);
    let (first, rest) = records.split_at(400);
    let (second, third) = rest.split_at(300);

    // A first insert: no period has a projection yet, so all are recomputed.
    let inserted = insert(&store, first).await;
    let report = refresh(&store, &inserted, None).await;
    let first_periods = periods(first);
    assert_eq!(report, went(0, first_periods.len() as u64));
    assert_projection_exact(&env, "first insert").await;

    // More rows of the same version: periods the first insert made are added
    // to, new ones are recomputed.
    let inserted = insert(&store, second).await;
    let report = refresh(&store, &inserted, None).await;
    let second_periods = periods(second);
    let known = second_periods.intersection(&first_periods).count() as u64;
    assert!(known > 0, "the sample's periods recur: {second_periods:?}");
    assert_eq!(report, went(known, second_periods.len() as u64 - known));
    assert_projection_exact(&env, "second insert").await;

    // A redelivery of rows already stored (a crash before the commit): no
    // period may be added to, each is recomputed and counts its rows once.
    let inserted = insert(&store, &second[..120]).await;
    let report = refresh(&store, &inserted, None).await;
    assert_eq!(report.incremental, 0, "{report:?}");
    assert_eq!(report.recomputed, periods(&second[..120]).len() as u64);
    assert_projection_exact(&env, "redelivery").await;

    // That recompute read with FINAL: its count is of distinct records, while
    // the table still holds the copies, which a merge may remove at any time.
    // New rows for those periods are not added to it: they are recomputed.
    let (third, fresh) = third.split_at(200);
    let finals: BTreeSet<_> = periods(&second[..120])
        .intersection(&periods(fresh))
        .cloned()
        .collect();
    assert!(!finals.is_empty());
    let kinds = generation_kinds(&env).await;
    for period in &finals {
        assert_eq!(kinds[period], (0, 0), "FINAL, not incremental: {period:?}");
    }
    let inserted = insert(&store, fresh).await;
    let report = refresh(&store, &inserted, None).await;
    assert!(report.recomputed >= finals.len() as u64, "{report:?}");
    assert_projection_exact(&env, "after a FINAL recompute").await;

    // Another writer's rows land in the same periods before this insert's
    // refresh: the counts no longer add up, so both refreshes recompute.
    let (theirs, ours) = third.split_at(100);
    let shared: BTreeSet<_> = periods(theirs)
        .intersection(&periods(ours))
        .cloned()
        .collect();
    assert!(!shared.is_empty());
    let their_insert = insert(&store, theirs).await;
    let our_insert = insert(&store, ours).await;
    let report = refresh(&store, &our_insert, None).await;
    assert!(
        report.recomputed >= shared.len() as u64,
        "{report:?} {shared:?}"
    );
    assert_projection_exact(&env, "ours after theirs").await;
    let report = refresh(&store, &their_insert, None).await;
    assert_eq!(report.incremental, 0, "already counted: {report:?}");
    assert_projection_exact(&env, "theirs").await;
    assert_eq!(
        projection_totals(&env).await,
        file_totals(&focus_sample(), &[])
    );

    // A newer source version of part of the file replaces its periods whole.
    let restated: Vec<CostRecord> = sample_records(2_000).into_iter().take(200).collect();
    let inserted = insert(&store, &restated).await;
    let report = refresh(&store, &inserted, None).await;
    assert_eq!(report, went(0, periods(&restated).len() as u64));
    assert_projection_exact(&env, "restated").await;

    // Another run stores a still newer version of one of those periods; then
    // more rows of the version the projection has arrive. They must not be
    // added: the newer version replaces the period.
    let period = periods(&restated).into_iter().next().unwrap();
    let in_period = |r: &CostRecord| {
        (
            r.billing_account_id.clone(),
            r.billing_period_start.timestamp(),
        ) == period
    };
    let newest: Vec<CostRecord> = sample_records(3_000)
        .into_iter()
        .filter(in_period)
        .take(5)
        .collect();
    let late: Vec<CostRecord> = sample_records(2_000)
        .into_iter()
        .skip(200)
        .filter(in_period)
        .collect();
    assert!(!late.is_empty());
    insert(&store, &newest).await;
    let inserted = insert(&store, &late).await;
    let report = refresh(&store, &inserted, None).await;
    assert_eq!(report, went(0, 1));
    assert_projection_exact(&env, "newer version elsewhere").await;

    // The consumer refreshes one insert while it writes the next: rows of the
    // insert it names as streaming are left out of the count, and added by
    // their own refresh.
    let rest: Vec<CostRecord> = sample_records(3_000)
        .into_iter()
        .filter(in_period)
        .skip(5)
        .collect();
    assert!(rest.len() >= 3, "{}", rest.len());
    let (named, rest) = rest.split_at(rest.len() / 3);
    let (now, next) = rest.split_at(rest.len() / 2);

    // A period the caller names (the consumer's first refresh of a period
    // since it started) is recomputed even where the insert could be added.
    let named = insert(&store, named).await;
    let key: BTreeSet<_> = named.periods.keys().cloned().collect();
    let report = store.refresh_inserted(&named, None, &key).await.unwrap();
    assert_eq!(report, went(0, 1));
    assert_projection_exact(&env, "named for a recompute").await;

    let now = insert(&store, now).await;
    let next = insert(&store, next).await;
    assert_eq!(
        refresh(&store, &now, Some(next.insert_id)).await,
        went(1, 0)
    );
    assert_eq!(refresh(&store, &next, None).await, went(1, 0));
    assert_eq!(generation_kinds(&env).await[&period], (1, 1));
    assert_projection_exact(&env, "streaming next insert").await;

    // What the store consumer does when the topic goes quiet (and at its first
    // quiet moment after a start): every period whose projection was made
    // incrementally is recomputed from its line items, so even a wrong row in
    // such a generation (here written by hand) is gone.
    let (account, start) = &period;
    let current = env
        .clickhouse(&format!(
            "SELECT max(refreshed_at) FROM cost_daily_refresh \
             WHERE billing_account_id = '{account}' AND billing_period_start = toDateTime({start})"
        ))
        .await;
    let refreshed_at = &current[0][0];
    env.clickhouse_statement(&format!(
        "INSERT INTO {}.cost_daily (billing_account_id, billing_period_start, refreshed_at, \
           day, charge_category, billing_currency, billed_cost, effective_cost, line_items, \
           source_version) \
         VALUES ('{account}', toDateTime({start}), {refreshed_at}, toDate(toDateTime({start})), \
           'Usage', 'USD', 1, 1, 0, 0)",
        env.database()
    ))
    .await;
    assert_ne!(projection_totals(&env).await, line_item_totals(&env).await);
    let restarted = self::store(&env);
    assert_eq!(restarted.recompute_incremental().await.unwrap(), 1);
    assert_projection_exact(&env, "recomputed when quiet").await;
    assert_eq!(restarted.recompute_incremental().await.unwrap(), 0);
}
