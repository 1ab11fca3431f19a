//! One Azure cost export file (CSV, CSV.gz or Parquet) as an iterator of [`Row`]s.
//!
//! The file is read twice, both times as a stream: the first pass decides the
//! date layout from every value of the date columns and counts the rows (and so
//! finds a truncated gzip or an unreadable file before anything is published);
//! the second pass turns rows into records. For Parquet, a row's `line` is its
//! 1-based row number.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::input::file_uri;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use costflow_model::money::{integer_digits, split, MONEY_SCALE, QUANTITY_SCALE};
use costflow_model::{CostRecord, RecordKey, Reject};
use rust_decimal::Decimal;

use super::columns::{ColumnSet, Field, Layout};
use super::records::{Next, Records};
use crate::text::{self, DateLayout, LayoutVote};
use crate::Row;

/// The provider name on Azure records and rejects.
pub const PROVIDER: &str = "Azure";

/// Which Cost Management dataset a file belongs to; it decides how the cost
/// column maps to FOCUS BilledCost and EffectiveCost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureDataset {
    /// Actual (billed) cost: BilledCost = EffectiveCost = the cost in billing
    /// currency, purchases included as they were invoiced.
    ActualCost,
    /// Amortized cost: the cost column spreads reservation and savings plan
    /// purchases over the usage they cover. EffectiveCost is that amortised
    /// cost; BilledCost is zero for usage a commitment paid for, and a
    /// commitment purchase has EffectiveCost zero, so neither is counted twice.
    AmortizedCost,
}

impl AzureDataset {
    /// The dataset's Cost Management name.
    pub fn name(self) -> &'static str {
        match self {
            AzureDataset::ActualCost => "ActualCost",
            AzureDataset::AmortizedCost => "AmortizedCost",
        }
    }

    /// Reads a dataset name: `ActualCost`, `AmortizedCost`, `Usage` (the legacy
    /// name of actual cost), case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "actualcost" | "actual" | "usage" => Some(AzureDataset::ActualCost),
            "amortizedcost" | "amortized" => Some(AzureDataset::AmortizedCost),
            _ => None,
        }
    }

    /// The dataset a local file's name suggests: `AmortizedCost` when it says
    /// "amortized", otherwise `ActualCost`.
    pub fn from_file_name(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.contains("amortized") {
            AzureDataset::AmortizedCost
        } else {
            AzureDataset::ActualCost
        }
    }
}

/// What an Azure export file is read with.
#[derive(Debug, Clone)]
pub struct AzureOptions {
    /// Source version stamped on every record (microseconds since the epoch).
    pub source_version: i64,
    /// The dataset the file belongs to.
    pub dataset: AzureDataset,
    /// Values for `BillingAccountId` or `BillingCurrency` when a file lacks the
    /// column; never used to overwrite a cell.
    pub assume: BTreeMap<String, String>,
    /// The URI records and rejects name; the file's `file://` URI when `None`.
    pub uri: Option<String>,
    /// Data rows the export's manifest says the file holds; a file with another
    /// count is refused whole before anything is published.
    pub expected_rows: Option<u64>,
}

impl AzureOptions {
    /// Options for one dataset and source version, nothing assumed.
    pub fn new(dataset: AzureDataset, source_version: i64) -> Self {
        Self {
            source_version,
            dataset,
            assume: BTreeMap::new(),
            uri: None,
            expected_rows: None,
        }
    }
}

/// A whole-file failure: nothing from the file is published.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// The file could not be opened or read (a truncated gzip is one).
    #[error("{uri}: {source}")]
    Io {
        /// The file.
        uri: String,
        /// The cause.
        source: io::Error,
    },
    /// The CSV structure broke down past recovery.
    #[error("{uri}: line {line}: {source}")]
    Csv {
        /// The file.
        uri: String,
        /// Line where reading stopped.
        line: u64,
        /// The cause.
        source: csv::Error,
    },
    /// A column every record needs is absent.
    #[error("{uri}: no {what} column; {hint}")]
    MissingColumn {
        /// The file.
        uri: String,
        /// What is missing.
        what: &'static str,
        /// What to do about it.
        hint: &'static str,
    },
    /// The date columns mix layouts, so no row's dates can be trusted.
    #[error("{uri}: quarantined: {detail}")]
    MixedDateLayouts {
        /// The file.
        uri: String,
        /// Which values disagree, with their lines.
        detail: String,
    },
    /// The file holds another number of rows than its manifest says: a part
    /// was cut short or replaced.
    #[error("{uri}: the manifest says {expected} data rows, the file has {found}")]
    RowCount {
        /// The file.
        uri: String,
        /// Rows the manifest names.
        expected: u64,
        /// Rows found.
        found: u64,
    },
    /// A Parquet file could not be read.
    #[error("{uri}: {source}")]
    Parquet {
        /// The file.
        uri: String,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// An assumed value names a column that cannot be assumed.
    #[error("--assume {column}: only BillingAccountId and BillingCurrency can be assumed for Azure exports")]
    UnknownAssumedColumn {
        /// What was given.
        column: String,
    },
}

impl AzureError {
    /// The reject sent for a file that could not be read, or was quarantined.
    pub fn to_reject(&self, uri: &str, dataset: AzureDataset) -> Reject {
        let line = match self {
            AzureError::Csv { line, .. } => Some(*line as i64),
            _ => None,
        };
        let column = match self {
            AzureError::MissingColumn { what, .. } => Some((*what).to_owned()),
            _ => None,
        };
        Reject {
            source_provider: PROVIDER.to_owned(),
            source_dataset: dataset.name().to_owned(),
            source_uri: uri.to_owned(),
            line,
            column,
            value: None,
            reason: self.to_string(),
            rejected_at: Utc::now(),
        }
    }
}

/// A row-level problem, before it becomes a [`Reject`].
struct Fault {
    column: Option<String>,
    value: Option<String>,
    reason: String,
}

/// Reads one Azure cost export file.
pub struct AzureReader {
    uri: String,
    options: AzureOptions,
    records: Records,
    layout: Layout,
    date_layout: Option<DateLayout>,
    account_fallback: bool,
    record: csv::StringRecord,
    finished: bool,
}

impl AzureReader {
    /// Opens a file, reads its header and decides its date layout from every
    /// date value in it. A file whose dates mix layouts is refused whole.
    pub fn open(path: &Path, options: &AzureOptions) -> Result<Self, AzureError> {
        let uri = options.uri.clone().unwrap_or_else(|| file_uri(path));
        for column in options.assume.keys() {
            let known = ["BillingAccountId", "BillingCurrency"];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(column)) {
                return Err(AzureError::UnknownAssumedColumn {
                    column: column.clone(),
                });
            }
        }
        let (records, header) = Records::open(path, &uri)?;
        let layout = Layout::from_header(header.iter().map(String::as_str));
        let assumed = |name: &str| options.assume.keys().any(|k| k.eq_ignore_ascii_case(name));
        let missing = |what, hint| AzureError::MissingColumn {
            uri: uri.clone(),
            what,
            hint,
        };
        if !layout.has(Field::Cost) {
            return Err(missing(
                "cost",
                "expected CostInBillingCurrency, Cost or PreTaxCost",
            ));
        }
        if !layout.has(Field::Date) {
            return Err(missing("date", "expected Date or UsageDateTime"));
        }
        if !layout.has(Field::BillingCurrency) && !assumed("BillingCurrency") {
            return Err(missing(
                "currency",
                "expected BillingCurrency, BillingCurrencyCode or Currency; pass --assume BillingCurrency=CODE if the whole file shares one",
            ));
        }
        let account_fallback = !layout.has(Field::BillingAccountId) && !assumed("BillingAccountId");
        if account_fallback && !layout.has(Field::SubscriptionId) {
            return Err(missing(
                "billing account",
                "expected BillingAccountId or SubscriptionId; pass --assume BillingAccountId=ID",
            ));
        }

        let (date_layout, rows) = decide_date_layout(path, &uri, &layout)?;
        if let Some(expected) = options.expected_rows.filter(|e| *e != rows) {
            return Err(AzureError::RowCount {
                uri,
                expected,
                found: rows,
            });
        }
        tracing::debug!(file = %uri, column_set = layout.column_set().name(), "azure export opened");
        Ok(AzureReader {
            uri,
            options: options.clone(),
            records,
            layout,
            date_layout,
            account_fallback,
            record: csv::StringRecord::new(),
            finished: false,
        })
    }

    /// The file as a URI, as it appears in records and rejects.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The export column set the header was recognised as.
    pub fn column_set(&self) -> ColumnSet {
        self.layout.column_set()
    }

    /// The dataset the file is read as.
    pub fn dataset(&self) -> AzureDataset {
        self.options.dataset
    }

    /// The date layout decided for the file, `None` when it has no date.
    pub fn date_layout(&self) -> Option<DateLayout> {
        self.date_layout
    }

    fn read_row(&mut self) -> Option<Result<Row, AzureError>> {
        let line = match self.records.next(&mut self.record, &self.uri) {
            Ok(Next::Record(line)) => line,
            Ok(Next::End) => return None,
            Ok(Next::NotUtf8(line)) => {
                let fault = Fault {
                    column: None,
                    value: None,
                    reason: "line is not valid UTF-8".to_owned(),
                };
                return Some(Ok(Row::Reject(self.reject(line, fault))));
            }
            Err(err) => return Some(Err(err)),
        };
        let row = match self.build(line) {
            Ok(record) => Row::Record(Box::new(record)),
            Err(fault) => Row::Reject(self.reject(line, fault)),
        };
        Some(Ok(row))
    }

    fn reject(&self, line: u64, fault: Fault) -> Reject {
        Reject {
            source_provider: PROVIDER.to_owned(),
            source_dataset: self.options.dataset.name().to_owned(),
            source_uri: self.uri.clone(),
            line: Some(line as i64),
            column: fault.column,
            value: fault.value,
            reason: fault.reason,
            rejected_at: Utc::now(),
        }
    }

    fn fault(&self, field: Field, value: &str, reason: impl Into<String>) -> Fault {
        let column = self.layout.position(field).map_or_else(
            || field.aliases()[0].to_owned(),
            |p| self.layout.names[p].clone(),
        );
        Fault {
            column: Some(column),
            value: Some(Reject::clip(value)),
            reason: reason.into(),
        }
    }

    /// The field's cell in the current row, null spellings as `None`.
    fn text(&self, field: Field) -> Option<&str> {
        let position = self.layout.position(field)?;
        cell(self.record.get(position)?)
    }

    fn required(&self, field: Field) -> Result<&str, Fault> {
        self.text(field)
            .ok_or_else(|| self.fault(field, "", "mandatory value is missing"))
    }

    fn assumed(&self, name: &str) -> Option<&str> {
        self.options
            .assume
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| text::non_null(v))
    }

    fn day(&self, field: Field) -> Result<NaiveDate, Fault> {
        let value = self.required(field)?;
        let parsed = self.date_layout.and_then(|layout| layout.parse(value));
        parsed.map(|t| t.date_naive()).ok_or_else(|| {
            let reason = match self.date_layout {
                Some(layout) => format!("not a date in this file's layout ({})", layout.describe()),
                None => "not a date".to_owned(),
            };
            self.fault(field, value, reason)
        })
    }

    fn decimal(&self, field: Field, scale: u32) -> Result<Option<Decimal>, Fault> {
        let Some(value) = self.text(field) else {
            return Ok(None);
        };
        let parsed = text::decimal(value).map_err(|reason| self.fault(field, value, reason))?;
        if split(parsed, scale).is_none() {
            let reason = format!("more than {} integer digits", integer_digits(scale));
            return Err(self.fault(field, value, reason));
        }
        Ok(Some(parsed))
    }

    fn build(&self, line: u64) -> Result<CostRecord, Fault> {
        if self.record.len() != self.layout.names.len() {
            return Err(Fault {
                column: None,
                value: None,
                reason: format!(
                    "row has {} fields, the header has {}; its columns cannot be trusted",
                    self.record.len(),
                    self.layout.names.len()
                ),
            });
        }

        let charge_day = self.day(Field::Date)?;
        let charge_period = [midnight(charge_day), midnight(next_day(charge_day))];
        let billing_period = self.billing_period(charge_day)?;
        let account = self.billing_account()?;
        let currency = match self.text(Field::BillingCurrency) {
            Some(code) => code,
            None if self.layout.has(Field::BillingCurrency) => {
                self.required(Field::BillingCurrency)?
            }
            None => self.assumed("BillingCurrency").ok_or_else(|| {
                self.fault(Field::BillingCurrency, "", "mandatory value is missing")
            })?,
        };
        if !text::is_currency_code(currency) {
            return Err(self.fault(
                Field::BillingCurrency,
                currency,
                "not an ISO 4217 currency code",
            ));
        }

        let cost = self
            .decimal(Field::Cost, MONEY_SCALE)?
            .ok_or_else(|| self.fault(Field::Cost, "", "mandatory value is missing"))?;
        let charge = self.charge()?;
        let (billed, effective) = match self.options.dataset {
            AzureDataset::ActualCost => (cost, cost),
            AzureDataset::AmortizedCost if charge.covered_by_commitment() => (Decimal::ZERO, cost),
            AzureDataset::AmortizedCost if charge.buys_commitment() => (cost, Decimal::ZERO),
            AzureDataset::AmortizedCost => (cost, cost),
        };

        let mut record = CostRecord::new(
            account,
            currency,
            billing_period,
            charge_period,
            charge.category,
            billed,
            effective,
        );
        self.fill_optional(&mut record, &charge)?;
        self.fill_envelope(&mut record, line);
        Ok(record)
    }

    /// `[start, end)`: Azure writes the last day of the period, so the end moves
    /// one day on. Without period columns (pay-as-you-go, some partner exports,
    /// or empty cells) the period is the calendar month of the charge day.
    fn billing_period(&self, charge_day: NaiveDate) -> Result<[DateTime<Utc>; 2], Fault> {
        let given = (
            self.text(Field::BillingPeriodStart),
            self.text(Field::BillingPeriodEnd),
        );
        let (start, last_day) = match given {
            (Some(_), Some(_)) => (
                self.day(Field::BillingPeriodStart)?,
                self.day(Field::BillingPeriodEnd)?,
            ),
            (None, None) => {
                let first = charge_day.with_day(1).unwrap_or(charge_day);
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(first);
                (first, next.pred_opt().unwrap_or(next))
            }
            (None, Some(_)) => {
                return Err(self.fault(
                    Field::BillingPeriodStart,
                    "",
                    "period start is missing while its end is given",
                ))
            }
            (Some(_), None) => {
                return Err(self.fault(
                    Field::BillingPeriodEnd,
                    "",
                    "period end is missing while its start is given",
                ))
            }
        };
        if last_day < start {
            let value = self.text(Field::BillingPeriodEnd).unwrap_or_default();
            return Err(self.fault(
                Field::BillingPeriodEnd,
                value,
                format!("period ends before its start ({start})"),
            ));
        }
        Ok([midnight(start), midnight(next_day(last_day))])
    }

    fn billing_account(&self) -> Result<&str, Fault> {
        if self.layout.has(Field::BillingAccountId) {
            return self.required(Field::BillingAccountId);
        }
        if let Some(assumed) = self.assumed("BillingAccountId") {
            return Ok(assumed);
        }
        // Pay-as-you-go and some partner exports carry no billing account: the
        // subscription is the account that is billed.
        self.required(Field::SubscriptionId)
    }

    fn charge(&self) -> Result<Charge, Fault> {
        let charge_type = self.text(Field::ChargeType);
        let pricing_model = self.text(Field::PricingModel).map(str::to_ascii_lowercase);
        let category = match charge_type.map(str::to_ascii_lowercase).as_deref() {
            // The pay-as-you-go usage export has no ChargeType: it lists usage only.
            None if !self.layout.has(Field::ChargeType) => "Usage",
            None => return Err(self.fault(Field::ChargeType, "", "mandatory value is missing")),
            Some("usage" | "unusedreservation" | "unusedsavingsplan") => "Usage",
            Some("purchase" | "refund") => "Purchase",
            Some("tax") => "Tax",
            Some("credit") => "Credit",
            Some("roundingadjustment" | "adjustment") => "Adjustment",
            Some(_) => {
                let value = charge_type.unwrap_or_default();
                return Err(self.fault(
                    Field::ChargeType,
                    value,
                    "unknown ChargeType (expected Usage, Purchase, Refund, Tax, Credit, UnusedReservation, UnusedSavingsPlan or RoundingAdjustment)",
                ));
            }
        };
        Ok(Charge {
            category,
            charge_type: charge_type.map(str::to_ascii_lowercase),
            pricing_model,
        })
    }

    fn fill_optional(&self, record: &mut CostRecord, charge: &Charge) -> Result<(), Fault> {
        let owned = |field| self.text(field).map(str::to_owned);
        record.provider_name = Some("Microsoft".to_owned());
        record.invoice_issuer_name =
            Some(owned(Field::PartnerName).unwrap_or_else(|| "Microsoft".to_owned()));
        record.billing_account_name = owned(Field::BillingAccountName);
        record.sub_account_id = owned(Field::SubscriptionId);
        record.sub_account_name = owned(Field::SubscriptionName);
        if record.sub_account_id.is_some() {
            record.sub_account_type = Some("Subscription".to_owned());
        }
        record.resource_id = owned(Field::ResourceId);
        record.resource_name = owned(Field::ResourceName);
        record.availability_zone = owned(Field::AvailabilityZone);
        record.service_name = owned(Field::MeterCategory);
        record.sku_meter = owned(Field::MeterName);
        record.sku_id = owned(Field::ProductId);
        record.charge_description = owned(Field::ProductName);
        record.publisher_name = owned(Field::PublisherName);
        record.invoice_id = owned(Field::InvoiceId);
        record.pricing_unit = owned(Field::UnitOfMeasure);
        record.pricing_currency = owned(Field::PricingCurrency);
        if let Some(location) = self.text(Field::ResourceLocation) {
            // Region codes (eastus2) are ids; display names (US East) are names.
            if location.contains(' ') {
                record.region_name = Some(location.to_owned());
            } else {
                record.region_id = Some(location.to_ascii_lowercase());
            }
        }

        record.pricing_quantity = self.decimal(Field::Quantity, QUANTITY_SCALE)?;
        record.contracted_unit_price = self.decimal(Field::UnitPrice, QUANTITY_SCALE)?;
        record.list_unit_price = self.decimal(Field::PayGPrice, QUANTITY_SCALE)?;
        record.pricing_currency_effective_cost =
            self.decimal(Field::CostInPricingCurrency, MONEY_SCALE)?;

        record.charge_class = match charge.charge_type.as_deref() {
            Some("refund") => Some("Correction".to_owned()),
            _ => None,
        };
        record.charge_frequency = self
            .text(Field::Frequency)
            .and_then(|f| match f.to_ascii_lowercase().as_str() {
                "onetime" => Some("One-Time"),
                "recurring" => Some("Recurring"),
                "usagebased" => Some("Usage-Based"),
                _ => None,
            })
            .map(str::to_owned);
        self.fill_commitment(record, charge);

        if let Some(cell) = self.text(Field::Tags) {
            let parsed =
                text::azure_tags(cell).map_err(|reason| self.fault(Field::Tags, cell, reason))?;
            record.tags = parsed.tags;
            if !parsed.collisions.is_empty() {
                record.extensions.insert(
                    text::TAG_KEY_COLLISIONS.to_owned(),
                    parsed.collisions.join(","),
                );
            }
        }
        for (position, name) in &self.layout.extensions {
            if let Some(value) = self.record.get(*position).and_then(cell) {
                record.extensions.insert(name.clone(), value.to_owned());
            }
        }
        if self.account_fallback {
            record.extensions.insert(
                "x_BillingAccountIdSource".to_owned(),
                "SubscriptionId".to_owned(),
            );
        }
        Ok(())
    }

    fn fill_commitment(&self, record: &mut CostRecord, charge: &Charge) {
        record.pricing_category = match charge.pricing_model.as_deref() {
            Some("ondemand") => Some("Standard"),
            Some("reservation" | "savingsplan") => Some("Committed"),
            Some("spot") => Some("Dynamic"),
            _ => None,
        }
        .map(str::to_owned);
        let (kind, category) = match charge.pricing_model.as_deref() {
            Some("reservation") => ("Reservation", "Usage"),
            Some("savingsplan") => ("Savings Plan", "Spend"),
            _ => return,
        };
        record.commitment_discount_id = self.text(Field::BenefitId).map(str::to_owned);
        record.commitment_discount_name = self.text(Field::BenefitName).map(str::to_owned);
        if record.commitment_discount_id.is_none() {
            return;
        }
        record.commitment_discount_type = Some(kind.to_owned());
        record.commitment_discount_category = Some(category.to_owned());
        record.commitment_discount_status = match charge.charge_type.as_deref() {
            Some("usage") => Some("Used"),
            Some("unusedreservation" | "unusedsavingsplan") => Some("Unused"),
            _ => None,
        }
        .map(str::to_owned);
    }

    fn fill_envelope(&self, record: &mut CostRecord, line: u64) {
        // Like a FOCUS line, an export line's natural key is its content and its
        // place in the file; the dataset is part of it because the same line of
        // the actual and the amortized export are different charges.
        let mut key = RecordKey::new()
            .part(self.options.dataset.name())
            .part(&record.billing_account_id)
            .part(record.billing_period_start.timestamp().to_le_bytes())
            .part(line.to_le_bytes());
        for field in self.record.iter() {
            key = key.part(field);
        }
        record.record_key = key.finish();
        record.source_provider = PROVIDER.to_owned();
        record.source_dataset = self.options.dataset.name().to_owned();
        record.source_uri = self.uri.clone();
        record.source_line = Some(line as i64);
        record.source_version = self.options.source_version;
    }
}

impl Iterator for AzureReader {
    type Item = Result<Row, AzureError>;

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

/// How a row is charged, from ChargeType and PricingModel (lower case).
struct Charge {
    category: &'static str,
    charge_type: Option<String>,
    pricing_model: Option<String>,
}

impl Charge {
    fn is_commitment(&self) -> bool {
        matches!(
            self.pricing_model.as_deref(),
            Some("reservation" | "savingsplan")
        )
    }

    /// Usage a reservation or savings plan paid for, or the unused part of one.
    fn covered_by_commitment(&self) -> bool {
        self.is_commitment()
            && matches!(
                self.charge_type.as_deref(),
                Some("usage" | "unusedreservation" | "unusedsavingsplan")
            )
    }

    /// The purchase (or refund) of a reservation or savings plan.
    fn buys_commitment(&self) -> bool {
        self.is_commitment() && matches!(self.charge_type.as_deref(), Some("purchase" | "refund"))
    }
}

/// The first pass: every value of the date columns votes on the file's layout;
/// also counts the data rows.
fn decide_date_layout(
    path: &Path,
    uri: &str,
    layout: &Layout,
) -> Result<(Option<DateLayout>, u64), AzureError> {
    let (mut records, _) = Records::open(path, uri)?;
    let date_fields: Vec<(usize, &str)> = [
        Field::Date,
        Field::BillingPeriodStart,
        Field::BillingPeriodEnd,
    ]
    .iter()
    .filter_map(|f| layout.position(*f))
    .map(|p| (p, layout.names[p].as_str()))
    .collect();

    let mut vote = LayoutVote::default();
    // Each column's last value voted: a value seen again votes the same way, and
    // exports repeat their dates row after row.
    let mut last: Vec<String> = vec![String::new(); date_fields.len()];
    let mut record = csv::StringRecord::new();
    let mut rows = 0;
    loop {
        let line = match records.next(&mut record, uri)? {
            Next::Record(line) => line,
            Next::NotUtf8(_) => {
                rows += 1;
                continue;
            }
            Next::End => break,
        };
        rows += 1;
        for ((position, name), last) in date_fields.iter().zip(&mut last) {
            if let Some(value) = record.get(*position).and_then(cell) {
                if value != last {
                    vote.observe(line, name, value);
                    value.clone_into(last);
                }
            }
        }
    }
    let date_layout = vote
        .decide()
        .map_err(|detail| AzureError::MixedDateLayouts {
            uri: uri.to_owned(),
            detail,
        })?;
    Ok((date_layout, rows))
}

/// A cell's text, null spellings as `None`. A byte-order mark left at the start
/// of a cell (files joined together, a part written with its own BOM) is dropped.
fn cell(raw: &str) -> Option<&str> {
    text::non_null(raw.trim_start_matches('\u{feff}'))
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.checked_add_signed(Duration::days(1)).unwrap_or(day)
}
