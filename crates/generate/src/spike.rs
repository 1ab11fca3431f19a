//! The labelled cost spikes: which service of which sub account jumps on which day, and
//! `spikes.csv`, the answer key anomaly detection is checked against.
//!
//! A spike multiplies a whole service of a sub account for one day, so it stands out
//! in the service's daily total and not only in one resource. Only services whose
//! every product can burst are chosen (requests, data transfer, serverless capacity);
//! an instance cannot run more than 24 hours a day, and storage does not jump overnight.

use std::path::Path;

use chrono::NaiveDate;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::catalog::{Service, SubAccount, ESTATE};
use crate::period::{BillingPeriod, Day};
use crate::resource::{seeded, DRAW_SPIKES};
use crate::{GenerateError, Spike};

/// Days of range per planted spike.
const DAYS_PER_SPIKE: usize = 18;

/// More spikes than this make the data look broken rather than eventful.
const MAX_SPIKES: usize = 6;

/// The spikes file's header.
const HEADER: [&str; 6] = [
    "day",
    "BillingAccountId",
    "SubAccountId",
    "ServiceName",
    "factor",
    "reason",
];

/// A spike with the positions the month writer matches rows by.
pub(crate) struct PlannedSpike {
    account_index: usize,
    sub_index: usize,
    service: &'static Service,
    pub(crate) day_index: u32,
    day: NaiveDate,
    pub(crate) factor: u32,
    reason: &'static str,
}

impl PlannedSpike {
    /// The billing account the spike is in.
    pub(crate) fn account(&self) -> &'static crate::catalog::BillingAccount {
        &crate::catalog::ESTATE[self.account_index]
    }

    /// Whether usage of `service` in this sub account is spiked (on `day_index`).
    pub(crate) fn hits(&self, account_index: usize, sub_index: usize, service: &Service) -> bool {
        self.account_index == account_index
            && self.sub_index == sub_index
            && self.service.name == service.name
    }

    pub(crate) fn to_public(&self) -> Spike {
        let account = &ESTATE[self.account_index];
        Spike {
            day: self.day,
            billing_account_id: account.id.to_string(),
            sub_account_id: account.sub_accounts[self.sub_index].id.to_string(),
            service_name: self.service.name.to_string(),
            factor: self.factor,
            reason: self.reason.to_string(),
        }
    }
}

/// Chooses the spikes of a range: a few distinct services, each on one working day.
pub(crate) fn plan(seed: u64, periods: &[BillingPeriod]) -> Vec<PlannedSpike> {
    let days: Vec<&Day> = periods.iter().flat_map(|period| &period.days).collect();
    let eligible = eligible_days(&days);
    let mut rng = seeded(seed, &[DRAW_SPIKES]);
    let mut candidates = candidates();
    candidates.shuffle(&mut rng);

    let count = (days.len() / DAYS_PER_SPIKE).clamp(1, MAX_SPIKES);
    let mut spikes: Vec<PlannedSpike> = candidates
        .into_iter()
        .take(count)
        .map(|candidate| {
            let day = eligible[rng.random_range(0..eligible.len())];
            PlannedSpike {
                account_index: candidate.account_index,
                sub_index: candidate.sub_index,
                service: candidate.service,
                day_index: day.index,
                day: day.date,
                factor: rng.random_range(5..=20),
                reason: candidate.reason,
            }
        })
        .collect();
    spikes.sort_by_key(|spike| (spike.day, spike.account_index, spike.sub_index));
    spikes
}

/// Working days after the first week: incidents follow deploys, and a week of normal
/// data first gives a detector something to compare with.
fn eligible_days<'a>(days: &[&'a Day]) -> Vec<&'a Day> {
    let warm_up = if days.len() >= 14 { 7 } else { 0 };
    let working: Vec<&Day> = days
        .iter()
        .skip(warm_up)
        .filter(|day| day.weekday < 5)
        .copied()
        .collect();
    if working.is_empty() {
        days.to_vec()
    } else {
        working
    }
}

/// A service of a sub account that may be spiked.
struct Candidate {
    account_index: usize,
    sub_index: usize,
    service: &'static Service,
    reason: &'static str,
}

/// Every service of every sub account whose products can all burst.
fn candidates() -> Vec<Candidate> {
    let mut found: Vec<Candidate> = Vec::new();
    for (account_index, account) in ESTATE.iter().enumerate() {
        for (sub_index, sub_account) in account.sub_accounts.iter().enumerate() {
            for workload in sub_account.workloads {
                let service = workload.product.service;
                let known = found.iter().any(|candidate| {
                    (candidate.account_index, candidate.sub_index) == (account_index, sub_index)
                        && candidate.service.name == service.name
                });
                if let (false, Some(reason)) = (known, burst_reason(sub_account, service)) {
                    found.push(Candidate {
                        account_index,
                        sub_index,
                        service,
                        reason,
                    });
                }
            }
        }
    }
    found
}

/// Why a service of a sub account would burst, if every product it runs there can.
fn burst_reason(sub_account: &SubAccount, service: &Service) -> Option<&'static str> {
    let mut reasons = sub_account
        .workloads
        .iter()
        .filter(|workload| workload.product.service.name == service.name)
        .map(|workload| workload.product.spike_reason);
    let first = reasons.next()??;
    reasons.all(|reason| reason.is_some()).then_some(first)
}

/// Writes `spikes.csv` in `dir`.
pub(crate) fn write(
    dir: &Path,
    spikes: &[PlannedSpike],
) -> Result<std::path::PathBuf, GenerateError> {
    let path = dir.join("spikes.csv");
    let csv_error = |source| GenerateError::Csv {
        path: path.clone(),
        source,
    };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_error)?;
    writer.write_record(HEADER).map_err(csv_error)?;
    for spike in spikes {
        let account = &ESTATE[spike.account_index];
        let day = spike.day.format("%Y-%m-%d").to_string();
        let factor = spike.factor.to_string();
        writer
            .write_record([
                day.as_str(),
                account.id,
                account.sub_accounts[spike.sub_index].id,
                spike.service.name,
                factor.as_str(),
                spike.reason,
            ])
            .map_err(csv_error)?;
    }
    writer.flush().map_err(|source| GenerateError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
