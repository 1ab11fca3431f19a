//! Records survive a broker restart: the local stack's tansu keeps its log in
//! SQLite, and a consumer that starts after the restart still reads everything.
//!
//! A test binary of its own, because restarting the broker would disturb the
//! tests that run in parallel in `pipeline`.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_published_before_a_broker_restart_are_stored_after_it() {
    let env = TestEnv::new("restart");
    let sample = focus_sample();
    let expected = file_totals(&sample, &[]);

    env.apply_topics().await;
    env.costflow_ok(&["ingest", "focus", sample.to_str().unwrap()])
        .await;

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/stack.sh");
    let restart = tokio::process::Command::new("bash")
        .arg(&script)
        .arg("restart-broker")
        .output()
        .await
        .unwrap();
    assert!(
        restart.status.success(),
        "{}",
        String::from_utf8_lossy(&restart.stderr)
    );

    let out = env.store_until_caught_up().await;
    assert!(out.contains("stored 1000 records"), "{out}");
    assert_eq!(line_item_totals(&env).await, expected);
    assert_eq!(projection_totals(&env).await, expected);
}
