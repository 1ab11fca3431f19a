//! Behaviour of `generate`, checked by reading the written files back with the `csv`
//! crate, independently of the writer's own sums.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use csv::StringRecord;
use rust_decimal::Decimal;

use super::*;

const FOCUS_1_2_COLUMNS: [&str; 46] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
];

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "costflow-generate-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid date")
}

fn options(dir: &Path, seed: u64, days: u32, scale: u32) -> GenerateOptions {
    GenerateOptions {
        out_dir: dir.to_path_buf(),
        end: end(),
        days,
        seed,
        scale,
        layout: Layout::Focus,
    }
}

/// Rows of CSV files, with columns looked up by name.
struct Table {
    columns: HashMap<String, usize>,
    header: Vec<String>,
    records: Vec<StringRecord>,
}

impl Table {
    fn read(paths: &[PathBuf]) -> Table {
        let mut table = Table {
            columns: HashMap::new(),
            header: Vec::new(),
            records: Vec::new(),
        };
        for path in paths {
            let mut reader = csv::Reader::from_path(path).expect("readable file");
            let header: Vec<String> = reader
                .headers()
                .expect("header")
                .iter()
                .map(String::from)
                .collect();
            assert!(
                table.header.is_empty() || table.header == header,
                "{}",
                path.display()
            );
            table.header = header;
            for record in reader.records() {
                table.records.push(record.expect("well-formed row"));
            }
        }
        table.columns = table
            .header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        table
    }

    fn get<'r>(&self, record: &'r StringRecord, column: &str) -> &'r str {
        &record[self.columns[column]]
    }

    fn decimal(&self, record: &StringRecord, column: &str) -> Decimal {
        let text = self.get(record, column);
        Decimal::from_str_exact(text).unwrap_or_else(|_| panic!("{column} = {text:?}"))
    }

    fn optional_decimal(&self, record: &StringRecord, column: &str) -> Option<Decimal> {
        (!self.get(record, column).is_empty()).then(|| self.decimal(record, column))
    }

    fn rows_where<'t>(
        &'t self,
        column: &'t str,
        value: &'t str,
    ) -> impl Iterator<Item = &'t StringRecord> {
        self.records
            .iter()
            .filter(move |record| self.get(record, column) == value)
    }
}

/// The default demo (90 days, scale 1), generated once and read back for all tests.
struct Demo {
    summary: GenerateSummary,
    focus: Table,
    spikes: Table,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = TempDir::new("demo");
        let summary = generate(&options(&dir.0, 7, 90, 1)).expect("generated");
        let (spikes, focus): (Vec<PathBuf>, Vec<PathBuf>) = summary
            .files
            .iter()
            .cloned()
            .partition(|path| path.ends_with("spikes.csv"));
        Demo {
            focus: Table::read(&focus),
            spikes: Table::read(&spikes),
            summary,
        }
    })
}

fn timestamp(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ").unwrap_or_else(|_| panic!("{text:?}"))
}

fn day_of(text: &str) -> NaiveDate {
    timestamp(text).date()
}

fn median(mut values: Vec<Decimal>) -> Decimal {
    values.sort();
    values[values.len() / 2]
}

#[test]
fn same_seed_writes_byte_identical_files_and_another_seed_does_not() {
    let (first, second, other) = (TempDir::new("a"), TempDir::new("b"), TempDir::new("c"));
    let a = generate(&options(&first.0, 42, 45, 1)).expect("generated");
    let b = generate(&options(&second.0, 42, 45, 1)).expect("generated");
    let c = generate(&options(&other.0, 43, 45, 1)).expect("generated");

    let names = |summary: &GenerateSummary| -> Vec<_> {
        summary
            .files
            .iter()
            .map(|path| path.file_name().map(|name| name.to_owned()))
            .collect()
    };
    assert_eq!(names(&a), names(&b));
    for (left, right) in a.files.iter().zip(&b.files) {
        assert_eq!(
            std::fs::read(left).unwrap(),
            std::fs::read(right).unwrap(),
            "{}",
            left.display()
        );
    }
    assert_eq!(
        a,
        GenerateSummary {
            files: a.files.clone(),
            ..b.clone()
        }
    );

    let differs = a
        .files
        .iter()
        .zip(&c.files)
        .any(|(left, right)| std::fs::read(left).unwrap() != std::fs::read(right).unwrap());
    assert!(differs, "seed 43 wrote the same files as seed 42");
}

#[test]
fn writes_one_file_per_billing_period_and_the_spikes_file() {
    let names: Vec<String> = demo()
        .summary
        .files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "focus-2026-07.csv",
            "focus-2026-08.csv",
            "focus-2026-09.csv",
            "spikes.csv"
        ]
    );
}

#[test]
fn header_is_the_focus_1_2_columns() {
    assert_eq!(demo().focus.header, FOCUS_1_2_COLUMNS);
}

#[test]
fn summary_totals_equal_an_independent_reread_of_the_files() {
    let demo = demo();
    let table = &demo.focus;
    let mut reread: BTreeMap<(String, String), AccountTotals> = BTreeMap::new();
    for record in &table.records {
        let key = (
            table.get(record, "BillingAccountId").to_string(),
            table.get(record, "BillingCurrency").to_string(),
        );
        let totals = reread.entry(key).or_default();
        totals.billed_cost += table.decimal(record, "BilledCost");
        totals.effective_cost += table.decimal(record, "EffectiveCost");
        totals.rows += 1;
    }

    assert_eq!(reread.len(), 3);
    assert_eq!(demo.summary.totals, reread);
    assert_eq!(demo.summary.rows, table.records.len() as u64);
}

#[test]
fn demo_size_is_tens_of_thousands_of_rows() {
    let rows = demo().summary.rows;
    assert!((20_000..60_000).contains(&rows), "{rows} rows");
}

#[test]
fn compute_costs_more_on_weekdays_than_at_weekends() {
    let table = &demo().focus;
    let mut daily: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
    for record in table.rows_where("ServiceCategory", "Compute") {
        if table.get(record, "ChargeCategory") == "Usage" {
            let day = day_of(table.get(record, "ChargePeriodStart"));
            *daily.entry(day).or_default() += table.decimal(record, "EffectiveCost");
        }
    }

    let mean = |weekend: bool| {
        let days: Vec<Decimal> = daily
            .iter()
            .filter(|(day, _)| (day.weekday().num_days_from_monday() >= 5) == weekend)
            .map(|(_, cost)| *cost)
            .collect();
        days.iter().sum::<Decimal>() / Decimal::from(days.len())
    };
    let (weekday, weekend) = (mean(false), mean(true));
    assert!(
        weekday > weekend * Decimal::new(12, 1),
        "weekday {weekday}, weekend {weekend}"
    );
}

#[test]
fn has_credits_tax_purchases_committed_usage_currencies_and_providers() {
    let table = &demo().focus;
    let credits: Vec<_> = table.rows_where("ChargeCategory", "Credit").collect();
    assert!(!credits.is_empty());
    for credit in &credits {
        assert!(table.decimal(credit, "BilledCost") < Decimal::ZERO);
        assert!(table.decimal(credit, "EffectiveCost") < Decimal::ZERO);
    }

    // One tax line per billing account and billing period.
    let taxed: BTreeSet<_> = table
        .rows_where("ChargeCategory", "Tax")
        .map(|row| {
            (
                table.get(row, "BillingAccountId"),
                table.get(row, "BillingPeriodStart"),
            )
        })
        .collect();
    assert_eq!(taxed.len(), 3 * 3);
    assert_eq!(table.rows_where("ChargeCategory", "Tax").count(), 3 * 3);

    let committed: Vec<_> = table.rows_where("PricingCategory", "Committed").collect();
    assert!(!committed.is_empty());
    for row in committed {
        assert_eq!(table.decimal(row, "BilledCost"), Decimal::ZERO);
        assert!(table.decimal(row, "EffectiveCost") > Decimal::ZERO);
        assert_eq!(table.get(row, "CommitmentDiscountStatus"), "Used");
    }
    let support = table.rows_where("ServiceSubcategory", "Support");
    assert!(support
        .into_iter()
        .all(|row| table.get(row, "ChargeFrequency") == "Recurring"));
    assert!(table.rows_where("ChargeCategory", "Purchase").count() >= 3 * 3);

    let distinct = |column: &str| -> BTreeSet<String> {
        table
            .records
            .iter()
            .map(|row| table.get(row, column).to_string())
            .collect()
    };
    assert_eq!(
        distinct("BillingCurrency"),
        BTreeSet::from(["EUR".into(), "USD".into()])
    );
    assert_eq!(
        distinct("ProviderName"),
        BTreeSet::from(["AWS".into(), "Microsoft".into()])
    );
}

#[test]
fn each_planted_spike_stands_out_in_its_service_that_day() {
    let demo = demo();
    let (table, spikes) = (&demo.focus, &demo.spikes);
    assert!(!demo.summary.spikes.is_empty());
    assert_eq!(spikes.records.len(), demo.summary.spikes.len());

    for (record, spike) in spikes.records.iter().zip(&demo.summary.spikes) {
        let day: NaiveDate = spikes.get(record, "day").parse().expect("a date");
        let factor: u32 = spikes.get(record, "factor").parse().expect("a number");
        assert_eq!((day, factor), (spike.day, spike.factor));
        assert!((5..=20).contains(&factor));

        let mut daily: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
        for row in table.rows_where("SubAccountId", spikes.get(record, "SubAccountId")) {
            let service = table.get(row, "ServiceName") == spikes.get(record, "ServiceName");
            if service && table.get(row, "ChargeCategory") == "Usage" {
                let day = day_of(table.get(row, "ChargePeriodStart"));
                *daily.entry(day).or_default() += table.decimal(row, "EffectiveCost");
            }
        }
        let normal = median(daily.values().copied().collect());
        let threshold = normal * Decimal::from(factor) / Decimal::TWO;
        assert!(
            daily[&day] >= threshold,
            "{spike:?}: {} < {threshold}",
            daily[&day]
        );
    }
}

#[test]
fn every_charge_period_is_half_open_and_inside_its_billing_period() {
    let table = &demo().focus;
    for row in &table.records {
        let charge_start = timestamp(table.get(row, "ChargePeriodStart"));
        let charge_end = timestamp(table.get(row, "ChargePeriodEnd"));
        let billing_start = timestamp(table.get(row, "BillingPeriodStart"));
        let billing_end = timestamp(table.get(row, "BillingPeriodEnd"));

        assert!(charge_start < charge_end, "{row:?}");
        assert!(
            billing_start <= charge_start && charge_start < billing_end,
            "{row:?}"
        );
        assert!(charge_end <= billing_end, "{row:?}");
        assert_eq!(billing_start.day(), 1);
        assert_eq!(
            billing_end.date(),
            billing_start
                .date()
                .checked_add_months(chrono::Months::new(1))
                .unwrap()
        );
        if table.get(row, "ChargeCategory") == "Usage" {
            assert_eq!((charge_end - charge_start).num_days(), 1, "{row:?}");
        }
    }
}

#[test]
fn costs_are_exact_products_of_pricing_quantity_and_unit_price() {
    let table = &demo().focus;
    for row in &table.records {
        for column in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
            assert!(
                table.decimal(row, column).scale() <= 10,
                "{column} in {row:?}"
            );
        }
        let quantity = table.optional_decimal(row, "PricingQuantity");
        if let (Some(quantity), Some(price)) =
            (quantity, table.optional_decimal(row, "ListUnitPrice"))
        {
            assert_eq!(quantity * price, table.decimal(row, "ListCost"), "{row:?}");
        }
        if let (Some(quantity), Some(price)) =
            (quantity, table.optional_decimal(row, "ContractedUnitPrice"))
        {
            assert_eq!(
                quantity * price,
                table.decimal(row, "ContractedCost"),
                "{row:?}"
            );
        }
        if table.get(row, "ChargeCategory") == "Usage" {
            assert!(
                table.decimal(row, "ListCost") >= table.decimal(row, "EffectiveCost"),
                "{row:?}"
            );
            assert!(
                table.decimal(row, "ConsumedQuantity") > Decimal::ZERO,
                "{row:?}"
            );
        }
    }
}

#[test]
fn commitment_fees_match_the_amortised_usage_they_cover() {
    let table = &demo().focus;
    let mut balance: BTreeMap<(&str, &str), Decimal> = BTreeMap::new();
    for row in &table.records {
        let id = table.get(row, "CommitmentDiscountId");
        if !id.is_empty() {
            let key = (id, table.get(row, "BillingPeriodStart"));
            *balance.entry(key).or_default() +=
                table.decimal(row, "BilledCost") - table.decimal(row, "EffectiveCost");
        }
    }
    assert!(!balance.is_empty());
    assert!(balance.values().all(Decimal::is_zero), "{balance:?}");
}

#[test]
fn tags_are_json_objects_with_keys_sometimes_missing() {
    let table = &demo().focus;
    let mut untagged_team = 0;
    for row in table.rows_where("ChargeCategory", "Usage") {
        let tags: serde_json::Value = serde_json::from_str(table.get(row, "Tags")).expect("JSON");
        let tags = tags.as_object().expect("an object");
        assert!(tags.values().all(serde_json::Value::is_string));
        untagged_team += usize::from(!tags.contains_key("team"));
    }
    assert!(untagged_team > 0);
}

#[test]
fn scale_multiplies_the_row_count_in_proportion() {
    let (small, large) = (TempDir::new("scale1"), TempDir::new("scale3"));
    let one = generate(&options(&small.0, 5, 30, 1))
        .expect("generated")
        .rows as f64;
    let three = generate(&options(&large.0, 5, 30, 3))
        .expect("generated")
        .rows as f64;
    let ratio = three / one;
    assert!((2.8..=3.2).contains(&ratio), "{three} / {one} = {ratio}");
}

#[test]
fn zero_days_or_zero_scale_is_rejected_before_writing() {
    let dir = TempDir::new("invalid");
    for (days, scale) in [(0, 1), (1, 0), (5_000, 1)] {
        let error = generate(&options(&dir.0, 1, days, scale)).expect_err("invalid options");
        assert!(matches!(error, GenerateError::InvalidOptions(_)), "{error}");
    }
    assert!(!dir.0.exists());
}

#[test]
fn a_single_day_range_still_has_a_spike_and_every_account_charge() {
    let dir = TempDir::new("one-day");
    let summary = generate(&options(&dir.0, 3, 1, 1)).expect("generated");
    assert_eq!(summary.files.len(), 2);
    assert_eq!(summary.spikes.len(), 1);
    assert_eq!(summary.totals.len(), 3);
}

#[test]
fn unwritable_directory_names_the_path() {
    let dir = TempDir::new("blocked");
    std::fs::write(&dir.0, b"a file, not a directory").expect("written");
    let error = generate(&options(&dir.0.join("out"), 1, 3, 1)).expect_err("cannot create");
    assert!(
        error.to_string().contains(&*dir.0.to_string_lossy()),
        "{error}"
    );
    let _ = std::fs::remove_file(&dir.0);
}

/// About a million rows, for the release-build throughput figure:
/// `cargo test --release -p costflow-generate -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput_of_a_million_rows() {
    let dir = TempDir::new("million");
    let started = Instant::now();
    let summary = generate(&options(&dir.0, 11, 90, 36)).expect("generated");
    let seconds = started.elapsed().as_secs_f64();
    let bytes: u64 = summary
        .files
        .iter()
        .map(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
        .sum();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM"))
                .map(str::to_string)
        });
    println!(
        "{} rows, {} MB in {seconds:.2} s: {:.0} rows/s; peak memory {}",
        summary.rows,
        bytes / 1_000_000,
        summary.rows as f64 / seconds,
        peak.unwrap_or_default()
    );
}

/// The demo's 40 days before 2026-10-01 in `layout`: for `AzureExport` the Azure
/// enterprise agreement's export runs, for `Cur` the AWS payer accounts' CUR
/// deliveries.
fn demo_in(name: &str, layout: Layout) -> (TempDir, GenerateSummary) {
    let dir = TempDir::new(name);
    let mut demo = options(&dir.0, 7, 40, 1);
    demo.layout = layout;
    let summary = generate(&demo).expect("generated");
    (dir, summary)
}

#[test]
fn azure_export_runs_name_every_part_with_its_rows_and_bytes() {
    let (_dir, summary) = demo_in("azure-manifest", Layout::AzureExport);
    let manifests: Vec<&PathBuf> = summary
        .files
        .iter()
        .filter(|path| path.ends_with("manifest.json"))
        .collect();
    // 40 days before 2026-10-01 cover August and September.
    assert_eq!(manifests.len(), 2, "{:?}", summary.files);

    let (mut rows, mut most_parts) = (0, 0);
    for manifest in manifests {
        let run = manifest.parent().expect("run folder");
        let folder = run
            .parent()
            .and_then(Path::file_name)
            .expect("period folder");
        assert!(
            ["20260801-20260831", "20260901-20260930"].contains(&folder.to_str().unwrap()),
            "{folder:?}"
        );
        let text = std::fs::read_to_string(manifest).expect("manifest");
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(json["exportConfig"]["type"], "AmortizedCost");
        let blobs = json["blobs"].as_array().expect("blobs");
        assert_eq!(json["blobCount"], blobs.len());
        most_parts = most_parts.max(blobs.len());

        let mut run_rows = 0;
        for blob in blobs {
            let part = run.join(blob["blobName"].as_str().expect("name"));
            let bytes = std::fs::metadata(&part).expect("part exists").len();
            assert_eq!(blob["byteCount"], bytes, "{}", part.display());
            let part_rows = csv::Reader::from_path(&part)
                .expect("part")
                .records()
                .count() as u64;
            assert!(part_rows <= parts::PART_ROWS);
            assert_eq!(blob["dataRowCount"], part_rows, "{}", part.display());
            run_rows += part_rows;
        }
        assert_eq!(json["dataRowCount"], run_rows);
        rows += run_rows;
    }
    assert_eq!(rows, summary.rows);
    assert!(
        most_parts >= 2,
        "September is cut into parts of {} rows",
        parts::PART_ROWS
    );
}

#[test]
fn azure_export_carries_the_focus_amounts_of_the_azure_account_only() {
    let (dir, summary) = demo_in("azure-amounts", Layout::AzureExport);
    let focus_dir = TempDir::new("azure-amounts-focus");
    let focus = generate(&options(&focus_dir.0, 7, 40, 1)).expect("generated");

    // The summary lists the Azure enterprise agreement alone, with the very sums
    // and rows of its FOCUS rows.
    let azure_key = ("86115370".to_owned(), "EUR".to_owned());
    assert_eq!(summary.totals.keys().collect::<Vec<_>>(), [&azure_key]);
    assert_eq!(summary.totals[&azure_key], focus.totals[&azure_key]);

    // Re-read from the parts as an amortized export is read: usage a reservation
    // covered is not billed again, a reservation purchase is not effective cost.
    let parts: Vec<PathBuf> = summary
        .files
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "csv"))
        .filter(|path| !path.ends_with("spikes.csv"))
        .cloned()
        .collect();
    let table = Table::read(&parts);
    let (mut billed, mut effective) = (Decimal::ZERO, Decimal::ZERO);
    for record in &table.records {
        let cost = table.decimal(record, "CostInBillingCurrency");
        let reserved = table.get(record, "PricingModel") == "Reservation";
        match table.get(record, "ChargeType") {
            "Usage" if reserved => effective += cost,
            "Purchase" if reserved => billed += cost,
            _ => {
                billed += cost;
                effective += cost;
            }
        }
        assert!(
            NaiveDate::parse_from_str(table.get(record, "Date"), "%m/%d/%Y").is_ok(),
            "EA dates are MM/DD/YYYY"
        );
        assert!(!table.get(record, "Tags").starts_with('{'));
    }
    let totals = &summary.totals[&azure_key];
    assert_eq!(
        (billed, effective),
        (totals.billed_cost, totals.effective_cost)
    );
    assert_eq!(table.records.len() as u64, totals.rows);
    let reserved_usage = table
        .rows_where("PricingModel", "Reservation")
        .filter(|record| table.get(record, "ChargeType") == "Usage")
        .count();
    assert!(reserved_usage > 0, "the demo has reservation-covered usage");

    // Spikes are listed only where the export has rows.
    assert!(summary
        .spikes
        .iter()
        .all(|spike| spike.billing_account_id == "86115370"));
    drop(dir);
}

#[test]
fn cur_manifests_name_every_part_by_its_key_under_the_account_folder() {
    let (dir, summary) = demo_in("cur-manifest", Layout::Cur);
    let manifests: Vec<&PathBuf> = summary
        .files
        .iter()
        .filter(|path| path.ends_with("costflow-demo-Manifest.json"))
        .collect();
    // Two payer accounts, August and September, a manifest in the assembly's
    // folder and a copy in the period's.
    assert_eq!(manifests.len(), 8, "{:?}", summary.files);

    let (mut rows, mut most_parts) = (0, 0);
    let mut periods = BTreeSet::new();
    for manifest in manifests {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(manifest).expect("manifest"))
                .expect("JSON");
        let account = json["account"].as_str().expect("account");
        assert!(
            ["418295730164", "772104938215"].contains(&account),
            "{account}"
        );
        let period = json["billingPeriod"]["start"].as_str().expect("start");
        periods.insert(period.to_owned());
        let in_assembly = manifest
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|folder| folder == json["assemblyId"].as_str().expect("assembly id"));
        let keys = json["reportKeys"].as_array().expect("report keys");
        most_parts = most_parts.max(keys.len());
        for key in keys {
            let key = key.as_str().expect("key");
            assert!(key.starts_with("costflow-demo/2026"), "{key}");
            let part = dir.0.join(account).join(key);
            let part_rows = csv::Reader::from_path(&part)
                .unwrap_or_else(|e| panic!("{}: {e}", part.display()))
                .records()
                .count() as u64;
            assert!(part_rows <= parts::PART_ROWS);
            if in_assembly {
                rows += part_rows;
            }
        }
    }
    assert_eq!(
        periods.into_iter().collect::<Vec<_>>(),
        ["20260801T000000.000Z", "20260901T000000.000Z"]
    );
    assert_eq!(rows, summary.rows);
    assert!(most_parts >= 2, "parts of {} rows", parts::PART_ROWS);
}

#[test]
fn cur_lines_carry_the_focus_amounts_of_the_aws_accounts() {
    let (_dir, summary) = demo_in("cur-amounts", Layout::Cur);
    let focus_dir = TempDir::new("cur-amounts-focus");
    let focus = generate(&options(&focus_dir.0, 7, 40, 1)).expect("generated");
    let aws: Vec<&(String, String)> = focus
        .totals
        .keys()
        .filter(|(_, currency)| currency == "USD")
        .collect();
    assert_eq!(summary.totals.keys().collect::<Vec<_>>(), aws);

    let parts: Vec<PathBuf> = summary
        .files
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "csv"))
        .filter(|path| !path.ends_with("spikes.csv"))
        .cloned()
        .collect();
    let table = Table::read(&parts);
    // BilledCost is every line's unblended cost; EffectiveCost follows the line
    // type as the CUR table in costflow-ingest's `cur` module gives it.
    let mut sums: BTreeMap<String, (Decimal, Decimal, u64)> = BTreeMap::new();
    let mut types = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for record in &table.records {
        let zero_or = |column| table.optional_decimal(record, column).unwrap_or_default();
        let kind = table.get(record, "lineItem/LineItemType");
        let effective = match kind {
            "DiscountedUsage" => table.decimal(record, "reservation/EffectiveCost"),
            "SavingsPlanCoveredUsage" => {
                table.decimal(record, "savingsPlan/SavingsPlanEffectiveCost")
            }
            "SavingsPlanNegation" => Decimal::ZERO,
            "RIFee" => {
                zero_or("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod")
                    + zero_or("reservation/UnusedRecurringFee")
            }
            "SavingsPlanRecurringFee" => {
                zero_or("savingsPlan/TotalCommitmentToDate") - zero_or("savingsPlan/UsedCommitment")
            }
            "Usage" | "Fee" | "Credit" | "Tax" => table.decimal(record, "lineItem/UnblendedCost"),
            other => panic!("unexpected line item type {other}"),
        };
        types.insert(kind.to_owned());
        let sum = sums
            .entry(table.get(record, "bill/PayerAccountId").to_owned())
            .or_default();
        sum.0 += table.decimal(record, "lineItem/UnblendedCost");
        sum.1 += effective;
        sum.2 += 1;
        assert!(ids.insert(table.get(record, "identity/LineItemId").to_owned()));
        assert_eq!(table.get(record, "identity/LineItemId").len(), 52);
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        [
            "Credit",
            "DiscountedUsage",
            "Fee",
            "RIFee",
            "SavingsPlanCoveredUsage",
            "SavingsPlanNegation",
            "SavingsPlanRecurringFee",
            "Tax",
            "Usage"
        ]
    );
    let negations = table
        .rows_where("lineItem/LineItemType", "SavingsPlanNegation")
        .count() as u64;
    let covered = table.rows_where("lineItem/LineItemType", "SavingsPlanCoveredUsage");
    assert_eq!(negations, covered.count() as u64);
    let mut focus_rows = 0;
    for (key, totals) in &summary.totals {
        let focus = &focus.totals[key];
        let (billed, effective, lines) = sums[&key.0];
        assert_eq!(
            (billed, effective),
            (focus.billed_cost, focus.effective_cost),
            "{key:?}"
        );
        assert_eq!(
            (totals.billed_cost, totals.effective_cost),
            (billed, effective)
        );
        assert_eq!(totals.rows, lines, "{key:?}");
        focus_rows += focus.rows;
    }
    // Each negation comes on top of the FOCUS rows.
    assert_eq!(table.records.len() as u64, focus_rows + negations);
    assert!(table
        .rows_where("resourceTags/user:team", "")
        .any(|record| table.get(record, "lineItem/LineItemType") == "Usage"));
    assert!(
        summary
            .spikes
            .iter()
            .all(|spike| ["418295730164", "772104938215"]
                .contains(&spike.billing_account_id.as_str()))
    );
}
