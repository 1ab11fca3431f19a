//! Benchmarks of whole pipeline stages, and of the bare tools they are compared with.
//!
//! `scripts/bench.sh` drives this crate's `costflow-bench` binary. Each stage runs as
//! its own process (the release `costflow` binary, or a baseline such as a bare
//! librdkafka producer or `clickhouse-client`) under [`measure`], which records the
//! records per second, the CPU seconds per million records and the peak resident
//! memory of exactly that process. [`table`] turns the measurements of one run into
//! the Markdown table of `BENCHMARKS.md`, with the side-by-side ratios.
//!
//! - [`measure`]: run one child process and take its wall time and `getrusage`.
//! - [`stage`]: parse, normalise and encode without a broker (stage A's CPU part).
//! - [`payloads`]: already-encoded messages in a file, for the bare producer.
//! - [`bare`]: the librdkafka `BaseProducer` baseline: send, nothing else.
//! - [`table`]: the results of a run as a Markdown table with ratios.
//! - [`latency`]: produce → visible in the projection under a steady load.
//! - [`manifest`]: an Azure export run's manifest appearing → its rows visible.

pub mod bare;
pub mod latency;
pub mod manifest;
pub mod measure;
pub mod payloads;
pub mod stage;
pub mod table;
