//! FOCUS CSV files, from any provider and FOCUS 1.0 to 1.2 column sets.
//!
//! Headers are matched by name, case-insensitively, in any order; columns that are
//! not FOCUS columns are kept as record extensions. The datetime layout is decided
//! once per file from its first datetime value (see [`DateLayout`]); a value in
//! another layout rejects its row.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use costflow_model::money::{integer_digits, split, MONEY_SCALE, QUANTITY_SCALE};
use costflow_model::{CostRecord, RecordKey, Reject};
use rust_decimal::Decimal;

use crate::lines::LineCounter;
use crate::text::{self, DateLayout};
use crate::Row;

/// What a FOCUS file is read with.
#[derive(Debug, Clone, Default)]
pub struct FocusOptions {
    /// Source version stamped on every record (microseconds since the epoch).
    pub source_version: i64,
    /// Values for FOCUS columns a file lacks, by column name: a single-account
    /// vendor file without `BillingAccountId`, say. Used only when the column is
    /// absent from the header, never to overwrite a cell.
    pub assume: BTreeMap<String, String>,
}

/// A whole-file failure: nothing more can be read from the file.
#[derive(Debug, thiserror::Error)]
pub enum FocusError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The CSV structure broke down past recovery.
    #[error("{path}: line {line}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Line where reading stopped.
        line: u64,
        /// The cause.
        source: csv::Error,
    },
    /// The file has no header line, or no FOCUS column in it.
    #[error("{path}: {what}; a FOCUS file starts with a header naming FOCUS columns (BilledCost, ChargePeriodStart, ...)")]
    NotFocus {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        what: String,
    },
    /// A mandatory FOCUS column is absent and no value was assumed for it.
    #[error("{path}: missing mandatory column {column}; pass --assume {column}=VALUE if the whole file shares one value")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The FOCUS column name.
        column: &'static str,
    },
    /// An assumed value names a column costflow does not know.
    #[error("--assume {column}: not a FOCUS column")]
    UnknownAssumedColumn {
        /// What was given.
        column: String,
    },
}

impl FocusError {
    /// The reject sent for a file that could not be read at all.
    pub fn to_reject(&self, uri: &str) -> Reject {
        let column = match self {
            FocusError::MissingColumn { column, .. } => Some((*column).to_owned()),
            _ => None,
        };
        let line = match self {
            FocusError::Csv { line, .. } => Some(*line as i64),
            _ => None,
        };
        Reject {
            source_provider: "unknown".to_owned(),
            source_dataset: DATASET.to_owned(),
            source_uri: uri.to_owned(),
            line,
            column,
            value: None,
            reason: self.to_string(),
            rejected_at: Utc::now(),
        }
    }
}

const DATASET: &str = "FOCUS";

macro_rules! focus_columns {
    (
        required { $($req:ident),* $(,)? }
        decimals { $($dec:ident => $dfield:ident : $dscale:ident),* $(,)? }
        strings { $($str:ident => $sfield:ident),* $(,)? }
    ) => {
        /// A FOCUS column costflow reads.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Column { $($req,)* $($dec,)* $($str,)* Tags }

        impl Column {
            /// Every column, in declaration order.
            pub const ALL: &'static [Column] = &[$(Column::$req,)* $(Column::$dec,)* $(Column::$str,)* Column::Tags];

            /// The FOCUS column name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Column::$req => stringify!($req),)*
                    $(Column::$dec => stringify!($dec),)*
                    $(Column::$str => stringify!($str),)*
                    Column::Tags => "Tags",
                }
            }

            /// The column's decimal field and the decimal places of its main stored column.
            fn decimal_field(self, record: &mut CostRecord) -> Option<(&mut Option<Decimal>, u32)> {
                match self {
                    $(Column::$dec => Some((&mut record.$dfield, $dscale)),)*
                    _ => None,
                }
            }

            /// The column's optional text field.
            fn string_field(self, record: &mut CostRecord) -> Option<&mut Option<String>> {
                match self {
                    $(Column::$str => Some(&mut record.$sfield),)*
                    _ => None,
                }
            }
        }
    };
}

focus_columns! {
    required {
        BillingAccountId, BillingCurrency, BillingPeriodStart, BillingPeriodEnd,
        ChargePeriodStart, ChargePeriodEnd, ChargeCategory, BilledCost, EffectiveCost,
    }
    decimals {
        ListCost => list_cost: MONEY_SCALE,
        ContractedCost => contracted_cost: MONEY_SCALE,
        ListUnitPrice => list_unit_price: QUANTITY_SCALE,
        ContractedUnitPrice => contracted_unit_price: QUANTITY_SCALE,
        PricingQuantity => pricing_quantity: QUANTITY_SCALE,
        ConsumedQuantity => consumed_quantity: QUANTITY_SCALE,
        CommitmentDiscountQuantity => commitment_discount_quantity: QUANTITY_SCALE,
        PricingCurrencyContractedUnitPrice => pricing_currency_contracted_unit_price: QUANTITY_SCALE,
        PricingCurrencyEffectiveCost => pricing_currency_effective_cost: MONEY_SCALE,
        PricingCurrencyListUnitPrice => pricing_currency_list_unit_price: QUANTITY_SCALE,
    }
    strings {
        AvailabilityZone => availability_zone,
        BillingAccountName => billing_account_name,
        BillingAccountType => billing_account_type,
        CapacityReservationId => capacity_reservation_id,
        CapacityReservationStatus => capacity_reservation_status,
        ChargeClass => charge_class,
        ChargeDescription => charge_description,
        ChargeFrequency => charge_frequency,
        CommitmentDiscountCategory => commitment_discount_category,
        CommitmentDiscountId => commitment_discount_id,
        CommitmentDiscountName => commitment_discount_name,
        CommitmentDiscountStatus => commitment_discount_status,
        CommitmentDiscountType => commitment_discount_type,
        CommitmentDiscountUnit => commitment_discount_unit,
        ConsumedUnit => consumed_unit,
        InvoiceId => invoice_id,
        InvoiceIssuerName => invoice_issuer_name,
        PricingCategory => pricing_category,
        PricingCurrency => pricing_currency,
        PricingUnit => pricing_unit,
        ProviderName => provider_name,
        PublisherName => publisher_name,
        RegionId => region_id,
        RegionName => region_name,
        ResourceId => resource_id,
        ResourceName => resource_name,
        ResourceType => resource_type,
        ServiceCategory => service_category,
        ServiceName => service_name,
        ServiceSubcategory => service_subcategory,
        SkuId => sku_id,
        SkuMeter => sku_meter,
        SkuPriceDetails => sku_price_details,
        SkuPriceId => sku_price_id,
        SubAccountId => sub_account_id,
        SubAccountName => sub_account_name,
        SubAccountType => sub_account_type,
    }
}

const REQUIRED: [Column; 9] = [
    Column::BillingAccountId,
    Column::BillingCurrency,
    Column::BillingPeriodStart,
    Column::BillingPeriodEnd,
    Column::ChargePeriodStart,
    Column::ChargePeriodEnd,
    Column::ChargeCategory,
    Column::BilledCost,
    Column::EffectiveCost,
];

/// Columns that first appeared in FOCUS 1.2 and 1.1, for telling the version of a
/// column set.
const SINCE_1_2: [&str; 4] = [
    "InvoiceId",
    "PricingCurrency",
    "BillingAccountType",
    "SubAccountType",
];
const SINCE_1_1: [&str; 5] = [
    "CapacityReservationId",
    "ServiceSubcategory",
    "CommitmentDiscountQuantity",
    "SkuMeter",
    "SkuPriceDetails",
];

/// Where a column's value comes from in this file.
#[derive(Debug, Clone)]
enum Cell {
    /// The header position.
    At(usize),
    /// A value assumed for the whole file.
    Assumed(String),
}

/// A row-level problem, before it becomes a [`Reject`].
struct Fault {
    column: Option<&'static str>,
    value: Option<String>,
    reason: String,
}

impl Fault {
    fn at(column: Column, value: &str, reason: impl Into<String>) -> Self {
        Fault {
            column: Some(column.name()),
            value: Some(Reject::clip(value)),
            reason: reason.into(),
        }
    }
}

/// Reads one FOCUS CSV file as an iterator of [`Row`]s.
pub struct FocusReader {
    path: PathBuf,
    uri: String,
    reader: csv::Reader<BufReader<File>>,
    header_len: usize,
    cells: Vec<Option<Cell>>,
    extensions: Vec<(usize, String)>,
    focus_version: &'static str,
    source_version: i64,
    layout: Option<DateLayout>,
    record: csv::StringRecord,
    lines: LineCounter<BufReader<File>>,
    finished: bool,
}

impl FocusReader {
    /// Opens a file and reads its header.
    pub fn open(path: &Path, options: &FocusOptions) -> Result<Self, FocusError> {
        let io_err = |source| FocusError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let lines = LineCounter::new(BufReader::with_capacity(
            1 << 16,
            File::open(path).map_err(io_err)?,
        ));
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 16, file));
        let headers = reader.headers().map_err(|source| FocusError::Csv {
            path: path.to_owned(),
            line: 1,
            source,
        })?;
        let headers: Vec<String> = headers.iter().map(clean_header).collect();
        if headers.iter().all(|h| h.is_empty()) {
            return Err(FocusError::NotFocus {
                path: path.to_owned(),
                what: "empty file, no header line".to_owned(),
            });
        }
        if !headers.iter().any(|h| column_named(h).is_some()) {
            let first: String = headers[0].chars().take(40).collect();
            return Err(FocusError::NotFocus {
                path: path.to_owned(),
                what: format!("no FOCUS column in the header (first column `{first}`)"),
            });
        }

        let mut cells: Vec<Option<Cell>> = vec![None; Column::ALL.len()];
        let mut extensions = Vec::new();
        for (position, name) in headers.iter().enumerate() {
            match column_named(name) {
                Some(column) => cells[column as usize] = Some(Cell::At(position)),
                None => extensions.push((position, costflow_model::extension_name(name))),
            }
        }
        for (name, value) in &options.assume {
            let column = column_named(name).ok_or_else(|| FocusError::UnknownAssumedColumn {
                column: name.clone(),
            })?;
            let slot = &mut cells[column as usize];
            if slot.is_none() {
                *slot = Some(Cell::Assumed(value.clone()));
            }
        }
        if let Some(missing) = REQUIRED.iter().find(|c| cells[**c as usize].is_none()) {
            return Err(FocusError::MissingColumn {
                path: path.to_owned(),
                column: missing.name(),
            });
        }

        let has = |names: &[&str]| {
            names
                .iter()
                .any(|n| headers.iter().any(|h| h.eq_ignore_ascii_case(n)))
        };
        let focus_version = if has(&SINCE_1_2) {
            "1.2"
        } else if has(&SINCE_1_1) {
            "1.1"
        } else {
            "1.0"
        };
        let uri = std::fs::canonicalize(path)
            .map(|p| format!("file://{}", p.display()))
            .unwrap_or_else(|_| format!("file://{}", path.display()));

        Ok(FocusReader {
            path: path.to_owned(),
            uri,
            reader,
            header_len: headers.len(),
            cells,
            extensions,
            focus_version,
            source_version: options.source_version,
            layout: None,
            record: csv::StringRecord::new(),
            lines,
            finished: false,
        })
    }

    /// The file as a URI, as it appears in records and rejects.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The FOCUS version told from the column set.
    pub fn focus_version(&self) -> &'static str {
        self.focus_version
    }

    fn read_row(&mut self) -> Option<Result<Row, FocusError>> {
        match self.reader.read_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(err) if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) => {
                let line = err.position().map_or(0, |p| p.line());
                let fault = Fault {
                    column: None,
                    value: None,
                    reason: "line is not valid UTF-8".to_owned(),
                };
                return Some(Ok(Row::Reject(self.reject(line, "unknown", fault))));
            }
            Err(source) => {
                let line = source.position().map_or(0, |p| p.line());
                return Some(Err(FocusError::Csv {
                    path: self.path.clone(),
                    line,
                    source,
                }));
            }
        }
        let start = self.record.position().map_or(0, |p| p.byte());
        let line = match self.lines.line_at(start) {
            Ok(line) => line,
            Err(source) => {
                return Some(Err(FocusError::Io {
                    path: self.path.clone(),
                    source,
                }))
            }
        };

        let row = match self.build(line) {
            Ok(record) => Row::Record(Box::new(record)),
            Err(fault) => {
                let provider = self
                    .text(Column::ProviderName)
                    .unwrap_or("unknown")
                    .to_owned();
                Row::Reject(self.reject(line, &provider, fault))
            }
        };
        Some(Ok(row))
    }

    fn reject(&self, line: u64, provider: &str, fault: Fault) -> Reject {
        Reject {
            source_provider: provider.to_owned(),
            source_dataset: DATASET.to_owned(),
            source_uri: self.uri.clone(),
            line: Some(line as i64),
            column: fault.column.map(str::to_owned),
            value: fault.value,
            reason: fault.reason,
            rejected_at: Utc::now(),
        }
    }

    /// The cell of a column in the current row, null spellings as `None`.
    fn text(&self, column: Column) -> Option<&str> {
        match self.cells[column as usize].as_ref()? {
            Cell::At(position) => text::non_null(self.record.get(*position)?),
            Cell::Assumed(value) => text::non_null(value),
        }
    }

    fn required(&self, column: Column) -> Result<&str, Fault> {
        self.text(column)
            .ok_or_else(|| Fault::at(column, "", "mandatory value is missing"))
    }

    fn time(&mut self, column: Column) -> Result<DateTime<Utc>, Fault> {
        let value = self.required(column)?.to_owned();
        let layout = match self.layout {
            Some(layout) => layout,
            None => {
                let layout = DateLayout::detect(&value)
                    .ok_or_else(|| Fault::at(column, &value, "not a date or datetime"))?;
                self.layout = Some(layout);
                layout
            }
        };
        layout.parse(&value).ok_or_else(|| {
            let reason = format!(
                "not a datetime in this file's layout ({})",
                layout.describe()
            );
            Fault::at(column, &value, reason)
        })
    }

    fn money(&self, column: Column) -> Result<Decimal, Fault> {
        let value = self.required(column)?;
        checked_decimal(column, value, MONEY_SCALE)
    }

    fn build(&mut self, line: u64) -> Result<CostRecord, Fault> {
        if self.record.len() != self.header_len {
            return Err(Fault {
                column: None,
                value: None,
                reason: format!(
                    "row has {} fields, the header has {}",
                    self.record.len(),
                    self.header_len
                ),
            });
        }

        let billing_period = [
            self.time(Column::BillingPeriodStart)?,
            self.time(Column::BillingPeriodEnd)?,
        ];
        let charge_period = [
            self.time(Column::ChargePeriodStart)?,
            self.time(Column::ChargePeriodEnd)?,
        ];
        check_period(Column::BillingPeriodEnd, billing_period)?;
        check_period(Column::ChargePeriodEnd, charge_period)?;

        let currency = self.required(Column::BillingCurrency)?;
        if !text::is_currency_code(currency) {
            return Err(Fault::at(
                Column::BillingCurrency,
                currency,
                "not an ISO 4217 currency code",
            ));
        }
        let mut record = CostRecord::new(
            self.required(Column::BillingAccountId)?,
            currency,
            billing_period,
            charge_period,
            self.required(Column::ChargeCategory)?,
            self.money(Column::BilledCost)?,
            self.money(Column::EffectiveCost)?,
        );

        self.fill_optional(&mut record)?;
        self.fill_envelope(&mut record, line);
        Ok(record)
    }

    fn fill_optional(&self, record: &mut CostRecord) -> Result<(), Fault> {
        for &column in Column::ALL {
            let Some(value) = self.text(column) else {
                continue;
            };
            if let Some((field, scale)) = column.decimal_field(record) {
                *field = Some(checked_decimal(column, value, scale)?);
            } else if let Some(field) = column.string_field(record) {
                *field = Some(value.to_owned());
            }
        }
        if let Some(tags) = self.text(Column::Tags) {
            let parsed =
                text::tags(tags).map_err(|reason| Fault::at(Column::Tags, tags, reason))?;
            record.tags = parsed.tags;
            if !parsed.collisions.is_empty() {
                let keys = parsed.collisions.join(",");
                record
                    .extensions
                    .insert(text::TAG_KEY_COLLISIONS.to_owned(), keys);
            }
        }
        for (position, name) in &self.extensions {
            if let Some(value) = self.record.get(*position).and_then(text::non_null) {
                record.extensions.insert(name.clone(), value.to_owned());
            }
        }
        Ok(())
    }

    fn fill_envelope(&self, record: &mut CostRecord, line: u64) {
        // The natural key of a FOCUS line is its content and its place in the
        // file: two identical charge lines stay two records, and the same file
        // read again, under any name, gives the same keys.
        let mut key = RecordKey::new()
            .part(&record.billing_account_id)
            .part(record.billing_period_start.timestamp().to_le_bytes())
            .part(line.to_le_bytes());
        for field in self.record.iter() {
            key = key.part(field);
        }
        record.record_key = key.finish();
        record.source_provider = record
            .provider_name
            .clone()
            .unwrap_or_else(|| "unknown".to_owned());
        record.source_dataset = DATASET.to_owned();
        record.source_uri = self.uri.clone();
        record.source_line = Some(line as i64);
        record.source_version = self.source_version;
        record.focus_version = self.focus_version.to_owned();
    }
}

impl Iterator for FocusReader {
    type Item = Result<Row, FocusError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let row = self.read_row();
        if matches!(row, None | Some(Err(_))) {
            self.finished = true;
        }
        row
    }
}

fn clean_header(raw: &str) -> String {
    raw.trim_start_matches('\u{feff}').trim().to_owned()
}

fn column_named(name: &str) -> Option<Column> {
    Column::ALL
        .iter()
        .copied()
        .find(|column| column.name().eq_ignore_ascii_case(name))
}

fn checked_decimal(column: Column, value: &str, scale: u32) -> Result<Decimal, Fault> {
    let parsed = text::decimal(value).map_err(|reason| Fault::at(column, value, reason))?;
    if split(parsed, scale).is_none() {
        let reason = format!("more than {} integer digits", integer_digits(scale));
        return Err(Fault::at(column, value, reason));
    }
    Ok(parsed)
}

fn check_period(end_column: Column, [start, end]: [DateTime<Utc>; 2]) -> Result<(), Fault> {
    if end <= start {
        let reason = format!("period ends at or before its start ({start})");
        return Err(Fault::at(end_column, &end.to_rfc3339(), reason));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use super::*;

    fn shared(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/focus")
            .join(name)
    }

    fn read_all(path: &Path, options: &FocusOptions) -> (Vec<CostRecord>, Vec<Reject>) {
        let mut records = Vec::new();
        let mut rejects = Vec::new();
        for row in FocusReader::open(path, options).unwrap() {
            match row.unwrap() {
                Row::Record(record) => records.push(*record),
                Row::Reject(reject) => rejects.push(reject),
            }
        }
        (records, rejects)
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("costflow-focus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn real_sample_reads_every_row_and_keeps_its_sums() {
        let path = shared("focus-sample-data_FOCUS-1.0_focus_sample.csv");
        let (records, rejects) = read_all(&path, &FocusOptions::default());
        assert_eq!((records.len(), rejects.len()), (1000, 0), "{rejects:?}");

        // Sums straight from the CSV text, independent of the reader.
        let mut expected: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut csv = csv::Reader::from_path(&path).unwrap();
        let headers = csv.headers().unwrap().clone();
        let billed = headers.iter().position(|h| h == "BilledCost").unwrap();
        let account = headers
            .iter()
            .position(|h| h == "BillingAccountId")
            .unwrap();
        for row in csv.records() {
            let row = row.unwrap();
            *expected.entry(row[account].to_owned()).or_default() +=
                Decimal::from_str(&row[billed]).unwrap();
        }
        let mut actual: BTreeMap<String, Decimal> = BTreeMap::new();
        for record in &records {
            *actual.entry(record.billing_account_id.clone()).or_default() += record.billed_cost;
        }
        assert_eq!(actual, expected);

        let credit = records
            .iter()
            .find(|r| r.charge_category == "Credit")
            .unwrap();
        assert!(credit.billed_cost.is_sign_negative());
        assert!(records
            .iter()
            .any(|r| r.tags.get("environment").is_some_and(|v| v == "dev")));
        assert!(records.iter().all(|r| r.extensions.contains_key("x_Id")));
        assert!(records.iter().all(|r| r.charge_class.is_none()));
        assert_eq!(records[0].focus_version, "1.0");
    }

    #[test]
    fn every_spec_example_reads_without_losing_a_row() {
        let dir = shared("");
        let assume = BTreeMap::from([
            ("BillingAccountId".to_owned(), "spec-example".to_owned()),
            ("BillingCurrency".to_owned(), "USD".to_owned()),
        ]);
        let options = FocusOptions {
            source_version: 1,
            assume,
        };
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with("focus-spec_") {
                continue;
            }
            files += 1;
            let data_rows = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .count();
            let (records, rejects) = read_all(&path, &options);
            assert_eq!(records.len() + rejects.len(), data_rows, "{name}");
        }
        assert!(files >= 29, "found {files} spec examples");
    }

    #[test]
    fn impossible_timestamp_in_the_spec_example_is_rejected_with_its_line() {
        let path = shared(
            "focus-spec_commitment_discount_scenarios__commitment_discount_purchase_scenario_2.csv",
        );
        let options = FocusOptions {
            source_version: 1,
            assume: BTreeMap::from([
                ("BillingAccountId".to_owned(), "a".to_owned()),
                ("BillingCurrency".to_owned(), "USD".to_owned()),
            ]),
        };
        let (records, rejects) = read_all(&path, &options);
        assert_eq!(records.len(), 2, "{rejects:?}");
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].line, Some(4));
        assert_eq!(rejects[0].column.as_deref(), Some("ChargePeriodEnd"));
        assert_eq!(rejects[0].value.as_deref(), Some("2023-02-01T30:00:00Z"));
    }

    #[test]
    fn malformed_rows_are_rejected_by_line_and_the_rest_lands() {
        let header = "BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,BilledCost,EffectiveCost,Tags";
        let text = format!(
            "\u{feff}{header}\r\n\
             a,USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,1.25,1.00,\r\n\
             a,USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,12;5,1.00,\r\n\
             \r\n\
             a,USD,2024-09-01,2024-10-01,2024-31-02,2024-09-03,Usage,1,1,\r\n\
             a,usd,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,1,1,\r\n\
             a,USD,2024-09-01,2024-10-01,2024-09-03,2024-09-02,Usage,1,1,\r\n\
             a,USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,1,1,{{broken\r\n\
             a,USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,1\r\n\
             b,EUR,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Credit,-2.5E-3,-0.0025,\"{{\"\"k\"\": \"\"v, w\"\"}}\"\r\n"
        );
        let path = temp_file("malformed.csv", &text);
        let (records, rejects) = read_all(&path, &FocusOptions::default());

        assert_eq!(records.len(), 2, "{rejects:#?}");
        assert_eq!(
            records[1].billed_cost,
            Decimal::from_str("-0.0025").unwrap()
        );
        assert_eq!(records[1].tags["k"], "v, w");
        let found: Vec<(i64, Option<&str>)> = rejects
            .iter()
            .map(|r| (r.line.unwrap(), r.column.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                (3, Some("BilledCost")),
                (5, Some("ChargePeriodStart")),
                (6, Some("BillingCurrency")),
                (7, Some("ChargePeriodEnd")),
                (8, Some("Tags")),
                (9, None),
            ]
        );
        assert_eq!(rejects[0].value.as_deref(), Some("12;5"));
        assert!(rejects[0].source_uri.ends_with("malformed.csv"));
    }

    #[test]
    fn missing_mandatory_column_refuses_the_file_unless_assumed() {
        let text = "BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,BilledCost,EffectiveCost\n\
                    USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,1,1\n";
        let path = temp_file("no-account.csv", text);
        let err = FocusReader::open(&path, &FocusOptions::default())
            .err()
            .unwrap();
        assert!(matches!(
            err,
            FocusError::MissingColumn {
                column: "BillingAccountId",
                ..
            }
        ));

        let options = FocusOptions {
            source_version: 0,
            assume: BTreeMap::from([("billingaccountid".to_owned(), "vendor-1".to_owned())]),
        };
        let (records, _) = read_all(&path, &options);
        assert_eq!(records[0].billing_account_id, "vendor-1");
    }

    #[test]
    fn same_content_gives_same_keys_and_identical_lines_stay_distinct() {
        let text = "BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,BilledCost,EffectiveCost\n\
                    a,USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,1,1\n\
                    a,USD,2024-09-01,2024-10-01,2024-09-02,2024-09-03,Usage,1,1\n";
        let first = read_all(&temp_file("one.csv", text), &FocusOptions::default()).0;
        let copy = read_all(&temp_file("copy.csv", text), &FocusOptions::default()).0;
        assert_ne!(first[0].record_key, first[1].record_key);
        assert_eq!(first[0].record_key, copy[0].record_key);
        assert_eq!(first[1].record_key, copy[1].record_key);
    }
}
