//! The store's insert path on the client side: cost records → `line_items` rows
//! (money in exact parts, tags as arrays, the other fields as JSON) → RowBinary →
//! LZ4 → HTTP, streamed by the `clickhouse` crate exactly as the store consumer
//! streams them, into a local HTTP server that reads each body to its end and
//! discards it.
//! ClickHouse's own work (parsing, writing parts, merging) is left out; the stage
//! benchmark in `scripts/bench.sh` measures it.
//!
//! `full_record_json` measures the whole record serialised as JSON, which the
//! `record_json` column held until the evening of 2026-12-04 (three quarters of a
//! row's bytes); it now holds only the fields without a column of their own.
//!
//! Input is 14 days of demo data from `costflow generate`, read with costflow's
//! FOCUS reader; one insert carries ten batches of 5,000 records. Throughput is
//! in records per second on one core.
//!
//! `cargo bench -p costflow-store --bench rowbinary`

use std::net::SocketAddr;

use chrono::NaiveDate;
use costflow_ingest::{FocusOptions, FocusReader, Row};
use costflow_model::CostRecord;
use costflow_store::{Store, StoreConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The store consumer's batch size (`--batch-size`).
const BATCH: usize = 5_000;

/// Batches written into one insert before it is ended: the store consumer keeps
/// an insert open across batches until its next refresh, so the end of an insert
/// (a round trip, with TCP's delayed acknowledgement) is rare.
const BATCHES_PER_INSERT: usize = 10;

fn demo_records() -> Vec<CostRecord> {
    let dir = std::env::temp_dir().join(format!("costflow-bench-store-{}", std::process::id()));
    let mut options =
        costflow_generate::GenerateOptions::new(&dir, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    options.days = 14;
    let summary = costflow_generate::generate(&options).expect("generate demo data");
    let file = summary
        .files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "csv") && !f.ends_with("spikes.csv"))
        .expect("a billing period file");
    let records: Vec<CostRecord> = FocusReader::open(file, &FocusOptions::default())
        .expect("readable demo file")
        .filter_map(|row| match row {
            Ok(Row::Record(record)) => Some(*record),
            _ => None,
        })
        .take(BATCH)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    records
}

/// An HTTP server on a free loopback port, on a thread and runtime of its own so
/// that its work stays out of the measured thread, answering every request with
/// 200 once it has read the whole body.
fn discarding_server() -> SocketAddr {
    async fn sink(body: axum::body::Body) -> axum::http::StatusCode {
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(_) => axum::http::StatusCode::OK,
            Err(_) => axum::http::StatusCode::BAD_REQUEST,
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).expect("non-blocking");
    let address = listener.local_addr().expect("bound");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, axum::Router::new().fallback(sink)).await
        })
    });
    address
}

fn insert_path(c: &mut Criterion) {
    let records = demo_records();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let address = discarding_server();
    let store = Store::new(StoreConfig {
        url: format!("http://{address}"),
        database: "bench".to_owned(),
        user: "default".to_owned(),
        password: String::new(),
    });

    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.throughput(Throughput::Elements(
        (records.len() * BATCHES_PER_INSERT) as u64,
    ));
    group.bench_function("line_items_rowbinary_lz4_http", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut writer = store.line_item_writer();
                for _ in 0..BATCHES_PER_INSERT {
                    let unstorable = writer.write(&records).await.expect("written");
                    assert!(unstorable.is_empty());
                }
                writer.end().await.expect("acknowledged").rows()
            })
        })
    });
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("full_record_json", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|record| serde_json::to_string(record).expect("JSON").len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, insert_path);
criterion_main!(benches);
