//! What goes to `ingest.rejects`: a row or file that could not become a record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest offending value kept in a reject, in characters.
const MAX_VALUE_CHARS: usize = 256;

/// A rejected source row, or a whole file when `line` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Reject {
    /// Who produced the data.
    pub source_provider: String,
    /// Dataset within the provider.
    pub source_dataset: String,
    /// The file or API call.
    pub source_uri: String,
    /// 1-based line number, or `None` when the whole file was refused.
    pub line: Option<i64>,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// The offending value, cut to 256 characters.
    pub value: Option<String>,
    /// Why it was refused, in words an operator can act on.
    pub reason: String,
    /// When it was refused.
    #[serde(with = "crate::record::micros")]
    pub rejected_at: DateTime<Utc>,
}

impl Reject {
    /// Cuts an offending value to the length kept in a reject.
    pub fn clip(value: &str) -> String {
        value.chars().take(MAX_VALUE_CHARS).collect()
    }
}
