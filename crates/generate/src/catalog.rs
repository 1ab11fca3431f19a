//! The demo estate: billing accounts, sub accounts, the workloads running in them,
//! and the products those workloads pay for, with list prices.
//!
//! The estate is fixed so that every seed shows the same accounts and services and a
//! demo can be scripted against known ids; the seed only varies resources and usage.
//! Prices are close to public on-demand prices, rounded, and carry few enough decimal
//! places that quantity × unit price stays within ten decimal places.

use rust_decimal::Decimal;

/// Builds a price at compile time: `price(1920, 4)` is `0.1920`.
const fn price(mantissa: u32, scale: u32) -> Decimal {
    Decimal::from_parts(mantissa, 0, 0, false, scale)
}

/// Who provides, publishes and invoices a charge.
pub(crate) struct Provider {
    pub(crate) name: &'static str,
    pub(crate) publisher: &'static str,
    pub(crate) invoice_issuer: &'static str,
}

static AWS: Provider = Provider {
    name: "AWS",
    publisher: "AWS",
    invoice_issuer: "AWS",
};

static MICROSOFT: Provider = Provider {
    name: "Microsoft",
    publisher: "Microsoft",
    invoice_issuer: "Microsoft",
};

/// A billing account: what an invoice is addressed to.
pub(crate) struct BillingAccount {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) account_type: &'static str,
    pub(crate) provider: &'static Provider,
    pub(crate) currency: &'static str,
    /// Negotiated discount off list prices (an EDP or EA price sheet), in basis points.
    pub(crate) contract_discount_bps: u32,
    pub(crate) tax: Tax,
    pub(crate) support: &'static Support,
    pub(crate) credit: Option<CreditRule>,
    /// The first sub account is where the support fee is charged.
    pub(crate) sub_accounts: &'static [SubAccount],
}

/// The tax added to every invoice of a billing account.
pub(crate) struct Tax {
    pub(crate) rate_bps: u32,
    pub(crate) description: &'static str,
}

/// The support plan billed monthly to a billing account.
pub(crate) struct Support {
    pub(crate) service: &'static Service,
    pub(crate) sku_id: &'static str,
    pub(crate) description: &'static str,
    pub(crate) fee: SupportFee,
}

/// How the monthly support fee is worked out.
pub(crate) enum SupportFee {
    /// A share of the month's charges, in tiers, with a minimum (AWS Business Support).
    Tiered {
        minimum: Decimal,
        /// Upper bound of each tier (`None` for the last) and its rate in basis points.
        tiers: &'static [(Option<Decimal>, u32)],
    },
    /// The same amount every month.
    Flat(Decimal),
}

/// A credit granted to one service of one sub account.
pub(crate) struct CreditRule {
    /// Index into the billing account's sub accounts.
    pub(crate) sub_account: usize,
    pub(crate) service: &'static Service,
    pub(crate) description: &'static str,
    pub(crate) kind: CreditKind,
}

/// Which credit a [`CreditRule`] grants.
pub(crate) enum CreditKind {
    /// Pays the service's charges each month, up to a cap (startup or migration credits).
    Promotional { monthly_cap: Decimal },
    /// A share of the service's charges, once, in the given billing period of the range
    /// (0 is the first), after an outage breached the service level agreement.
    ServiceLevel { rate_bps: u32, period: usize },
}

/// A sub account (AWS linked account, Azure subscription) and what runs in it.
pub(crate) struct SubAccount {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) account_type: &'static str,
    pub(crate) environment: Environment,
    pub(crate) team: &'static str,
    pub(crate) workloads: &'static [Workload],
}

/// The environment a sub account hosts; it decides how much runs at weekends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Environment {
    Production,
    Staging,
    Development,
}

impl Environment {
    /// The value of the `env` tag.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Environment::Production => "prod",
            Environment::Staging => "staging",
            Environment::Development => "dev",
        }
    }
}

/// A group of like resources: `count` per unit of scale, all of one product.
pub(crate) struct Workload {
    pub(crate) app: &'static str,
    pub(crate) product: &'static Product,
    pub(crate) count: u32,
    pub(crate) region: Option<&'static Region>,
    pub(crate) commitment: Option<&'static Commitment>,
    /// Resources that come and go inside the range (autoscaled or short-lived).
    pub(crate) ephemeral: bool,
}

/// A provider region.
pub(crate) struct Region {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) zones: &'static [&'static str],
}

/// A service as FOCUS names and classifies it.
pub(crate) struct Service {
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) subcategory: &'static str,
}

/// A kind of resource and the meters that charge for it.
pub(crate) struct Product {
    pub(crate) service: &'static Service,
    pub(crate) resource_type: &'static str,
    pub(crate) id_style: IdStyle,
    pub(crate) season: Season,
    pub(crate) zonal: bool,
    /// Why this product's usage may jump on a single day; `None` when it cannot.
    pub(crate) spike_reason: Option<&'static str>,
    pub(crate) meters: &'static [Meter],
}

/// How a product's resource ids look.
#[derive(Clone, Copy)]
pub(crate) enum IdStyle {
    Ec2Instance,
    RdsInstance,
    AuroraCluster,
    S3Bucket,
    LambdaFunction,
    CloudFrontDistribution,
    AzureVirtualMachine,
    AzureStorageAccount,
    AzureSqlDatabase,
    AzurePublicIp,
}

/// The weekly shape of a product's usage.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Season {
    /// Follows working days: busy Monday to Friday, quiet at weekends.
    Business,
    /// Follows end users: a little lower at weekends.
    Steady,
    /// Runs around the clock.
    AlwaysOn,
}

/// One priced SKU of a product.
pub(crate) struct Meter {
    pub(crate) sku_id: &'static str,
    pub(crate) sku_price_id: &'static str,
    pub(crate) description: &'static str,
    pub(crate) consumed_unit: &'static str,
    pub(crate) pricing_unit: &'static str,
    /// Consumed units in one pricing unit (1000 requests make one "1000 Requests").
    pub(crate) block: u32,
    pub(crate) list_price: Decimal,
    pub(crate) usage: Usage,
}

/// How much of a meter a resource consumes per day.
#[derive(Clone, Copy)]
pub(crate) enum Usage {
    /// Running hours, at most 24 a day; quantity has 2 decimal places.
    Hours,
    /// Gigabytes kept all month, charged per GB-month; daily quantity has 4 decimal places.
    StoredGb { min: u64, max: u64 },
    /// A daily amount that follows activity, drawn between `min` and `max` in units of
    /// `10^-scale`.
    Activity { min: u64, max: u64, scale: u32 },
}

/// A commitment discount: a reservation or savings plan covering some usage.
pub(crate) struct Commitment {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) service: &'static Service,
    pub(crate) sku_id: &'static str,
    pub(crate) description: &'static str,
    /// Bought for one region (reservations); savings plans apply everywhere.
    pub(crate) regional: bool,
    /// The amortised rate of covered usage, in basis points of the list price.
    pub(crate) rate_bps: u32,
}

const AWS_ACCOUNT: &str = "Linked Account";
const AZURE_SUBSCRIPTION: &str = "Subscription";

static US_EAST_1: Region = Region {
    id: "us-east-1",
    name: "US East (N. Virginia)",
    zones: &["us-east-1a", "us-east-1b", "us-east-1c"],
};

static EU_WEST_1: Region = Region {
    id: "eu-west-1",
    name: "Europe (Ireland)",
    zones: &["eu-west-1a", "eu-west-1b", "eu-west-1c"],
};

static US_WEST_2: Region = Region {
    id: "us-west-2",
    name: "US West (Oregon)",
    zones: &["us-west-2a", "us-west-2b"],
};

static WEST_EUROPE: Region = Region {
    id: "westeurope",
    name: "West Europe",
    zones: &["1", "2", "3"],
};

static NORTH_EUROPE: Region = Region {
    id: "northeurope",
    name: "North Europe",
    zones: &["1", "2"],
};

static EC2: Service = Service {
    name: "Amazon Elastic Compute Cloud",
    category: "Compute",
    subcategory: "Virtual Machines",
};

static S3: Service = Service {
    name: "Amazon Simple Storage Service",
    category: "Storage",
    subcategory: "Object Storage",
};

static RDS: Service = Service {
    name: "Amazon Relational Database Service",
    category: "Databases",
    subcategory: "Relational",
};

static LAMBDA: Service = Service {
    name: "AWS Lambda",
    category: "Compute",
    subcategory: "Serverless Compute",
};

static CLOUDFRONT: Service = Service {
    name: "Amazon CloudFront",
    category: "Networking",
    subcategory: "Content Delivery",
};

static SAVINGS_PLANS: Service = Service {
    name: "Savings Plans for AWS Compute usage",
    category: "Compute",
    subcategory: "Other (Compute)",
};

static AWS_SUPPORT: Service = Service {
    name: "AWS Support (Business)",
    category: "Management and Governance",
    subcategory: "Support",
};

static VIRTUAL_MACHINES: Service = Service {
    name: "Virtual Machines",
    category: "Compute",
    subcategory: "Virtual Machines",
};

static AZURE_STORAGE: Service = Service {
    name: "Storage",
    category: "Storage",
    subcategory: "Object Storage",
};

static AZURE_SQL: Service = Service {
    name: "Azure SQL Database",
    category: "Databases",
    subcategory: "Relational",
};

static BANDWIDTH: Service = Service {
    name: "Bandwidth",
    category: "Networking",
    subcategory: "Data Transfer",
};

static AZURE_SUPPORT: Service = Service {
    name: "Azure Support",
    category: "Management and Governance",
    subcategory: "Support",
};

/// The service named on tax rows, which FOCUS requires but no real service fits.
pub(crate) static TAX: Service = Service {
    name: "Tax",
    category: "Other",
    subcategory: "Other (Other)",
};

const fn ec2(
    sku_id: &'static str,
    sku_price_id: &'static str,
    description: &'static str,
    list_price: Decimal,
) -> Meter {
    Meter {
        sku_id,
        sku_price_id,
        description,
        consumed_unit: "Hours",
        pricing_unit: "Hours",
        block: 1,
        list_price,
        usage: Usage::Hours,
    }
}

static EC2_M6I_XLARGE: Product = Product {
    service: &EC2,
    resource_type: "Instance",
    id_style: IdStyle::Ec2Instance,
    season: Season::Business,
    zonal: true,
    spike_reason: None,
    meters: &[ec2(
        "8KNZC8Y3QMAKJHR6",
        "8KNZC8Y3QMAKJHR6.JRTCKXETXF.6YS6EN2CT7",
        "$0.192 per On Demand Linux m6i.xlarge Instance Hour",
        price(1920, 4),
    )],
};

static EC2_C6I_2XLARGE: Product = Product {
    service: &EC2,
    resource_type: "Instance",
    id_style: IdStyle::Ec2Instance,
    season: Season::Business,
    zonal: true,
    spike_reason: None,
    meters: &[ec2(
        "3RUR8Q5E2VJ5Y7AW",
        "3RUR8Q5E2VJ5Y7AW.JRTCKXETXF.6YS6EN2CT7",
        "$0.34 per On Demand Linux c6i.2xlarge Instance Hour",
        price(3400, 4),
    )],
};

static EC2_R6I_2XLARGE: Product = Product {
    service: &EC2,
    resource_type: "Instance",
    id_style: IdStyle::Ec2Instance,
    season: Season::Business,
    zonal: true,
    spike_reason: None,
    meters: &[ec2(
        "W6B9GQYZ4T7MXKC2",
        "W6B9GQYZ4T7MXKC2.JRTCKXETXF.6YS6EN2CT7",
        "$0.504 per On Demand Linux r6i.2xlarge Instance Hour",
        price(5040, 4),
    )],
};

static EC2_G5_XLARGE: Product = Product {
    service: &EC2,
    resource_type: "Instance",
    id_style: IdStyle::Ec2Instance,
    season: Season::Business,
    zonal: true,
    spike_reason: None,
    meters: &[ec2(
        "ZK2N7HDQ8U4VE3PB",
        "ZK2N7HDQ8U4VE3PB.JRTCKXETXF.6YS6EN2CT7",
        "$1.006 per On Demand Linux g5.xlarge Instance Hour",
        price(10060, 4),
    )],
};

static EC2_T3_MEDIUM: Product = Product {
    service: &EC2,
    resource_type: "Instance",
    id_style: IdStyle::Ec2Instance,
    season: Season::Business,
    zonal: true,
    spike_reason: None,
    meters: &[ec2(
        "7FX4PJQH2C9RDM5S",
        "7FX4PJQH2C9RDM5S.JRTCKXETXF.6YS6EN2CT7",
        "$0.0416 per On Demand Linux t3.medium Instance Hour",
        price(416, 4),
    )],
};

static RDS_R6G_LARGE: Product = Product {
    service: &RDS,
    resource_type: "DB Instance",
    id_style: IdStyle::RdsInstance,
    season: Season::AlwaysOn,
    zonal: true,
    spike_reason: None,
    meters: &[
        Meter {
            sku_id: "Q4E8JZ6T2WY9HNVA",
            sku_price_id: "Q4E8JZ6T2WY9HNVA.JRTCKXETXF.6YS6EN2CT7",
            description: "$0.225 per RDS db.r6g.large Multi-AZ instance hour running PostgreSQL",
            consumed_unit: "Hours",
            pricing_unit: "Hours",
            block: 1,
            list_price: price(2250, 4),
            usage: Usage::Hours,
        },
        Meter {
            sku_id: "M3XT5QW8RKD2J7CF",
            sku_price_id: "M3XT5QW8RKD2J7CF.JRTCKXETXF.6YS6EN2CT7",
            description: "$0.115 per GB-month of provisioned gp2 storage running PostgreSQL",
            consumed_unit: "GB-Months",
            pricing_unit: "GB-Months",
            block: 1,
            list_price: price(115, 3),
            usage: Usage::StoredGb {
                min: 100,
                max: 2000,
            },
        },
    ],
};

static AURORA_SERVERLESS: Product = Product {
    service: &RDS,
    resource_type: "DB Cluster",
    id_style: IdStyle::AuroraCluster,
    season: Season::Business,
    zonal: false,
    spike_reason: Some("an unindexed query scanned the largest table all day"),
    meters: &[Meter {
        sku_id: "YV6C3N9KQ2T8BDPE",
        sku_price_id: "YV6C3N9KQ2T8BDPE.JRTCKXETXF.6YS6EN2CT7",
        description: "Aurora Serverless v2 $0.12 per ACU-Hr running PostgreSQL",
        consumed_unit: "ACU-Hours",
        pricing_unit: "ACU-Hours",
        block: 1,
        list_price: price(12, 2),
        usage: Usage::Activity {
            min: 4_800,
            max: 40_000,
            scale: 2,
        },
    }],
};

static S3_STANDARD: Product = Product {
    service: &S3,
    resource_type: "Bucket",
    id_style: IdStyle::S3Bucket,
    season: Season::Business,
    zonal: false,
    spike_reason: None,
    meters: &[
        Meter {
            sku_id: "WP9ANXZGBYYSGJEA",
            sku_price_id: "WP9ANXZGBYYSGJEA.JRTCKXETXF.PGHJ3S3EYE",
            description: "$0.023 per GB - first 50 TB / month of storage used",
            consumed_unit: "GB-Months",
            pricing_unit: "GB-Months",
            block: 1,
            list_price: price(23, 3),
            usage: Usage::StoredGb {
                min: 200,
                max: 40_000,
            },
        },
        Meter {
            sku_id: "JDH5TN6MUPW3VQ7B",
            sku_price_id: "JDH5TN6MUPW3VQ7B.JRTCKXETXF.PGHJ3S3EYE",
            description: "$0.005 per 1,000 PUT, COPY, POST, or LIST requests",
            consumed_unit: "Requests",
            pricing_unit: "1000 Requests",
            block: 1000,
            list_price: price(5, 3),
            usage: Usage::Activity {
                min: 20_000,
                max: 2_000_000,
                scale: 0,
            },
        },
    ],
};

static LAMBDA_FUNCTION: Product = Product {
    service: &LAMBDA,
    resource_type: "Function",
    id_style: IdStyle::LambdaFunction,
    season: Season::Business,
    zonal: false,
    spike_reason: Some("a retry storm after a downstream timeout"),
    meters: &[
        Meter {
            sku_id: "TG3M4CAGBA3NYQBH",
            sku_price_id: "TG3M4CAGBA3NYQBH.JRTCKXETXF.6YS6EN2CT7",
            description: "AWS Lambda - Total Requests",
            consumed_unit: "Requests",
            pricing_unit: "Requests",
            block: 1,
            list_price: price(2, 7),
            usage: Usage::Activity {
                min: 50_000,
                max: 3_000_000,
                scale: 0,
            },
        },
        Meter {
            sku_id: "9KH2XTPR8GA5WQ3C",
            sku_price_id: "9KH2XTPR8GA5WQ3C.JRTCKXETXF.6YS6EN2CT7",
            description: "AWS Lambda - Total Compute (GB-seconds)",
            consumed_unit: "GB-Seconds",
            pricing_unit: "GB-Seconds",
            block: 1,
            list_price: price(166_667, 10),
            usage: Usage::Activity {
                min: 5_000,
                max: 400_000,
                scale: 0,
            },
        },
    ],
};

static CLOUDFRONT_DISTRIBUTION: Product = Product {
    service: &CLOUDFRONT,
    resource_type: "Distribution",
    id_style: IdStyle::CloudFrontDistribution,
    season: Season::Steady,
    zonal: false,
    spike_reason: Some("the cache hit ratio collapsed after a bad deploy"),
    meters: &[
        Meter {
            sku_id: "N7PZ6W3CJDK4YB2T",
            sku_price_id: "N7PZ6W3CJDK4YB2T.JRTCKXETXF.6YS6EN2CT7",
            description: "$0.085 per GB - first 10 TB / month data transfer out (United States)",
            consumed_unit: "GB",
            pricing_unit: "GB",
            block: 1,
            list_price: price(85, 3),
            usage: Usage::Activity {
                min: 20_000,
                max: 900_000,
                scale: 3,
            },
        },
        Meter {
            sku_id: "5DQK8V2MZT9HEC6R",
            sku_price_id: "5DQK8V2MZT9HEC6R.JRTCKXETXF.6YS6EN2CT7",
            description: "$0.0100 per 10,000 HTTPS Requests (United States)",
            consumed_unit: "Requests",
            pricing_unit: "10000 Requests",
            block: 10_000,
            list_price: price(100, 4),
            usage: Usage::Activity {
                min: 200_000,
                max: 20_000_000,
                scale: 0,
            },
        },
    ],
};

const fn azure_vm(
    sku_id: &'static str,
    sku_price_id: &'static str,
    description: &'static str,
    list_price: Decimal,
) -> Meter {
    Meter {
        sku_id,
        sku_price_id,
        description,
        consumed_unit: "Hours",
        pricing_unit: "Hours",
        block: 1,
        list_price,
        usage: Usage::Hours,
    }
}

static AZURE_VM_D4S_V5: Product = Product {
    service: &VIRTUAL_MACHINES,
    resource_type: "Virtual machine",
    id_style: IdStyle::AzureVirtualMachine,
    season: Season::Business,
    zonal: true,
    spike_reason: None,
    meters: &[azure_vm(
        "DZH318Z0BQ4L",
        "DZH318Z0BQ4L/0009",
        "Virtual Machines Dsv5 Series - D4s v5 - West Europe",
        price(2020, 4),
    )],
};

static AZURE_VM_E8S_V5: Product = Product {
    service: &VIRTUAL_MACHINES,
    resource_type: "Virtual machine",
    id_style: IdStyle::AzureVirtualMachine,
    season: Season::Business,
    zonal: true,
    spike_reason: None,
    meters: &[azure_vm(
        "DZH318Z0BQ7C",
        "DZH318Z0BQ7C/0012",
        "Virtual Machines Esv5 Series - E8s v5 - West Europe",
        price(5600, 4),
    )],
};

static AZURE_VM_B2MS: Product = Product {
    service: &VIRTUAL_MACHINES,
    resource_type: "Virtual machine",
    id_style: IdStyle::AzureVirtualMachine,
    season: Season::Business,
    zonal: false,
    spike_reason: None,
    meters: &[azure_vm(
        "DZH318Z0BQ1X",
        "DZH318Z0BQ1X/0021",
        "Virtual Machines BS Series - B2ms - North Europe",
        price(910, 4),
    )],
};

static AZURE_STORAGE_HOT: Product = Product {
    service: &AZURE_STORAGE,
    resource_type: "Storage account",
    id_style: IdStyle::AzureStorageAccount,
    season: Season::Business,
    zonal: false,
    spike_reason: None,
    meters: &[
        Meter {
            sku_id: "DZH318Z0BNVX",
            sku_price_id: "DZH318Z0BNVX/003P",
            description: "Blob Storage - Hot LRS Data Stored",
            consumed_unit: "GB-Months",
            pricing_unit: "GB-Months",
            block: 1,
            list_price: price(196, 4),
            usage: Usage::StoredGb {
                min: 500,
                max: 60_000,
            },
        },
        Meter {
            sku_id: "DZH318Z0BNW1",
            sku_price_id: "DZH318Z0BNW1/0041",
            description: "Blob Storage - Hot LRS Write Operations",
            consumed_unit: "Operations",
            pricing_unit: "10000 Operations",
            block: 10_000,
            list_price: price(598, 4),
            usage: Usage::Activity {
                min: 100_000,
                max: 8_000_000,
                scale: 0,
            },
        },
    ],
};

static AZURE_SQL_SERVERLESS: Product = Product {
    service: &AZURE_SQL,
    resource_type: "SQL database",
    id_style: IdStyle::AzureSqlDatabase,
    season: Season::Business,
    zonal: false,
    spike_reason: Some("a runaway reporting query kept the database scaled up"),
    meters: &[Meter {
        sku_id: "DZH318Z0BQC9",
        sku_price_id: "DZH318Z0BQC9/0007",
        description: "SQL Database Single General Purpose - Serverless - Gen5 - vCore",
        consumed_unit: "vCore-Hours",
        pricing_unit: "vCore-Hours",
        block: 1,
        list_price: price(5220, 4),
        usage: Usage::Activity {
            min: 2_400,
            max: 12_000,
            scale: 2,
        },
    }],
};

static AZURE_EGRESS: Product = Product {
    service: &BANDWIDTH,
    resource_type: "Public IP address",
    id_style: IdStyle::AzurePublicIp,
    season: Season::Steady,
    zonal: false,
    spike_reason: Some("a replication job copied a data set out of the region"),
    meters: &[Meter {
        sku_id: "DZH318Z0BNZJ",
        sku_price_id: "DZH318Z0BNZJ/0006",
        description: "Bandwidth - Standard Data Transfer Out - Zone 1",
        consumed_unit: "GB",
        pricing_unit: "GB",
        block: 1,
        list_price: price(783, 4),
        usage: Usage::Activity {
            min: 30_000,
            max: 1_500_000,
            scale: 3,
        },
    }],
};

static PAYMENTS_DB_RI: Commitment = Commitment {
    id: "arn:aws:rds:us-east-1:530917284611:ri:payments-db-r6g-large-2025",
    name: "payments-db-r6g-large-2025",
    category: "Usage",
    kind: "Reserved Instance",
    service: &RDS,
    sku_id: "Q4E8JZ6T2WY9HNVA",
    description: "RDS Reserved Instance db.r6g.large, 1 year, No Upfront: monthly fee",
    regional: true,
    rate_bps: 6_900,
};

static PLATFORM_SAVINGS_PLAN: Commitment = Commitment {
    id: "arn:aws:savingsplans::418295730164:savingsplan/3b6c1a52-8e0f-4d47-9a61-7f2d05c9e4b8",
    name: "Compute Savings Plan 1yr No Upfront",
    category: "Spend",
    kind: "Savings Plan",
    service: &SAVINGS_PLANS,
    sku_id: "4JK9TQ2ZB7XW3MCE",
    description: "Compute Savings Plan, 1 year, No Upfront: recurring fee",
    regional: false,
    rate_bps: 7_200,
};

static AZURE_VM_RESERVATION: Commitment = Commitment {
    id: concat!(
        "/providers/Microsoft.Capacity/reservationOrders/6d9e0c2a-41b7-4f3e-8b5a-c27f19d0e834",
        "/reservations/a0f35b8e-2c64-4d19-9e7a-5b18c3d2f607"
    ),
    name: "VM_RI_D4s_v5_westeurope",
    category: "Usage",
    kind: "Reservation",
    service: &VIRTUAL_MACHINES,
    sku_id: "DZH318Z0BQ4L",
    description: "Reserved VM Instance, Standard_D4s_v5, West Europe, 1 Year: monthly payment",
    regional: true,
    rate_bps: 6_400,
};

const fn workload(app: &'static str, product: &'static Product, count: u32) -> Workload {
    Workload {
        app,
        product,
        count,
        region: None,
        commitment: None,
        ephemeral: false,
    }
}

const fn in_region(mut workload: Workload, region: &'static Region) -> Workload {
    workload.region = Some(region);
    workload
}

const fn ephemeral(mut workload: Workload) -> Workload {
    workload.ephemeral = true;
    workload
}

const fn committed(mut workload: Workload, commitment: &'static Commitment) -> Workload {
    workload.commitment = Some(commitment);
    workload
}

static AWS_BUSINESS_SUPPORT: Support = Support {
    service: &AWS_SUPPORT,
    sku_id: "AWSSupportBusiness",
    description: "AWS Support (Business): monthly fee",
    fee: SupportFee::Tiered {
        minimum: price(100, 0),
        tiers: &[
            (Some(price(10_000, 0)), 1_000),
            (Some(price(80_000, 0)), 700),
            (Some(price(250_000, 0)), 500),
            (None, 300),
        ],
    },
};

static AZURE_STANDARD_SUPPORT: Support = Support {
    service: &AZURE_SUPPORT,
    sku_id: "AzureSupportStandard",
    description: "Azure Standard support plan: monthly fee",
    fee: SupportFee::Flat(price(100, 0)),
};

/// The billing accounts, in the order their rows are written.
pub(crate) static ESTATE: &[BillingAccount] = &[
    BillingAccount {
        id: "418295730164",
        name: "Northwind Traders",
        account_type: "Management Account",
        provider: &AWS,
        currency: "USD",
        contract_discount_bps: 500,
        tax: Tax {
            rate_bps: 625,
            description: "Sales tax 6.25%",
        },
        support: &AWS_BUSINESS_SUPPORT,
        credit: None,
        sub_accounts: &[
            SubAccount {
                id: "418295730164",
                name: "northwind-management",
                account_type: "Management Account",
                environment: Environment::Production,
                team: "cloud-platform",
                workloads: &[],
            },
            SubAccount {
                id: "530917284611",
                name: "payments-prod",
                account_type: AWS_ACCOUNT,
                environment: Environment::Production,
                team: "payments",
                workloads: &[
                    in_region(
                        ephemeral(workload("checkout-api", &EC2_M6I_XLARGE, 16)),
                        &US_EAST_1,
                    ),
                    in_region(
                        committed(workload("payments-db", &RDS_R6G_LARGE, 4), &PAYMENTS_DB_RI),
                        &US_EAST_1,
                    ),
                    in_region(
                        workload("payment-webhooks", &LAMBDA_FUNCTION, 8),
                        &US_EAST_1,
                    ),
                    in_region(workload("receipts", &S3_STANDARD, 6), &US_EAST_1),
                    workload("checkout-web", &CLOUDFRONT_DISTRIBUTION, 3),
                ],
            },
            SubAccount {
                id: "530917284622",
                name: "platform-prod",
                account_type: AWS_ACCOUNT,
                environment: Environment::Production,
                team: "platform",
                workloads: &[
                    in_region(
                        committed(
                            workload("k8s-node", &EC2_M6I_XLARGE, 14),
                            &PLATFORM_SAVINGS_PLAN,
                        ),
                        &US_EAST_1,
                    ),
                    in_region(
                        ephemeral(workload("k8s-burst", &EC2_C6I_2XLARGE, 18)),
                        &US_EAST_1,
                    ),
                    in_region(workload("platform-db", &AURORA_SERVERLESS, 4), &US_EAST_1),
                    in_region(workload("platform-logs", &S3_STANDARD, 8), &US_EAST_1),
                    in_region(workload("platform-events", &LAMBDA_FUNCTION, 9), &US_EAST_1),
                ],
            },
            SubAccount {
                id: "530917284633",
                name: "platform-staging",
                account_type: AWS_ACCOUNT,
                environment: Environment::Staging,
                team: "platform",
                workloads: &[
                    in_region(
                        ephemeral(workload("staging-node", &EC2_T3_MEDIUM, 20)),
                        &US_WEST_2,
                    ),
                    in_region(workload("staging-db", &RDS_R6G_LARGE, 2), &US_WEST_2),
                    in_region(workload("staging-artifacts", &S3_STANDARD, 4), &US_WEST_2),
                    in_region(workload("staging-jobs", &LAMBDA_FUNCTION, 6), &US_WEST_2),
                ],
            },
        ],
    },
    BillingAccount {
        id: "772104938215",
        name: "Northwind Data",
        account_type: "Management Account",
        provider: &AWS,
        currency: "USD",
        contract_discount_bps: 0,
        tax: Tax {
            rate_bps: 888,
            description: "Sales tax 8.88%",
        },
        support: &AWS_BUSINESS_SUPPORT,
        credit: Some(CreditRule {
            sub_account: 2,
            service: &EC2,
            description: "AWS Activate credits",
            kind: CreditKind::Promotional {
                monthly_cap: price(1_500, 0),
            },
        }),
        sub_accounts: &[
            SubAccount {
                id: "772104938215",
                name: "northwind-data-management",
                account_type: "Management Account",
                environment: Environment::Production,
                team: "data-platform",
                workloads: &[],
            },
            SubAccount {
                id: "661038275540",
                name: "analytics-prod",
                account_type: AWS_ACCOUNT,
                environment: Environment::Production,
                team: "analytics",
                workloads: &[
                    in_region(
                        ephemeral(workload("spark-worker", &EC2_R6I_2XLARGE, 14)),
                        &EU_WEST_1,
                    ),
                    in_region(workload("warehouse-db", &AURORA_SERVERLESS, 4), &EU_WEST_1),
                    in_region(workload("datalake", &S3_STANDARD, 12), &EU_WEST_1),
                    in_region(workload("ingest-fn", &LAMBDA_FUNCTION, 9), &EU_WEST_1),
                ],
            },
            SubAccount {
                id: "661038275551",
                name: "ml-sandbox",
                account_type: AWS_ACCOUNT,
                environment: Environment::Development,
                team: "ml",
                workloads: &[
                    in_region(
                        ephemeral(workload("gpu-notebook", &EC2_G5_XLARGE, 6)),
                        &US_EAST_1,
                    ),
                    in_region(workload("ml-datasets", &S3_STANDARD, 5), &US_EAST_1),
                ],
            },
        ],
    },
    BillingAccount {
        id: "86115370",
        name: "Northwind Europe GmbH",
        account_type: "Enterprise Agreement",
        provider: &MICROSOFT,
        currency: "EUR",
        contract_discount_bps: 1_200,
        tax: Tax {
            rate_bps: 1_900,
            description: "VAT 19%",
        },
        support: &AZURE_STANDARD_SUPPORT,
        credit: Some(CreditRule {
            sub_account: 0,
            service: &VIRTUAL_MACHINES,
            description: "Service level agreement credit for Virtual Machines",
            kind: CreditKind::ServiceLevel {
                rate_bps: 1_000,
                period: 1,
            },
        }),
        sub_accounts: &[
            SubAccount {
                id: "3f2c9a61-7d4e-4b8a-9c15-2e6f0d8b7a43",
                name: "nw-eu-prod",
                account_type: AZURE_SUBSCRIPTION,
                environment: Environment::Production,
                team: "eu-commerce",
                workloads: &[
                    in_region(
                        committed(
                            workload("shop-app", &AZURE_VM_D4S_V5, 10),
                            &AZURE_VM_RESERVATION,
                        ),
                        &WEST_EUROPE,
                    ),
                    in_region(
                        ephemeral(workload("shop-scale", &AZURE_VM_D4S_V5, 14)),
                        &WEST_EUROPE,
                    ),
                    in_region(workload("search", &AZURE_VM_E8S_V5, 4), &WEST_EUROPE),
                    in_region(workload("shopassets", &AZURE_STORAGE_HOT, 7), &WEST_EUROPE),
                    in_region(workload("orders", &AZURE_SQL_SERVERLESS, 4), &WEST_EUROPE),
                    in_region(workload("shop-edge", &AZURE_EGRESS, 4), &WEST_EUROPE),
                ],
            },
            SubAccount {
                id: "b81e4d27-5c39-4f6a-a0d2-9e7c13f58b06",
                name: "nw-eu-dev",
                account_type: AZURE_SUBSCRIPTION,
                environment: Environment::Development,
                team: "eu-commerce",
                workloads: &[
                    in_region(
                        ephemeral(workload("dev-box", &AZURE_VM_B2MS, 16)),
                        &NORTH_EUROPE,
                    ),
                    in_region(workload("devassets", &AZURE_STORAGE_HOT, 4), &NORTH_EUROPE),
                    in_region(
                        workload("orders-dev", &AZURE_SQL_SERVERLESS, 3),
                        &NORTH_EUROPE,
                    ),
                    in_region(workload("dev-edge", &AZURE_EGRESS, 3), &NORTH_EUROPE),
                ],
            },
        ],
    },
];
