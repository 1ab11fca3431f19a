//! The AWS payer accounts' charges written the way a legacy Cost and Usage
//! Report delivers them: per payer account and billing period one delivery, in
//! CUR's `category/Column` names, cut into CSV parts and described by a manifest.
//!
//! A delivery lands in `<payer account id>/costflow-demo/<yyyymmdd-yyyymmdd>/<assembly id>/`
//! (the period's first day and the first day of the next month, as CUR names
//! the folder): `costflow-demo-00001.csv`, ... of at most
//! [`PART_ROWS`](crate::parts::PART_ROWS) rows, then `costflow-demo-Manifest.json`
//! there and a copy one folder up, both naming every part by its object key
//! relative to the payer account's folder. Uploaded to a bucket with that folder
//! as the report's prefix, the delivery reads as `ingest cur-s3` expects; read
//! from disk, `ingest cur <dir>` takes the parts and skips the manifests. The
//! manifests are written last. Parts are plain CSV where AWS writes `.csv.gz`.
//!
//! Each FOCUS row becomes the CUR line (or lines) that costflow maps back to the
//! same BilledCost and EffectiveCost (`costflow_ingest::cur`, module
//! documentation):
//!
//! | FOCUS row | CUR `lineItem/LineItemType` |
//! |---|---|
//! | usage at on-demand or negotiated prices | `Usage` |
//! | usage a reservation covered (billed 0) | `DiscountedUsage`, `reservation/EffectiveCost` the amortised cost |
//! | usage a savings plan covered (billed 0) | `SavingsPlanCoveredUsage` at the negotiated cost, `savingsPlan/SavingsPlanEffectiveCost` the amortised cost, and a `SavingsPlanNegation` taking the negotiated cost back off |
//! | a reservation's monthly fee | `RIFee`, nothing unused |
//! | a savings plan's recurring fee | `SavingsPlanRecurringFee`, commitment fully used |
//! | support | `Fee` |
//! | credit, tax | `Credit`, `Tax` |
//!
//! So the report holds one line per FOCUS row plus one negation per savings
//! plan covered usage line, and sums to the FOCUS files' amounts exactly. What
//! CUR does not say the way FOCUS does reads back differently, amounts aside:
//! support (`Fee`) reads as a one-time charge and the credit (billed on the
//! anniversary) as recurring, both entities are CUR's `Amazon Web Services,
//! Inc.`, and tax lines have no usage account, as the FOCUS tax rows have no sub
//! account.

use std::borrow::Cow;
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::parts::{self, Parts};
use crate::period::BillingPeriod;
use crate::row::FocusRow;
use crate::{GenerateError, GenerateOptions};

/// The report's name: its folder, its parts' and its manifests' names.
const REPORT: &str = "costflow-demo";

/// One CUR line, legacy column names in the order CUR writes their categories.
/// Columns the demo has no value for stay empty, as they do in real reports.
#[derive(Serialize)]
struct CurLine<'a> {
    #[serde(rename = "identity/LineItemId")]
    line_item_id: String,
    #[serde(rename = "identity/TimeInterval")]
    time_interval: String,
    #[serde(rename = "bill/InvoiceId")]
    invoice_id: Option<&'a str>,
    #[serde(rename = "bill/InvoicingEntity")]
    invoicing_entity: &'a str,
    #[serde(rename = "bill/BillingEntity")]
    billing_entity: &'a str,
    #[serde(rename = "bill/BillType")]
    bill_type: &'a str,
    #[serde(rename = "bill/PayerAccountId")]
    payer_account_id: &'a str,
    #[serde(rename = "bill/BillingPeriodStartDate")]
    billing_period_start: &'a str,
    #[serde(rename = "bill/BillingPeriodEndDate")]
    billing_period_end: &'a str,
    #[serde(rename = "lineItem/UsageAccountId")]
    usage_account_id: Option<&'a str>,
    #[serde(rename = "lineItem/LineItemType")]
    line_item_type: &'a str,
    #[serde(rename = "lineItem/UsageStartDate")]
    usage_start: &'a str,
    #[serde(rename = "lineItem/UsageEndDate")]
    usage_end: &'a str,
    #[serde(rename = "lineItem/ResourceId")]
    resource_id: Option<&'a str>,
    #[serde(rename = "lineItem/UsageAmount")]
    usage_amount: Option<Decimal>,
    #[serde(rename = "lineItem/CurrencyCode")]
    currency: &'a str,
    #[serde(rename = "lineItem/UnblendedRate")]
    unblended_rate: Option<Decimal>,
    #[serde(rename = "lineItem/UnblendedCost")]
    unblended_cost: Decimal,
    #[serde(rename = "lineItem/LineItemDescription")]
    description: &'a str,
    #[serde(rename = "lineItem/AvailabilityZone")]
    availability_zone: Option<&'a str>,
    #[serde(rename = "lineItem/LegalEntity")]
    legal_entity: &'a str,
    #[serde(rename = "product/ProductName")]
    product_name: &'a str,
    #[serde(rename = "product/location")]
    location: Option<&'a str>,
    #[serde(rename = "product/regionCode")]
    region_code: Option<&'a str>,
    #[serde(rename = "product/sku")]
    sku: Option<&'a str>,
    #[serde(rename = "pricing/RateId")]
    rate_id: Option<&'a str>,
    #[serde(rename = "pricing/currency")]
    pricing_currency: &'a str,
    #[serde(rename = "pricing/publicOnDemandCost")]
    public_on_demand_cost: Option<Decimal>,
    #[serde(rename = "pricing/publicOnDemandRate")]
    public_on_demand_rate: Option<Decimal>,
    #[serde(rename = "pricing/term")]
    term: Option<&'a str>,
    #[serde(rename = "pricing/unit")]
    unit: Option<&'a str>,
    #[serde(rename = "reservation/EffectiveCost")]
    reservation_effective_cost: Option<Decimal>,
    #[serde(rename = "reservation/ReservationARN")]
    reservation_arn: Option<&'a str>,
    #[serde(rename = "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod")]
    unused_amortized_upfront_fee: Option<Decimal>,
    #[serde(rename = "reservation/UnusedRecurringFee")]
    unused_recurring_fee: Option<Decimal>,
    #[serde(rename = "savingsPlan/SavingsPlanARN")]
    savings_plan_arn: Option<&'a str>,
    #[serde(rename = "savingsPlan/SavingsPlanEffectiveCost")]
    savings_plan_effective_cost: Option<Decimal>,
    #[serde(rename = "savingsPlan/TotalCommitmentToDate")]
    total_commitment_to_date: Option<Decimal>,
    #[serde(rename = "savingsPlan/UsedCommitment")]
    used_commitment: Option<Decimal>,
    #[serde(rename = "resourceTags/user:app")]
    tag_app: Option<Cow<'a, str>>,
    #[serde(rename = "resourceTags/user:cost-center")]
    tag_cost_center: Option<Cow<'a, str>>,
    #[serde(rename = "resourceTags/user:env")]
    tag_env: Option<Cow<'a, str>>,
    #[serde(rename = "resourceTags/user:team")]
    tag_team: Option<Cow<'a, str>>,
}

/// The tag keys the demo's resources carry (`resource`), each a legacy CUR
/// `resourceTags/user:KEY` column.
#[derive(Default, Deserialize)]
struct Tags<'a> {
    #[serde(borrow)]
    app: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "cost-center")]
    cost_center: Option<Cow<'a, str>>,
    #[serde(borrow)]
    env: Option<Cow<'a, str>>,
    #[serde(borrow)]
    team: Option<Cow<'a, str>>,
}

/// The CUR line type of a FOCUS row, and with it where its amounts go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineType {
    Usage,
    DiscountedUsage,
    SavingsPlanCoveredUsage,
    SavingsPlanNegation,
    RiFee,
    SavingsPlanRecurringFee,
    Fee,
    Credit,
    Tax,
}

impl LineType {
    /// The line a FOCUS row is written as (a savings plan's covered usage is
    /// followed by its negation).
    fn of(row: &FocusRow<'_>) -> LineType {
        let savings_plan = row.commitment_discount_type == Some("Savings Plan");
        let commitment = row.commitment_discount_id.is_some();
        match row.charge_category {
            "Usage" if savings_plan => LineType::SavingsPlanCoveredUsage,
            "Usage" if commitment => LineType::DiscountedUsage,
            "Usage" => LineType::Usage,
            "Purchase" if savings_plan => LineType::SavingsPlanRecurringFee,
            "Purchase" if commitment => LineType::RiFee,
            "Credit" => LineType::Credit,
            "Tax" => LineType::Tax,
            _ => LineType::Fee,
        }
    }

    fn name(self) -> &'static str {
        match self {
            LineType::Usage => "Usage",
            LineType::DiscountedUsage => "DiscountedUsage",
            LineType::SavingsPlanCoveredUsage => "SavingsPlanCoveredUsage",
            LineType::SavingsPlanNegation => "SavingsPlanNegation",
            LineType::RiFee => "RIFee",
            LineType::SavingsPlanRecurringFee => "SavingsPlanRecurringFee",
            LineType::Fee => "Fee",
            LineType::Credit => "Credit",
            LineType::Tax => "Tax",
        }
    }
}

impl<'a> CurLine<'a> {
    fn from_focus(row: &'a FocusRow<'a>, kind: LineType, line_item_id: String) -> CurLine<'a> {
        let usage = matches!(
            kind,
            LineType::Usage | LineType::DiscountedUsage | LineType::SavingsPlanCoveredUsage
        );
        let tags: Tags<'a> = row
            .tags
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        let mut line = CurLine {
            line_item_id,
            time_interval: format!("{}/{}", row.charge_period_start, row.charge_period_end),
            invoice_id: None,
            invoicing_entity: "Amazon Web Services, Inc.",
            billing_entity: "AWS",
            bill_type: "Anniversary",
            payer_account_id: row.billing_account_id,
            billing_period_start: row.billing_period_start,
            billing_period_end: row.billing_period_end,
            usage_account_id: row.sub_account_id,
            line_item_type: kind.name(),
            usage_start: row.charge_period_start,
            usage_end: row.charge_period_end,
            resource_id: row.resource_id,
            usage_amount: row.pricing_quantity,
            currency: row.billing_currency,
            unblended_rate: row.contracted_unit_price,
            unblended_cost: row.billed_cost,
            description: row.charge_description,
            availability_zone: row.availability_zone,
            legal_entity: "Amazon Web Services, Inc.",
            product_name: row.service_name,
            location: row.region_name,
            region_code: row.region_id,
            sku: row.sku_id,
            rate_id: row.sku_price_id,
            pricing_currency: row.billing_currency,
            public_on_demand_cost: usage.then_some(row.list_cost),
            public_on_demand_rate: row.list_unit_price.filter(|_| usage),
            term: usage.then_some("OnDemand"),
            unit: row.pricing_unit,
            reservation_effective_cost: None,
            reservation_arn: None,
            unused_amortized_upfront_fee: None,
            unused_recurring_fee: None,
            savings_plan_arn: None,
            savings_plan_effective_cost: None,
            total_commitment_to_date: None,
            used_commitment: None,
            tag_app: tags.app,
            tag_cost_center: tags.cost_center,
            tag_env: tags.env,
            tag_team: tags.team,
        };
        match kind {
            LineType::DiscountedUsage => {
                line.unblended_rate = Some(Decimal::ZERO);
                line.term = Some("Reserved");
                line.reservation_arn = row.commitment_discount_id;
                line.reservation_effective_cost = Some(row.effective_cost);
            }
            LineType::SavingsPlanCoveredUsage => {
                // Billed at the negotiated cost, which the negation takes back.
                line.unblended_cost = row.contracted_cost;
                line.savings_plan_arn = row.commitment_discount_id;
                line.savings_plan_effective_cost = Some(row.effective_cost);
            }
            LineType::SavingsPlanNegation => {
                line.usage_amount = Some(Decimal::ZERO);
                line.unblended_rate = row.contracted_unit_price.map(|rate| -rate);
                line.unblended_cost = -row.contracted_cost;
                line.savings_plan_arn = row.commitment_discount_id;
                line.description = "Savings Plan Negation";
            }
            LineType::RiFee => {
                line.reservation_arn = row.commitment_discount_id;
                line.unused_amortized_upfront_fee = Some(Decimal::ZERO);
                line.unused_recurring_fee = Some(Decimal::ZERO);
            }
            LineType::SavingsPlanRecurringFee => {
                line.savings_plan_arn = row.commitment_discount_id;
                line.total_commitment_to_date = Some(row.billed_cost);
                line.used_commitment = Some(row.billed_cost);
            }
            LineType::Usage | LineType::Fee | LineType::Credit | LineType::Tax => {}
        }
        line
    }
}

/// One billing period's deliveries, one per payer account, written in turn: the
/// month writes one account's rows after the other's.
pub(crate) struct CurDelivery<'o> {
    options: &'o GenerateOptions,
    period_folder: String,
    month_key: u64,
    billing_period: (String, String),
    current: Option<AccountReport>,
    files: Vec<PathBuf>,
    rows: u64,
}

/// The report of one payer account being written.
struct AccountReport {
    account: String,
    assembly_id: String,
    parts: Parts,
}

impl<'o> CurDelivery<'o> {
    pub(crate) fn new(options: &'o GenerateOptions, period: &BillingPeriod) -> CurDelivery<'o> {
        let compact = |day: chrono::NaiveDate| day.format("%Y%m%d").to_string();
        CurDelivery {
            options,
            period_folder: format!("{}-{}", compact(period.start), compact(period.end)),
            month_key: period.month_key(),
            billing_period: (
                format!("{}T000000.000Z", compact(period.start)),
                format!("{}T000000.000Z", compact(period.end)),
            ),
            current: None,
            files: Vec::new(),
            rows: 0,
        }
    }

    /// Writes a FOCUS row as its CUR line or lines; returns how many.
    pub(crate) fn write(&mut self, row: &FocusRow<'_>) -> Result<u64, GenerateError> {
        if self
            .current
            .as_ref()
            .is_some_and(|report| report.account != row.billing_account_id)
        {
            self.finish_report()?;
        }
        let report = match &mut self.current {
            Some(report) => report,
            None => self
                .current
                .insert(self.open_report(row.billing_account_id)?),
        };
        let kind = LineType::of(row);
        let negation =
            (kind == LineType::SavingsPlanCoveredUsage).then_some(LineType::SavingsPlanNegation);
        let mut written = 0;
        for kind in std::iter::once(kind).chain(negation) {
            let id = line_item_id(&report.assembly_id, report.parts.rows);
            report.parts.write(CurLine::from_focus(row, kind, id))?;
            written += 1;
        }
        self.rows += written;
        Ok(written)
    }

    fn open_report(&self, account: &str) -> Result<AccountReport, GenerateError> {
        let account_key = account.bytes().fold(0u64, |key, byte| {
            key.wrapping_mul(31).wrapping_add(u64::from(byte))
        });
        let assembly_id =
            crate::azure::run_id(self.options.content_key() ^ account_key, self.month_key);
        let dir = self.period_dir(account).join(&assembly_id);
        std::fs::create_dir_all(&dir).map_err(|source| GenerateError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(AccountReport {
            account: account.to_owned(),
            assembly_id,
            parts: Parts::new(dir, |index| format!("{REPORT}-{:05}.csv", index + 1)),
        })
    }

    /// `<account>/<report>/<yyyymmdd-yyyymmdd>`: the folder of the account's
    /// deliveries for the period, where the latest manifest sits.
    fn period_dir(&self, account: &str) -> PathBuf {
        (self.options.out_dir)
            .join(account)
            .join(REPORT)
            .join(&self.period_folder)
    }

    /// Ends the current account's last part and writes its two manifests.
    fn finish_report(&mut self) -> Result<(), GenerateError> {
        let Some(mut report) = self.current.take() else {
            return Ok(());
        };
        report.parts.finish()?;
        let key_of = |part: &parts::DonePart| {
            let name = part.path.file_name().map(|n| n.to_string_lossy());
            format!(
                "{REPORT}/{}/{}/{}",
                self.period_folder,
                report.assembly_id,
                name.unwrap_or_default()
            )
        };
        let manifest = serde_json::json!({
            "assemblyId": report.assembly_id,
            "account": report.account,
            "reportName": REPORT,
            "charset": "UTF-8",
            "compression": "None",
            "contentType": "text/csv",
            "billingPeriod": {
                "start": self.billing_period.0,
                "end": self.billing_period.1,
            },
            "bucket": format!("{REPORT}-{}", report.account),
            "reportKeys": report.parts.done.iter().map(key_of).collect::<Vec<_>>(),
            "additionalArtifactKeys": [],
        });
        let name = format!("{REPORT}-Manifest.json");
        let in_assembly = report.parts.dir().join(&name);
        let in_period = self.period_dir(&report.account).join(&name);
        self.files
            .extend(report.parts.done.iter().map(|part| part.path.clone()));
        for path in [in_assembly, in_period] {
            parts::write_json(&path, &manifest)?;
            self.files.push(path);
        }
        Ok(())
    }

    /// Ends the last account's report; returns every file written (each
    /// report's parts, then its manifests) and the lines written.
    pub(crate) fn finish(mut self) -> Result<(Vec<PathBuf>, u64), GenerateError> {
        self.finish_report()?;
        Ok((self.files, self.rows))
    }
}

/// A line item id unique within the report, shaped like CUR's (lower-case,
/// 52 characters), drawn from the assembly and the line's position.
fn line_item_id(assembly_id: &str, line: u64) -> String {
    let seed = assembly_id.bytes().fold(0u64, |key, byte| {
        key.wrapping_mul(131).wrapping_add(u64::from(byte))
    });
    let mut state = seed ^ line.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut id = String::with_capacity(52);
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    while id.len() < 52 {
        // splitmix64: each step gives 12 base-32 characters.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        for shift in (0..12).map(|i| i * 5) {
            if id.len() < 52 {
                id.push(char::from(ALPHABET[((z >> shift) & 31) as usize]));
            }
        }
    }
    id
}
