//! Writes one billing period's file (or Azure export run): every resource's daily
//! usage, then per billing account the commitment fees, support, credits and tax,
//! keeping exact totals.
//!
//! Rows go straight from the generator to the CSV writer, one at a time; what is kept
//! is a few sums per billing account, so memory does not grow with `scale`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

use rand::Rng;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::azure::ExportRun;
use crate::catalog::{
    BillingAccount, CreditKind, CreditRule, Meter, Service, Support, SupportFee, ESTATE,
};
use crate::cur::CurDelivery;
use crate::period::BillingPeriod;
use crate::resource::{Place, Resource};
use crate::row::{self, CommitmentUse, FocusRow};
use crate::spike::PlannedSpike;
use crate::{AccountTotals, GenerateError, GenerateOptions, Layout};

/// Buffer of each file writer: large writes, few system calls.
const WRITE_BUFFER: usize = 1 << 16;

/// A billing period's files, written completely.
pub(crate) struct Written {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) rows: u64,
}

/// Writes `period` in the layout of `options` (`focus-<YYYY-MM>.csv`, or an Azure
/// export run) and adds its sums to `totals`.
pub(crate) fn write(
    options: &GenerateOptions,
    period: &BillingPeriod,
    spikes: &[PlannedSpike],
    totals: &mut BTreeMap<(String, String), AccountTotals>,
) -> Result<Written, GenerateError> {
    let mut file = Output::create(options, period)?;

    for (index, account) in ESTATE.iter().enumerate() {
        if !options.layout.includes(account) {
            continue;
        }
        let scope = Scope {
            options,
            period,
            account,
            account_index: index,
        };
        let mut ledger = Ledger::new(account);
        write_usage(&mut file, &mut ledger, &scope, spikes)?;
        write_account_charges(&mut file, &mut ledger, period)?;
        ledger.add_to(totals);
    }
    file.finish()
}

/// What the rows of one billing account in one period are written for.
struct Scope<'a> {
    options: &'a GenerateOptions,
    period: &'a BillingPeriod,
    account: &'static BillingAccount,
    account_index: usize,
}

fn write_usage(
    file: &mut Output<'_>,
    ledger: &mut Ledger,
    scope: &Scope<'_>,
    spikes: &[PlannedSpike],
) -> Result<(), GenerateError> {
    for (sub_index, sub_account) in scope.account.sub_accounts.iter().enumerate() {
        for workload_index in 0..sub_account.workloads.len() {
            let place = Place {
                account: scope.account_index,
                sub_account: sub_index,
                workload: workload_index,
                ordinal: 0,
            };
            write_workload(file, ledger, scope, spikes, place)?;
        }
    }
    Ok(())
}

/// Writes every resource of the workload at `place`, whatever its ordinal.
fn write_workload(
    file: &mut Output<'_>,
    ledger: &mut Ledger,
    scope: &Scope<'_>,
    spikes: &[PlannedSpike],
    place: Place,
) -> Result<(), GenerateError> {
    let sub_account = &scope.account.sub_accounts[place.sub_account];
    let workload = &sub_account.workloads[place.workload];
    let spiked: Vec<(u32, u32)> = spikes
        .iter()
        .filter(|spike| spike.hits(place.account, place.sub_account, workload.product.service))
        .map(|spike| (spike.day_index, spike.factor))
        .collect();

    let options = scope.options;
    for ordinal in 0..workload.count.saturating_mul(options.scale) {
        let place = Place { ordinal, ..place };
        let resource = Resource::derive(options.seed, sub_account, place, options.days);
        write_resource(file, ledger, scope, &resource, &spiked)?;
    }
    Ok(())
}

/// Writes a resource's rows for every day of the period it exists on.
fn write_resource(
    file: &mut Output<'_>,
    ledger: &mut Ledger,
    scope: &Scope<'_>,
    resource: &Resource,
    spiked: &[(u32, u32)],
) -> Result<(), GenerateError> {
    let mut noise = resource.noise(scope.options.seed, scope.period.month_key());
    for day in &scope.period.days {
        // Drawn for every day, alive or not, so a lifetime never shifts other days' noise.
        let noise_permille = noise.random_range(900..=1_100);
        if !resource.is_alive(day) {
            continue;
        }
        let spike = spiked
            .iter()
            .find(|(index, _)| *index == day.index)
            .map_or(1, |(_, factor)| *factor);

        for (meter_index, meter) in resource.workload.product.meters.iter().enumerate() {
            let consumed = resource.consumed(meter_index, day, noise_permille, spike);
            if consumed.is_zero() {
                continue;
            }
            let row = row::usage(scope.account, scope.period, day, resource, meter, consumed);
            ledger.record_usage(&row, resource, meter);
            ledger.rows += file.write(&row)?;
        }
    }
    Ok(())
}

/// Charges made once per billing account and period, after its usage is known.
fn write_account_charges(
    file: &mut Output<'_>,
    ledger: &mut Ledger,
    period: &BillingPeriod,
) -> Result<(), GenerateError> {
    let account = ledger.account;
    for used in std::mem::take(&mut ledger.commitments) {
        let row = row::commitment_purchase(account, period, &used);
        ledger.record_charge(&row);
        ledger.rows += file.write(&row)?;
    }

    let row = row::support(
        account,
        period,
        support_fee(account.support, ledger.charges),
    );
    ledger.record_charge(&row);
    ledger.rows += file.write(&row)?;

    if let Some(rule) = &account.credit {
        if let Some(amount) = credit(rule, ledger.credit_base, period) {
            let row = row::credit(account, period, rule, amount);
            ledger.record_credit(&row);
            ledger.rows += file.write(&row)?;
        }
    }

    let taxable = (ledger.charges + ledger.credits).max(Decimal::ZERO);
    let rate = Decimal::new(i64::from(account.tax.rate_bps), 4);
    let row = row::tax(account, period, row::to_cents(taxable * rate));
    ledger.record(&row);
    ledger.rows += file.write(&row)?;
    Ok(())
}

/// The support fee on a month's charges.
fn support_fee(support: &Support, charges: Decimal) -> Decimal {
    match support.fee {
        SupportFee::Flat(fee) => fee,
        SupportFee::Tiered { minimum, tiers } => {
            let mut fee = Decimal::ZERO;
            let mut lower = Decimal::ZERO;
            for (upper, rate_bps) in tiers {
                let top = upper.map_or(charges, |upper| upper.min(charges));
                if top > lower {
                    fee += (top - lower) * Decimal::new(i64::from(*rate_bps), 4);
                }
                lower = upper.unwrap_or(lower);
            }
            row::to_cents(fee.max(minimum))
        }
    }
}

/// The credit granted this period, in whole cents and never more than `base`.
fn credit(rule: &CreditRule, base: Decimal, period: &BillingPeriod) -> Option<Decimal> {
    let amount = match rule.kind {
        CreditKind::Promotional { monthly_cap } => base.min(monthly_cap),
        CreditKind::ServiceLevel {
            rate_bps,
            period: index,
        } if index == period.index => base * Decimal::new(i64::from(rate_bps), 4),
        CreditKind::ServiceLevel { .. } => return None,
    };
    let amount = amount
        .round_dp_with_strategy(2, RoundingStrategy::ToZero)
        .normalize();
    (amount > Decimal::ZERO).then_some(amount)
}

/// One billing account's sums for the period being written.
struct Ledger {
    account: &'static BillingAccount,
    billed: Decimal,
    effective: Decimal,
    /// Lines written, which for CUR can be more than the rows recorded.
    rows: u64,
    /// Usage and purchases: what support and tax are charged on.
    charges: Decimal,
    /// Credits granted (negative).
    credits: Decimal,
    /// Billed cost of what the account's credit rule applies to.
    credit_base: Decimal,
    commitments: Vec<CommitmentUse>,
}

impl Ledger {
    fn new(account: &'static BillingAccount) -> Ledger {
        Ledger {
            account,
            billed: Decimal::ZERO,
            effective: Decimal::ZERO,
            rows: 0,
            charges: Decimal::ZERO,
            credits: Decimal::ZERO,
            credit_base: Decimal::ZERO,
            commitments: Vec::new(),
        }
    }

    fn record(&mut self, row: &FocusRow<'_>) {
        self.billed += row.billed_cost;
        self.effective += row.effective_cost;
    }

    fn record_charge(&mut self, row: &FocusRow<'_>) {
        self.record(row);
        self.charges += row.billed_cost;
    }

    fn record_credit(&mut self, row: &FocusRow<'_>) {
        self.record(row);
        self.credits += row.billed_cost;
    }

    fn record_usage(&mut self, row: &FocusRow<'_>, resource: &Resource, meter: &Meter) {
        self.record_charge(row);
        let service = resource.workload.product.service;
        if self.credit_applies(resource.place.sub_account, service) {
            self.credit_base += row.billed_cost;
        }
        let Some(commitment) = row::covering_commitment(resource.workload, meter) else {
            return;
        };

        let rate = row::committed_rate(meter, commitment);
        let hours = row.pricing_quantity.unwrap_or_default();
        let same =
            |used: &&mut CommitmentUse| used.commitment.id == commitment.id && used.rate == rate;
        match self.commitments.iter_mut().find(same) {
            Some(used) => used.hours += hours,
            None => self.commitments.push(CommitmentUse {
                commitment,
                sub_account: resource.sub_account,
                region: resource.workload.region,
                rate,
                hours,
            }),
        }
    }

    fn credit_applies(&self, sub_index: usize, service: &Service) -> bool {
        self.account
            .credit
            .as_ref()
            .is_some_and(|rule| rule.sub_account == sub_index && rule.service.name == service.name)
    }

    fn add_to(&self, totals: &mut BTreeMap<(String, String), AccountTotals>) {
        let key = (
            self.account.id.to_string(),
            self.account.currency.to_string(),
        );
        let entry = totals.entry(key).or_default();
        entry.billed_cost += self.billed;
        entry.effective_cost += self.effective;
        entry.rows += self.rows;
    }
}

/// Where a billing period's rows go.
enum Output<'o> {
    Focus(PeriodFile),
    Azure(ExportRun),
    Cur(CurDelivery<'o>),
}

impl<'o> Output<'o> {
    fn create(
        options: &'o GenerateOptions,
        period: &BillingPeriod,
    ) -> Result<Output<'o>, GenerateError> {
        Ok(match options.layout {
            Layout::Focus => {
                let name = format!("focus-{}.csv", period.start.format("%Y-%m"));
                Output::Focus(PeriodFile::create(options.out_dir.join(name))?)
            }
            Layout::AzureExport => Output::Azure(ExportRun::create(options, period)?),
            Layout::Cur => Output::Cur(CurDelivery::new(options, period)),
        })
    }

    /// Writes a row; returns how many lines it took (a CUR savings plan line
    /// comes with its negation).
    fn write(&mut self, row: &FocusRow<'_>) -> Result<u64, GenerateError> {
        match self {
            Output::Focus(file) => file.write(row).map(|()| 1),
            Output::Azure(run) => run.write(row).map(|()| 1),
            Output::Cur(delivery) => delivery.write(row),
        }
    }

    fn finish(self) -> Result<Written, GenerateError> {
        match self {
            Output::Focus(file) => file.finish(),
            Output::Azure(run) => {
                let (files, rows) = run.finish()?;
                Ok(Written { files, rows })
            }
            Output::Cur(delivery) => {
                let (files, rows) = delivery.finish()?;
                Ok(Written { files, rows })
            }
        }
    }
}

/// A billing period file being written under a temporary name.
struct PeriodFile {
    path: PathBuf,
    partial: PathBuf,
    writer: csv::Writer<File>,
    rows: u64,
}

impl PeriodFile {
    fn create(path: PathBuf) -> Result<PeriodFile, GenerateError> {
        let partial = path.with_extension("csv.partial");
        let file = File::create(&partial).map_err(|source| GenerateError::Io {
            path: partial.clone(),
            source,
        })?;
        let writer = csv::WriterBuilder::new()
            .buffer_capacity(WRITE_BUFFER)
            .from_writer(file);
        Ok(PeriodFile {
            path,
            partial,
            writer,
            rows: 0,
        })
    }

    fn write(&mut self, row: &FocusRow<'_>) -> Result<(), GenerateError> {
        self.writer
            .serialize(row)
            .map_err(|source| GenerateError::Csv {
                path: self.partial.clone(),
                source,
            })?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Written, GenerateError> {
        let io_error = |path: &PathBuf| {
            let path = path.clone();
            move |source| GenerateError::Io { path, source }
        };
        self.writer.flush().map_err(io_error(&self.partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(io_error(&self.path))?;
        Ok(Written {
            files: vec![self.path],
            rows: self.rows,
        })
    }
}
