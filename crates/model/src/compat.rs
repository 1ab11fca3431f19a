//! Schema evolution rules: which changes between two schema versions keep every
//! producer and consumer working.
//!
//! Producers and consumers upgrade at different times, so each new version must be
//! both backward compatible (a reader on the new version reads data written with
//! the old one) and forward compatible (a reader on the old version reads data
//! written with the new one). Adding an optional field with a default is; renaming
//! a field, changing its type, or adding a field without a default is not. The
//! checks use Avro's own resolution rules through `apache-avro`.
//!
//! Schemas are kept in `schemas/` as `NAME.vN.avsc`, every version kept; the test
//! of this module compares each version with the one before it, so `cargo test`
//! (and therefore `scripts/test.sh`) refuses a breaking change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;

/// Why two schema versions cannot share a topic, or a schema folder is unusable.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    /// Readers on the newer version cannot read data written with the older one.
    #[error("{newer} cannot read data written with {older} (not backward compatible): {reason}")]
    Backward {
        /// The older version's file.
        older: String,
        /// The newer version's file.
        newer: String,
        /// Avro's reason.
        reason: String,
    },
    /// Readers on the older version cannot read data written with the newer one.
    #[error("{older} cannot read data written with {newer} (not forward compatible): {reason}")]
    Forward {
        /// The older version's file.
        older: String,
        /// The newer version's file.
        newer: String,
        /// Avro's reason.
        reason: String,
    },
    /// A schema file does not parse.
    #[error("{file}: not a valid Avro schema: {reason}")]
    Parse {
        /// The file.
        file: String,
        /// Avro's reason.
        reason: String,
    },
    /// A schema file is not named `NAME.vN.avsc`, or versions are missing.
    #[error("{0}")]
    Layout(String),
    /// The folder could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Checks that `newer` may follow `older` on the same topic: each reads the
/// other's data. The names only label the error.
pub fn check_pair(
    (older_name, older): (&str, &Schema),
    (newer_name, newer): (&str, &Schema),
) -> Result<(), CompatError> {
    SchemaCompatibility::can_read(older, newer).map_err(|err| CompatError::Backward {
        older: older_name.to_owned(),
        newer: newer_name.to_owned(),
        reason: err.to_string(),
    })?;
    SchemaCompatibility::can_read(newer, older).map_err(|err| CompatError::Forward {
        older: older_name.to_owned(),
        newer: newer_name.to_owned(),
        reason: err.to_string(),
    })
}

/// The schema families of a folder: family name to its version files, oldest
/// first. Files must be named `NAME.vN.avsc` with versions 1, 2, ... and no gap.
pub fn families(dir: &Path) -> Result<BTreeMap<String, Vec<PathBuf>>, CompatError> {
    let io = |source| CompatError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut found: BTreeMap<String, BTreeMap<u32, PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".avsc") else {
            continue;
        };
        let (family, version) = stem
            .rsplit_once(".v")
            .and_then(|(family, v)| Some((family, v.parse::<u32>().ok()?)))
            .ok_or_else(|| CompatError::Layout(format!("{name}: not named NAME.vN.avsc")))?;
        found
            .entry(family.to_owned())
            .or_default()
            .insert(version, path.clone());
    }

    let mut families = BTreeMap::new();
    for (family, versions) in found {
        let numbers: Vec<u32> = versions.keys().copied().collect();
        let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
        if numbers != expected {
            return Err(CompatError::Layout(format!(
                "{family}: versions {numbers:?} are not 1..N without gaps; keep every version"
            )));
        }
        families.insert(family, versions.into_values().collect());
    }
    Ok(families)
}

/// Checks every family in a schema folder: each version parses and is
/// compatible both ways with the version before it. Returns the pairs checked.
pub fn check_dir(dir: &Path) -> Result<Vec<(String, String)>, CompatError> {
    let mut checked = Vec::new();
    for paths in families(dir)?.values() {
        let schemas = paths
            .iter()
            .map(|path| read_schema(path).map(|schema| (file_label(path), schema)))
            .collect::<Result<Vec<_>, _>>()?;
        for pair in schemas.windows(2) {
            let [(older_name, older), (newer_name, newer)] = pair else {
                continue;
            };
            check_pair((older_name, older), (newer_name, newer))?;
            checked.push((older_name.clone(), newer_name.clone()));
        }
    }
    Ok(checked)
}

fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_schema(path: &Path) -> Result<Schema, CompatError> {
    let text = std::fs::read_to_string(path).map_err(|source| CompatError::Io {
        path: path.to_owned(),
        source,
    })?;
    Schema::parse_str(&text).map_err(|err| CompatError::Parse {
        file: file_label(path),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CHECKPOINT_SCHEMAS, COST_RECORD_SCHEMAS, REJECT_SCHEMAS};

    fn schemas_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
    }

    fn parse(text: &str) -> Schema {
        Schema::parse_str(text).unwrap()
    }

    /// A record schema with the given extra fields after `Amount`.
    fn record(extra_fields: &str) -> Schema {
        parse(&format!(
            r#"{{"type": "record", "name": "Line", "namespace": "io.costflow.test",
                "fields": [
                  {{"name": "Account", "type": "string"}},
                  {{"name": "Amount", "type": "string"}}{extra_fields}
                ]}}"#
        ))
    }

    #[test]
    fn every_kept_schema_version_reads_and_is_read_by_the_one_before() {
        let checked = check_dir(&schemas_dir()).unwrap_or_else(|err| panic!("{err}"));
        let families = families(&schemas_dir()).unwrap();
        let versions: usize = families.values().map(Vec::len).sum();
        assert_eq!(checked.len(), versions - families.len(), "{checked:?}");
    }

    #[test]
    fn every_kept_schema_version_is_compiled_into_the_codecs() {
        let families = families(&schemas_dir()).unwrap();
        for (family, bundled) in [
            ("cost_record", COST_RECORD_SCHEMAS),
            ("ingest_reject", REJECT_SCHEMAS),
            ("ingest_checkpoint", CHECKPOINT_SCHEMAS),
        ] {
            let files = &families[family];
            assert_eq!(files.len(), bundled.len(), "{family}");
            for (file, text) in files.iter().zip(bundled) {
                assert_eq!(&std::fs::read_to_string(file).unwrap(), text, "{file:?}");
            }
        }
        assert_eq!(families.len(), 3, "a new schema family needs a codec");
    }

    #[test]
    fn adding_an_optional_field_with_a_default_is_accepted() {
        let old = record("");
        let new = record(r#", {"name": "Team", "type": ["null", "string"], "default": null}"#);
        check_pair(("v1", &old), ("v2", &new)).unwrap();
    }

    #[test]
    fn adding_a_field_without_a_default_is_refused() {
        let old = record("");
        let new = record(r#", {"name": "Team", "type": "string"}"#);
        let err = check_pair(("v1", &old), ("v2", &new)).unwrap_err();
        assert!(matches!(err, CompatError::Backward { .. }), "{err}");
    }

    #[test]
    fn removing_a_field_without_a_default_is_refused() {
        let old = record(r#", {"name": "Team", "type": "string"}"#);
        let new = record("");
        let err = check_pair(("v1", &old), ("v2", &new)).unwrap_err();
        assert!(matches!(err, CompatError::Forward { .. }), "{err}");
    }

    #[test]
    fn changing_a_field_type_is_refused() {
        let old = record(r#", {"name": "Team", "type": "string", "default": ""}"#);
        let new = record(r#", {"name": "Team", "type": "long", "default": 0}"#);
        assert!(check_pair(("v1", &old), ("v2", &new)).is_err());
    }

    #[test]
    fn a_folder_with_a_breaking_version_fails_the_check() {
        let dir = std::env::temp_dir().join(format!("costflow-compat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v1 = r#"{"type": "record", "name": "Line", "fields": [{"name": "Amount", "type": "string"}]}"#;
        let v2 = r#"{"type": "record", "name": "Line", "fields": [{"name": "Amount", "type": "double"}]}"#;
        std::fs::write(dir.join("line.v1.avsc"), v1).unwrap();
        std::fs::write(dir.join("line.v2.avsc"), v2).unwrap();
        let result = check_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn a_gap_in_the_versions_fails_the_check() {
        let dir = std::env::temp_dir().join(format!("costflow-gap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v = r#"{"type": "record", "name": "Line", "fields": []}"#;
        std::fs::write(dir.join("line.v1.avsc"), v).unwrap();
        std::fs::write(dir.join("line.v3.avsc"), v).unwrap();
        let result = families(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(result, Err(CompatError::Layout(_))), "{result:?}");
    }
}
