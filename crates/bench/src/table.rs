//! A run's measurements as the Markdown table of `BENCHMARKS.md`: one row per
//! process, then the side-by-side ratios and the targets they are held to.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::measure::Measurement;

/// Peak resident memory every costflow process must stay under, in KiB.
pub const RSS_TARGET_KIB: u64 = 256 * 1024;

/// Records per CPU second stage A (parse, normalise, encode) must reach on one core.
pub const STAGE_A_TARGET_PER_CORE: f64 = 100_000.0;

/// Records the end-to-end target is set for, and the seconds they must take.
const E2E_TARGET_RECORDS: u64 = 10_000_000;
const E2E_TARGET_SECS: f64 = 180.0;

/// Ratios of two keys' rates, and the least each must reach (`None`: reported only).
const RATIOS: [(&str, &str, &str, Option<f64>); 4] = [
    (
        "ingest",
        "bare_produce",
        "costflow ingest / bare BaseProducer (produce rate)",
        Some(0.8),
    ),
    (
        "store",
        "clickhouse_client",
        "costflow consume store / clickhouse-client CSV insert",
        Some(0.6),
    ),
    (
        "stage_a",
        "duckdb",
        "costflow parse+normalise+encode / DuckDB read_csv sum",
        None,
    ),
    (
        "ingest",
        "stage_a",
        "costflow ingest (with broker) / parse+normalise+encode alone",
        None,
    ),
];

/// Reads a JSON-lines results file.
pub fn read(path: &Path) -> Result<Vec<Measurement>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).context("a results line"))
        .collect()
}

/// The Markdown tables for a run's measurements.
pub fn render(measurements: &[Measurement]) -> String {
    let mut out = String::new();
    out.push_str(
        "| key | process | records | wall s | records/s | records/CPU-s | CPU s per 1M | peak RSS MiB |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for m in measurements {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.2} | {:.1} |",
            m.key,
            m.label,
            m.records,
            m.wall_s,
            m.rate(),
            m.rate_per_core(),
            m.cpu_s_per_million(),
            m.max_rss_kib as f64 / 1024.0
        );
    }

    let mut rates: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for m in measurements {
        rates.entry(m.key.as_str()).or_default().push(m.rate());
    }
    let median = |key: &str| rates.get(key).map(|r| median(r));
    let ratios: Vec<(f64, &str, Option<f64>)> = RATIOS
        .iter()
        .filter_map(|&(ours, theirs, what, target)| {
            Some((median(ours)? / median(theirs)?, what, target))
        })
        .collect();
    if !ratios.is_empty() {
        out.push_str(
            "\n| ratio (median rates of this run) | value | target | |\n|---|---:|---:|---|\n",
        );
    }
    for (ratio, what, target) in ratios {
        let (target_text, verdict) = match target {
            Some(t) if ratio >= t => (format!("≥ {t}"), "met"),
            Some(t) => (format!("≥ {t}"), "MISSED"),
            None => ("-".to_owned(), ""),
        };
        let _ = writeln!(out, "| {what} | {ratio:.2} | {target_text} | {verdict} |");
    }

    out.push_str("\n| target | figure | |\n|---|---:|---|\n");
    for m in measurements.iter().filter(|m| m.key == "stage_a") {
        let per_core = m.rate_per_core();
        let verdict = if per_core >= STAGE_A_TARGET_PER_CORE {
            "met"
        } else {
            "MISSED"
        };
        let _ = writeln!(
            out,
            "| stage A ≥ 100,000 records/s per core ({}) | {per_core:.0} | {verdict} |",
            m.label
        );
    }
    for m in measurements.iter().filter(|m| m.key == "e2e") {
        let at_target_size = E2E_TARGET_RECORDS as f64 / m.rate();
        let (figure, verdict) = if m.records >= E2E_TARGET_RECORDS {
            let verdict = if m.wall_s < E2E_TARGET_SECS {
                "met"
            } else {
                "MISSED"
            };
            (format!("{:.0} s", m.wall_s), verdict)
        } else {
            (
                format!(
                    "{:.1} s for {} records; 10M at this rate: {at_target_size:.0} s",
                    m.wall_s, m.records
                ),
                "not run at 10M",
            )
        };
        let _ = writeln!(
            out,
            "| end to end, 10M records < 3 min ({}) | {figure} | {verdict} |",
            m.label
        );
    }
    for m in measurements.iter().filter(|m| {
        ["ingest", "store", "stage", "e2e"]
            .iter()
            .any(|k| m.key.starts_with(k))
    }) {
        let mib = m.max_rss_kib as f64 / 1024.0;
        let verdict = if m.max_rss_kib < RSS_TARGET_KIB {
            "met"
        } else {
            "MISSED"
        };
        let _ = writeln!(
            out,
            "| peak RSS < 256 MiB ({}) | {mib:.1} MiB | {verdict} |",
            m.label
        );
    }
    out
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // The middle value, or the mean of the two middle values.
    let n = sorted.len();
    (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(key: &str, records: u64, wall_s: f64) -> Measurement {
        Measurement {
            key: key.to_owned(),
            label: key.to_owned(),
            records,
            wall_s,
            cpu_s: wall_s,
            max_rss_kib: 1024,
        }
    }

    #[test]
    fn ratio_compares_rates_of_the_same_run() {
        let table = render(&[
            measured("ingest", 1000, 2.0),
            measured("bare_produce", 1000, 1.0),
        ]);
        assert!(
            table.contains(
                "| costflow ingest / bare BaseProducer (produce rate) | 0.50 | ≥ 0.8 | MISSED |"
            ),
            "{table}"
        );
    }

    #[test]
    fn end_to_end_is_judged_only_at_ten_million_records() {
        let small = render(&[measured("e2e", 1_000_000, 30.0)]);
        assert!(
            small.contains("10M at this rate: 300 s | not run at 10M |"),
            "{small}"
        );
        let fast = render(&[measured("e2e", 10_000_000, 179.0)]);
        assert!(fast.contains("| 179 s | met |"), "{fast}");
        let slow = render(&[measured("e2e", 10_000_000, 181.0)]);
        assert!(slow.contains("| 181 s | MISSED |"), "{slow}");
    }

    #[test]
    fn ratio_uses_the_median_of_repeats() {
        let table = render(&[
            measured("store", 1000, 1.0),
            measured("store", 1000, 100.0),
            measured("store", 1000, 1.0),
            measured("clickhouse_client", 1000, 1.0),
        ]);
        assert!(table.contains("| 1.00 | ≥ 0.6 | met |"), "{table}");
    }
}
