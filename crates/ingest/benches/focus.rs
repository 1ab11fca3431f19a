//! Stage A without the broker: FOCUS CSV row → normalised record → Avro message,
//! and Avro encode and decode of those records on their own. `encode` is
//! serde_avro_fast, which costflow uses; `encode_apache_avro` apache-avro's direct
//! serde path, which it replaced; `encode_via_value` the path through an Avro
//! `Value` before that, kept for comparison. `decode` is serde_avro_fast
//! deserialising straight from the bytes (what costflow uses for messages written
//! with the current schema); `decode_via_value` apache-avro's path through a
//! `Value` (what it uses for older writer schemas).
//!
//! Input is demo data from `costflow generate` (14 days, FOCUS 1.2 columns), so the
//! benchmark runs on any machine; the real multi-provider sample in
//! `../shared/data/focus/` is measured too when it is there. Throughput is in
//! records per second on one core (the reader is single-threaded).
//!
//! `cargo bench -p costflow-ingest --bench focus`

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use costflow_ingest::{FocusOptions, FocusReader, Row};
use costflow_model::{Codec, CostRecord};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn demo_file() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("costflow-bench-focus-{}", std::process::id()));
    let mut options =
        costflow_generate::GenerateOptions::new(&dir, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    options.days = 14;
    let summary = costflow_generate::generate(&options).expect("generate demo data");
    summary
        .files
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "csv") && !f.ends_with("spikes.csv"))
        .expect("a billing period file")
}

fn rows(path: &Path) -> u64 {
    FocusReader::open(path, &FocusOptions::default())
        .unwrap()
        .filter(|row| matches!(row, Ok(Row::Record(_))))
        .count() as u64
}

fn bench_file(c: &mut Criterion, name: &str, path: &Path) {
    let options = FocusOptions::default();
    let codec = Codec::cost_record();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(rows(path)));
    group.sample_size(20);
    group.bench_function("parse_normalise", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for row in FocusReader::open(path, &options).unwrap() {
                if let Ok(Row::Record(record)) = row {
                    n += u64::from(!record.record_key.is_empty());
                }
            }
            n
        })
    });
    group.bench_function("parse_normalise_encode", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for row in FocusReader::open(path, &options).unwrap() {
                if let Ok(Row::Record(record)) = row {
                    bytes += codec.encode(&record).unwrap().len();
                }
            }
            bytes
        })
    });
    group.finish();

    let records: Vec<CostRecord> = FocusReader::open(path, &options)
        .unwrap()
        .filter_map(|row| match row {
            Ok(Row::Record(record)) => Some(*record),
            _ => None,
        })
        .collect();
    let messages: Vec<Vec<u8>> = records.iter().map(|r| codec.encode(r).unwrap()).collect();
    let mut group = c.benchmark_group(format!("{name}_avro"));
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| codec.encode(r).unwrap().len())
                .sum::<usize>()
        })
    });
    group.bench_function("encode_apache_avro", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| codec.encode_apache_avro(r).unwrap().len())
                .sum::<usize>()
        })
    });
    group.bench_function("encode_via_value", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| codec.encode_via_value(r).unwrap().len())
                .sum::<usize>()
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| codec.decode::<CostRecord>(m).unwrap().billed_cost)
                .sum::<rust_decimal::Decimal>()
        })
    });
    group.bench_function("decode_via_value", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| codec.decode_via_value::<CostRecord>(m).unwrap().billed_cost)
                .sum::<rust_decimal::Decimal>()
        })
    });
    group.finish();
}

fn focus(c: &mut Criterion) {
    let demo = demo_file();
    bench_file(c, "focus_demo", &demo);
    let _ = std::fs::remove_dir_all(demo.parent().unwrap());

    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/focus/focus-sample-data_FOCUS-1.0_focus_sample.csv");
    if sample.exists() {
        bench_file(c, "focus_sample", &sample);
    }
}

criterion_group!(benches, focus);
criterion_main!(benches);
