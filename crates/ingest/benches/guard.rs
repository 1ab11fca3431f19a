//! The CI regression guard: is stage A much slower than when the baseline was taken?
//!
//! Absolute times on a shared CI machine are noise, so every figure here is a ratio
//! to a reference loop measured in the same run, interleaved with it: the `csv`
//! crate reading the same file into `StringRecord`s and parsing every field that
//! looks like a number as a `Decimal`, the floor of what any CSV cost reader does.
//! Each workload's time is the minimum over the rounds (the least disturbed one).
//! The ratios are checked against `guard-baseline.json`; the run fails when one of
//! them is more than `max_slowdown` times its baseline.
//!
//! `cargo bench -p costflow-ingest --bench guard` (a few seconds; `scripts/test.sh`
//! runs it). After a deliberate change, record new baselines with
//! `COSTFLOW_GUARD_UPDATE=1 cargo bench -p costflow-ingest --bench guard` and commit
//! the file.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use costflow_ingest::{FocusOptions, FocusReader, Row};
use costflow_model::{Codec, CostRecord};
use rust_decimal::Decimal;

/// Messages decoded per round: enough to time, few enough that a round stays short.
const DECODED: usize = 1000;

/// Interleaved rounds of every workload.
const ROUNDS: usize = 30;

fn baseline_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/guard-baseline.json")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Baseline {
    /// Fail when a ratio exceeds its baseline by more than this factor.
    max_slowdown: f64,
    /// Time per record of each workload divided by the reference loop's.
    ratios: BTreeMap<String, f64>,
}

fn demo_file(dir: &Path) -> PathBuf {
    let end = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
    let mut options = costflow_generate::GenerateOptions::new(dir, end);
    options.days = 14;
    let summary = costflow_generate::generate(&options).expect("generate demo data");
    summary
        .files
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "csv") && !f.ends_with("spikes.csv"))
        .expect("a billing period file")
}

/// The reference loop: read every row and parse every numeric-looking field.
fn reference(path: &Path) -> u64 {
    let mut reader = csv::Reader::from_path(path).expect("open");
    let mut record = csv::StringRecord::new();
    let mut n = 0u64;
    while reader.read_record(&mut record).expect("read") {
        for field in record.iter() {
            if field.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                n += u64::from(Decimal::from_str(field).is_ok());
            } else {
                n += field.len() as u64;
            }
        }
    }
    n
}

fn parse_encode(path: &Path, codec: &Codec) -> u64 {
    let mut bytes = 0u64;
    for row in FocusReader::open(path, &FocusOptions::default()).expect("open") {
        if let Ok(Row::Record(record)) = row {
            bytes += codec.encode(&record).expect("encode").len() as u64;
        }
    }
    bytes
}

fn decode(messages: &[Vec<u8>], codec: &Codec) -> u64 {
    messages
        .iter()
        .map(|m| {
            u64::from(
                codec
                    .decode::<CostRecord>(m)
                    .expect("decode")
                    .source_line
                    .is_some(),
            )
        })
        .sum()
}

fn fastest(times: &[Duration]) -> f64 {
    times
        .iter()
        .min()
        .copied()
        .unwrap_or_default()
        .as_secs_f64()
}

fn time(f: impl FnOnce() -> u64) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("costflow-guard-{}", std::process::id()));
    let path = demo_file(&dir);
    let codec = Codec::cost_record();
    let messages: Vec<Vec<u8>> = FocusReader::open(&path, &FocusOptions::default())
        .expect("open")
        .filter_map(|row| match row {
            Ok(Row::Record(record)) => Some(codec.encode(&record).expect("encode")),
            _ => None,
        })
        .collect();

    let (mut reference_times, mut encode_times, mut decode_times) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        reference_times.push(time(|| reference(&path)));
        encode_times.push(time(|| parse_encode(&path, &codec)));
        decode_times.push(time(|| decode(&messages[..DECODED], &codec)));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let reference = fastest(&reference_times);
    let ratios = BTreeMap::from([
        (
            "focus_parse_normalise_encode".to_owned(),
            fastest(&encode_times) / reference,
        ),
        (
            "avro_decode".to_owned(),
            fastest(&decode_times) / DECODED as f64 * messages.len() as f64 / reference,
        ),
    ]);
    let per_record = reference * 1e9 / messages.len() as f64;
    println!(
        "reference loop: {per_record:.0} ns per record over {} records",
        messages.len()
    );

    if std::env::var_os("COSTFLOW_GUARD_UPDATE").is_some() {
        let baseline = Baseline {
            max_slowdown: 2.0,
            ratios,
        };
        let text = serde_json::to_string_pretty(&baseline).expect("json") + "\n";
        std::fs::write(baseline_path(), text).expect("write the baseline");
        println!("baseline written to {}", baseline_path().display());
        return ExitCode::SUCCESS;
    }

    let text = std::fs::read_to_string(baseline_path()).expect("read the baseline");
    let baseline: Baseline = serde_json::from_str(&text).expect("a baseline file");
    let mut failed = false;
    for (name, ratio) in &ratios {
        let Some(base) = baseline.ratios.get(name) else {
            println!("{name}: {ratio:.2} × reference (no baseline)");
            continue;
        };
        let slowdown = ratio / base;
        let verdict = if slowdown > baseline.max_slowdown {
            failed = true;
            "FAIL"
        } else {
            "ok"
        };
        println!(
            "{name}: {ratio:.2} × reference, baseline {base:.2}, {slowdown:.2}× it: {verdict}"
        );
    }
    if failed {
        println!(
            "slower than {}× the baseline: a performance regression",
            baseline.max_slowdown
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
