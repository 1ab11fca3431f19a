//! The CUR columns costflow reads, and how a header names them.
//!
//! Legacy CUR writes `category/ColumnName` (`lineItem/UnblendedCost`); CUR 2.0
//! (Data Exports) writes the same column in snake case (`line_item_unblended_cost`,
//! even `reservation_reservation_a_r_n` for `reservation/ReservationARN`). Both
//! reduce to the same key once lower-cased with everything but letters and digits
//! removed, so one table serves both, case-insensitively and in any column order.

/// A CUR column that feeds a FOCUS column or the EffectiveCost rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum CurColumn {
    PayerAccountId,
    PayerAccountName,
    CurrencyCode,
    BillingPeriodStartDate,
    BillingPeriodEndDate,
    UsageStartDate,
    UsageEndDate,
    LineItemType,
    UnblendedCost,
    UsageAccountId,
    UsageAccountName,
    InvoiceId,
    InvoicingEntity,
    LegalEntity,
    BillType,
    LineItemDescription,
    AvailabilityZone,
    ResourceId,
    ProductName,
    ProductCode,
    RegionCode,
    Region,
    Location,
    PricingCurrency,
    PricingUnit,
    Sku,
    RateId,
    Term,
    UsageAmount,
    PublicOnDemandCost,
    PublicOnDemandRate,
    ReservationEffectiveCost,
    ReservationArn,
    UnusedAmortizedUpfrontFee,
    UnusedRecurringFee,
    SavingsPlanEffectiveCost,
    SavingsPlanArn,
    TotalCommitmentToDate,
    UsedCommitment,
    LineItemId,
    TimeInterval,
    ResourceTags,
}

impl CurColumn {
    /// Every column, in declaration order.
    pub const ALL: [CurColumn; 42] = [
        CurColumn::PayerAccountId,
        CurColumn::PayerAccountName,
        CurColumn::CurrencyCode,
        CurColumn::BillingPeriodStartDate,
        CurColumn::BillingPeriodEndDate,
        CurColumn::UsageStartDate,
        CurColumn::UsageEndDate,
        CurColumn::LineItemType,
        CurColumn::UnblendedCost,
        CurColumn::UsageAccountId,
        CurColumn::UsageAccountName,
        CurColumn::InvoiceId,
        CurColumn::InvoicingEntity,
        CurColumn::LegalEntity,
        CurColumn::BillType,
        CurColumn::LineItemDescription,
        CurColumn::AvailabilityZone,
        CurColumn::ResourceId,
        CurColumn::ProductName,
        CurColumn::ProductCode,
        CurColumn::RegionCode,
        CurColumn::Region,
        CurColumn::Location,
        CurColumn::PricingCurrency,
        CurColumn::PricingUnit,
        CurColumn::Sku,
        CurColumn::RateId,
        CurColumn::Term,
        CurColumn::UsageAmount,
        CurColumn::PublicOnDemandCost,
        CurColumn::PublicOnDemandRate,
        CurColumn::ReservationEffectiveCost,
        CurColumn::ReservationArn,
        CurColumn::UnusedAmortizedUpfrontFee,
        CurColumn::UnusedRecurringFee,
        CurColumn::SavingsPlanEffectiveCost,
        CurColumn::SavingsPlanArn,
        CurColumn::TotalCommitmentToDate,
        CurColumn::UsedCommitment,
        CurColumn::LineItemId,
        CurColumn::TimeInterval,
        CurColumn::ResourceTags,
    ];

    /// Columns every CUR file must have.
    pub const REQUIRED: [CurColumn; 8] = [
        CurColumn::PayerAccountId,
        CurColumn::CurrencyCode,
        CurColumn::BillingPeriodStartDate,
        CurColumn::BillingPeriodEndDate,
        CurColumn::UsageStartDate,
        CurColumn::UsageEndDate,
        CurColumn::LineItemType,
        CurColumn::UnblendedCost,
    ];

    /// The legacy CUR name, used in rejects and errors.
    pub fn name(self) -> &'static str {
        match self {
            CurColumn::PayerAccountId => "bill/PayerAccountId",
            CurColumn::PayerAccountName => "bill/PayerAccountName",
            CurColumn::CurrencyCode => "lineItem/CurrencyCode",
            CurColumn::BillingPeriodStartDate => "bill/BillingPeriodStartDate",
            CurColumn::BillingPeriodEndDate => "bill/BillingPeriodEndDate",
            CurColumn::UsageStartDate => "lineItem/UsageStartDate",
            CurColumn::UsageEndDate => "lineItem/UsageEndDate",
            CurColumn::LineItemType => "lineItem/LineItemType",
            CurColumn::UnblendedCost => "lineItem/UnblendedCost",
            CurColumn::UsageAccountId => "lineItem/UsageAccountId",
            CurColumn::UsageAccountName => "lineItem/UsageAccountName",
            CurColumn::InvoiceId => "bill/InvoiceId",
            CurColumn::InvoicingEntity => "bill/InvoicingEntity",
            CurColumn::LegalEntity => "lineItem/LegalEntity",
            CurColumn::BillType => "bill/BillType",
            CurColumn::LineItemDescription => "lineItem/LineItemDescription",
            CurColumn::AvailabilityZone => "lineItem/AvailabilityZone",
            CurColumn::ResourceId => "lineItem/ResourceId",
            CurColumn::ProductName => "product/ProductName",
            CurColumn::ProductCode => "lineItem/ProductCode",
            CurColumn::RegionCode => "product/regionCode",
            CurColumn::Region => "product/region",
            CurColumn::Location => "product/location",
            CurColumn::PricingCurrency => "pricing/currency",
            CurColumn::PricingUnit => "pricing/unit",
            CurColumn::Sku => "product/sku",
            CurColumn::RateId => "pricing/RateId",
            CurColumn::Term => "pricing/term",
            CurColumn::UsageAmount => "lineItem/UsageAmount",
            CurColumn::PublicOnDemandCost => "pricing/publicOnDemandCost",
            CurColumn::PublicOnDemandRate => "pricing/publicOnDemandRate",
            CurColumn::ReservationEffectiveCost => "reservation/EffectiveCost",
            CurColumn::ReservationArn => "reservation/ReservationARN",
            CurColumn::UnusedAmortizedUpfrontFee => {
                "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod"
            }
            CurColumn::UnusedRecurringFee => "reservation/UnusedRecurringFee",
            CurColumn::SavingsPlanEffectiveCost => "savingsPlan/SavingsPlanEffectiveCost",
            CurColumn::SavingsPlanArn => "savingsPlan/SavingsPlanARN",
            CurColumn::TotalCommitmentToDate => "savingsPlan/TotalCommitmentToDate",
            CurColumn::UsedCommitment => "savingsPlan/UsedCommitment",
            CurColumn::LineItemId => "identity/LineItemId",
            CurColumn::TimeInterval => "identity/TimeInterval",
            CurColumn::ResourceTags => "resourceTags",
        }
    }

    /// True when the column is copied as it is into one FOCUS column (the tag map
    /// into Tags), so it is not kept again among the record's extensions. Columns that feed a rule
    /// (LineItemType, the amortisation columns, ...) stay as extensions too.
    pub fn is_renamed(self) -> bool {
        !matches!(
            self,
            CurColumn::LineItemType
                | CurColumn::UnblendedCost
                | CurColumn::BillType
                | CurColumn::ProductCode
                | CurColumn::Region
                | CurColumn::Term
                | CurColumn::UsageAmount
                | CurColumn::ReservationEffectiveCost
                | CurColumn::ReservationArn
                | CurColumn::UnusedAmortizedUpfrontFee
                | CurColumn::UnusedRecurringFee
                | CurColumn::SavingsPlanEffectiveCost
                | CurColumn::SavingsPlanArn
                | CurColumn::TotalCommitmentToDate
                | CurColumn::UsedCommitment
                | CurColumn::LineItemId
                | CurColumn::TimeInterval
        )
    }

    /// The column a header names, legacy or CUR 2.0 spelling, any case.
    pub fn from_header(header: &str) -> Option<CurColumn> {
        let key = match_key(header);
        Self::ALL
            .into_iter()
            .find(|column| match_key(column.name()) == key)
    }
}

/// Lower-cased letters and digits only: `lineItem/UnblendedCost` and
/// `line_item_unblended_cost` both give `lineitemunblendedcost`.
pub fn match_key(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The tag key of a legacy CUR tag column (`resourceTags/user:Team` gives
/// `user:Team`), untrimmed so that collisions can be reported.
pub fn legacy_tag_key(header: &str) -> Option<&str> {
    let (category, key) = header.split_once('/')?;
    category
        .eq_ignore_ascii_case("resourceTags")
        .then_some(key)
        .filter(|key| !key.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_cur2_spellings_name_the_same_column() {
        let pairs = [
            ("lineItem/UnblendedCost", "line_item_unblended_cost"),
            ("bill/PayerAccountId", "bill_payer_account_id"),
            (
                "bill/BillingPeriodStartDate",
                "bill_billing_period_start_date",
            ),
            (
                "reservation/ReservationARN",
                "reservation_reservation_a_r_n",
            ),
            (
                "savingsPlan/SavingsPlanARN",
                "savings_plan_savings_plan_a_r_n",
            ),
            (
                "savingsPlan/SavingsPlanEffectiveCost",
                "savings_plan_savings_plan_effective_cost",
            ),
            (
                "pricing/publicOnDemandCost",
                "pricing_public_on_demand_cost",
            ),
            ("product/regionCode", "product_region_code"),
            ("resourceTags", "resource_tags"),
        ];
        for (legacy, snake) in pairs {
            let column = CurColumn::from_header(legacy);
            assert!(column.is_some(), "{legacy}");
            assert_eq!(column, CurColumn::from_header(snake), "{snake}");
            assert_eq!(column, CurColumn::from_header(&legacy.to_uppercase()));
        }
        assert_eq!(CurColumn::from_header("product/servicecode"), None);
    }

    #[test]
    fn every_column_has_a_distinct_key() {
        let mut keys: Vec<String> = CurColumn::ALL.iter().map(|c| match_key(c.name())).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), CurColumn::ALL.len());
    }

    #[test]
    fn tag_columns_give_their_key() {
        assert_eq!(legacy_tag_key("resourceTags/user:Team"), Some("user:Team"));
        assert_eq!(
            legacy_tag_key("resourcetags/user:Team "),
            Some("user:Team ")
        );
        assert_eq!(legacy_tag_key("resourceTags/"), None);
        assert_eq!(legacy_tag_key("costCategory/Project"), None);
    }
}
