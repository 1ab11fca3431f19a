//! Stage A without the broker for AWS CUR: CUR CSV row → normalised FOCUS record →
//! Avro message, plain and gzip-compressed.
//!
//! Input is the real anonymised legacy CUR sample of `focus_converters` in
//! `../shared/data/aws-cur/` (the file the CUR end-to-end tests reconcile), read
//! as it is and gzip-compressed. Throughput is in records per second on one core.
//! The benchmark says so and measures nothing when the sample is not there.
//!
//! Azure exports have their own benchmark, `benches/azure.rs`.
//!
//! `cargo bench -p costflow-ingest --bench cur`

use std::io::Write;
use std::path::{Path, PathBuf};

use costflow_ingest::{CurOptions, CurReader, Row};
use costflow_model::Codec;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/aws-cur/focus-converters_sample-anonymous-aws-cur-legacy.csv")
}

fn gzipped(path: &Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("costflow-bench-cur-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("cur.csv.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&out).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(&std::fs::read(path).unwrap()).unwrap();
    encoder.finish().unwrap();
    out
}

fn records(path: &Path, options: &CurOptions) -> u64 {
    CurReader::open(path, options)
        .unwrap()
        .filter(|row| matches!(row, Ok(Row::Record(_))))
        .count() as u64
}

fn bench_file(c: &mut Criterion, name: &str, path: &Path) {
    let options = CurOptions {
        source_version: 1_700_000_000_000_000,
    };
    let codec = Codec::cost_record();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(records(path, &options)));
    group.sample_size(20);
    group.bench_function("parse_normalise", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for row in CurReader::open(path, &options).unwrap() {
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
            for row in CurReader::open(path, &options).unwrap() {
                if let Ok(Row::Record(record)) = row {
                    bytes += codec.encode(&record).unwrap().len();
                }
            }
            bytes
        })
    });
    group.finish();
}

fn cur(c: &mut Criterion) {
    let sample = sample();
    if !sample.exists() {
        eprintln!("{} not found: no CUR benchmark", sample.display());
        return;
    }
    bench_file(c, "cur_sample", &sample);
    let gz = gzipped(&sample);
    bench_file(c, "cur_sample_gz", &gz);
    let _ = std::fs::remove_dir_all(gz.parent().unwrap());
}

criterion_group!(benches, cur);
criterion_main!(benches);
