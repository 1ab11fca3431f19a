//! Refreshing the daily projection after an insert.
//!
//! A period's projection is a generation of `cost_daily` rows stamped with its
//! `refreshed_at`; readers use only the newest generation `cost_daily_refresh`
//! lists for the period. After an insert, each period it touched gets a new
//! generation: its current one plus the insert's rows where that is provably
//! exact, otherwise a recompute from all of the period's line items.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use chrono::Utc;

use crate::line_items::{Inserted, PeriodRows};
use crate::projection::BillingPeriodKey;
use crate::{ch_err, Store, StoreError};

/// How a refresh brought its billing periods up to date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Periods whose new generation is the current one plus the insert's rows.
    pub incremental: u64,
    /// Periods recomputed from all their line items.
    pub recomputed: u64,
}

impl std::ops::AddAssign for RefreshReport {
    fn add_assign(&mut self, other: Self) {
        self.incremental += other.incremental;
        self.recomputed += other.recomputed;
    }
}

/// A billing period as ClickHouse returns it: account id and period start in
/// seconds.
type PeriodId<'a> = (&'a str, u32);

/// A billing period and one of its source versions.
type PeriodAt<'a> = (PeriodId<'a>, i64);

/// A period as ClickHouse names it: its start in the seconds of a `DateTime`.
fn period_id(period: &BillingPeriodKey) -> PeriodId<'_> {
    let start = u32::try_from(period.billing_period_start.timestamp()).unwrap_or(0);
    (period.billing_account_id.as_str(), start)
}

/// A new generation's stamp: microseconds, which keep generations ordered even
/// when two are made in one second.
fn stamp() -> u64 {
    u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0)
}

/// Most billing periods one refresh statement names.
const REFRESH_CHUNK: usize = 500;

/// Most bytes of billing account ids one refresh statement names, which keeps
/// each statement well inside ClickHouse's default 256 KiB query size whatever
/// the ids' length.
const REFRESH_CHUNK_ID_BYTES: usize = 64 * 1024;

/// `periods` in runs of at most [`REFRESH_CHUNK`] periods and
/// [`REFRESH_CHUNK_ID_BYTES`] of account ids (a run holds one period at least).
fn refresh_chunks<'a>(periods: &'a [PeriodId<'a>]) -> Vec<&'a [PeriodId<'a>]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (account, _)) in periods.iter().enumerate() {
        let len = account.len();
        if i > start && (i - start == REFRESH_CHUNK || bytes + len > REFRESH_CHUNK_ID_BYTES) {
            chunks.push(&periods[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < periods.len() {
        chunks.push(&periods[start..]);
    }
    chunks
}

/// Periods up to which a condition on periods is written as equalities joined
/// by OR rather than as one tuple `IN`. ClickHouse 18.16 evaluates the condition
/// on every row of the granules the primary key selects; on a 6-million-row
/// period the equalities for one period cost 45 ms, the tuple `IN` 200 ms, but
/// each further period adds a term to every row's evaluation where `IN` stays
/// one set lookup.
const OR_TERMS_UP_TO: usize = 8;

/// A condition on `count` periods, with a placeholder for each period's account
/// id and start (seconds), then, with `third`, one for a value `third`'s column
/// must equal.
fn periods_where(count: usize, third: Option<&str>) -> String {
    if count <= OR_TERMS_UP_TO {
        let term = match third {
            Some(column) => format!(
                "(billing_account_id = ? AND billing_period_start = toDateTime(?) \
                 AND {column} = ?)"
            ),
            None => "(billing_account_id = ? AND billing_period_start = toDateTime(?))".to_owned(),
        };
        return format!("({})", vec![term; count].join(" OR "));
    }
    match third {
        Some(column) => format!(
            "(billing_account_id, billing_period_start, {column}) IN ({})",
            vec!["(?, toDateTime(?), ?)"; count].join(", ")
        ),
        None => format!(
            "(billing_account_id, billing_period_start) IN ({})",
            vec!["(?, toDateTime(?))"; count].join(", ")
        ),
    }
}

/// A condition on `count` periods: the period, with placeholders as
/// [`periods_where`] has, and `source_version` above the value bound third.
/// Equalities joined by OR whatever the count: the primary key, which sorts a
/// period's rows by version, narrows it to the rows it holds, mostly none.
fn newer_versions_where(count: usize) -> String {
    let term = "(billing_account_id = ? AND billing_period_start = toDateTime(?) \
         AND source_version > ?)";
    format!("({})", vec![term; count].join(" OR "))
}

/// A condition on `count` periods (see [`periods_where`]).
fn periods_in(count: usize) -> String {
    periods_where(count, None)
}

/// A condition on `count` periods and a value of `column` for each (see
/// [`periods_where`]).
fn periods_and_in(column: &str, count: usize) -> String {
    periods_where(count, Some(column))
}

fn bind_periods(
    mut query: clickhouse::query::Query,
    periods: &[PeriodId<'_>],
) -> clickhouse::query::Query {
    for (account, start) in periods {
        query = query.bind(*account).bind(*start);
    }
    query
}

/// Binds each period with a value for [`periods_and_in`]'s third column.
fn bind_periods_and<T: clickhouse::sql::Bind + Copy>(
    mut query: clickhouse::query::Query,
    periods: &[(PeriodId<'_>, T)],
) -> clickhouse::query::Query {
    for ((account, start), value) in periods {
        query = query.bind(*account).bind(*start).bind(*value);
    }
    query
}

/// ` AND insert_id != ?` where the rows of `streaming`, an insert still being
/// written, are to be left out; bind it with [`bind_leaving_out`] right after
/// the condition before it.
fn leaving_out(streaming: Option<u64>) -> &'static str {
    if streaming.is_some() {
        " AND insert_id != ?"
    } else {
        ""
    }
}

fn bind_leaving_out(
    query: clickhouse::query::Query,
    streaming: Option<u64>,
) -> clickhouse::query::Query {
    match streaming {
        Some(id) => query.bind(id),
        None => query,
    }
}

/// The `cost_daily` columns a generation writes, in the order the selects give
/// them.
const DAILY_COLUMNS: &str = "billing_account_id, billing_period_start, refreshed_at, day, \
     sub_account_id, service_name, region_id, charge_category, billing_currency, billed_cost, \
     billed_cost_rest, effective_cost, effective_cost_rest, list_cost, list_cost_rest, \
     line_items, source_version";

/// Line items summed into projection rows: the select list after account,
/// period and stamp, and the grouping that goes with it.
const LINE_ITEM_SUMS: &str = "toDate(charge_period_start) AS day, \
     ifNull(sub_account_id, '') AS sub, ifNull(service_name, '') AS service, \
     ifNull(region_id, '') AS region, charge_category, billing_currency, sum(billed_cost), \
     sum(billed_cost_rest), sum(effective_cost), sum(effective_cost_rest), sum(list_cost), \
     sum(list_cost_rest), count(), any(source_version)";
const PROJECTION_GROUP: &str = "GROUP BY billing_account_id, billing_period_start, day, sub, \
     service, region, charge_category, billing_currency";

#[derive(clickhouse::Row, serde::Serialize)]
struct RefreshRow<'a> {
    billing_account_id: &'a str,
    billing_period_start: u32,
    refreshed_at: u64,
    source_version: i64,
    line_items: u64,
    duplicate_free: u8,
    incremental: u8,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct PeriodVersion {
    billing_account_id: String,
    billing_period_start: u32,
    source_version: i64,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct PeriodDuplicates {
    billing_account_id: String,
    billing_period_start: u32,
    rows: u64,
    duplicated: u8,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct PeriodCount {
    billing_account_id: String,
    billing_period_start: u32,
    line_items: u64,
}

/// A period's current generation, as `cost_daily_refresh` lists it.
#[derive(clickhouse::Row, serde::Deserialize)]
struct Generation {
    billing_account_id: String,
    billing_period_start: u32,
    refreshed_at: u64,
    source_version: i64,
    line_items: u64,
    duplicate_free: u8,
}

/// What one query saw of a period's source version and one insert's rows in it.
#[derive(clickhouse::Row, serde::Deserialize)]
struct InsertCheck {
    billing_account_id: String,
    billing_period_start: u32,
    /// Rows of the version, those of the caller's next insert left out.
    rows: u64,
    /// Of them, the insert's.
    inserted: u64,
    /// Distinct key hashes among the insert's rows.
    inserted_hashes: u64,
    /// Rows whose key hash is one of the insert's, the insert's own included.
    sharing_hash: u64,
}

impl Store {
    /// Brings the projection of every billing period an insert stored rows in up
    /// to date; call it once ClickHouse has acknowledged the insert.
    ///
    /// Where it is exact, a period's new generation is its current one plus the
    /// insert's rows, summed, which costs in proportion to the insert, not to the
    /// period. It is exact when the current generation is duplicate-free (its
    /// line item count is the raw row count, which a recompute with `FINAL`
    /// does not give), a query run after the new generation was stamped finds
    /// no source version newer than the current generation's, and another finds
    /// that version holding exactly the current generation's line items plus the
    /// insert's rows, every one of the insert's rows still there with a key hash
    /// of its own, and no other row sharing one of those hashes. Rows are only
    /// ever added and merges only collapse rows that share a key, so the
    /// period's rows are then the counted ones and the insert's, each once.
    /// Every other period is recomputed ([`Store::recompute`]): a redelivered or
    /// re-sent record, a new source version, a first refresh, or another
    /// consumer's rows landing in the same period in between. One sequence
    /// passes the check wrongly: a re-sent record whose two copies a merge
    /// collapsed before the check, while another consumer's insert into the
    /// same period added as many rows (README, Limits); the store consumer's
    /// recompute when the topic goes quiet ([`Store::recompute_incremental`])
    /// ends it.
    ///
    /// `streaming` is the caller's next insert, if one is being written while
    /// this refresh runs: its rows, some of which may already be stored, are
    /// left out, to be refreshed after it. Periods in `recompute` are
    /// recomputed whatever the check would say: the store consumer names the
    /// periods it has not refreshed since it started, whose line items may hold
    /// rows no generation counted (blocks of an insert cut short by a crash).
    ///
    /// Each generation is stamped after the insert it follows was acknowledged
    /// and before anything is read for it, and holds every row acknowledged
    /// before its stamp; readers take the newest, which therefore holds them all.
    pub async fn refresh_inserted(
        &self,
        inserted: &Inserted,
        streaming: Option<u64>,
        recompute: &BTreeSet<BillingPeriodKey>,
    ) -> Result<RefreshReport, StoreError> {
        let started = Instant::now();
        let periods: Vec<PeriodId<'_>> = inserted.periods.keys().map(period_id).collect();
        let rows: HashMap<PeriodId<'_>, &PeriodRows> = inserted
            .periods
            .iter()
            .filter(|(p, _)| !recompute.contains(*p))
            .map(|(p, rows)| (period_id(p), rows))
            .collect();
        let mut report = RefreshReport::default();
        for chunk in refresh_chunks(&periods) {
            let chunk_added = self
                .add_insert(inserted.insert_id, streaming, &rows, chunk)
                .await?;
            report.incremental += chunk_added.len() as u64;
            let left: Vec<PeriodId<'_>> = chunk
                .iter()
                .filter(|p| !chunk_added.contains(*p))
                .copied()
                .collect();
            if !left.is_empty() {
                report.recomputed += self.recompute(&left, streaming).await?;
            }
        }
        tracing::debug!(
            periods = periods.len(),
            incremental = report.incremental,
            recomputed = report.recomputed,
            refresh_ms = started.elapsed().as_millis() as u64,
            "projection refreshed"
        );
        Ok(report)
    }

    /// Recomputes from its line items every billing period whose current
    /// generation was made incrementally, whoever made it; returns how many.
    /// The store consumer does this whenever the topic goes quiet, and at its
    /// first quiet moment after a start, so the projection is re-derived from
    /// the line items themselves and nothing an incremental refresh could get
    /// wrong outlasts the next pause, a restart included.
    pub async fn recompute_incremental(&self) -> Result<u64, StoreError> {
        let periods: Vec<(String, u32)> = self
            .client
            .query(
                "SELECT billing_account_id, toUInt32(billing_period_start) AS start \
                 FROM cost_daily_refresh GROUP BY billing_account_id, billing_period_start \
                 HAVING argMax(incremental, refreshed_at) = 1",
            )
            .fetch_all()
            .await
            .map_err(ch_err("find incrementally refreshed periods"))?;
        let ids: Vec<PeriodId<'_>> = periods.iter().map(|(a, s)| (a.as_str(), *s)).collect();
        let mut recomputed = 0;
        for chunk in refresh_chunks(&ids) {
            recomputed += self.recompute(chunk, None).await?;
        }
        Ok(recomputed)
    }

    /// Gives each period where that is exact a new generation: its current one
    /// plus the insert's rows (see [`Store::refresh_inserted`]). Returns those
    /// periods.
    async fn add_insert<'a>(
        &self,
        insert_id: u64,
        streaming: Option<u64>,
        inserted: &HashMap<PeriodId<'_>, &PeriodRows>,
        periods: &[PeriodId<'a>],
    ) -> Result<HashSet<PeriodId<'a>>, StoreError> {
        let what = || {
            format!(
                "add an insert to cost_daily for {} billing period(s)",
                periods.len()
            )
        };
        let refreshed_at = stamp();

        let generations: Vec<Generation> = bind_periods(
            self.client.query(&format!(
                "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
                   max(refreshed_at), argMax(source_version, refreshed_at), \
                   argMax(line_items, refreshed_at), argMax(duplicate_free, refreshed_at) \
                 FROM cost_daily_refresh WHERE {} \
                 GROUP BY billing_account_id, billing_period_start",
                periods_in(periods.len())
            )),
            periods,
        )
        .fetch_all()
        .await
        .map_err(ch_err(what()))?;
        // Only rows of the current generation's version can be added to it, and
        // only if its line item count is the raw row count: a generation
        // recomputed with FINAL counted rows that merges may still remove.
        let index: HashMap<PeriodId<'_>, usize> =
            periods.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let period_of =
            |account: &str, start: u32| index.get(&(account, start)).map(|&i| periods[i]);
        let mut current: HashMap<PeriodId<'a>, &Generation> = HashMap::new();
        for generation in &generations {
            let Some(period) = period_of(
                &generation.billing_account_id,
                generation.billing_period_start,
            ) else {
                continue;
            };
            if generation.duplicate_free == 1
                && inserted.get(&period).is_some_and(|rows| {
                    rows.min_version == generation.source_version
                        && rows.max_version == generation.source_version
                })
            {
                current.insert(period, generation);
            }
        }
        if current.is_empty() {
            return Ok(HashSet::new());
        }

        // A newer source version, stored by another run, replaces the period.
        let asked: Vec<PeriodAt<'a>> = current
            .iter()
            .map(|(p, g)| (*p, g.source_version))
            .collect();
        let newer: Vec<(String, u32)> = bind_leaving_out(
            bind_periods_and(
                self.client.query(&format!(
                    "SELECT DISTINCT billing_account_id, toUInt32(billing_period_start) \
                     FROM line_items WHERE {}{}",
                    newer_versions_where(asked.len()),
                    leaving_out(streaming)
                )),
                &asked,
            ),
            streaming,
        )
        .fetch_all()
        .await
        .map_err(ch_err(what()))?;
        let newer: HashSet<PeriodId<'_>> = newer.iter().map(|(a, s)| (a.as_str(), *s)).collect();
        current.retain(|p, _| !newer.contains(p));
        let versions: Vec<PeriodAt<'a>> = current
            .iter()
            .map(|(p, g)| (*p, g.source_version))
            .collect();
        if versions.is_empty() {
            return Ok(HashSet::new());
        }
        let others = match streaming {
            Some(_) => "countIf(insert_id != ?)",
            None => "count()",
        };
        let mut check = self.client.query(&format!(
            "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
               {others}, countIf(insert_id = ?), uniqExactIf(record_hash, insert_id = ?), \
               countIf(record_hash IN (SELECT record_hash FROM line_items \
                 WHERE insert_id = ? AND {versions})) \
             FROM line_items WHERE {versions} \
             GROUP BY billing_account_id, billing_period_start",
            versions = periods_and_in("source_version", versions.len())
        ));
        if let Some(next) = streaming {
            check = check.bind(next);
        }
        let check = check.bind(insert_id).bind(insert_id).bind(insert_id);
        let checks: Vec<InsertCheck> =
            bind_periods_and(bind_periods_and(check, &versions), &versions)
                .fetch_all()
                .await
                .map_err(ch_err(what()))?;
        let mut exact: Vec<(PeriodId<'a>, &Generation, u64)> = Vec::new();
        for check in &checks {
            let Some(period) = period_of(&check.billing_account_id, check.billing_period_start)
            else {
                continue;
            };
            let (Some(generation), Some(rows)) = (current.get(&period), inserted.get(&period))
            else {
                continue;
            };
            let mine = rows.rows;
            if check.rows == generation.line_items + mine
                && check.inserted == mine
                && check.inserted_hashes == mine
                && check.sharing_hash == mine
            {
                exact.push((period, generation, mine));
            }
        }
        if exact.is_empty() {
            return Ok(HashSet::new());
        }

        let bases: Vec<(PeriodId<'a>, u64)> =
            exact.iter().map(|(p, g, _)| (*p, g.refreshed_at)).collect();
        let versions: Vec<PeriodAt<'a>> = exact
            .iter()
            .map(|(p, g, _)| (*p, g.source_version))
            .collect();
        let add = self.client.query(&format!(
            "INSERT INTO cost_daily ({DAILY_COLUMNS}) \
             SELECT billing_account_id, billing_period_start, toUInt64(?), day, sub, service, \
               region, charge_category, billing_currency, sum(b), sum(br), sum(e), sum(er), \
               sum(l), sum(lr), sum(n), any(v) \
             FROM ( \
               SELECT billing_account_id, billing_period_start, day, sub_account_id AS sub, \
                 service_name AS service, region_id AS region, charge_category, \
                 billing_currency, billed_cost AS b, billed_cost_rest AS br, \
                 effective_cost AS e, effective_cost_rest AS er, list_cost AS l, \
                 list_cost_rest AS lr, line_items AS n, source_version AS v \
               FROM cost_daily WHERE {bases} \
               UNION ALL \
               SELECT billing_account_id, billing_period_start, {LINE_ITEM_SUMS} \
               FROM line_items WHERE insert_id = ? AND {versions} {PROJECTION_GROUP} \
             ) {PROJECTION_GROUP}",
            bases = periods_and_in("refreshed_at", bases.len()),
            versions = periods_and_in("source_version", versions.len()),
        ));
        bind_periods_and(
            bind_periods_and(add.bind(refreshed_at), &bases).bind(insert_id),
            &versions,
        )
        .execute()
        .await
        .map_err(ch_err(what()))?;

        // The new generation must count what the check did: if one of the
        // insert's rows collapsed with a copy another consumer wrote in between,
        // it does not, and the period is recomputed.
        let ids: Vec<PeriodId<'a>> = exact.iter().map(|(p, ..)| *p).collect();
        let counts = self.generation_counts(refreshed_at, &ids).await?;
        let added: Vec<RefreshRow<'a>> = exact
            .iter()
            .filter(|(p, g, mine)| counts.get(p).copied() == Some(g.line_items + mine))
            .map(|((account, start), g, mine)| RefreshRow {
                billing_account_id: account,
                billing_period_start: *start,
                refreshed_at,
                source_version: g.source_version,
                line_items: g.line_items + mine,
                duplicate_free: 1,
                incremental: 1,
            })
            .collect();
        if added.len() < exact.len() {
            tracing::warn!(
                periods = exact.len() - added.len(),
                "line items changed while an insert was added to the projection; recomputing"
            );
        }
        self.switch_over(refreshed_at, &added).await?;
        Ok(added
            .iter()
            .map(|r| (r.billing_account_id, r.billing_period_start))
            .collect())
    }

    /// Recomputes each given billing period's projection from the latest source
    /// version of all its line items and makes it current; returns how many
    /// periods had line items to recompute (a period whose records were all
    /// unstorable has none and is left as it was).
    ///
    /// The periods are recomputed together, a few statements for many periods:
    /// one query finds each period's latest source version, one checks which of
    /// them hold a line item twice (a redelivery, a re-sent run), one `INSERT
    /// ... SELECT` recomputes those with `FINAL` and one the rest without it,
    /// and [`Store::switch_over`] makes the result current.
    ///
    /// `FINAL` collapses duplicates but, on ClickHouse 18.16, costs about five
    /// times the plain read of the same rows; the check reads one 8-byte column.
    /// It is exact: a period counts as free of duplicates only when its rows'
    /// count equals the number of distinct 64-bit hashes of their record keys,
    /// which cannot happen if two rows share a key (rows of one period and
    /// source version that share a record key are what `FINAL` collapses). And
    /// a period recomputed without `FINAL` must count as many rows as the check
    /// did, or the recompute is done again with `FINAL`: inserts only add rows
    /// and merges only remove duplicates, so the same count means the same
    /// duplicate-free rows.
    async fn recompute(
        &self,
        periods: &[PeriodId<'_>],
        streaming: Option<u64>,
    ) -> Result<u64, StoreError> {
        let what = || {
            format!(
                "recompute cost_daily for {} billing period(s)",
                periods.len()
            )
        };
        // Each attempt is stamped before it reads anything. A period read
        // without FINAL must have been read as it was checked: if its row count
        // moved in between (another consumer replaying the same messages after
        // a rebalance, say), the attempt is made again, all of it with FINAL,
        // under a later stamp that supersedes this one.
        let mut all_final = false;
        loop {
            let refreshed_at = stamp();
            let latest = self.latest_versions(periods, streaming).await?;
            if latest.is_empty() {
                return Ok(0);
            }
            let versions: Vec<PeriodAt<'_>> = latest
                .iter()
                .map(|v| {
                    (
                        (v.billing_account_id.as_str(), v.billing_period_start),
                        v.source_version,
                    )
                })
                .collect();
            let checks: Vec<PeriodDuplicates> = bind_leaving_out(
                bind_periods_and(
                    self.client.query(&format!(
                        "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
                           count(), count() != uniqExact(record_hash) \
                         FROM line_items WHERE {}{} \
                         GROUP BY billing_account_id, billing_period_start",
                        periods_and_in("source_version", versions.len()),
                        leaving_out(streaming)
                    )),
                    &versions,
                ),
                streaming,
            )
            .fetch_all()
            .await
            .map_err(ch_err(what()))?;
            let checks: HashMap<PeriodId<'_>, &PeriodDuplicates> = checks
                .iter()
                .map(|c| ((c.billing_account_id.as_str(), c.billing_period_start), c))
                .collect();
            let duplicated =
                |period: &PeriodId<'_>| checks.get(period).is_some_and(|c| c.duplicated != 0);
            let checked_rows = |period: &PeriodId<'_>| checks.get(period).map_or(0, |c| c.rows);

            let (with_final, plain): (Vec<PeriodAt<'_>>, Vec<PeriodAt<'_>>) = versions
                .iter()
                .partition(|(period, _)| all_final || duplicated(period));
            tracing::debug!(
                periods = versions.len(),
                with_final = with_final.len(),
                "recomputing projection"
            );
            // Rows of a streaming insert are left out of the plain read, which
            // must count what the check counted. FINAL reads them, since which
            // copy of a record it keeps is not up to a filter; such a generation
            // is not duplicate-free, so the next refresh recomputes again.
            for (final_, group, streaming) in
                [("FINAL", &with_final, None), ("", &plain, streaming)]
            {
                if group.is_empty() {
                    continue;
                }
                let recompute = self.client.query(&format!(
                    "INSERT INTO cost_daily ({DAILY_COLUMNS}) \
                     SELECT billing_account_id, billing_period_start, toUInt64(?), \
                       {LINE_ITEM_SUMS} \
                     FROM line_items {final_} WHERE {}{} {PROJECTION_GROUP}",
                    periods_and_in("source_version", group.len()),
                    leaving_out(streaming)
                ));
                bind_leaving_out(
                    bind_periods_and(recompute.bind(refreshed_at), group),
                    streaming,
                )
                .execute()
                .await
                .map_err(ch_err(what()))?;
            }
            let ids: Vec<PeriodId<'_>> = versions.iter().map(|(p, _)| *p).collect();
            let counts = self.generation_counts(refreshed_at, &ids).await?;
            let counted = |period: &PeriodId<'_>| counts.get(period).copied().unwrap_or(0);
            if !plain.iter().all(|(p, _)| counted(p) == checked_rows(p)) {
                tracing::warn!(
                    periods = versions.len(),
                    "line items changed while the projection was recomputed; again with FINAL"
                );
                all_final = true;
                continue;
            }

            let generations: Vec<RefreshRow<'_>> = versions
                .iter()
                .map(|(period, version)| RefreshRow {
                    billing_account_id: period.0,
                    billing_period_start: period.1,
                    refreshed_at,
                    source_version: *version,
                    line_items: counted(period),
                    duplicate_free: u8::from(!(all_final || duplicated(period))),
                    incremental: 0,
                })
                .collect();
            self.switch_over(refreshed_at, &generations).await?;
            return Ok(versions.len() as u64);
        }
    }

    /// Each period's latest source version among its line items; periods with
    /// none are left out.
    async fn latest_versions(
        &self,
        periods: &[PeriodId<'_>],
        streaming: Option<u64>,
    ) -> Result<Vec<PeriodVersion>, StoreError> {
        bind_leaving_out(
            bind_periods(
                self.client.query(&format!(
                    "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
                       max(source_version) FROM line_items WHERE {}{} \
                     GROUP BY billing_account_id, billing_period_start",
                    periods_in(periods.len()),
                    leaving_out(streaming)
                )),
                periods,
            ),
            streaming,
        )
        .fetch_all()
        .await
        .map_err(ch_err("read line_items source versions"))
    }

    /// The line items each period's generation `refreshed_at` counts.
    async fn generation_counts<'a>(
        &self,
        refreshed_at: u64,
        periods: &[PeriodId<'a>],
    ) -> Result<HashMap<PeriodId<'a>, u64>, StoreError> {
        let counts: Vec<PeriodCount> = bind_periods(
            self.client
                .query(&format!(
                    "SELECT billing_account_id, toUInt32(billing_period_start) AS start, \
                       sum(line_items) FROM cost_daily WHERE refreshed_at = ? AND {} \
                     GROUP BY billing_account_id, billing_period_start",
                    periods_in(periods.len())
                ))
                .bind(refreshed_at),
            periods,
        )
        .fetch_all()
        .await
        .map_err(ch_err("count cost_daily"))?;
        let counts: HashMap<PeriodId<'_>, u64> = counts
            .iter()
            .map(|c| {
                (
                    (c.billing_account_id.as_str(), c.billing_period_start),
                    c.line_items,
                )
            })
            .collect();
        Ok(periods
            .iter()
            .filter_map(|period| counts.get(period).map(|n| (*period, *n)))
            .collect())
    }

    /// Makes the new generations current, in one insert into
    /// `cost_daily_refresh`, then drops the generations they superseded, which
    /// readers no longer see.
    async fn switch_over(
        &self,
        refreshed_at: u64,
        generations: &[RefreshRow<'_>],
    ) -> Result<(), StoreError> {
        if generations.is_empty() {
            return Ok(());
        }
        let what = || {
            format!(
                "switch cost_daily over for {} billing period(s)",
                generations.len()
            )
        };
        let mut insert = self
            .client
            .insert::<RefreshRow<'_>>("cost_daily_refresh")
            .await
            .map_err(ch_err(what()))?;
        for generation in generations {
            insert.write(generation).await.map_err(ch_err(what()))?;
        }
        insert.end().await.map_err(ch_err(what()))?;

        let periods: Vec<PeriodId<'_>> = generations
            .iter()
            .map(|g| (g.billing_account_id, g.billing_period_start))
            .collect();
        bind_periods(
            self.client
                .query(&format!(
                    "ALTER TABLE cost_daily DELETE WHERE refreshed_at < ? AND {}",
                    periods_in(periods.len())
                ))
                .bind(refreshed_at),
            &periods,
        )
        .execute()
        .await
        .map_err(ch_err(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_conditions_have_a_placeholder_per_bound_value() {
        let placeholders = |sql: &str| sql.matches('?').count();
        for count in [1, 2, OR_TERMS_UP_TO, OR_TERMS_UP_TO + 1, 500] {
            assert_eq!(placeholders(&periods_in(count)), 2 * count);
            let sql = periods_and_in("source_version", count);
            assert_eq!(placeholders(&sql), 3 * count);
            assert_eq!(sql.contains(" IN "), count > OR_TERMS_UP_TO, "{sql}");
            assert_eq!(placeholders(&newer_versions_where(count)), 3 * count);
        }
    }

    #[test]
    fn refresh_chunks_cap_periods_and_id_bytes() {
        let short: Vec<String> = (0..1200).map(|i| format!("a{i}")).collect();
        let ids: Vec<PeriodId<'_>> = short.iter().map(|a| (a.as_str(), 0)).collect();
        let sizes: Vec<usize> = refresh_chunks(&ids).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [500, 500, 200]);

        // Ids of 20 KiB: three fit in 64 KiB, a fourth starts the next chunk; an
        // id longer than the cap still gets a chunk of its own.
        let long: Vec<String> = (0..7)
            .map(|i| format!("{i}{}", "x".repeat(20 * 1024)))
            .chain(["y".repeat(100 * 1024)])
            .collect();
        let ids: Vec<PeriodId<'_>> = long.iter().map(|a| (a.as_str(), 0)).collect();
        let sizes: Vec<usize> = refresh_chunks(&ids).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [3, 3, 1, 1]);
        assert!(refresh_chunks(&[]).is_empty());
    }
}
