//! The manifest Cost Management writes beside an export run's parts:
//! `manifest.json` for improved exports, `_manifest.json` for the legacy
//! partitioned ones. Both carry the same fields costflow needs: the dataset
//! (`exportConfig.type`), the run (`runInfo.runId`, `runInfo.submittedTime`) and
//! the parts (`blobs[].blobName`, `blobs[].dataRowCount`). Keys are matched
//! case-insensitively, since the two generations differ in spelling.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// File names a run's manifest has.
pub const MANIFEST_NAMES: [&str; 2] = ["manifest.json", "_manifest.json"];

/// True when a blob name is a run's manifest.
pub fn is_manifest(blob_name: &str) -> bool {
    let file = blob_name.rsplit('/').next().unwrap_or(blob_name);
    MANIFEST_NAMES.iter().any(|m| file.eq_ignore_ascii_case(m))
}

/// What a manifest says about its run.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The dataset (`ActualCost`, `AmortizedCost`, `FocusCost`, `Usage`, ...).
    pub dataset: String,
    /// The run id, when the manifest has one.
    pub run_id: Option<String>,
    /// When the run was submitted: the source version of its records.
    pub submitted: DateTime<Utc>,
    /// The file format (`Csv`, `Parquet`), when given.
    pub file_format: Option<String>,
    /// The parts, in the manifest's order.
    pub parts: Vec<ManifestPart>,
    /// Data rows the run holds, when given.
    pub data_row_count: Option<u64>,
}

/// One part of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPart {
    /// The blob name as written in the manifest.
    pub blob_name: String,
    /// Data rows in the part, when given.
    pub data_row_count: Option<u64>,
}

impl Manifest {
    /// Parses a manifest. `fallback_time` (the manifest blob's last
    /// modification) is the source version when `runInfo.submittedTime` is absent.
    pub fn parse(text: &str, fallback_time: Option<DateTime<Utc>>) -> Result<Self, String> {
        let text = text.trim_start_matches('\u{feff}');
        let root: Value =
            serde_json::from_str(text).map_err(|err| format!("not valid JSON: {err}"))?;
        let export = get(&root, "exportConfig");
        let run = get(&root, "runInfo");
        let delivery = get(&root, "deliveryConfig");

        let dataset = export
            .and_then(|e| get(e, "type"))
            .and_then(Value::as_str)
            .ok_or("no exportConfig.type: the dataset is unknown")?
            .to_owned();
        let submitted = match run
            .and_then(|r| get(r, "submittedTime"))
            .and_then(Value::as_str)
        {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map_err(|err| format!("runInfo.submittedTime `{text}`: {err}"))?
                .with_timezone(&Utc),
            None => fallback_time.ok_or("no runInfo.submittedTime")?,
        };
        let blobs = get(&root, "blobs")
            .and_then(Value::as_array)
            .ok_or("no blobs list")?;
        let mut parts = Vec::with_capacity(blobs.len());
        for blob in blobs {
            let blob_name = get(blob, "blobName")
                .and_then(Value::as_str)
                .ok_or("a blobs entry has no blobName")?
                .to_owned();
            let data_row_count = get(blob, "dataRowCount").and_then(Value::as_u64);
            parts.push(ManifestPart {
                blob_name,
                data_row_count,
            });
        }
        if let Some(count) = get(&root, "blobCount").and_then(Value::as_u64) {
            if count != parts.len() as u64 {
                return Err(format!(
                    "blobCount is {count} but the blobs list names {}",
                    parts.len()
                ));
            }
        }

        Ok(Manifest {
            dataset,
            run_id: run
                .and_then(|r| get(r, "runId"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            submitted,
            file_format: delivery
                .and_then(|d| get(d, "fileFormat"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            parts,
            data_row_count: get(&root, "dataRowCount").and_then(Value::as_u64),
        })
    }
}

/// A key of a JSON object, matched case-insensitively.
fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The container path of a part: manifests name parts either by their full path
/// in the container (sometimes with the container in front) or relative to the
/// manifest's folder.
pub fn part_path(container: &str, manifest_blob: &str, blob_name: &str) -> String {
    let name = blob_name.trim_start_matches('/');
    let name = name
        .strip_prefix(container)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(name);
    let folder = manifest_blob
        .rsplit_once('/')
        .map_or("", |(folder, _)| folder);
    if name.contains('/') || folder.is_empty() {
        name.to_owned()
    } else {
        format!("{folder}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMPROVED: &str = r#"{
      "manifestVersion": "2024-04-01",
      "byteCount": 11535,
      "blobCount": 2,
      "dataRowCount": 39,
      "exportConfig": {"exportName": "daily", "type": "AmortizedCost", "dataVersion": "2023-12-01-preview"},
      "deliveryConfig": {"partitionData": true, "fileFormat": "Csv", "compressionMode": "gzip"},
      "runInfo": {"executionType": "Scheduled", "submittedTime": "2023-10-02T06:01:02.1234567Z",
                  "runId": "af754a8a-30fc-4ef3-bfc6-71bd1efb8598", "startDate": "2023-09-01T00:00:00"},
      "blobs": [{"blobName": "costs/daily/20230901-20230930/af754a8a/part_0_0001.csv.gz", "dataRowCount": 11},
                {"blobName": "part_1_0001.csv.gz", "dataRowCount": 28}]
    }"#;

    #[test]
    fn improved_export_manifest_gives_dataset_run_and_parts() {
        let manifest = Manifest::parse(IMPROVED, None).unwrap();
        assert_eq!(manifest.dataset, "AmortizedCost");
        assert_eq!(
            manifest.run_id.as_deref(),
            Some("af754a8a-30fc-4ef3-bfc6-71bd1efb8598")
        );
        assert_eq!(manifest.submitted.timestamp_micros(), 1_696_226_462_123_456);
        assert_eq!(manifest.parts.len(), 2);
        assert_eq!(manifest.parts[1].data_row_count, Some(28));
        assert_eq!(manifest.data_row_count, Some(39));
    }

    #[test]
    fn legacy_manifest_keys_match_whatever_their_case() {
        let legacy = r#"{"ExportConfig": {"Type": "ActualCost"}, "BlobCount": 1,
            "RunInfo": {"SubmittedTime": "2021-03-01T00:00:00Z"},
            "Blobs": [{"BlobName": "/exports/a/b/part.csv"}]}"#;
        let manifest = Manifest::parse(legacy, None).unwrap();
        assert_eq!(manifest.dataset, "ActualCost");
        assert_eq!(manifest.parts[0].blob_name, "/exports/a/b/part.csv");
        assert_eq!(manifest.parts[0].data_row_count, None);
    }

    #[test]
    fn inconsistent_or_incomplete_manifests_are_refused() {
        let wrong_count = IMPROVED.replace("\"blobCount\": 2", "\"blobCount\": 3");
        let err = Manifest::parse(&wrong_count, None).unwrap_err();
        assert!(err.contains("blobCount is 3"), "{err}");
        assert!(Manifest::parse("{}", None)
            .unwrap_err()
            .contains("exportConfig.type"));
        assert!(Manifest::parse("{", None).is_err());
    }

    #[test]
    fn parts_are_found_by_full_path_or_beside_the_manifest() {
        let manifest = "costs/daily/run1/manifest.json";
        assert_eq!(
            part_path("exports", manifest, "exports/costs/daily/run1/part_0.csv"),
            "costs/daily/run1/part_0.csv"
        );
        assert_eq!(
            part_path("exports", manifest, "/costs/x/part_0.csv"),
            "costs/x/part_0.csv"
        );
        assert_eq!(
            part_path("exports", manifest, "part_0.csv"),
            "costs/daily/run1/part_0.csv"
        );
        assert!(is_manifest("a/b/_manifest.json"));
        assert!(is_manifest("manifest.json"));
        assert!(!is_manifest("a/manifest.json.tmp"));
    }
}
