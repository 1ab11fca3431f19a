//! Stage A without the broker for Azure Cost Management exports: export CSV row →
//! normalised FOCUS record → Avro message.
//!
//! Input is the real EA AmortizedCost export of the FinOps toolkit in
//! `../shared/data/azure-export/` (the file the Azure end-to-end tests reconcile).
//! It holds 28 rows, too few to time anything but opening a file, so its data
//! rows are written 500 times over into one temporary file (14,000 rows, same
//! header, same values). Throughput is in records per second on one core. The
//! benchmark says so and measures nothing when the export is not there.
//!
//! `cargo bench -p costflow-ingest --bench azure`

use std::io::Write;
use std::path::{Path, PathBuf};

use costflow_ingest::{AzureDataset, AzureOptions, AzureReader, Row};
use costflow_model::Codec;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Copies of the export's data rows in the benchmark file.
const REPEAT: usize = 500;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/azure-export/finops-toolkit_EA_AmortizedCost_Small.csv")
}

/// The header once, then the data rows `REPEAT` times.
fn repeated(path: &Path) -> PathBuf {
    let text = std::fs::read_to_string(path).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let rows = rows.trim_end_matches(['\r', '\n']);
    let dir = std::env::temp_dir().join(format!("costflow-bench-azure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("ea-amortized.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
    writeln!(file, "{header}").unwrap();
    for _ in 0..REPEAT {
        writeln!(file, "{rows}").unwrap();
    }
    file.flush().unwrap();
    out
}

fn azure(c: &mut Criterion) {
    let sample = sample();
    if !sample.exists() {
        eprintln!("{} not found: no Azure benchmark", sample.display());
        return;
    }
    let path = repeated(&sample);
    let options = AzureOptions::new(AzureDataset::AmortizedCost, 1_700_000_000_000_000);
    let codec = Codec::cost_record();
    let records = AzureReader::open(&path, &options)
        .unwrap()
        .filter(|row| matches!(row, Ok(Row::Record(_))))
        .count();
    assert_eq!(records, 28 * REPEAT, "every row of the export is a record");

    let mut group = c.benchmark_group("azure_ea_amortized");
    group.throughput(Throughput::Elements(records as u64));
    group.sample_size(20);
    group.bench_function("parse_normalise", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for row in AzureReader::open(&path, &options).unwrap() {
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
            for row in AzureReader::open(&path, &options).unwrap() {
                if let Ok(Row::Record(record)) = row {
                    bytes += codec.encode(&record).unwrap().len();
                }
            }
            bytes
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

criterion_group!(benches, azure);
criterion_main!(benches);
