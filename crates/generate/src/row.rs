//! The FOCUS 1.2 row and how each kind of charge fills it.
//!
//! Columns are the FOCUS column ids in alphabetical order; `None` is written as an
//! empty field, FOCUS's null. Every amount is exact decimal arithmetic: a cost is the
//! pricing quantity times a unit price, with no rounding, so the product identities of
//! the specification hold on every row that has a unit price.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::catalog::{
    BillingAccount, Commitment, CreditRule, Meter, Region, SubAccount, Usage, Workload, TAX,
};
use crate::period::{BillingPeriod, Day};
use crate::resource::Resource;

/// Decimal places kept in unit prices, so amounts stay within ten places.
const PRICE_SCALE: u32 = 10;

/// One FOCUS 1.2 cost and usage row.
#[derive(Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FocusRow<'a> {
    pub(crate) availability_zone: Option<&'a str>,
    pub(crate) billed_cost: Decimal,
    pub(crate) billing_account_id: &'a str,
    pub(crate) billing_account_name: &'a str,
    pub(crate) billing_account_type: &'a str,
    pub(crate) billing_currency: &'a str,
    pub(crate) billing_period_end: &'a str,
    pub(crate) billing_period_start: &'a str,
    pub(crate) charge_category: &'a str,
    pub(crate) charge_class: Option<&'a str>,
    pub(crate) charge_description: &'a str,
    pub(crate) charge_frequency: &'a str,
    pub(crate) charge_period_end: &'a str,
    pub(crate) charge_period_start: &'a str,
    pub(crate) commitment_discount_category: Option<&'a str>,
    pub(crate) commitment_discount_id: Option<&'a str>,
    pub(crate) commitment_discount_name: Option<&'a str>,
    pub(crate) commitment_discount_status: Option<&'a str>,
    pub(crate) commitment_discount_type: Option<&'a str>,
    pub(crate) consumed_quantity: Option<Decimal>,
    pub(crate) consumed_unit: Option<&'a str>,
    pub(crate) contracted_cost: Decimal,
    pub(crate) contracted_unit_price: Option<Decimal>,
    pub(crate) effective_cost: Decimal,
    pub(crate) invoice_issuer_name: &'a str,
    pub(crate) list_cost: Decimal,
    pub(crate) list_unit_price: Option<Decimal>,
    pub(crate) pricing_category: Option<&'a str>,
    pub(crate) pricing_quantity: Option<Decimal>,
    pub(crate) pricing_unit: Option<&'a str>,
    pub(crate) provider_name: &'a str,
    pub(crate) publisher_name: &'a str,
    pub(crate) region_id: Option<&'a str>,
    pub(crate) region_name: Option<&'a str>,
    pub(crate) resource_id: Option<&'a str>,
    pub(crate) resource_name: Option<&'a str>,
    pub(crate) resource_type: Option<&'a str>,
    pub(crate) service_category: &'a str,
    pub(crate) service_name: &'a str,
    pub(crate) service_subcategory: &'a str,
    pub(crate) sku_id: Option<&'a str>,
    pub(crate) sku_price_id: Option<&'a str>,
    pub(crate) sub_account_id: Option<&'a str>,
    pub(crate) sub_account_name: Option<&'a str>,
    pub(crate) sub_account_type: Option<&'a str>,
    pub(crate) tags: Option<&'a str>,
}

/// Usage of a commitment discount during a billing period, for its purchase row.
pub(crate) struct CommitmentUse {
    pub(crate) commitment: &'static Commitment,
    pub(crate) sub_account: &'static SubAccount,
    pub(crate) region: Option<&'static Region>,
    /// Amortised price per hour of covered usage.
    pub(crate) rate: Decimal,
    pub(crate) hours: Decimal,
}

/// The columns every row of a billing account and period shares.
fn base<'a>(
    account: &'static BillingAccount,
    sub_account: Option<&'static SubAccount>,
    period: &'a BillingPeriod,
) -> FocusRow<'a> {
    FocusRow {
        billing_account_id: account.id,
        billing_account_name: account.name,
        billing_account_type: account.account_type,
        billing_currency: account.currency,
        billing_period_start: &period.start_text,
        billing_period_end: &period.end_text,
        invoice_issuer_name: account.provider.invoice_issuer,
        provider_name: account.provider.name,
        publisher_name: account.provider.publisher,
        sub_account_id: sub_account.map(|sub| sub.id),
        sub_account_name: sub_account.map(|sub| sub.name),
        sub_account_type: sub_account.map(|sub| sub.account_type),
        charge_period_start: period.covered_start(),
        charge_period_end: period.covered_end(),
        ..FocusRow::default()
    }
}

/// A day of one meter of one resource, at on-demand, negotiated or committed prices.
pub(crate) fn usage<'a>(
    account: &'static BillingAccount,
    period: &'a BillingPeriod,
    day: &'a Day,
    resource: &'a Resource,
    meter: &'static Meter,
    consumed: Decimal,
) -> FocusRow<'a> {
    let workload = resource.workload;
    let service = workload.product.service;
    let commitment = covering_commitment(workload, meter);
    let quantity = consumed / Decimal::from(meter.block);
    let contracted_price = discounted(meter.list_price, account.contract_discount_bps);
    let contracted_cost = quantity * contracted_price;
    let (billed, effective) = match commitment {
        Some(commitment) => (Decimal::ZERO, quantity * committed_rate(meter, commitment)),
        None => (contracted_cost, contracted_cost),
    };

    FocusRow {
        availability_zone: resource.zone,
        billed_cost: billed.normalize(),
        charge_category: "Usage",
        charge_description: meter.description,
        charge_frequency: "Usage-Based",
        charge_period_start: &day.start_text,
        charge_period_end: &day.end_text,
        commitment_discount_category: commitment.map(|c| c.category),
        commitment_discount_id: commitment.map(|c| c.id),
        commitment_discount_name: commitment.map(|c| c.name),
        commitment_discount_status: commitment.map(|_| "Used"),
        commitment_discount_type: commitment.map(|c| c.kind),
        consumed_quantity: Some(consumed.normalize()),
        consumed_unit: Some(meter.consumed_unit),
        contracted_cost: contracted_cost.normalize(),
        contracted_unit_price: Some(contracted_price.normalize()),
        effective_cost: effective.normalize(),
        list_cost: (quantity * meter.list_price).normalize(),
        list_unit_price: Some(meter.list_price.normalize()),
        pricing_category: Some(if commitment.is_some() {
            "Committed"
        } else {
            "Standard"
        }),
        pricing_quantity: Some(quantity.normalize()),
        pricing_unit: Some(meter.pricing_unit),
        region_id: workload.region.map(|region| region.id),
        region_name: workload.region.map(|region| region.name),
        resource_id: Some(&resource.id),
        resource_name: Some(&resource.name),
        resource_type: Some(workload.product.resource_type),
        service_category: service.category,
        service_name: service.name,
        service_subcategory: service.subcategory,
        sku_id: Some(meter.sku_id),
        sku_price_id: Some(meter.sku_price_id),
        tags: Some(&resource.tags),
        ..base(account, Some(resource.sub_account), period)
    }
}

/// The commitment discount covering a meter of a workload: commitments buy running
/// hours, so a workload's other meters (storage, requests) stay on demand.
pub(crate) fn covering_commitment(
    workload: &Workload,
    meter: &Meter,
) -> Option<&'static Commitment> {
    workload
        .commitment
        .filter(|_| matches!(meter.usage, Usage::Hours))
}

/// The price an hour of usage covered by `commitment` is amortised at.
pub(crate) fn committed_rate(meter: &Meter, commitment: &Commitment) -> Decimal {
    discounted(meter.list_price, 10_000 - commitment.rate_bps)
}

fn discounted(list_price: Decimal, discount_bps: u32) -> Decimal {
    let share = Decimal::new(10_000 - i64::from(discount_bps.min(10_000)), 4);
    (list_price * share).round_dp(PRICE_SCALE).normalize()
}

/// The recurring fee of a commitment discount: exactly the amortised cost of the usage
/// it covered this period, since the demo keeps every commitment fully used.
pub(crate) fn commitment_purchase<'a>(
    account: &'static BillingAccount,
    period: &'a BillingPeriod,
    used: &CommitmentUse,
) -> FocusRow<'a> {
    let commitment = used.commitment;
    let fee = used.hours * used.rate;
    let region = used.region.filter(|_| commitment.regional);
    FocusRow {
        billed_cost: fee.normalize(),
        charge_category: "Purchase",
        charge_description: commitment.description,
        charge_frequency: "Recurring",
        commitment_discount_category: Some(commitment.category),
        commitment_discount_id: Some(commitment.id),
        commitment_discount_name: Some(commitment.name),
        commitment_discount_type: Some(commitment.kind),
        contracted_cost: fee.normalize(),
        contracted_unit_price: Some(used.rate),
        list_cost: fee.normalize(),
        list_unit_price: Some(used.rate),
        pricing_category: Some("Standard"),
        pricing_quantity: Some(used.hours.normalize()),
        pricing_unit: Some("Hours"),
        region_id: region.map(|region| region.id),
        region_name: region.map(|region| region.name),
        resource_id: Some(commitment.id),
        resource_name: Some(commitment.name),
        resource_type: Some(commitment.kind),
        service_category: commitment.service.category,
        service_name: commitment.service.name,
        service_subcategory: commitment.service.subcategory,
        sku_id: Some(commitment.sku_id),
        ..base(account, Some(used.sub_account), period)
    }
}

/// The monthly support fee, charged to the billing account's first sub account.
pub(crate) fn support<'a>(
    account: &'static BillingAccount,
    period: &'a BillingPeriod,
    fee: Decimal,
) -> FocusRow<'a> {
    let support = account.support;
    FocusRow {
        billed_cost: fee,
        charge_category: "Purchase",
        charge_description: support.description,
        charge_frequency: "Recurring",
        contracted_cost: fee,
        contracted_unit_price: Some(fee),
        effective_cost: fee,
        list_cost: fee,
        list_unit_price: Some(fee),
        pricing_category: Some("Standard"),
        pricing_quantity: Some(Decimal::ONE),
        pricing_unit: Some("Months"),
        service_category: support.service.category,
        service_name: support.service.name,
        service_subcategory: support.service.subcategory,
        sku_id: Some(support.sku_id),
        ..base(account, account.sub_accounts.first(), period)
    }
}

/// A credit: negative billed and effective cost, nothing at list price.
pub(crate) fn credit<'a>(
    account: &'static BillingAccount,
    period: &'a BillingPeriod,
    rule: &CreditRule,
    amount: Decimal,
) -> FocusRow<'a> {
    FocusRow {
        billed_cost: -amount,
        charge_category: "Credit",
        charge_description: rule.description,
        charge_frequency: "One-Time",
        effective_cost: -amount,
        service_category: rule.service.category,
        service_name: rule.service.name,
        service_subcategory: rule.service.subcategory,
        ..base(account, account.sub_accounts.get(rule.sub_account), period)
    }
}

/// The tax on a billing account's charges for the period.
pub(crate) fn tax<'a>(
    account: &'static BillingAccount,
    period: &'a BillingPeriod,
    amount: Decimal,
) -> FocusRow<'a> {
    FocusRow {
        billed_cost: amount,
        charge_category: "Tax",
        charge_description: account.tax.description,
        charge_frequency: "Recurring",
        contracted_cost: amount,
        effective_cost: amount,
        list_cost: amount,
        service_category: TAX.category,
        service_name: TAX.name,
        service_subcategory: TAX.subcategory,
        ..base(account, None, period)
    }
}

/// An amount as it appears on an invoice: whole cents, halves away from zero.
pub(crate) fn to_cents(amount: Decimal) -> Decimal {
    amount
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}
