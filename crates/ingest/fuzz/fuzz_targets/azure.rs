//! Arbitrary bytes as an Azure Cost Management export part (CSV, gzip CSV when the
//! bytes start like gzip, Parquet when they start like Parquet), read as both
//! datasets: every row becomes a record or a reject, or the file is refused with
//! an error; nothing panics.
#![no_main]

use costflow_ingest::{AzureDataset, AzureOptions, AzureReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let suffix = if data.starts_with(&[0x1f, 0x8b]) {
        "csv.gz"
    } else if data.starts_with(b"PAR1") {
        "parquet"
    } else {
        "csv"
    };
    let path = std::env::temp_dir().join(format!(
        "costflow-fuzz-azure-{}.{suffix}",
        std::process::id()
    ));
    std::fs::write(&path, data).unwrap();
    for dataset in [AzureDataset::ActualCost, AzureDataset::AmortizedCost] {
        if let Ok(reader) = AzureReader::open(&path, &AzureOptions::new(dataset, 1)) {
            for row in reader {
                if row.is_err() {
                    break;
                }
            }
        }
    }
});
