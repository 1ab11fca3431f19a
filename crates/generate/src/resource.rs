//! One resource of a workload: its ids, zone and tags drawn from the seed, and how much
//! of each meter it consumes on a given day.
//!
//! A resource is a pure function of the seed and its place in the estate, so a billing
//! period can be written by deriving each resource again instead of keeping any. Daily
//! amounts are integer arithmetic on parts per million (weekly season, trend, noise),
//! which gives the same decimals on every machine.

use std::ops::Range;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::catalog::{Environment, IdStyle, Season, SubAccount, Usage, Workload};
use crate::period::Day;

/// Purposes of seeded draws, so that no two purposes share a sequence.
pub(crate) const DRAW_RESOURCE: u64 = 1;
pub(crate) const DRAW_NOISE: u64 = 2;
pub(crate) const DRAW_SPIKES: u64 = 3;

/// The most meters a product has.
const MAX_METERS: usize = 2;

/// A running instance uses at most 24.00 hours a day (quantity in hundredths).
const FULL_DAY_HOURS: i128 = 2_400;

const PPM: i128 = 1_000_000;

/// A random generator for one purpose and place, independent of all others.
pub(crate) fn seeded(seed: u64, parts: &[u64]) -> StdRng {
    let mut state = splitmix(seed);
    for part in parts {
        state = splitmix(state ^ splitmix(*part));
    }
    StdRng::seed_from_u64(state)
}

/// The SplitMix64 finaliser: spreads nearby inputs over the whole range.
fn splitmix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where a resource sits in the estate.
#[derive(Clone, Copy)]
pub(crate) struct Place {
    pub(crate) account: usize,
    pub(crate) sub_account: usize,
    pub(crate) workload: usize,
    pub(crate) ordinal: u32,
}

impl Place {
    fn parts(self, purpose: u64) -> [u64; 5] {
        [
            purpose,
            self.account as u64,
            self.sub_account as u64,
            self.workload as u64,
            u64::from(self.ordinal),
        ]
    }
}

/// One resource and what it needs to work out its daily usage.
pub(crate) struct Resource {
    pub(crate) sub_account: &'static SubAccount,
    pub(crate) workload: &'static Workload,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) zone: Option<&'static str>,
    pub(crate) tags: String,
    pub(crate) place: Place,
    environment: Environment,
    /// Days of the range (by index) the resource exists on.
    alive: Range<u32>,
    growth_ppm_per_day: i64,
    baselines: [u64; MAX_METERS],
}

impl Resource {
    /// Derives the resource at `place` in `sub_account` for a range of `range_days`.
    pub(crate) fn derive(
        seed: u64,
        sub_account: &'static SubAccount,
        place: Place,
        range_days: u32,
    ) -> Resource {
        let workload = &sub_account.workloads[place.workload];
        let mut rng = seeded(seed, &place.parts(DRAW_RESOURCE));
        let (id, name) = identify(workload, sub_account, place.ordinal, &mut rng);
        let zone = zone(workload, &mut rng);
        let tags = tags(workload, sub_account, &mut rng);

        let alive = lifetime(workload, range_days, &mut rng);
        let growth_ppm_per_day = rng.random_range(-400..=2_000);
        let mut baselines = [0; MAX_METERS];
        for (baseline, meter) in baselines.iter_mut().zip(workload.product.meters) {
            *baseline = baseline_of(meter.usage, &mut rng);
        }

        Resource {
            sub_account,
            workload,
            id,
            name,
            zone,
            tags,
            place,
            environment: sub_account.environment,
            alive,
            growth_ppm_per_day,
            baselines,
        }
    }

    /// The generator of day-to-day noise for one calendar month.
    pub(crate) fn noise(&self, seed: u64, month_key: u64) -> StdRng {
        let [purpose, account, sub, workload, ordinal] = self.place.parts(DRAW_NOISE);
        seeded(seed, &[purpose, account, sub, workload, ordinal, month_key])
    }

    pub(crate) fn is_alive(&self, day: &Day) -> bool {
        self.alive.contains(&day.index)
    }

    /// Quantity of meter `meter` consumed on `day`, in the meter's consumed unit.
    /// `noise_permille` is the day's random wobble, `spike` the day's multiplier.
    pub(crate) fn consumed(
        &self,
        meter: usize,
        day: &Day,
        noise_permille: u32,
        spike: u32,
    ) -> Decimal {
        let product = self.workload.product;
        let baseline = i128::from(self.baselines[meter]);
        let trend = self.trend_ppm(day);
        let activity_ppm =
            i128::from(weekly_permille(product.season, self.environment)[day.weekday])
                * trend
                * i128::from(noise_permille)
                / PPM
                * i128::from(spike);

        match product.meters[meter].usage {
            Usage::Hours if self.runs_all_day() => Decimal::new(FULL_DAY_HOURS as i64, 2),
            Usage::Hours => decimal((baseline * activity_ppm / PPM).min(FULL_DAY_HOURS), 2),
            Usage::StoredGb { .. } => {
                let gb_months = baseline * 10_000 * trend / PPM / i128::from(day.days_in_month);
                decimal(gb_months, 4)
            }
            Usage::Activity { scale, .. } => decimal(baseline * activity_ppm / PPM, scale),
        }
    }

    /// Capacity bought as a commitment is kept busy, and some products never stop.
    fn runs_all_day(&self) -> bool {
        self.workload.commitment.is_some() || self.workload.product.season == Season::AlwaysOn
    }

    fn trend_ppm(&self, day: &Day) -> i128 {
        let trend = PPM + i128::from(self.growth_ppm_per_day) * i128::from(day.index);
        trend.max(PPM / 10)
    }
}

fn decimal(units: i128, scale: u32) -> Decimal {
    Decimal::new(i64::try_from(units).unwrap_or(i64::MAX), scale)
}

/// Usage per weekday, Monday first, in thousandths of a working day.
fn weekly_permille(season: Season, environment: Environment) -> &'static [u32; 7] {
    match (season, environment) {
        (Season::Business, Environment::Production) => &[1_000, 1_010, 1_000, 990, 950, 560, 520],
        // Non-production fleets are scheduled off outside working hours.
        (Season::Business, _) => &[1_000, 1_000, 1_000, 1_000, 920, 140, 120],
        (Season::Steady, _) => &[1_000, 1_000, 990, 1_000, 1_020, 800, 770],
        (Season::AlwaysOn, _) => &[1_000; 7],
    }
}

fn baseline_of(usage: Usage, rng: &mut StdRng) -> u64 {
    match usage {
        Usage::Hours => rng.random_range(2_000..=2_400),
        Usage::StoredGb { min, max } | Usage::Activity { min, max, .. } => {
            rng.random_range(min..=max)
        }
    }
}

/// Autoscaled resources start after the range begins or stop before it ends.
fn lifetime(workload: &Workload, range_days: u32, rng: &mut StdRng) -> Range<u32> {
    if !workload.ephemeral || range_days < 7 {
        return 0..range_days;
    }
    let start = if rng.random_bool(0.25) {
        rng.random_range(1..=range_days * 2 / 3)
    } else {
        0
    };
    let end = if rng.random_bool(0.15) {
        rng.random_range(start + 1..range_days)
    } else {
        range_days
    };
    start..end
}

fn zone(workload: &Workload, rng: &mut StdRng) -> Option<&'static str> {
    let zones = workload.region?.zones;
    if !workload.product.zonal || zones.is_empty() {
        return None;
    }
    Some(zones[rng.random_range(0..zones.len())])
}

/// Tags as a JSON object; some resources miss some keys, as in every real estate.
fn tags(workload: &Workload, sub_account: &SubAccount, rng: &mut StdRng) -> String {
    let mut tags = serde_json::Map::new();
    // Inserted in key order, so the text is the same whatever map serde_json uses.
    tags.insert("app".into(), workload.app.into());
    if rng.random_bool(0.7) {
        tags.insert("cost-center".into(), cost_center(sub_account.team).into());
    }
    if rng.random_bool(0.95) {
        tags.insert("env".into(), sub_account.environment.tag().into());
    }
    if rng.random_bool(0.88) {
        tags.insert("team".into(), sub_account.team.into());
    }
    serde_json::Value::Object(tags).to_string()
}

fn cost_center(team: &str) -> String {
    let code = team.bytes().fold(0u32, |sum, byte| {
        sum.wrapping_mul(31).wrapping_add(u32::from(byte))
    }) % 9_000;
    format!("cc-{}", 1_000 + code)
}

/// The provider's resource id and the display name.
fn identify(
    workload: &Workload,
    sub_account: &SubAccount,
    ordinal: u32,
    rng: &mut StdRng,
) -> (String, String) {
    let app = workload.app;
    let region = workload.region.map_or("", |region| region.id);
    let account = sub_account.id;
    let azure = |provider: &str, name: &str| {
        format!("/subscriptions/{account}/resourceGroups/rg-{app}/providers/{provider}/{name}")
    };
    match workload.product.id_style {
        IdStyle::Ec2Instance => (
            format!("i-0{}", hex(rng, 16)),
            format!("{app}-{ordinal:02}"),
        ),
        IdStyle::RdsInstance => {
            let name = format!("{app}-{ordinal}");
            (format!("arn:aws:rds:{region}:{account}:db:{name}"), name)
        }
        IdStyle::AuroraCluster => {
            let name = format!("{app}-cluster-{ordinal}");
            (
                format!("arn:aws:rds:{region}:{account}:cluster:{name}"),
                name,
            )
        }
        IdStyle::S3Bucket => {
            let name = format!("northwind-{app}-{ordinal}-{}", hex(rng, 6));
            (name.clone(), name)
        }
        IdStyle::LambdaFunction => {
            let name = format!("{app}-{ordinal}");
            (
                format!("arn:aws:lambda:{region}:{account}:function:{name}"),
                name,
            )
        }
        IdStyle::CloudFrontDistribution => {
            let id = format!("E{}", hex(rng, 13).to_uppercase());
            (
                format!("arn:aws:cloudfront::{account}:distribution/{id}"),
                format!("{app}-{ordinal}"),
            )
        }
        IdStyle::AzureVirtualMachine => {
            let name = format!("vm-{app}-{ordinal:02}");
            (azure("Microsoft.Compute/virtualMachines", &name), name)
        }
        IdStyle::AzureStorageAccount => {
            let name = format!("st{}{ordinal}{}", app.replace('-', ""), hex(rng, 4));
            (azure("Microsoft.Storage/storageAccounts", &name), name)
        }
        IdStyle::AzureSqlDatabase => {
            let name = format!("sqldb-{app}-{ordinal}");
            let server = format!("Microsoft.Sql/servers/sql-{app}/databases");
            (azure(&server, &name), name)
        }
        IdStyle::AzurePublicIp => {
            let name = format!("pip-{app}-{ordinal}");
            (azure("Microsoft.Network/publicIPAddresses", &name), name)
        }
    }
}

fn hex(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}
