//! The rows of a Parquet file as text records, read one row group at a time.
//!
//! A Parquet row becomes the same text cells a CSV row of the same export has,
//! so one set of parsing rules serves both formats: strings as they are, numbers
//! in plain decimal notation (a double as its shortest exact round-trip text),
//! dates and timestamps as RFC 3339 UTC times, nulls as empty cells, and maps,
//! lists and structs (CUR 2.0's `resource_tags`, `product`, `discount`) as JSON,
//! the way the CSV form of the same export writes them.

use std::fs::File;

use chrono::{DateTime, Utc};
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;

/// An open Parquet file.
pub(crate) struct ParquetRows {
    rows: RowIter<'static>,
    row: u64,
}

impl ParquetRows {
    /// Reads the file's footer; returns the reader and the top-level column names.
    pub(crate) fn open(file: File) -> Result<(Self, Vec<String>), ParquetError> {
        let reader = SerializedFileReader::new(file)?;
        let header = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|field| field.name().to_owned())
            .collect();
        Ok((
            ParquetRows {
                rows: reader.into_iter(),
                row: 0,
            },
            header,
        ))
    }

    /// Reads the next row into `record`; its 1-based row number, or `None` at
    /// the end.
    pub(crate) fn next(
        &mut self,
        record: &mut csv::StringRecord,
    ) -> Result<Option<u64>, ParquetError> {
        let Some(next) = self.rows.next() else {
            return Ok(None);
        };
        let next = next?;
        self.row += 1;
        record.clear();
        for (_, field) in next.get_column_iter() {
            record.push_field(&field_text(field));
        }
        Ok(Some(self.row))
    }
}

/// A Parquet value as the text a CSV export would hold.
pub(crate) fn field_text(field: &Field) -> String {
    match field {
        Field::Null => String::new(),
        Field::Str(text) => text.clone(),
        Field::Bytes(bytes) => String::from_utf8_lossy(bytes.data()).into_owned(),
        // Rust writes the shortest text that reads back as the same double, in
        // plain notation: the value the file holds, digit for digit.
        Field::Double(value) => value.to_string(),
        Field::Float(value) => value.to_string(),
        Field::Date(days) => time(i64::from(*days) * 86_400_000_000),
        Field::TimestampMillis(millis) => time(millis.saturating_mul(1000)),
        Field::TimestampMicros(micros) => time(*micros),
        Field::MapInternal(_) | Field::ListInternal(_) | Field::Group(_) => json(field).to_string(),
        other => other.to_string(),
    }
}

/// A nested value as JSON: map keys and scalar values as their text, nulls as
/// JSON null, so a map of strings reads back as the CSV form's JSON object.
fn json(field: &Field) -> serde_json::Value {
    use serde_json::Value;
    match field {
        Field::Null => Value::Null,
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(key, value)| (field_text(key), json(value)))
                .collect(),
        ),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(json).collect()),
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(name, value)| (name.clone(), json(value)))
                .collect(),
        ),
        scalar => Value::String(field_text(scalar)),
    }
}

fn time(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}
