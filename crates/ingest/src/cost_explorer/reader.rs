//! One page's groups into records and rejects. No I/O: the fetch hands pages in.

use std::collections::{BTreeMap, HashSet};

use chrono::{NaiveDate, Utc};
use costflow_model::{CostRecord, RecordKey, Reject};
use rust_decimal::Decimal;

use super::api::{Group, Grouping, Page, Query};
use super::{
    month_start, next_month_start, DATASET, METRICS, NET_AMORTIZED_COST, PROVIDER, UNBLENDED_COST,
};
use crate::text;
use crate::Row;

/// The service name Cost Explorer files tax under.
const TAX_SERVICE: &str = "Tax";

/// What every page of one fetch is read with.
#[derive(Debug)]
pub struct FetchContext {
    /// BillingAccountId of every record.
    pub billing_account: String,
    /// The fetch's first day, inclusive.
    pub start: NaiveDate,
    /// The fetch's last day, exclusive.
    pub end: NaiveDate,
    /// Source version of every record.
    pub source_version: i64,
    /// Linked account id to its name, from every page read so far.
    pub descriptions: BTreeMap<String, String>,
    /// Record keys already made in this fetch: a second group with the same key
    /// would collapse into the first in the store and its cost would be lost.
    seen: HashSet<String>,
}

impl FetchContext {
    /// A context for a fetch of `[start, end)`.
    pub fn new(billing_account: &str, start: NaiveDate, end: NaiveDate, version: i64) -> Self {
        Self {
            billing_account: billing_account.to_owned(),
            start,
            end,
            source_version: version,
            descriptions: BTreeMap::new(),
            seen: HashSet::new(),
        }
    }
}

/// Why one group was refused.
struct Refusal {
    column: &'static str,
    value: Option<String>,
    reason: String,
}

impl Refusal {
    fn new(column: &'static str, value: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            column,
            value: value.map(Reject::clip),
            reason: reason.into(),
        }
    }
}

/// Every group of the page as a record or a reject, in page order. `line` of
/// both is the group's 1-based index within the page.
pub fn read_page(context: &mut FetchContext, query: &Query, uri: &str, page: &Page) -> Vec<Row> {
    context.descriptions.extend(
        page.descriptions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let mut rows = Vec::new();
    let mut index: i64 = 0;
    for result in &page.results {
        for group in &result.groups {
            index += 1;
            let row = match record(context, query, result, group) {
                Ok(mut record) => {
                    record.source_uri = uri.to_owned();
                    record.source_line = Some(index);
                    Row::Record(Box::new(record))
                }
                Err(refusal) => Row::Reject(Reject {
                    source_provider: PROVIDER.to_owned(),
                    source_dataset: DATASET.to_owned(),
                    source_uri: uri.to_owned(),
                    line: Some(index),
                    column: Some(refusal.column.to_owned()),
                    value: refusal.value,
                    reason: refusal.reason,
                    rejected_at: Utc::now(),
                }),
            };
            rows.push(row);
        }
    }
    rows
}

/// The groups' keys of the page for one grouping, e.g. every linked account.
pub fn keys_of(query: &Query, page: &Page, grouping: &Grouping) -> Vec<String> {
    let Some(position) = query.group_by.iter().position(|g| g == grouping) else {
        return Vec::new();
    };
    page.results
        .iter()
        .flat_map(|result| &result.groups)
        .filter_map(|group| group.keys.get(position).cloned())
        .collect()
}

fn record(
    context: &mut FetchContext,
    query: &Query,
    result: &super::api::TimeResult,
    group: &Group,
) -> Result<CostRecord, Refusal> {
    let (charge_start, charge_end) = charge_period(context, &result.start, &result.end)?;
    let keys = GroupKeys::read(query, group)?;
    let (billed, effective, net, currency) = costs(group)?;

    let key = RecordKey::new()
        .part(PROVIDER)
        .part(DATASET)
        .part(&context.billing_account)
        .part(&keys.linked_account)
        .part(&keys.service)
        .part(keys.tag_group_key.as_deref().unwrap_or(""))
        .part(charge_start.to_string())
        .part(charge_end.to_string())
        .part(METRICS.join(","))
        .finish();
    if !context.seen.insert(key.clone()) {
        return Err(Refusal::new(
            "Keys",
            Some(&group.keys.join(",")),
            format!(
                "a second group for the same account, service, tag and day \
                 [{charge_start}, {charge_end}) in one fetch; the first one was kept"
            ),
        ));
    }

    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let category = if keys.service == TAX_SERVICE {
        "Tax"
    } else {
        "Usage"
    };
    let mut record = CostRecord::new(
        context.billing_account.clone(),
        currency,
        [
            midnight(month_start(charge_start)),
            midnight(next_month_start(charge_start)),
        ],
        [midnight(charge_start), midnight(charge_end)],
        category,
        billed,
        effective,
    );
    record.record_key = key;
    record.source_provider = PROVIDER.to_owned();
    record.source_dataset = DATASET.to_owned();
    record.source_version = context.source_version;
    record.provider_name = Some(PROVIDER.to_owned());
    record.service_name = Some(keys.service);
    record.sub_account_name = context.descriptions.get(&keys.linked_account).cloned();
    record.sub_account_id = Some(keys.linked_account);
    if let Some((tag_key, tag_value)) = keys.tag {
        let mut tags = text::Tags::default();
        tags.insert(&tag_key, tag_value);
        record.tags = tags.tags;
    }
    record
        .extensions
        .insert(format!("x_{NET_AMORTIZED_COST}"), net.to_string());
    if result.estimated {
        record
            .extensions
            .insert("x_Estimated".to_owned(), "true".to_owned());
    }
    Ok(record)
}

/// A group's keys, by meaning.
struct GroupKeys {
    linked_account: String,
    service: String,
    /// The raw `KEY$VALUE` group key, when grouped by a tag.
    tag_group_key: Option<String>,
    /// The tag, when the group has a value for it (not untagged).
    tag: Option<(String, String)>,
}

impl GroupKeys {
    fn read(query: &Query, group: &Group) -> Result<Self, Refusal> {
        if group.keys.len() != query.group_by.len() {
            return Err(Refusal::new(
                "Keys",
                Some(&group.keys.join(",")),
                format!(
                    "{} group keys where the request grouped by {}",
                    group.keys.len(),
                    query.group_by.len()
                ),
            ));
        }
        let mut linked_account = query.linked_account.clone();
        let mut service = None;
        let mut tag_group_key = None;
        let mut tag = None;
        for (grouping, key) in query.group_by.iter().zip(&group.keys) {
            match grouping {
                Grouping::LinkedAccount => linked_account = Some(key.clone()),
                Grouping::Service => service = Some(key.clone()),
                Grouping::Tag(tag_key) => {
                    tag = tag_value(tag_key, key)?;
                    tag_group_key = Some(key.clone());
                }
            }
        }
        let linked_account = linked_account
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| Refusal::new("LINKED_ACCOUNT", None, "no linked account"))?;
        let service = service
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Refusal::new("SERVICE", None, "no service name"))?;
        Ok(Self {
            linked_account,
            service,
            tag_group_key,
            tag,
        })
    }
}

/// The tag of a `KEY$VALUE` group key: `None` for `KEY$` (untagged).
fn tag_value(tag_key: &str, group_key: &str) -> Result<Option<(String, String)>, Refusal> {
    let refuse = |why: &str| {
        Refusal::new(
            "TAG",
            Some(group_key),
            format!("tag group key is not `{tag_key}$VALUE`: {why}"),
        )
    };
    let (key, value) = group_key.split_once('$').ok_or_else(|| refuse("no `$`"))?;
    if key != tag_key {
        return Err(refuse("another tag key"));
    }
    if value.is_empty() {
        return Ok(None);
    }
    Ok(Some((key.to_owned(), value.to_owned())))
}

/// The result's period as days; it must lie in the fetch and in one month.
fn charge_period(
    context: &FetchContext,
    start: &str,
    end: &str,
) -> Result<(NaiveDate, NaiveDate), Refusal> {
    let day = |text: &str| NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok();
    let first = day(start)
        .ok_or_else(|| Refusal::new("TimePeriod.Start", Some(start), "not a YYYY-MM-DD date"))?;
    let last = day(end)
        .ok_or_else(|| Refusal::new("TimePeriod.End", Some(end), "not a YYYY-MM-DD date"))?;
    let period = format!("{start}/{end}");
    if last <= first {
        return Err(Refusal::new(
            "TimePeriod",
            Some(&period),
            "the period ends before it starts",
        ));
    }
    if first < context.start || last > context.end {
        return Err(Refusal::new(
            "TimePeriod",
            Some(&period),
            format!(
                "outside the requested range [{}, {})",
                context.start, context.end
            ),
        ));
    }
    if last > next_month_start(first) {
        return Err(Refusal::new(
            "TimePeriod",
            Some(&period),
            "the period spans two billing periods (calendar months)",
        ));
    }
    Ok((first, last))
}

/// BilledCost, EffectiveCost, NetAmortizedCost and their one currency.
fn costs(group: &Group) -> Result<(Decimal, Decimal, Decimal, String), Refusal> {
    let mut amounts = [Decimal::ZERO; 3];
    let mut currency: Option<&str> = None;
    for (slot, name) in amounts.iter_mut().zip(METRICS) {
        let metric = group
            .metrics
            .get(name)
            .ok_or_else(|| Refusal::new(name, None, "metric missing from the group"))?;
        let amount = metric.amount.as_deref().unwrap_or("");
        *slot = text::decimal(amount).map_err(|why| Refusal::new(name, Some(amount), why))?;
        let unit = metric.unit.as_deref().unwrap_or("");
        if !text::is_currency_code(unit) {
            return Err(Refusal::new(
                name,
                Some(unit),
                "unit is not an ISO 4217 currency code",
            ));
        }
        match currency {
            None => currency = Some(unit),
            Some(first) if first == unit => {}
            Some(first) => {
                return Err(Refusal::new(
                    name,
                    Some(unit),
                    format!("unit differs from {UNBLENDED_COST}'s {first}"),
                ))
            }
        }
    }
    let currency = currency.unwrap_or_default().to_owned();
    let [billed, effective, net] = amounts;
    Ok((billed, effective, net, currency))
}

#[cfg(test)]
mod tests {
    use super::super::api::{Metric, TimeResult};
    use super::super::AMORTIZED_COST;
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn metric(amount: &str, unit: &str) -> Metric {
        Metric {
            amount: Some(amount.to_owned()),
            unit: Some(unit.to_owned()),
        }
    }

    fn group(keys: &[&str], amounts: [&str; 3]) -> Group {
        Group {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            metrics: METRICS
                .iter()
                .zip(amounts)
                .map(|(name, amount)| ((*name).to_owned(), metric(amount, "USD")))
                .collect(),
        }
    }

    fn tag_query() -> Query {
        Query {
            start: day("2024-09-01"),
            end: day("2024-10-01"),
            group_by: vec![Grouping::Service, Grouping::Tag("Environment".to_owned())],
            linked_account: Some("111122223333".to_owned()),
        }
    }

    fn page(start: &str, end: &str, estimated: bool, groups: Vec<Group>) -> Page {
        Page {
            results: vec![TimeResult {
                start: start.to_owned(),
                end: end.to_owned(),
                estimated,
                groups,
            }],
            ..Page::default()
        }
    }

    fn context() -> FetchContext {
        FetchContext::new("999988887777", day("2024-09-01"), day("2024-10-01"), 7)
    }

    fn records(rows: &[Row]) -> Vec<&CostRecord> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Record(record) => Some(record.as_ref()),
                Row::Reject(_) => None,
            })
            .collect()
    }

    fn rejects(rows: &[Row]) -> Vec<&Reject> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Reject(reject) => Some(reject),
                Row::Record(_) => None,
            })
            .collect()
    }

    #[test]
    fn tag_groups_become_tags_and_untagged_has_none() {
        let page = page(
            "2024-09-03",
            "2024-09-04",
            false,
            vec![
                group(
                    &["Amazon Simple Storage Service", "Environment$"],
                    ["40.3543773134", "40.35", "40.30"],
                ),
                group(
                    &["Amazon Simple Storage Service", "Environment$Dev"],
                    ["0.2682364644", "0.2682364644", "0.2682364644"],
                ),
            ],
        );
        let rows = read_page(&mut context(), &tag_query(), "aws-ce://x", &page);
        let records = records(&rows);
        assert_eq!(records.len(), 2);
        assert!(records[0].tags.is_empty());
        assert_eq!(records[1].tags["Environment"], "Dev");
        let first = records[0];
        assert_eq!(first.billing_account_id, "999988887777");
        assert_eq!(first.sub_account_id.as_deref(), Some("111122223333"));
        assert_eq!(first.billed_cost.to_string(), "40.3543773134");
        assert_eq!(first.effective_cost.to_string(), "40.35");
        assert_eq!(first.extensions["x_NetAmortizedCost"], "40.3");
        assert_eq!(first.charge_category, "Usage");
        assert_eq!(
            first.billing_period_start.to_rfc3339(),
            "2024-09-01T00:00:00+00:00"
        );
        assert_eq!(
            first.billing_period_end.to_rfc3339(),
            "2024-10-01T00:00:00+00:00"
        );
        assert_eq!(
            first.charge_period_end.to_rfc3339(),
            "2024-09-04T00:00:00+00:00"
        );
        assert_eq!(first.source_line, Some(1));
        assert!(!first.extensions.contains_key("x_Estimated"));
        assert_ne!(records[0].record_key, records[1].record_key);
    }

    #[test]
    fn the_same_group_fetched_again_has_the_same_key_and_is_marked_estimated() {
        let groups = || vec![group(&["Tax", "Environment$"], ["1", "1", "1"])];
        let estimated = page("2024-09-03", "2024-09-04", true, groups());
        let final_ = page("2024-09-03", "2024-09-04", false, groups());
        let first = read_page(&mut context(), &tag_query(), "a", &estimated);
        let second = read_page(&mut context(), &tag_query(), "b", &final_);
        let (first, second) = (records(&first)[0], records(&second)[0]);
        assert_eq!(first.record_key, second.record_key);
        assert_eq!(first.extensions["x_Estimated"], "true");
        assert!(!second.extensions.contains_key("x_Estimated"));
        assert_eq!(first.charge_category, "Tax");
    }

    #[test]
    fn bad_groups_are_rejected_by_page_index_and_column() {
        let mut missing = group(&["S3", "Environment$Dev"], ["1", "1", "1"]);
        missing.metrics.remove(AMORTIZED_COST);
        let mut euro = group(&["EC2", "Environment$Dev"], ["1", "1", "1"]);
        euro.metrics
            .insert(NET_AMORTIZED_COST.to_owned(), metric("1", "EUR"));
        let page = page(
            "2024-09-03",
            "2024-09-04",
            false,
            vec![
                group(&["S3", "Environment$"], ["1.5", "1", "1"]),
                missing,
                group(&["S3", "Owner$x"], ["1", "1", "1"]),
                group(&["Lambda", "Environment$Dev"], ["1,5", "1", "1"]),
                euro,
                group(&["S3", "Environment$"], ["1.5", "1", "1"]),
                group(&["S3"], ["1", "1", "1"]),
            ],
        );
        let rows = read_page(&mut context(), &tag_query(), "aws-ce://p", &page);
        assert_eq!(records(&rows).len(), 1);
        let found: Vec<(Option<i64>, Option<&str>)> = rejects(&rows)
            .iter()
            .map(|r| (r.line, r.column.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                (Some(2), Some(AMORTIZED_COST)),
                (Some(3), Some("TAG")),
                (Some(4), Some(UNBLENDED_COST)),
                (Some(5), Some(NET_AMORTIZED_COST)),
                (Some(6), Some("Keys")),
                (Some(7), Some("Keys")),
            ]
        );
        assert!(rejects(&rows).iter().all(|r| r.source_uri == "aws-ce://p"));
    }

    #[test]
    fn periods_outside_the_fetch_or_across_months_are_rejected() {
        let groups = || vec![group(&["S3", "Environment$"], ["1", "1", "1"])];
        for (start, end) in [
            ("2024-08-31", "2024-09-01"),
            ("2024-09-30", "2024-10-02"),
            ("2024-09-05", "2024-09-05"),
            ("09/05/2024", "2024-09-06"),
        ] {
            let rows = read_page(
                &mut context(),
                &tag_query(),
                "u",
                &page(start, end, false, groups()),
            );
            assert_eq!(rejects(&rows).len(), 1, "{start} {end}");
        }
    }

    #[test]
    fn linked_accounts_come_from_keys_and_names_from_attributes() {
        let query = Query {
            group_by: vec![Grouping::LinkedAccount, Grouping::Service],
            linked_account: None,
            ..tag_query()
        };
        let mut page = page(
            "2024-09-01",
            "2024-09-02",
            false,
            vec![group(&["111122223333", "S3"], ["2", "2", "2"])],
        );
        page.descriptions
            .insert("111122223333".to_owned(), "Dev team".to_owned());
        assert_eq!(
            keys_of(&query, &page, &Grouping::LinkedAccount),
            ["111122223333"]
        );
        let rows = read_page(&mut context(), &query, "u", &page);
        let record = records(&rows)[0];
        assert_eq!(record.sub_account_name.as_deref(), Some("Dev team"));
        assert_eq!(record.service_name.as_deref(), Some("S3"));
    }
}
