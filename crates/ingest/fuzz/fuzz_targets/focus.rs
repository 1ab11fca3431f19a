//! Arbitrary bytes as a FOCUS file: every row becomes a record or a reject, or the
//! file is refused with an error; nothing panics.
#![no_main]

use std::collections::BTreeMap;

use costflow_ingest::{FocusOptions, FocusReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("costflow-fuzz-focus-{}.csv", std::process::id()));
    std::fs::write(&path, data).unwrap();
    // Once as it comes, once with the mandatory columns a vendor file may lack
    // assumed, so that fuzzed rows get past the header check too.
    let assumed: BTreeMap<String, String> = [
        ("BillingAccountId", "fuzz"),
        ("BillingCurrency", "USD"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for assume in [BTreeMap::new(), assumed] {
        let options = FocusOptions {
            source_version: 1,
            assume,
        };
        if let Ok(reader) = FocusReader::open(&path, &options) {
            for row in reader {
                if row.is_err() {
                    break;
                }
            }
        }
    }
});
