//! One CUR file, plain or gzip CSV or Parquet, streamed into records and rejects.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use costflow_model::money::{integer_digits, split, MONEY_SCALE, QUANTITY_SCALE};
use costflow_model::{CostRecord, RecordKey, Reject};
use rust_decimal::Decimal;

use super::charge::{EffectiveCostRule, LineItemType};
use super::columns::{legacy_tag_key, CurColumn};
use super::{CurError, CurOptions, DATASET_CUR2, DATASET_LEGACY, PROVIDER};
use crate::input::{file_uri, open_decoded, LineLocator, LineTracked};
use crate::parquet_rows::ParquetRows;
use crate::text::{self, DateLayout, Tags};
use crate::Row;

/// A period's start and end.
type Period = [DateTime<Utc>; 2];

/// The date columns, each with its own layout decided once per file.
const DATE_COLUMNS: [CurColumn; 4] = [
    CurColumn::BillingPeriodStartDate,
    CurColumn::BillingPeriodEndDate,
    CurColumn::UsageStartDate,
    CurColumn::UsageEndDate,
];

/// A row-level problem, before it becomes a [`Reject`].
struct Fault {
    column: Option<String>,
    value: Option<String>,
    reason: String,
}

impl Fault {
    fn at(column: CurColumn, value: &str, reason: impl Into<String>) -> Self {
        Fault {
            column: Some(column.name().to_owned()),
            value: Some(Reject::clip(value)),
            reason: reason.into(),
        }
    }
}

/// Why a row did not become a record: a reject, or the end of the whole file.
enum Refusal {
    Row(Fault),
    File(CurError),
}

impl From<Fault> for Refusal {
    fn from(fault: Fault) -> Self {
        Refusal::Row(fault)
    }
}

/// Where a file's rows come from.
enum Source {
    /// CSV, plain or gzip, with the line each record starts on.
    Csv {
        reader: csv::Reader<LineTracked<Box<dyn Read + Send>>>,
        lines: LineLocator,
    },
    /// Parquet (CUR 2.0 / Data Exports), a row's number standing for its line.
    Parquet(ParquetRows),
}

/// Reads one CUR file as an iterator of [`Row`]s; a whole-file failure ends it
/// with one `Err`.
pub struct CurReader {
    path: PathBuf,
    uri: String,
    dataset: &'static str,
    source: Source,
    header_len: usize,
    positions: Vec<Option<usize>>,
    tag_columns: Vec<(usize, String)>,
    extensions: Vec<(usize, String)>,
    layouts: [Option<(DateLayout, u64)>; 4],
    source_version: i64,
    record: csv::StringRecord,
    line: u64,
    finished: bool,
}

impl CurReader {
    /// Opens a file and reads its header. A name ending in `.parquet` is read as
    /// Parquet, anything else as CSV (gzip is recognised by content).
    pub fn open(path: &Path, options: &CurOptions) -> Result<Self, CurError> {
        let open_err = |source| CurError::Open {
            path: path.to_owned(),
            source,
        };
        let parquet = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        let (source, headers) = if parquet {
            let file = std::fs::File::open(path).map_err(open_err)?;
            let (rows, header) = ParquetRows::open(file).map_err(|source| CurError::Parquet {
                path: path.to_owned(),
                source,
            })?;
            (Source::Parquet(rows), csv::StringRecord::from(header))
        } else {
            let stream = open_decoded(path).map_err(open_err)?;
            let (tracked, lines) = LineTracked::new(stream);
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .buffer_capacity(1 << 16)
                .from_reader(tracked);
            let headers = reader
                .headers()
                .map_err(|source| csv_error(path, 1, source))?
                .clone();
            (Source::Csv { reader, lines }, headers)
        };

        let mut positions: Vec<Option<usize>> = vec![None; CurColumn::ALL.len()];
        let mut names: Vec<Option<String>> = vec![None; CurColumn::ALL.len()];
        let mut tag_columns = Vec::new();
        let mut extensions = Vec::new();
        let mut legacy = false;
        for (position, raw) in headers.iter().enumerate() {
            // Tag keys keep their blanks here: trimming them is the tag map's job,
            // which reports keys that collide once trimmed.
            let cleaned = raw.trim_start_matches('\u{feff}').trim_start();
            if let Some(key) = legacy_tag_key(cleaned) {
                tag_columns.push((position, key.to_owned()));
                legacy = true;
                continue;
            }
            let name = text::header_name(cleaned);
            legacy |= name.contains('/');
            let Some(column) = CurColumn::from_header(&name) else {
                extensions.push((position, costflow_model::extension_name(&name)));
                continue;
            };
            let slot = column as usize;
            if let Some(first) = &names[slot] {
                return Err(CurError::DuplicateColumn {
                    path: path.to_owned(),
                    column: column.name(),
                    first: first.clone(),
                    second: name,
                });
            }
            if !column.is_renamed() {
                extensions.push((position, costflow_model::extension_name(&name)));
            }
            positions[slot] = Some(position);
            names[slot] = Some(name);
        }
        if let Some(missing) = CurColumn::REQUIRED
            .iter()
            .find(|c| positions[**c as usize].is_none())
        {
            return Err(CurError::MissingColumn {
                path: path.to_owned(),
                column: missing.name(),
            });
        }

        let uri = file_uri(path);
        Ok(CurReader {
            path: path.to_owned(),
            uri,
            dataset: if legacy { DATASET_LEGACY } else { DATASET_CUR2 },
            source,
            header_len: headers.len(),
            positions,
            tag_columns,
            extensions,
            layouts: [None; 4],
            source_version: options.source_version,
            record: csv::StringRecord::new(),
            line: 1,
            finished: false,
        })
    }

    /// Names the file by `uri` in records and rejects instead of its local path
    /// (a spooled copy of an S3 object is named by its `s3://` URI).
    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = uri.into();
        self
    }

    /// The file as a URI, as it appears in records and rejects.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `CUR` for a legacy file, `CUR2` for CUR 2.0 / Data Exports.
    pub fn dataset(&self) -> &'static str {
        self.dataset
    }

    fn read_row(&mut self) -> Option<Result<Row, CurError>> {
        Some(match self.advance()? {
            Err(err) => Err(err),
            Ok(Some(reject)) => Ok(Row::Reject(reject)),
            Ok(None) => match self.build() {
                Ok(record) => Ok(Row::Record(Box::new(record))),
                Err(Refusal::Row(fault)) => Ok(Row::Reject(self.reject(fault))),
                Err(Refusal::File(err)) => Err(err),
            },
        })
    }

    /// Reads the file through the way iterating it does, without building
    /// records, and returns the error that would refuse the file, if any: a
    /// stream that breaks off (truncated gzip, bad CSV, unreadable Parquet) or
    /// a date column that mixes layouts. Those are the only refusals. The dates
    /// are read by the same code as building a record reads them first with, so
    /// each column's layout is decided on the same line as in the full read.
    /// About a fifth of the full read's cost; a run checks every file this way
    /// before it publishes anything.
    pub fn check(mut self) -> Result<(), CurError> {
        while let Some(row) = self.advance() {
            if row?.is_some() {
                continue; // rejected whole, before any column is read
            }
            if let Err(Refusal::File(err)) = self.periods() {
                return Err(err);
            }
        }
        Ok(())
    }

    /// Moves to the next row: `None` at the end of the file, `Ok(None)` for a
    /// row to read, `Ok(Some(reject))` for a row rejected before any column is
    /// read (not UTF-8), `Err` where the stream breaks off.
    fn advance(&mut self) -> Option<Result<Option<Reject>, CurError>> {
        match &mut self.source {
            Source::Csv { reader, lines } => match reader.read_record(&mut self.record) {
                Ok(true) => {
                    let start = self.record.position().map_or(0, |p| p.byte());
                    self.line = lines.line_at(start);
                }
                Ok(false) => return None,
                Err(err) if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) => {
                    let start = err.position().map_or(0, |p| p.byte());
                    self.line = lines.line_at(start);
                    let fault = Fault {
                        column: None,
                        value: None,
                        reason: "line is not valid UTF-8".to_owned(),
                    };
                    return Some(Ok(Some(self.reject(fault))));
                }
                Err(err) => return Some(Err(self.stream_error(err))),
            },
            Source::Parquet(rows) => match rows.next(&mut self.record) {
                Ok(Some(row)) => self.line = row,
                Ok(None) => return None,
                Err(source) => {
                    return Some(Err(CurError::Parquet {
                        path: self.path.clone(),
                        source,
                    }))
                }
            },
        }
        Some(Ok(None))
    }

    fn stream_error(&self, err: csv::Error) -> CurError {
        let line = err
            .position()
            .map_or(self.line, |p| p.line().max(self.line));
        csv_error(&self.path, line, err)
    }

    fn reject(&self, fault: Fault) -> Reject {
        Reject {
            source_provider: PROVIDER.to_owned(),
            source_dataset: self.dataset.to_owned(),
            source_uri: self.uri.clone(),
            line: Some(self.line as i64),
            column: fault.column,
            value: fault.value,
            reason: fault.reason,
            rejected_at: Utc::now(),
        }
    }

    /// The cell of a column in the current row, null spellings as `None`.
    fn text(&self, column: CurColumn) -> Option<&str> {
        let position = self.positions[column as usize]?;
        text::non_null(self.record.get(position)?)
    }

    fn owned(&self, column: CurColumn) -> Option<String> {
        self.text(column).map(str::to_owned)
    }

    fn required(&self, column: CurColumn) -> Result<&str, Fault> {
        self.text(column)
            .ok_or_else(|| Fault::at(column, "", "mandatory value is missing"))
    }

    fn decimal(&self, column: CurColumn, scale: u32) -> Result<Option<Decimal>, Fault> {
        let Some(value) = self.text(column) else {
            return Ok(None);
        };
        let parsed = text::decimal(value).map_err(|reason| Fault::at(column, value, reason))?;
        if split(parsed, scale).is_none() {
            let reason = format!("more than {} integer digits", integer_digits(scale));
            return Err(Fault::at(column, value, reason));
        }
        Ok(Some(parsed))
    }

    /// An amount that must be there.
    fn money(&self, column: CurColumn, why: &str) -> Result<Decimal, Fault> {
        self.decimal(column, MONEY_SCALE)?
            .ok_or_else(|| Fault::at(column, "", format!("value is missing; {why}")))
    }

    /// An amount whose column must be in the file; an empty cell is zero.
    fn component(&self, column: CurColumn, why: &str) -> Result<Decimal, Fault> {
        if self.positions[column as usize].is_none() {
            let reason = format!("column is not in the file; {why}");
            return Err(Fault::at(column, "", reason));
        }
        Ok(self.decimal(column, MONEY_SCALE)?.unwrap_or_default())
    }

    fn time(&mut self, index: usize) -> Result<DateTime<Utc>, Refusal> {
        let column = DATE_COLUMNS[index];
        let value = self.required(column)?.to_owned();
        let (layout, first_line) = match self.layouts[index] {
            Some(decided) => decided,
            None => {
                let layout = DateLayout::detect(&value)
                    .ok_or_else(|| Fault::at(column, &value, "not a date or datetime"))?;
                self.layouts[index] = Some((layout, self.line));
                (layout, self.line)
            }
        };
        if let Some(time) = layout.parse(&value) {
            return Ok(time);
        }
        match DateLayout::detect(&value) {
            Some(found) => Err(Refusal::File(CurError::MixedDateLayouts {
                path: self.path.clone(),
                column: column.name(),
                line: self.line,
                value,
                found: found.describe(),
                layout: layout.describe(),
                first_line,
            })),
            None => {
                let reason = format!(
                    "not a valid date in this file's layout {}",
                    layout.describe()
                );
                Err(Fault::at(column, &value, reason).into())
            }
        }
    }

    /// The row's billing and charge periods, as read, not yet checked: the first
    /// thing building a record reads, and everything [`Self::check`] reads.
    fn periods(&mut self) -> Result<[Period; 2], Refusal> {
        if self.record.len() != self.header_len {
            return Err(Fault {
                column: None,
                value: None,
                reason: format!(
                    "row has {} fields, the header has {}",
                    self.record.len(),
                    self.header_len
                ),
            }
            .into());
        }
        let billing_period = [self.time(0)?, self.time(1)?];
        let charge_period = [self.time(2)?, self.time(3)?];
        Ok([billing_period, charge_period])
    }

    fn build(&mut self) -> Result<CostRecord, Refusal> {
        let [billing_period, charge_period] = self.periods()?;
        check_period(CurColumn::BillingPeriodEndDate, billing_period)?;
        check_period(CurColumn::UsageEndDate, charge_period)?;

        let type_text = self.required(CurColumn::LineItemType)?;
        let kind = LineItemType::parse(type_text).ok_or_else(|| {
            Fault::at(
                CurColumn::LineItemType,
                type_text,
                "unknown line item type; costflow maps Usage, Tax, Credit, Refund, Fee, RIFee, \
                 DiscountedUsage, SavingsPlan* and *Discount types",
            )
        })?;
        let currency = self.required(CurColumn::CurrencyCode)?;
        if !text::is_currency_code(currency) {
            let reason = "not an ISO 4217 currency code";
            return Err(Fault::at(CurColumn::CurrencyCode, currency, reason).into());
        }
        let billed = self.money(CurColumn::UnblendedCost, "it is the BilledCost")?;
        let effective = self.effective_cost(kind, billed)?;

        let mut record = CostRecord::new(
            self.required(CurColumn::PayerAccountId)?,
            currency,
            billing_period,
            charge_period,
            kind.charge_category(),
            billed,
            effective,
        );
        self.fill_optional(&mut record, kind)?;
        self.fill_tags_and_extensions(&mut record)?;
        self.fill_envelope(&mut record);
        Ok(record)
    }

    fn effective_cost(&self, kind: LineItemType, billed: Decimal) -> Result<Decimal, Fault> {
        let why = |column: CurColumn| {
            format!(
                "EffectiveCost of a {kind:?} line comes from {}",
                column.name()
            )
        };
        Ok(match kind.effective_cost() {
            EffectiveCostRule::Billed => billed,
            EffectiveCostRule::Zero => Decimal::ZERO,
            EffectiveCostRule::ZeroIfReservation => {
                if self.text(CurColumn::ReservationArn).is_some() {
                    Decimal::ZERO
                } else {
                    billed
                }
            }
            EffectiveCostRule::Column(column) => self.money(column, &why(column))?,
            EffectiveCostRule::Sum(a, b) => {
                self.component(a, &why(a))? + self.component(b, &why(b))?
            }
            EffectiveCostRule::Difference(a, b) => {
                self.component(a, &why(a))? - self.component(b, &why(b))?
            }
        })
    }

    fn fill_optional(&self, record: &mut CostRecord, kind: LineItemType) -> Result<(), Fault> {
        record.billing_account_name = self.owned(CurColumn::PayerAccountName);
        record.sub_account_id = self.owned(CurColumn::UsageAccountId);
        record.sub_account_name = self.owned(CurColumn::UsageAccountName);
        record.invoice_id = self.owned(CurColumn::InvoiceId);
        record.invoice_issuer_name = self.owned(CurColumn::InvoicingEntity);
        record.publisher_name = self.owned(CurColumn::LegalEntity);
        record.provider_name = Some(PROVIDER.to_owned());
        record.charge_description = self.owned(CurColumn::LineItemDescription);
        record.charge_frequency = kind
            .charge_frequency(self.text(CurColumn::BillType))
            .map(str::to_owned);
        record.availability_zone = self.owned(CurColumn::AvailabilityZone);
        record.resource_id = self.owned(CurColumn::ResourceId);
        record.service_name = self
            .owned(CurColumn::ProductName)
            .or_else(|| self.owned(CurColumn::ProductCode));
        record.region_id = self
            .owned(CurColumn::RegionCode)
            .or_else(|| self.owned(CurColumn::Region));
        record.region_name = self.owned(CurColumn::Location);
        record.sku_id = self.owned(CurColumn::Sku);
        record.sku_price_id = self.owned(CurColumn::RateId);
        record.pricing_currency = self.owned(CurColumn::PricingCurrency);
        record.pricing_unit = self.owned(CurColumn::PricingUnit);
        record.pricing_category = kind
            .pricing_category(self.text(CurColumn::Term))
            .map(str::to_owned);

        record.pricing_quantity = self.decimal(CurColumn::UsageAmount, QUANTITY_SCALE)?;
        if record.charge_category == "Usage" {
            record.consumed_quantity = record.pricing_quantity;
            record.consumed_unit = record.pricing_unit.clone();
        }
        record.list_cost = self.decimal(CurColumn::PublicOnDemandCost, MONEY_SCALE)?;
        record.list_unit_price = self.decimal(CurColumn::PublicOnDemandRate, QUANTITY_SCALE)?;

        if let Some(commitment) = kind.commitment() {
            if let Some(id) = self.owned(commitment.id_column()) {
                record.commitment_discount_id = Some(id);
                record.commitment_discount_type = Some(commitment.discount_type().to_owned());
                record.commitment_discount_category = Some(commitment.category().to_owned());
            }
        }
        Ok(())
    }

    fn fill_tags_and_extensions(&self, record: &mut CostRecord) -> Result<(), Fault> {
        let mut tags = Tags::default();
        for (position, key) in &self.tag_columns {
            if let Some(value) = self.record.get(*position).and_then(text::non_null) {
                tags.insert(key, value.to_owned());
            }
        }
        if let Some(map) = self.text(CurColumn::ResourceTags) {
            let parsed = text::tags(map)
                .map_err(|reason| Fault::at(CurColumn::ResourceTags, map, reason))?;
            for (key, value) in parsed.tags {
                tags.insert(&key, value);
            }
            tags.collisions.extend(parsed.collisions);
        }
        record.tags = tags.tags;
        if !tags.collisions.is_empty() {
            record.extensions.insert(
                text::TAG_KEY_COLLISIONS.to_owned(),
                tags.collisions.join(","),
            );
        }

        for (position, name) in &self.extensions {
            if let Some(value) = self.record.get(*position).and_then(text::non_null) {
                record.extensions.insert(name.clone(), value.to_owned());
            }
        }
        Ok(())
    }

    fn fill_envelope(&self, record: &mut CostRecord) {
        // A CUR line's identity is its line item id and time interval, but real
        // files repeat them; the line number and the row's text make the key
        // unique within a file and equal for the same file read again.
        let mut key = RecordKey::new()
            .part(PROVIDER)
            .part(&record.billing_account_id)
            .part(record.billing_period_start.timestamp().to_le_bytes())
            .part(self.line.to_le_bytes());
        for field in self.record.iter() {
            key = key.part(field);
        }
        record.record_key = key.finish();
        record.source_provider = PROVIDER.to_owned();
        record.source_dataset = self.dataset.to_owned();
        record.source_uri = self.uri.clone();
        record.source_line = Some(self.line as i64);
        record.source_version = self.source_version;
    }
}

impl Iterator for CurReader {
    type Item = Result<Row, CurError>;

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

fn csv_error(path: &Path, line: u64, source: csv::Error) -> CurError {
    if !source.is_io_error() {
        return CurError::Csv {
            path: path.to_owned(),
            line,
            source,
        };
    }
    let source = match source.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("{other:?}")),
    };
    CurError::Read {
        path: path.to_owned(),
        line,
        source,
    }
}

fn check_period(end: CurColumn, [start, stop]: [DateTime<Utc>; 2]) -> Result<(), Fault> {
    if stop <= start {
        let reason = format!("period ends at or before its start ({start})");
        return Err(Fault::at(end, &stop.to_rfc3339(), reason));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::str::FromStr;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn real_legacy() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../../shared/data/aws-cur/focus-converters_sample-anonymous-aws-cur-legacy.csv",
        )
    }

    fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("costflow-cur-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read_all(path: &Path) -> Result<(Vec<CostRecord>, Vec<Reject>), CurError> {
        let mut records = Vec::new();
        let mut rejects = Vec::new();
        for row in CurReader::open(path, &CurOptions { source_version: 7 })? {
            match row? {
                Row::Record(record) => records.push(*record),
                Row::Reject(reject) => rejects.push(reject),
            }
        }
        Ok((records, rejects))
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    /// A CUR amount, plain or scientific, parsed by rust_decimal alone.
    fn exact(text: &str) -> Decimal {
        if text.contains(['e', 'E']) {
            Decimal::from_scientific(text).unwrap()
        } else {
            dec(text)
        }
    }

    /// (BilledCost, EffectiveCost) per (account, billing period, currency).
    type Sums = BTreeMap<(String, String, String), (Decimal, Decimal)>;

    #[test]
    fn real_legacy_file_reads_every_row_and_keeps_its_sums() {
        let path = real_legacy();
        let (records, rejects) = read_all(&path).unwrap();
        assert_eq!((records.len(), rejects.len()), (1281, 0), "{rejects:?}");

        // The file's own sums, straight from the CSV text. It holds only Usage
        // and Tax lines, whose EffectiveCost is their UnblendedCost.
        let mut expected = Sums::new();
        let mut csv = csv::Reader::from_path(&path).unwrap();
        let headers = csv.headers().unwrap().clone();
        let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (payer, start, currency, cost, kind) = (
            at("bill/PayerAccountId"),
            at("bill/BillingPeriodStartDate"),
            at("lineItem/CurrencyCode"),
            at("lineItem/UnblendedCost"),
            at("lineItem/LineItemType"),
        );
        let mut taxes = 0;
        for row in csv.records() {
            let row = row.unwrap();
            let period = DateTime::parse_from_rfc3339(&row[start]).unwrap().to_utc();
            let key = (
                row[payer].to_owned(),
                period.to_rfc3339(),
                row[currency].to_owned(),
            );
            let entry = expected.entry(key).or_default();
            entry.0 += exact(&row[cost]);
            entry.1 += exact(&row[cost]);
            taxes += usize::from(&row[kind] == "Tax");
        }
        let mut actual = Sums::new();
        for r in &records {
            let key = (
                r.billing_account_id.clone(),
                r.billing_period_start.to_rfc3339(),
                r.billing_currency.clone(),
            );
            let entry = actual.entry(key).or_default();
            entry.0 += r.billed_cost;
            entry.1 += r.effective_cost;
        }
        assert_eq!(actual, expected);
        assert_eq!(
            expected.values().next().unwrap().0.normalize(),
            dec("1.6823086974")
        );

        let tax: Vec<&CostRecord> = records
            .iter()
            .filter(|r| r.charge_category == "Tax")
            .collect();
        assert_eq!((tax.len(), taxes), (12, 12));
        assert!(records
            .iter()
            .all(|r| matches!(r.charge_category.as_str(), "Usage" | "Tax")));
        let first = &records[0];
        assert_eq!(first.source_line, Some(2));
        assert_eq!(first.source_dataset, "CUR");
        assert_eq!(first.source_version, 7);
        assert_eq!(first.sub_account_id.as_deref(), Some("123412340534"));
        assert_eq!(first.charge_frequency.as_deref(), Some("Recurring"));
        assert_eq!(first.extensions["x_lineItem/LineItemType"], "Tax");
        assert!(!first.extensions.contains_key("x_bill/PayerAccountId"));
        let s3 = records
            .iter()
            .find(|r| {
                r.extensions
                    .get("x_identity/LineItemId")
                    .map(String::as_str)
                    == Some("zbztiafgbsabcdabcdabcdabcdabcdabcdabcdabc45mtoofavq")
            })
            .unwrap();
        assert_eq!(s3.billed_cost, dec("0.0000000018"));
        assert_eq!(s3.pricing_quantity, Some(dec("0.0000000885")));
        assert_eq!(s3.region_id.as_deref(), Some("us-east-1"));
        assert_eq!(s3.pricing_currency.as_deref(), Some("USD"));
        assert_eq!(s3.pricing_category.as_deref(), Some("Standard"));
        assert_eq!(
            s3.service_name.as_deref(),
            Some("Amazon Simple Storage Service")
        );
        assert_eq!(s3.extensions["x_product/servicecode"], "AWSDataTransfer");

        let mut keys: Vec<&str> = records.iter().map(|r| r.record_key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), records.len());
    }

    #[test]
    fn gzip_copy_reads_the_same_and_a_truncated_one_is_refused() {
        let plain = std::fs::read(real_legacy()).unwrap();
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&plain).unwrap();
        let gz = encoder.finish().unwrap();

        let whole = scratch("cur-00001.csv.gz", &gz);
        let (from_gz, rejects) = read_all(&whole).unwrap();
        let (from_plain, _) = read_all(&real_legacy()).unwrap();
        assert!(rejects.is_empty());
        assert_eq!(from_gz.len(), from_plain.len());
        for (a, b) in from_gz.iter().zip(&from_plain) {
            assert_eq!(
                (&a.record_key, a.billed_cost),
                (&b.record_key, b.billed_cost)
            );
        }

        let cut = scratch("cut-00001.csv.gz", &gz[..gz.len() * 2 / 3]);
        let err = read_all(&cut).unwrap_err();
        assert!(matches!(err, CurError::Read { .. }), "{err}");
        assert!(err.to_string().contains("cut-00001.csv.gz"), "{err}");
    }

    /// A legacy header with every column the EffectiveCost rules read.
    const RULES_HEADER: &str = "bill/PayerAccountId,lineItem/CurrencyCode,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/LineItemType,lineItem/UnblendedCost,reservation/EffectiveCost,reservation/ReservationARN,reservation/UnusedAmortizedUpfrontFeeForBillingPeriod,reservation/UnusedRecurringFee,savingsPlan/SavingsPlanEffectiveCost,savingsPlan/SavingsPlanARN,savingsPlan/TotalCommitmentToDate,savingsPlan/UsedCommitment";

    fn rules_row(kind: &str, cost: &str, amortisation: &str) -> String {
        format!("111,USD,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,{kind},{cost},{amortisation}\n")
    }

    #[test]
    fn line_item_types_map_to_focus_category_billed_and_effective_cost() {
        let sp = "arn:aws:savingsplans::111:savingsplan/sp-1";
        let ri = "arn:aws:ec2:us-east-1:111:reserved-instances/ri-1";
        let rows = [
            ("Usage", "2.5", ",,,,,,,".to_owned(), "Usage", "2.5"),
            (
                "DiscountedUsage",
                "0",
                format!("1.75,{ri},,,,,,"),
                "Usage",
                "1.75",
            ),
            (
                "SavingsPlanCoveredUsage",
                "3",
                format!(",,,,2.1,{sp},,"),
                "Usage",
                "2.1",
            ),
            (
                "SavingsPlanNegation",
                "-3",
                format!(",,,,,{sp},,"),
                "Usage",
                "0",
            ),
            (
                "SavingsPlanRecurringFee",
                "10",
                format!(",,,,,{sp},10,7.5"),
                "Purchase",
                "2.5",
            ),
            (
                "SavingsPlanUpfrontFee",
                "1000",
                format!(",,,,,{sp},,"),
                "Purchase",
                "0",
            ),
            ("RIFee", "50", format!(",{ri},4,6,,,,"), "Purchase", "10"),
            ("Fee", "900", format!(",{ri},,,,,,"), "Purchase", "0"),
            ("Fee", "29", ",,,,,,,".to_owned(), "Purchase", "29"),
            ("Tax", "0.8", ",,,,,,,".to_owned(), "Tax", "0.8"),
            ("Credit", "-5", ",,,,,,,".to_owned(), "Credit", "-5"),
            ("Refund", "-1.5", ",,,,,,,".to_owned(), "Credit", "-1.5"),
            (
                "BundledDiscount",
                "-0.2",
                ",,,,,,,".to_owned(),
                "Credit",
                "-0.2",
            ),
        ];
        let mut text = format!("{RULES_HEADER}\n");
        for (kind, cost, amortisation, _, _) in &rows {
            text.push_str(&rules_row(kind, cost, amortisation));
        }
        let (records, rejects) = read_all(&scratch("rules.csv", text.as_bytes())).unwrap();
        assert!(rejects.is_empty(), "{rejects:#?}");
        for ((kind, cost, _, category, effective), record) in rows.iter().zip(&records) {
            assert_eq!(record.charge_category, *category, "{kind}");
            assert_eq!(record.billed_cost, dec(cost), "{kind}");
            assert_eq!(record.effective_cost, dec(effective), "{kind}");
        }
        assert_eq!(records[1].commitment_discount_id.as_deref(), Some(ri));
        assert_eq!(
            records[1].commitment_discount_type.as_deref(),
            Some("Reserved Instance")
        );
        assert_eq!(records[2].commitment_discount_id.as_deref(), Some(sp));
        assert_eq!(
            records[2].commitment_discount_category.as_deref(),
            Some("Spend")
        );
        assert_eq!(records[2].pricing_category.as_deref(), Some("Committed"));
        assert_eq!(records[8].commitment_discount_id, None);
    }

    #[test]
    fn missing_amortisation_or_unknown_type_rejects_the_row_by_column() {
        let mut text = format!("{RULES_HEADER}\n");
        text.push_str(&rules_row("SavingsPlanCoveredUsage", "3", ",,,,,,,"));
        text.push_str(&rules_row("MarketplaceMagic", "3", ",,,,,,,"));
        text.push_str(&rules_row("Usage", "$3", ",,,,,,,"));
        text.push_str(&rules_row("Usage", "4", ",,,,,,,"));
        let (records, rejects) = read_all(&scratch("faults.csv", text.as_bytes())).unwrap();
        assert_eq!(records.len(), 1);
        let found: Vec<(Option<i64>, Option<&str>, Option<&str>)> = rejects
            .iter()
            .map(|r| (r.line, r.column.as_deref(), r.value.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    Some(2),
                    Some("savingsPlan/SavingsPlanEffectiveCost"),
                    Some("")
                ),
                (
                    Some(3),
                    Some("lineItem/LineItemType"),
                    Some("MarketplaceMagic")
                ),
                (Some(4), Some("lineItem/UnblendedCost"), Some("$3")),
            ]
        );
        assert!(
            rejects[0].reason.contains("SavingsPlanCoveredUsage"),
            "{}",
            rejects[0].reason
        );

        let no_ri_columns = "bill/PayerAccountId,lineItem/CurrencyCode,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/LineItemType,lineItem/UnblendedCost\n\
            111,USD,2024-01-01,2024-02-01,2024-01-01,2024-02-01,RIFee,50\n";
        let (_, rejects) = read_all(&scratch("no-ri.csv", no_ri_columns.as_bytes())).unwrap();
        assert_eq!(
            rejects[0].column.as_deref(),
            Some("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod")
        );
    }

    #[test]
    fn messy_text_is_read_by_name_and_bad_rows_are_rejected_by_line() {
        // Localised and reordered headers, a BOM, CRLF, blank lines, a quoted
        // description with a comma, scientific notation and null spellings.
        let text = "\u{feff}Kosten (lineItem/UnblendedCost),LINEITEM/LINEITEMTYPE,lineItem/CurrencyCode,pricing/currency,bill/PayerAccountId,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/LineItemDescription,resourceTags/user:Team,resourceTags/user:Team ,resourceTags/user:env\r\n\
            1.8E-9,Usage,EUR,USD,111,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,\"$0.02 per GB, EU\",core,infra,NULL\r\n\
            \r\n\
            1,Usage,EUR,USD,111,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-45T00:00:00Z,2024-01-05T01:00:00Z,x,,,\r\n\
            1,Usage,EUR,USD,111,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-05T00:00:00Z\r\n\
            2,Usage,eur,USD,111,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,x,,,\r\n";
        let (records, rejects) = read_all(&scratch("messy.csv", text.as_bytes())).unwrap();
        assert_eq!(records.len(), 1, "{rejects:#?}");
        let record = &records[0];
        assert_eq!(record.billed_cost, dec("0.0000000018"));
        assert_eq!(record.billing_currency, "EUR");
        assert_eq!(record.pricing_currency.as_deref(), Some("USD"));
        assert_eq!(
            record.charge_description.as_deref(),
            Some("$0.02 per GB, EU")
        );
        assert_eq!(record.tags["user:Team"], "core");
        assert_eq!(record.tags["user:Team "], "infra");
        assert!(!record.tags.contains_key("user:env"));
        assert_eq!(record.extensions[text::TAG_KEY_COLLISIONS], "user:Team ");

        let found: Vec<(Option<i64>, Option<&str>)> = rejects
            .iter()
            .map(|r| (r.line, r.column.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                (Some(4), Some("lineItem/UsageStartDate")),
                (Some(5), None),
                (Some(6), Some("lineItem/CurrencyCode")),
            ]
        );
    }

    #[test]
    fn a_date_column_mixing_layouts_refuses_the_whole_file() {
        let text = "bill/PayerAccountId,lineItem/CurrencyCode,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/LineItemType,lineItem/UnblendedCost\n\
            111,USD,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,Usage,1\n\
            111,USD,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,01/05/2024,2024-01-05T01:00:00Z,Usage,1\n";
        let err = read_all(&scratch("mixed.csv", text.as_bytes())).unwrap_err();
        let CurError::MixedDateLayouts {
            column,
            line,
            first_line,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(
            (*column, *line, *first_line),
            ("lineItem/UsageStartDate", 3, 2)
        );
        let reject = err.to_reject("file:///mixed.csv", "CUR");
        assert_eq!(reject.value.as_deref(), Some("01/05/2024"));
        assert!(reject.reason.contains("refused whole"), "{}", reject.reason);
    }

    /// The full read's verdict on a file: the error that ends it, if any.
    fn full_read_error(path: &Path) -> Option<String> {
        read_all(path).err().map(|err| err.to_string())
    }

    fn check_error(path: &Path) -> Option<String> {
        let reader = CurReader::open(path, &CurOptions { source_version: 7 }).unwrap();
        reader.check().err().map(|err| err.to_string())
    }

    #[test]
    fn the_check_pass_refuses_exactly_what_the_full_read_refuses() {
        let header = "bill/PayerAccountId,lineItem/CurrencyCode,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/LineItemType,lineItem/UnblendedCost";
        let iso = "111,USD,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,Usage,1";
        let us_start = "111,USD,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,01/05/2024,2024-01-05T01:00:00Z,Usage,1";
        // Bad values that reject a row; the first two before the usage dates are
        // read, so the usage columns' layout is decided on a later line.
        let bad_start = "111,USD,yesterday,2024-02-01T00:00:00Z,01/05/2024,01/05/2024,Usage,1";
        let short = "111,USD,2024-01-01T00:00:00Z";
        let bad_amount = "111,USD,2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,Usage,lots";
        let cases: [(&str, &[&str]); 6] = [
            ("clean", &[iso, iso]),
            ("mixed", &[iso, us_start]),
            ("row faults only", &[iso, bad_amount, short, iso]),
            ("layout decided after a rejected row", &[bad_start, iso]),
            ("mixed after a rejected row", &[bad_start, iso, us_start]),
            ("quote left open", &[iso, "111,\"USD"]),
        ];
        let mut refused = 0;
        for (name, rows) in cases {
            let text = format!("{header}\n{}\n", rows.join("\n"));
            let path = scratch(
                &format!("check-{}.csv", name.replace(' ', "-")),
                text.as_bytes(),
            );
            let full = full_read_error(&path);
            assert_eq!(check_error(&path), full, "{name}");
            refused += usize::from(full.is_some());
        }
        assert_eq!(refused, 2, "the mixed cases; an open quote runs to the end");

        // A truncated gzip file and the real legacy file.
        let plain = std::fs::read(real_legacy()).unwrap();
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&plain).unwrap();
        let gz = encoder.finish().unwrap();
        let cut = scratch("check-cut.csv.gz", &gz[..gz.len() / 2]);
        assert!(check_error(&cut).is_some());
        assert_eq!(check_error(&cut), full_read_error(&cut));
        assert_eq!(check_error(&real_legacy()), None);
    }

    #[test]
    fn a_file_without_cur_columns_is_refused() {
        let path = scratch("not-cur.csv", b"BilledCost,BillingAccountId\n1,a\n");
        let err = read_all(&path).unwrap_err();
        assert!(
            matches!(
                err,
                CurError::MissingColumn {
                    column: "bill/PayerAccountId",
                    ..
                }
            ),
            "{err}"
        );
        let twice = "bill/PayerAccountId,bill_payer_account_id\n1,1\n";
        let err = read_all(&scratch("twice.csv", twice.as_bytes())).unwrap_err();
        assert!(matches!(err, CurError::DuplicateColumn { .. }), "{err}");
    }

    /// The CUR 2.0 name of a legacy column: `lineItem/UnblendedCost` is
    /// `line_item_unblended_cost`, `savingsPlan/SavingsPlanARN` is
    /// `savings_plan_savings_plan_a_r_n`, as AWS spells them.
    fn cur2_name(legacy: &str) -> String {
        let mut out = String::new();
        for (i, part) in legacy.split('/').enumerate() {
            if i > 0 {
                out.push('_');
            }
            for (j, c) in part.chars().enumerate() {
                if c.is_ascii_uppercase() && j > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
        }
        out
    }

    #[test]
    fn cur2_snake_case_rows_map_like_their_legacy_originals() {
        // Twenty real legacy rows (tax and usage), rewritten with CUR 2.0 names
        // in reverse column order, plus a resource_tags map column.
        let mut source = csv::Reader::from_path(real_legacy()).unwrap();
        let headers: Vec<String> = source.headers().unwrap().iter().map(cur2_name).collect();
        assert!(headers.contains(&"line_item_unblended_cost".to_owned()));
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = headers.iter().rev().cloned().collect();
        header.push("resource_tags".to_owned());
        writer.write_record(&header).unwrap();
        for row in source.records().take(20) {
            let row = row.unwrap();
            let mut fields: Vec<String> = row.iter().rev().map(str::to_owned).collect();
            fields.push(r#"{"user_team": "core", " user_team": "core"}"#.to_owned());
            writer.write_record(&fields).unwrap();
        }
        let cur2 = scratch("cur2-00001.csv", &writer.into_inner().unwrap());

        let (records, rejects) = read_all(&cur2).unwrap();
        assert!(rejects.is_empty(), "{rejects:#?}");
        let (legacy, _) = read_all(&real_legacy()).unwrap();
        assert_eq!(records.len(), 20);
        for (new, old) in records.iter().zip(&legacy) {
            assert_eq!(new.source_dataset, "CUR2");
            assert_eq!(new.billing_account_id, old.billing_account_id);
            assert_eq!(new.billing_period_start, old.billing_period_start);
            assert_eq!(new.charge_period_start, old.charge_period_start);
            assert_eq!(new.charge_category, old.charge_category);
            assert_eq!(new.billed_cost, old.billed_cost);
            assert_eq!(new.effective_cost, old.effective_cost);
            assert_eq!(new.list_cost, old.list_cost);
            assert_eq!(new.sub_account_id, old.sub_account_id);
            assert_eq!(new.service_name, old.service_name);
            assert_eq!(new.region_id, old.region_id);
            assert_eq!(new.pricing_currency, old.pricing_currency);
            assert_eq!(new.extensions.len(), old.extensions.len());
            assert_eq!(new.tags.len(), 1);
            assert_eq!(new.tags["user_team"], "core");
        }
        assert!(records[0]
            .extensions
            .contains_key("x_line_item_line_item_type"));
    }
}
