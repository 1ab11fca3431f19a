//! CUR line item types and what they mean in FOCUS: ChargeCategory, ChargeFrequency,
//! commitment discounts, and how EffectiveCost is found. The table is in the
//! [module documentation](super).

use super::columns::CurColumn;

/// `lineItem/LineItemType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum LineItemType {
    Usage,
    Tax,
    Credit,
    Refund,
    Fee,
    RiFee,
    DiscountedUsage,
    SavingsPlanCoveredUsage,
    SavingsPlanNegation,
    SavingsPlanRecurringFee,
    SavingsPlanUpfrontFee,
    BundledDiscount,
    /// `EdpDiscount`, `PrivateRateDiscount`, `SppDiscount`, `DistributorDiscount`
    /// or `Discount`: negotiated discounts, kept by name in the extensions.
    OtherDiscount,
}

/// Where a line's EffectiveCost comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectiveCostRule {
    /// The BilledCost itself (`lineItem/UnblendedCost`).
    Billed,
    /// Zero: the amount is amortised into other lines.
    Zero,
    /// Zero when the line names a reservation (an RI upfront fee, amortised into
    /// DiscountedUsage), otherwise the BilledCost.
    ZeroIfReservation,
    /// One amortisation column, which must hold a value.
    Column(CurColumn),
    /// The sum of two columns that must be in the file; an empty cell is zero.
    Sum(CurColumn, CurColumn),
    /// The first column minus the second; both must be in the file, an empty cell
    /// is zero.
    Difference(CurColumn, CurColumn),
}

/// Which commitment a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commitment {
    /// A Savings Plan (`savingsPlan/SavingsPlanARN`).
    SavingsPlan,
    /// A reservation (`reservation/ReservationARN`).
    Reservation,
}

impl LineItemType {
    /// The type a cell names, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        let types = [
            ("Usage", LineItemType::Usage),
            ("Tax", LineItemType::Tax),
            ("Credit", LineItemType::Credit),
            ("Refund", LineItemType::Refund),
            ("Fee", LineItemType::Fee),
            ("RIFee", LineItemType::RiFee),
            ("DiscountedUsage", LineItemType::DiscountedUsage),
            (
                "SavingsPlanCoveredUsage",
                LineItemType::SavingsPlanCoveredUsage,
            ),
            ("SavingsPlanNegation", LineItemType::SavingsPlanNegation),
            (
                "SavingsPlanRecurringFee",
                LineItemType::SavingsPlanRecurringFee,
            ),
            ("SavingsPlanUpfrontFee", LineItemType::SavingsPlanUpfrontFee),
            ("BundledDiscount", LineItemType::BundledDiscount),
            ("EdpDiscount", LineItemType::OtherDiscount),
            ("PrivateRateDiscount", LineItemType::OtherDiscount),
            ("SppDiscount", LineItemType::OtherDiscount),
            ("DistributorDiscount", LineItemType::OtherDiscount),
            ("Discount", LineItemType::OtherDiscount),
        ];
        let text = text.trim();
        types
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|(_, kind)| kind)
    }

    /// FOCUS ChargeCategory.
    pub fn charge_category(self) -> &'static str {
        match self {
            LineItemType::Usage
            | LineItemType::DiscountedUsage
            | LineItemType::SavingsPlanCoveredUsage
            | LineItemType::SavingsPlanNegation => "Usage",
            LineItemType::Fee
            | LineItemType::RiFee
            | LineItemType::SavingsPlanRecurringFee
            | LineItemType::SavingsPlanUpfrontFee => "Purchase",
            LineItemType::Tax => "Tax",
            LineItemType::Credit
            | LineItemType::Refund
            | LineItemType::BundledDiscount
            | LineItemType::OtherDiscount => "Credit",
        }
    }

    /// FOCUS ChargeFrequency; for lines that are neither usage nor a commitment
    /// fee it follows `bill/BillType` (`Anniversary` bills recur, `Purchase` and
    /// `Refund` bills are one-time).
    pub fn charge_frequency(self, bill_type: Option<&str>) -> Option<&'static str> {
        match self {
            LineItemType::Usage
            | LineItemType::DiscountedUsage
            | LineItemType::SavingsPlanCoveredUsage
            | LineItemType::SavingsPlanNegation => Some("Usage-Based"),
            LineItemType::RiFee | LineItemType::SavingsPlanRecurringFee => Some("Recurring"),
            LineItemType::Fee | LineItemType::SavingsPlanUpfrontFee => Some("One-Time"),
            _ => match bill_type.map(str::trim) {
                Some(t) if t.eq_ignore_ascii_case("Anniversary") => Some("Recurring"),
                Some(t) if t.eq_ignore_ascii_case("Purchase") => Some("One-Time"),
                Some(t) if t.eq_ignore_ascii_case("Refund") => Some("One-Time"),
                _ => None,
            },
        }
    }

    /// How EffectiveCost is found.
    pub fn effective_cost(self) -> EffectiveCostRule {
        match self {
            LineItemType::DiscountedUsage => {
                EffectiveCostRule::Column(CurColumn::ReservationEffectiveCost)
            }
            LineItemType::SavingsPlanCoveredUsage => {
                EffectiveCostRule::Column(CurColumn::SavingsPlanEffectiveCost)
            }
            LineItemType::SavingsPlanNegation | LineItemType::SavingsPlanUpfrontFee => {
                EffectiveCostRule::Zero
            }
            LineItemType::SavingsPlanRecurringFee => EffectiveCostRule::Difference(
                CurColumn::TotalCommitmentToDate,
                CurColumn::UsedCommitment,
            ),
            LineItemType::RiFee => EffectiveCostRule::Sum(
                CurColumn::UnusedAmortizedUpfrontFee,
                CurColumn::UnusedRecurringFee,
            ),
            LineItemType::Fee => EffectiveCostRule::ZeroIfReservation,
            LineItemType::Usage
            | LineItemType::Tax
            | LineItemType::Credit
            | LineItemType::Refund
            | LineItemType::BundledDiscount
            | LineItemType::OtherDiscount => EffectiveCostRule::Billed,
        }
    }

    /// The commitment the line belongs to, if its type says so. A `Fee` line
    /// belongs to a reservation only when it names one.
    pub fn commitment(self) -> Option<Commitment> {
        match self {
            LineItemType::SavingsPlanCoveredUsage
            | LineItemType::SavingsPlanNegation
            | LineItemType::SavingsPlanRecurringFee
            | LineItemType::SavingsPlanUpfrontFee => Some(Commitment::SavingsPlan),
            LineItemType::DiscountedUsage | LineItemType::RiFee | LineItemType::Fee => {
                Some(Commitment::Reservation)
            }
            _ => None,
        }
    }

    /// FOCUS PricingCategory: commitment-covered usage is `Committed`; other usage
    /// follows `pricing/term` (`OnDemand` is `Standard`, `Reserved` is
    /// `Committed`, `Spot` is `Dynamic`).
    pub fn pricing_category(self, term: Option<&str>) -> Option<&'static str> {
        match self {
            LineItemType::DiscountedUsage | LineItemType::SavingsPlanCoveredUsage => {
                Some("Committed")
            }
            LineItemType::Usage => match term.map(str::trim) {
                Some(t) if t.eq_ignore_ascii_case("OnDemand") => Some("Standard"),
                Some(t) if t.eq_ignore_ascii_case("Reserved") => Some("Committed"),
                Some(t) if t.eq_ignore_ascii_case("Spot") => Some("Dynamic"),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Commitment {
    /// The column naming the commitment.
    pub fn id_column(self) -> CurColumn {
        match self {
            Commitment::SavingsPlan => CurColumn::SavingsPlanArn,
            Commitment::Reservation => CurColumn::ReservationArn,
        }
    }

    /// FOCUS CommitmentDiscountType.
    pub fn discount_type(self) -> &'static str {
        match self {
            Commitment::SavingsPlan => "Savings Plan",
            Commitment::Reservation => "Reserved Instance",
        }
    }

    /// FOCUS CommitmentDiscountCategory: a Savings Plan commits to spend, a
    /// reservation to usage.
    pub fn category(self) -> &'static str {
        match self {
            Commitment::SavingsPlan => "Spend",
            Commitment::Reservation => "Usage",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_type_has_a_focus_category() {
        let cases = [
            ("Usage", "Usage"),
            ("Tax", "Tax"),
            ("Credit", "Credit"),
            ("Refund", "Credit"),
            ("Fee", "Purchase"),
            ("RIFee", "Purchase"),
            ("DiscountedUsage", "Usage"),
            ("SavingsPlanCoveredUsage", "Usage"),
            ("SavingsPlanNegation", "Usage"),
            ("SavingsPlanRecurringFee", "Purchase"),
            ("SavingsPlanUpfrontFee", "Purchase"),
            ("BundledDiscount", "Credit"),
            ("EdpDiscount", "Credit"),
            ("rifee", "Purchase"),
        ];
        for (text, category) in cases {
            let kind = LineItemType::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(kind.charge_category(), category, "{text}");
        }
        assert_eq!(LineItemType::parse("Usage2"), None);
        assert_eq!(LineItemType::parse(""), None);
    }

    #[test]
    fn frequency_follows_type_then_bill_type() {
        let tax = LineItemType::Tax;
        assert_eq!(tax.charge_frequency(Some("Anniversary")), Some("Recurring"));
        assert_eq!(tax.charge_frequency(Some("Purchase")), Some("One-Time"));
        assert_eq!(tax.charge_frequency(None), None);
        let usage = LineItemType::Usage;
        assert_eq!(
            usage.charge_frequency(Some("Purchase")),
            Some("Usage-Based")
        );
        assert_eq!(
            LineItemType::SavingsPlanUpfrontFee.charge_frequency(None),
            Some("One-Time")
        );
    }
}
