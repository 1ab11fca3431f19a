//! The event model: what every costflow stage agrees a charge line is.
//!
//! Sources (FOCUS files, CUR, Azure exports, Cost Explorer, third-party collectors)
//! turn their rows into a [`CostRecord`]; every consumer reads it back from Kafka.
//!
//! - [`record`]: the normalised record, FOCUS 1.2 column names and meanings, plus the
//!   envelope (record key, source, source version, FOCUS version).
//! - [`money`]: exact decimal handling shared by parsers and sinks.
//! - [`wire`]: Avro single-object encoding; every message names its writer schema by
//!   fingerprint so old and new schema versions can be read side by side.
//! - [`reject`]: the record sent to `ingest.rejects` for input that could not be used.
//! - [`validate`]: the collector contract's rules, checked by every consumer on what
//!   it reads, since producers costflow did not write publish to `cost.records`.
//! - [`compat`]: Avro schema resolution checks between kept schema versions.

pub mod compat;
pub mod money;
pub mod record;
pub mod reject;
pub mod validate;
pub mod wire;

pub use record::{extension_name, CostRecord, RecordKey};
pub use reject::Reject;
pub use validate::{read_cost_record, validate, Refusal, Violation};
pub use wire::{Codec, WireError};
