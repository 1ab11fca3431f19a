//! Avro single-object encoding of records on Kafka.
//!
//! Every message is `C3 01`, the 8-byte little-endian CRC-64-AVRO (Rabin)
//! fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary
//! datum. Readers look the fingerprint up among every schema version kept in
//! `schemas/` and resolve the datum to the newest version, so producers on an
//! older or newer schema can share a topic.
//!
//! The datum is written, and read back when its writer schema is the current
//! one, by `serde_avro_fast`, straight between the bytes and the Rust type;
//! `apache-avro` parses the schemas, computes fingerprints and resolves data
//! written with any other version.
//!
//! The fingerprint is the one the Avro specification defines, the same that Java's
//! `SchemaNormalization` and Python's `fastavro` compute. `apache-avro` (up to 0.23
//! at least) writes a primitive that carries a `logicalType` as `{"type":"long"}`
//! in its canonical form instead of `"long"`, so its own fingerprint differs for
//! every schema with a timestamp. [`fingerprint`] therefore hands `apache-avro` the
//! schema with everything the canonical form drops already stripped. Messages
//! written by costflow before this fix carry the library's fingerprint; readers
//! still accept it for each kept version.

use std::sync::Arc;

use apache_avro::{rabin::Rabin, types::Value, Schema};
use serde::{de::DeserializeOwned, Serialize};

/// The two marker bytes that open an Avro single-object message.
const MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// Every version of the cost record schema, oldest first.
pub const COST_RECORD_SCHEMAS: &[&str] = &[include_str!("../../../schemas/cost_record.v1.avsc")];
/// Every version of the ingest reject schema, oldest first.
pub const REJECT_SCHEMAS: &[&str] = &[include_str!("../../../schemas/ingest_reject.v1.avsc")];
/// Every version of the export-run checkpoint schema (`ingest.checkpoints`),
/// oldest first.
pub const CHECKPOINT_SCHEMAS: &[&str] =
    &[include_str!("../../../schemas/ingest_checkpoint.v1.avsc")];

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The message does not start with the single-object marker.
    #[error("not an Avro single-object message ({len} bytes, starts {start:02x?})")]
    NotSingleObject {
        /// Message length.
        len: usize,
        /// Its first bytes.
        start: Vec<u8>,
    },
    /// The writer schema's fingerprint is not among the known versions.
    #[error(
        "unknown writer schema fingerprint {0:016x}; is this consumer older than the producer?"
    )]
    UnknownSchema(u64),
    /// The bytes do not decode with the writer schema, or the value does not fit it.
    #[error("avro: {0}")]
    Avro(#[from] apache_avro::Error),
    /// The value does not encode with, or the bytes do not decode into the
    /// target type with, the current schema.
    #[error("avro datum: {0}")]
    Datum(String),
    /// A writer schema offered at run time cannot be read into the current one.
    #[error("writer schema cannot be read into the current schema: {0}")]
    Incompatible(String),
}

/// Encoder and decoder for one record type over all its schema versions.
#[derive(Debug, Clone)]
pub struct Codec {
    /// (fingerprint, schema) of every known version, oldest first.
    versions: Vec<(u64, Schema)>,
    /// (fingerprint, schema) of every schema a message may name: each version by
    /// its specification fingerprint and by `apache-avro`'s own, plus writer
    /// schemas added at run time.
    writers: Vec<(u64, Schema)>,
    /// Fingerprints in `writers` whose schema is the current one itself: their
    /// data needs no resolution into the current schema.
    current_writers: Vec<u64>,
    /// The current schema for `serde_avro_fast`, which decodes data written with
    /// it straight into the target type.
    current_fast: Arc<serde_avro_fast::Schema>,
}

impl Codec {
    /// A codec over the given schema versions, oldest first; the last one is the
    /// one written and the one read into.
    ///
    /// # Panics
    /// When a schema text does not parse: the texts are compiled in, so that is a
    /// build defect caught by this crate's tests, not an input error.
    pub fn new(schema_texts: &[&str]) -> Self {
        let versions: Vec<(u64, Schema)> = schema_texts
            .iter()
            .map(|text| {
                let schema = Schema::parse_str(text).expect("bundled schema parses");
                (fingerprint(&schema), schema)
            })
            .collect();
        let mut writers = versions.clone();
        writers.extend(
            versions
                .iter()
                .map(|(_, schema)| (library_fingerprint(schema), schema.clone())),
        );
        Self::assemble(versions, writers)
    }

    /// A codec over `versions` (the last one current) accepting `writers`.
    fn assemble(versions: Vec<(u64, Schema)>, writers: Vec<(u64, Schema)>) -> Self {
        let current = &versions.last().expect("a codec has a schema").1;
        let mut codec = Self {
            current_fast: fast_schema(current),
            versions,
            writers,
            current_writers: Vec::new(),
        };
        codec.find_current_writers();
        codec
    }

    fn find_current_writers(&mut self) {
        let current = self.current().clone();
        self.current_writers = self
            .writers
            .iter()
            .filter(|(_, schema)| *schema == current)
            .map(|(fp, _)| *fp)
            .collect();
    }

    /// Also accepts messages written with `schema_text`, a schema this build does
    /// not carry (typically a newer version deployed as a file before the
    /// consumers are upgraded). Its data is resolved into the current schema, so
    /// the schema must be readable by it under Avro's resolution rules.
    pub fn add_writer_schema(&mut self, schema_text: &str) -> Result<u64, WireError> {
        let schema = Schema::parse_str(schema_text)?;
        apache_avro::schema_compatibility::SchemaCompatibility::can_read(&schema, self.current())
            .map_err(|err| WireError::Incompatible(err.to_string()))?;
        let fp = fingerprint(&schema);
        self.writers.push((fp, schema));
        self.find_current_writers();
        Ok(fp)
    }

    /// The same codec reading into an older kept version instead of the newest:
    /// what a consumer built before the newer versions existed does.
    pub fn reading_version(&self, version: usize) -> Option<Self> {
        let index = version.checked_sub(1)?;
        let kept = self.versions.get(..=index)?.to_vec();
        Some(Self::assemble(kept, self.writers.clone()))
    }

    /// The codec for [`crate::CostRecord`].
    pub fn cost_record() -> Self {
        Self::new(COST_RECORD_SCHEMAS)
    }

    /// The codec for [`crate::Reject`].
    pub fn reject() -> Self {
        Self::new(REJECT_SCHEMAS)
    }

    /// The codec for the ingest watchers' checkpoints.
    pub fn checkpoint() -> Self {
        Self::new(CHECKPOINT_SCHEMAS)
    }

    /// The schema messages are written with and read into.
    pub fn current(&self) -> &Schema {
        &self.latest().1
    }

    /// Fingerprint of the current schema.
    pub fn current_fingerprint(&self) -> u64 {
        self.latest().0
    }

    fn latest(&self) -> &(u64, Schema) {
        self.versions
            .last()
            .expect("a codec has at least one schema")
    }

    /// Encodes a value with the current schema.
    ///
    /// The value is serialised straight into Avro against the schema by
    /// `serde_avro_fast`, map entries in the order the value holds them, so the
    /// same record always gives the same bytes. apache-avro's schema-aware serde
    /// serialiser ([`Codec::encode_apache_avro`]) writes the same bytes about
    /// twice as slowly (it looks every field up by name); building an Avro
    /// `Value` first and resolving it against the schema, as
    /// [`Codec::encode_via_value`] does, is slower still: resolving walks and
    /// hashes the whole schema again for every record. A value that does not fit
    /// the schema (a field missing, say) is an error, where apache-avro's direct
    /// path leaves the field's bytes out.
    pub fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, WireError> {
        let (fingerprint, _) = self.latest();
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&fingerprint.to_le_bytes());
        let mut config = serde_avro_fast::ser::SerializerConfig::new(&self.current_fast);
        serde_avro_fast::to_datum(value, out, &mut config)
            .map_err(|err| WireError::Datum(err.to_string()))
    }

    /// Encodes with apache-avro's serde serialiser, straight against the schema:
    /// the same bytes as [`Codec::encode`], slower. Kept so tests and benchmarks
    /// can hold `serde_avro_fast` to it.
    pub fn encode_apache_avro<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, WireError> {
        let (fingerprint, schema) = self.latest();
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&fingerprint.to_le_bytes());
        apache_avro::write_avro_datum_ref(schema, value, &mut out)?;
        Ok(out)
    }

    /// Encodes a value with the current schema through an Avro `Value` resolved
    /// against the schema: the same data as [`Codec::encode`], slower, with map
    /// entries in hash order. Kept so tests and benchmarks can hold the fast path
    /// to it.
    pub fn encode_via_value<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, WireError> {
        let (fingerprint, schema) = self.latest();
        let value = apache_avro::to_value(value)?.resolve(schema)?;
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&fingerprint.to_le_bytes());
        out.extend(apache_avro::to_avro_datum(schema, value)?);
        Ok(out)
    }

    /// Decodes a message written with any known schema version into the current one.
    ///
    /// Data written with the current schema is deserialised straight from its
    /// bytes (`serde_avro_fast`), without building an Avro `Value` first; data
    /// written with another version is resolved into the current one through
    /// `apache-avro`. Both give the same value (this module's tests hold them to it).
    pub fn decode<T: DeserializeOwned>(&self, message: &[u8]) -> Result<T, WireError> {
        let (fp, body) = split(message)?;
        if self.current_writers.contains(&fp) {
            return serde_avro_fast::from_datum_slice(body, &self.current_fast)
                .map_err(|err| WireError::Datum(err.to_string()));
        }
        self.decode_via_value(message)
    }

    /// Decodes through an Avro `Value` resolved into the current schema, whatever
    /// the writer schema: the path [`Codec::decode`] takes for other versions.
    pub fn decode_via_value<T: DeserializeOwned>(&self, message: &[u8]) -> Result<T, WireError> {
        let value = self.decode_value(message)?;
        Ok(apache_avro::from_value(&value)?)
    }

    /// Decodes a message into an Avro value of the current schema.
    pub fn decode_value(&self, message: &[u8]) -> Result<Value, WireError> {
        let (fp, mut body) = split(message)?;
        let writer = self
            .writers
            .iter()
            .find(|(known, _)| *known == fp)
            .map(|(_, schema)| schema)
            .ok_or(WireError::UnknownSchema(fp))?;
        // Resolving into the reader schema rebuilds its name table on every call;
        // data written with the current schema itself is already in its shape.
        let reader = if self.current_writers.contains(&fp) {
            None
        } else {
            Some(self.current())
        };
        Ok(apache_avro::from_avro_datum(writer, &mut body, reader)?)
    }
}

/// A single-object message's writer fingerprint and datum.
fn split(message: &[u8]) -> Result<(u64, &[u8]), WireError> {
    if message.len() < HEADER_LEN || message[..2] != MAGIC {
        return Err(WireError::NotSingleObject {
            len: message.len(),
            start: message.iter().take(HEADER_LEN).copied().collect(),
        });
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&message[2..HEADER_LEN]);
    Ok((u64::from_le_bytes(fp), &message[HEADER_LEN..]))
}

/// `schema` as `serde_avro_fast` reads it, from the JSON `apache-avro` writes.
///
/// # Panics
/// When `serde_avro_fast` refuses a schema `apache-avro` accepted: the schemas
/// are compiled in or checked when added, so that is a defect this module's
/// tests catch.
fn fast_schema(schema: &Schema) -> Arc<serde_avro_fast::Schema> {
    let json = serde_json::to_string(schema).expect("a parsed schema serialises");
    Arc::new(
        json.parse()
            .expect("serde_avro_fast reads the schema apache-avro read"),
    )
}

/// Attributes the Parsing Canonical Form keeps; every other one is dropped.
const CANONICAL_ATTRIBUTES: [&str; 8] = [
    "type",
    "name",
    "namespace",
    "fields",
    "symbols",
    "items",
    "values",
    "size",
];

/// CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form, as the Avro
/// specification defines it. The 8 bytes of the single-object header are this
/// value in little-endian order; `fastavro.schema.fingerprint(...,
/// "CRC-64-AVRO")` prints the same bytes as hex.
pub fn fingerprint(schema: &Schema) -> u64 {
    let stripped = serde_json::to_value(schema)
        .map(|mut json| {
            strip_to_canonical(&mut json);
            json
        })
        .ok()
        .and_then(|json| Schema::parse(&json).ok());
    library_fingerprint(stripped.as_ref().unwrap_or(schema))
}

/// `apache-avro`'s own fingerprint, which differs from the specification's for
/// schemas with logical types; see the module documentation.
fn library_fingerprint(schema: &Schema) -> u64 {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(fp)
}

/// Drops every attribute the canonical form drops (doc, default, aliases,
/// logicalType and the like), so that a primitive with a logical type becomes a
/// bare `{"type": "long"}` that `apache-avro` reduces to `"long"`.
fn strip_to_canonical(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(map) => {
            map.retain(|key, _| CANONICAL_ATTRIBUTES.contains(&key.as_str()));
            map.values_mut().for_each(strip_to_canonical);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_to_canonical),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::{TimeZone, Utc};
    use rust_decimal::Decimal;

    use super::*;
    use crate::{CostRecord, Reject};

    #[test]
    fn direct_encoding_writes_the_same_data_as_the_value_path() {
        let codec = Codec::cost_record();
        let full = sample();
        let mut bare = sample();
        bare.source_line = None;
        bare.list_cost = None;
        bare.consumed_quantity = None;
        bare.service_name = None;
        bare.tags.clear();
        bare.extensions.clear();
        for record in [full, bare] {
            let direct = codec.encode(&record).unwrap();
            let via_value = codec.encode_via_value(&record).unwrap();
            assert_eq!(
                codec.decode_value(&direct).unwrap(),
                codec.decode_value(&via_value).unwrap()
            );
            assert_eq!(codec.decode::<CostRecord>(&direct).unwrap(), record);
        }
        let reject_codec = Codec::reject();
        let reject = Reject {
            source_provider: "AWS".into(),
            source_dataset: "CUR".into(),
            source_uri: "file:///cur.csv".into(),
            line: Some(7),
            column: None,
            value: Some("x".into()),
            reason: "bad".into(),
            rejected_at: Utc.with_ymd_and_hms(2024, 9, 1, 0, 0, 0).unwrap(),
        };
        assert_eq!(
            reject_codec.encode(&reject).unwrap(),
            reject_codec.encode_via_value(&reject).unwrap()
        );
    }

    #[test]
    fn data_of_the_current_schema_decodes_as_if_resolved() {
        let codec = Codec::cost_record();
        let message = codec.encode(&sample()).unwrap();
        let mut body = &message[HEADER_LEN..];
        let resolved =
            apache_avro::from_avro_datum(codec.current(), &mut body, Some(codec.current()))
                .unwrap();
        assert!(codec.current_writers.contains(&codec.current_fingerprint()));
        assert_eq!(codec.decode_value(&message).unwrap(), resolved);
    }

    #[test]
    fn decoding_straight_from_bytes_gives_what_the_value_path_gives() {
        let codec = Codec::cost_record();
        let message = codec.encode(&sample()).unwrap();
        let direct: CostRecord = codec.decode(&message).unwrap();
        assert_eq!(
            direct,
            codec.decode_via_value::<CostRecord>(&message).unwrap()
        );
        assert_eq!(direct, sample());

        let mut truncated = message.clone();
        truncated.truncate(message.len() - 3);
        assert!(matches!(
            codec.decode::<CostRecord>(&truncated),
            Err(WireError::Datum(_))
        ));
    }

    fn sample() -> CostRecord {
        let day = |d| Utc.with_ymd_and_hms(2024, 9, d, 0, 0, 0).unwrap();
        let mut record = CostRecord::new(
            "1234567890123",
            "EUR",
            [day(1), Utc.with_ymd_and_hms(2024, 10, 1, 0, 0, 0).unwrap()],
            [day(18), day(19)],
            "Credit",
            Decimal::from_str("-1234.5678901234").unwrap(),
            Decimal::from_str("-0.0000000001").unwrap(),
        );
        record.record_key = "k".into();
        record.source_line = Some(42);
        record.list_cost = Some(Decimal::from_str("99999999999.123456789").unwrap());
        record.consumed_quantity = Some(Decimal::from_str("-2.000000000000001").unwrap());
        record.service_name = Some("Amazon Simple Queue Service".into());
        record
            .tags
            .insert("kostenstelle".into(), "Müller & Söhne — 東京".into());
        record.tags.insert("empty".into(), String::new());
        record
            .extensions
            .insert("x_ExportDateTime".into(), "2025-05-04T00:00:00Z".into());
        record
    }

    #[test]
    fn cost_record_round_trips_negative_amounts_ten_places_nulls_and_unicode() {
        let codec = Codec::cost_record();
        let record = sample();

        let bytes = codec.encode(&record).unwrap();
        assert_eq!(bytes[..2], MAGIC);
        assert_eq!(bytes[2..10], codec.current_fingerprint().to_le_bytes());
        let back: CostRecord = codec.decode(&bytes).unwrap();

        assert_eq!(back, record);
        assert_eq!(back.effective_cost.to_string(), "-0.0000000001");
        assert_eq!(back.billed_cost.to_string(), "-1234.5678901234");
        assert_eq!(back.contracted_cost, None);
        assert_eq!(
            back.tags["kostenstelle"],
            "Müller & Söhne — 东京".replace('东', "東")
        );
    }

    #[test]
    fn reject_round_trips() {
        let codec = Codec::reject();
        let reject = Reject {
            source_provider: "FOCUS".into(),
            source_dataset: "FOCUS".into(),
            source_uri: "file:///x.csv".into(),
            line: Some(7),
            column: Some("BilledCost".into()),
            value: Some("12,5".into()),
            reason: "not a decimal number".into(),
            rejected_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        };
        let back: Reject = codec.decode(&codec.encode(&reject).unwrap()).unwrap();
        assert_eq!(back, reject);
    }

    #[test]
    fn unknown_fingerprint_and_foreign_bytes_are_errors_not_panics() {
        let codec = Codec::cost_record();
        let mut bytes = codec.encode(&sample()).unwrap();
        bytes[3] ^= 0xff;
        assert!(matches!(
            codec.decode::<CostRecord>(&bytes),
            Err(WireError::UnknownSchema(_))
        ));
        assert!(matches!(
            codec.decode::<CostRecord>(b"{\"json\": true}"),
            Err(WireError::NotSingleObject { .. })
        ));
        let truncated = &codec.encode(&sample()).unwrap()[..40];
        assert!(codec.decode::<CostRecord>(truncated).is_err());
    }

    #[test]
    fn fingerprint_is_the_avro_specification_one_that_fastavro_computes() {
        // fastavro 1.13.1: fingerprint(to_parsing_canonical_form(parse_schema(v1)),
        // "CRC-64-AVRO") == "1afb82f1fe87f087", the header bytes in order.
        let header: String = Codec::cost_record()
            .current_fingerprint()
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(header, "1afb82f1fe87f087");
    }

    #[test]
    fn messages_with_the_older_library_fingerprint_still_decode() {
        let codec = Codec::cost_record();
        let mut bytes = codec.encode(&sample()).unwrap();
        let legacy = library_fingerprint(codec.current());
        assert_ne!(legacy, codec.current_fingerprint());
        bytes[2..10].copy_from_slice(&legacy.to_le_bytes());
        assert_eq!(codec.decode::<CostRecord>(&bytes).unwrap(), sample());
    }

    /// The kept v1 schema plus one optional field with a default.
    fn v2_text() -> String {
        let v1 = COST_RECORD_SCHEMAS[0];
        let at = v1.rfind(']').unwrap();
        let field = r#", {"name": "x_CollectorRun", "type": ["null", "string"], "default": null}"#;
        format!("{}{field}{}", &v1[..at].trim_end(), &v1[at..])
    }

    #[test]
    fn old_and_new_readers_read_old_and_new_writers() {
        let v2 = v2_text();
        let new = Codec::new(&[COST_RECORD_SCHEMAS[0], &v2]);
        let old_built_before_v2 = {
            let mut codec = Codec::cost_record();
            codec.add_writer_schema(&v2).unwrap();
            codec
        };
        let old_in_new_build = new.reading_version(1).unwrap();
        let from_old = Codec::cost_record().encode(&sample()).unwrap();
        // A v2 producer's record has the new field; the value path fills it with
        // its default. (`encode` given a struct without the field would leave
        // its bytes out, which no reader can decode.)
        let from_new = new.encode_via_value(&sample()).unwrap();
        assert_ne!(from_old[2..10], from_new[2..10]);

        for reader in [&new, &old_built_before_v2, &old_in_new_build] {
            for message in [&from_old, &from_new] {
                assert_eq!(reader.decode::<CostRecord>(message).unwrap(), sample());
            }
        }
        let value = new.decode_value(&from_old).unwrap();
        let Value::Record(fields) = value else {
            panic!("a record")
        };
        assert!(fields
            .iter()
            .any(|(name, v)| name == "x_CollectorRun"
                && *v == Value::Union(0, Box::new(Value::Null))));
    }

    #[test]
    fn a_writer_schema_the_reader_cannot_resolve_is_refused() {
        let mut codec = Codec::cost_record();
        let broken = COST_RECORD_SCHEMAS[0].replacen(
            r#""name": "BillingAccountId",
      "type": "string""#,
            r#""name": "BillingAccountId",
      "type": "long""#,
            1,
        );
        assert_ne!(broken, COST_RECORD_SCHEMAS[0]);
        assert!(matches!(
            codec.add_writer_schema(&broken),
            Err(WireError::Incompatible(_))
        ));
    }
}
