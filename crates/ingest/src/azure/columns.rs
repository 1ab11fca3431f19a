//! The Azure cost export columns costflow reads, under every name the export
//! versions give them.
//!
//! EA exports before 2021 write `Cost`, `BillingCurrency` and `Product`; later EA
//! and MCA exports write `CostInBillingCurrency`, `BillingCurrencyCode` and
//! `ProductName`; partner (CSP) exports use camelCase; the pay-as-you-go usage
//! export writes `PreTaxCost`, `Currency`, `SubscriptionGuid` and
//! `UsageDateTime`. Names are matched case-insensitively after
//! [`crate::text::header_name`], so localised headers match by the English name
//! they carry.

use crate::text;

macro_rules! azure_fields {
    ($($field:ident => [$($alias:literal),+ $(,)?]),* $(,)?) => {
        /// A column costflow maps to a FOCUS field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Field { $($field,)* }

        impl Field {
            /// Every field, in declaration order.
            pub const ALL: &'static [Field] = &[$(Field::$field,)*];

            /// The names this field goes by, preferred first.
            pub fn aliases(self) -> &'static [&'static str] {
                match self {
                    $(Field::$field => &[$($alias),+],)*
                }
            }
        }
    };
}

azure_fields! {
    BillingAccountId => ["BillingAccountId"],
    BillingAccountName => ["BillingAccountName"],
    BillingPeriodStart => ["BillingPeriodStartDate"],
    BillingPeriodEnd => ["BillingPeriodEndDate"],
    Date => ["Date", "UsageDateTime", "UsageDate"],
    Cost => ["CostInBillingCurrency", "Cost", "PreTaxCost"],
    BillingCurrency => ["BillingCurrency", "BillingCurrencyCode", "Currency"],
    CostInPricingCurrency => ["CostInPricingCurrency"],
    PricingCurrency => ["PricingCurrency", "PricingCurrencyCode"],
    SubscriptionId => ["SubscriptionId", "SubscriptionGuid"],
    SubscriptionName => ["SubscriptionName"],
    ResourceId => ["ResourceId", "InstanceId", "InstanceName"],
    ResourceName => ["ResourceName"],
    ResourceLocation => ["ResourceLocation"],
    AvailabilityZone => ["AvailabilityZone"],
    MeterCategory => ["MeterCategory"],
    MeterName => ["MeterName"],
    ChargeType => ["ChargeType"],
    Frequency => ["Frequency"],
    PricingModel => ["PricingModel"],
    Quantity => ["Quantity", "UsageQuantity"],
    UnitOfMeasure => ["UnitOfMeasure"],
    UnitPrice => ["UnitPrice"],
    PayGPrice => ["PayGPrice"],
    ProductName => ["ProductName", "Product"],
    ProductId => ["ProductId", "PartNumber"],
    PublisherName => ["PublisherName"],
    InvoiceId => ["InvoiceId"],
    PartnerName => ["PartnerName"],
    BenefitId => ["BenefitId", "ReservationId"],
    BenefitName => ["BenefitName", "ReservationName"],
    Tags => ["Tags"],
}

/// Fields whose source text is kept as an `x_` extension too, because the FOCUS
/// value is a translation that loses detail (`UnusedReservation` becomes
/// `Usage`, `eastus2` becomes a region id, ...).
const ALSO_KEPT: [Field; 6] = [
    Field::ChargeType,
    Field::Frequency,
    Field::PricingModel,
    Field::ResourceLocation,
    Field::UnitOfMeasure,
    Field::MeterCategory,
];

/// Where each field sits in one file's header, and which columns are extras.
#[derive(Debug, Clone)]
pub struct Layout {
    positions: Vec<Option<usize>>,
    /// Columns kept as extensions: position and extension name (`x_...`).
    pub extensions: Vec<(usize, String)>,
    /// The header's names as matched (BOM, blanks and localisation removed).
    pub names: Vec<String>,
}

impl Layout {
    /// Reads a header. The first alias present wins; the other aliases of a field
    /// present in the same file stay as extensions.
    pub fn from_header<'a>(header: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<String> = header.into_iter().map(text::header_name).collect();
        let mut positions = vec![None; Field::ALL.len()];
        let mut claimed = vec![false; names.len()];
        for &field in Field::ALL {
            let found = field.aliases().iter().find_map(|alias| {
                names
                    .iter()
                    .enumerate()
                    .find(|(i, name)| !claimed[*i] && name.eq_ignore_ascii_case(alias))
                    .map(|(i, _)| i)
            });
            if let Some(position) = found {
                claimed[position] = true;
                positions[field as usize] = Some(position);
            }
        }
        let also_kept: Vec<usize> = ALSO_KEPT
            .iter()
            .filter_map(|f| positions[*f as usize])
            .collect();
        let extensions = names
            .iter()
            .enumerate()
            .filter(|(i, name)| (!claimed[*i] || also_kept.contains(i)) && !name.is_empty())
            .map(|(i, name)| (i, extension_name(name)))
            .collect();
        Layout {
            positions,
            extensions,
            names,
        }
    }

    /// The field's position in the header, if the file has it.
    pub fn position(&self, field: Field) -> Option<usize> {
        self.positions[field as usize]
    }

    /// True when the header has the field.
    pub fn has(&self, field: Field) -> bool {
        self.position(field).is_some()
    }

    /// True when the header has a column of this name, case-insensitively.
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Which export's column set the header is, in words for the run's report.
    pub fn column_set(&self) -> ColumnSet {
        if self.has_name("partnerName") || self.has_name("customerTenantId") {
            ColumnSet::Partner
        } else if self.has_name("PreTaxCost") {
            ColumnSet::PayAsYouGo
        } else if self.has_name("Cost") && self.has_name("BillingCurrency") {
            ColumnSet::EnterpriseLegacy
        } else if self.has_name("AccountOwnerId") {
            ColumnSet::Enterprise
        } else if self.has_name("InvoiceSectionId") {
            ColumnSet::MicrosoftCustomerAgreement
        } else {
            ColumnSet::Other
        }
    }
}

/// The export column sets costflow tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnSet {
    /// EA with the older names (`Cost`, `BillingCurrency`, `Product`).
    EnterpriseLegacy,
    /// EA with the 2021 names (`CostInBillingCurrency`, `BillingCurrencyCode`).
    Enterprise,
    /// Microsoft Customer Agreement.
    MicrosoftCustomerAgreement,
    /// Partner (CSP, MPA) camelCase exports with partner and customer columns.
    Partner,
    /// The pay-as-you-go (MOSP) usage export (`PreTaxCost`, `SubscriptionGuid`).
    PayAsYouGo,
    /// A cost column set that matches none of the above; read by column name.
    Other,
}

impl ColumnSet {
    /// The name used in logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            ColumnSet::EnterpriseLegacy => "EA (legacy names)",
            ColumnSet::Enterprise => "EA",
            ColumnSet::MicrosoftCustomerAgreement => "MCA",
            ColumnSet::Partner => "partner (camelCase)",
            ColumnSet::PayAsYouGo => "pay-as-you-go",
            ColumnSet::Other => "other",
        }
    }
}

fn extension_name(name: &str) -> String {
    if name.starts_with("x_") {
        name.to_owned()
    } else {
        format!("x_{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_alias_wins_and_the_rest_stay_extensions() {
        let layout = Layout::from_header(["\u{feff}Cost", "costInBillingCurrency", "currency"]);
        assert_eq!(layout.position(Field::Cost), Some(1));
        assert_eq!(layout.position(Field::BillingCurrency), Some(2));
        assert_eq!(layout.extensions, [(0, "x_Cost".to_owned())]);
    }

    #[test]
    fn localised_headers_match_by_their_english_name() {
        let layout = Layout::from_header([
            "Ressourcenstandort (ResourceLocation)",
            "UsageQuantity (UsageQuantity)",
        ]);
        assert_eq!(layout.position(Field::ResourceLocation), Some(0));
        assert_eq!(layout.position(Field::Quantity), Some(1));
        assert_eq!(layout.extensions, [(0, "x_ResourceLocation".to_owned())]);
    }
}
