//! Arbitrary bytes as a CUR file (plain, or gzip when the bytes start like gzip):
//! every row becomes a record or a reject, or the file is refused with an error;
//! nothing panics.
#![no_main]

use costflow_ingest::{CurOptions, CurReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let suffix = if data.starts_with(&[0x1f, 0x8b]) { "csv.gz" } else { "csv" };
    let path = std::env::temp_dir().join(format!(
        "costflow-fuzz-cur-{}.{suffix}",
        std::process::id()
    ));
    std::fs::write(&path, data).unwrap();
    if let Ok(reader) = CurReader::open(&path, &CurOptions { source_version: 1 }) {
        for row in reader {
            if row.is_err() {
                break;
            }
        }
    }
});
