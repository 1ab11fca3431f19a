//! `Codec::encode` serialises records straight into Avro (serde_avro_fast); it
//! must write the very bytes apache-avro's direct serde path writes, and the same
//! Avro data as the slower path through an Avro `Value`, for every record the
//! readers make out of real and generated files. The bytes differ only in the order
//! of map entries: the direct path writes Tags and Extensions in key order, the
//! `Value` path in hash order (so only the direct path is deterministic). Decoding
//! straight from the bytes and decoding through a `Value` must both give the
//! record back.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use costflow_ingest::{CurOptions, CurReader, FocusOptions, FocusReader, Row};
use costflow_model::{Codec, CostRecord};

fn shared(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative)
}

fn assert_same_data(records: impl Iterator<Item = CostRecord>) -> usize {
    let codec = Codec::cost_record();
    let mut n = 0;
    for record in records {
        let direct = codec.encode(&record).unwrap();
        assert_eq!(
            direct,
            codec.encode_apache_avro(&record).unwrap(),
            "serde_avro_fast and apache-avro write the same bytes: {record:?}"
        );
        let via_value = codec.encode_via_value(&record).unwrap();
        assert_eq!(direct.len(), via_value.len(), "{record:?}");
        assert_eq!(
            codec.decode_value(&direct).unwrap(),
            codec.decode_value(&via_value).unwrap(),
            "{record:?}"
        );
        assert_eq!(direct, codec.encode(&record).unwrap(), "deterministic");
        assert_eq!(codec.decode::<CostRecord>(&direct).unwrap(), record);
        assert_eq!(
            codec.decode_via_value::<CostRecord>(&direct).unwrap(),
            record
        );
        n += 1;
    }
    n
}

fn records<E: std::fmt::Debug>(
    rows: impl Iterator<Item = Result<Row, E>>,
) -> impl Iterator<Item = CostRecord> {
    rows.filter_map(|row| match row.unwrap() {
        Row::Record(record) => Some(*record),
        Row::Reject(_) => None,
    })
}

#[test]
fn generated_focus_records_encode_the_same_both_ways() {
    let dir = std::env::temp_dir().join(format!("costflow-direct-encoding-{}", std::process::id()));
    let mut options =
        costflow_generate::GenerateOptions::new(&dir, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    options.days = 4;
    let summary = costflow_generate::generate(&options).unwrap();
    let mut n = 0;
    for file in summary.files.iter().filter(|f| !f.ends_with("spikes.csv")) {
        n += assert_same_data(records(
            FocusReader::open(file, &FocusOptions::default()).unwrap(),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(n > 300, "{n} records");
}

#[test]
fn real_focus_and_cur_records_encode_the_same_both_ways() {
    let focus = shared("focus/focus-sample-data_FOCUS-1.0_focus_sample.csv");
    let cur = shared("aws-cur/focus-converters_sample-anonymous-aws-cur-legacy.csv");
    if !focus.exists() || !cur.exists() {
        eprintln!("shared sample data not found next to the repository; nothing to check");
        return;
    }
    let n = assert_same_data(records(
        FocusReader::open(&focus, &FocusOptions::default()).unwrap(),
    ));
    assert!(n > 100, "{n} FOCUS records");
    let options = CurOptions { source_version: 1 };
    let n = assert_same_data(records(CurReader::open(&cur, &options).unwrap()));
    assert!(n > 1000, "{n} CUR records");
}
