//! One process, measured: wall time, CPU time and peak resident memory.
//!
//! The child's CPU time and peak RSS come from `getrusage(RUSAGE_CHILDREN)` after
//! it was reaped. The measuring process starts no other child, so the figures are
//! exactly the child's (and those of any child it waited for itself). `ru_maxrss`
//! is the kernel's high-water mark of the resident set, the `VmHWM` of
//! `/proc/PID/status` at exit.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeValLike;
use serde::{Deserialize, Serialize};

/// What one measured process did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Short stable identifier (`ingest`, `bare_produce`, `store`, ...), used to pair
    /// figures into ratios.
    pub key: String,
    /// Human description for the table.
    pub label: String,
    /// Records the process handled.
    pub records: u64,
    /// Wall-clock seconds from start to exit.
    pub wall_s: f64,
    /// User plus system CPU seconds.
    pub cpu_s: f64,
    /// Peak resident set size in KiB.
    pub max_rss_kib: u64,
}

impl Measurement {
    /// Records per wall-clock second.
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.wall_s.max(f64::EPSILON)
    }

    /// Records per CPU second: the rate one core sustains.
    pub fn rate_per_core(&self) -> f64 {
        self.records as f64 / self.cpu_s.max(f64::EPSILON)
    }

    /// CPU seconds spent per million records.
    pub fn cpu_s_per_million(&self) -> f64 {
        self.cpu_s * 1e6 / (self.records.max(1) as f64)
    }
}

/// Runs `program` with `args` (stdin, stdout and stderr inherited), waits for it
/// and measures it. A non-zero exit is an error: a failed run has no figures.
pub fn run_child(
    key: &str,
    label: &str,
    records: u64,
    program: &Path,
    args: &[String],
) -> Result<Measurement> {
    let before = children_usage()?;
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("starting {}", program.display()))?;
    let wall = start.elapsed();
    if !status.success() {
        bail!("{} {args:?} failed: {status}", program.display());
    }
    let after = children_usage()?;
    Ok(Measurement {
        key: key.to_owned(),
        label: label.to_owned(),
        records,
        wall_s: wall.as_secs_f64(),
        cpu_s: (after.0 - before.0).as_secs_f64(),
        max_rss_kib: after.1,
    })
}

/// CPU time and peak RSS (KiB) of the reaped children so far.
fn children_usage() -> Result<(Duration, u64)> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    let cpu = Duration::from_micros(u64::try_from(micros).unwrap_or(0));
    Ok((cpu, u64::try_from(usage.max_rss()).unwrap_or(0)))
}

/// CPU time and peak RSS (KiB) of this process so far, for work measured in process.
pub fn self_usage() -> Result<(Duration, u64)> {
    let usage = getrusage(UsageWho::RUSAGE_SELF).context("getrusage")?;
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    let cpu = Duration::from_micros(u64::try_from(micros).unwrap_or(0));
    Ok((cpu, u64::try_from(usage.max_rss()).unwrap_or(0)))
}

/// Appends a measurement to a JSON-lines results file.
pub fn append(results: &Path, measurement: &Measurement) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(results)
        .with_context(|| format!("opening {}", results.display()))?;
    writeln!(file, "{}", serde_json::to_string(measurement)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_measured_with_its_own_memory() {
        // `head -c` holds 8 MiB in memory before writing it out.
        let args = [
            "-c".to_owned(),
            "head -c 8388608 /dev/zero | tail -c 1 >/dev/null".to_owned(),
        ];
        let m = run_child("k", "label", 10, Path::new("sh"), &args).unwrap();
        assert_eq!((m.key.as_str(), m.records), ("k", 10));
        assert!(m.max_rss_kib > 0, "{m:?}");
        assert!(m.wall_s > 0.0 && m.cpu_s >= 0.0, "{m:?}");
    }

    #[test]
    fn a_failed_child_has_no_figures() {
        let args = ["-c".to_owned(), "exit 3".to_owned()];
        assert!(run_child("k", "label", 1, Path::new("sh"), &args).is_err());
    }

    #[test]
    fn measurements_append_as_json_lines() {
        let path =
            std::env::temp_dir().join(format!("costflow-bench-{}.jsonl", std::process::id()));
        let m = Measurement {
            key: "store".into(),
            label: "store".into(),
            records: 2_000_000,
            wall_s: 4.0,
            cpu_s: 2.0,
            max_rss_kib: 1024,
        };
        append(&path, &m).unwrap();
        append(&path, &m).unwrap();
        let read = crate::table::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(read, vec![m.clone(), m.clone()]);
        assert_eq!(
            (m.rate(), m.rate_per_core(), m.cpu_s_per_million()),
            (500_000.0, 1_000_000.0, 1.0)
        );
    }
}
