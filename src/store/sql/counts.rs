//! Exact metric counts per facet value, kept by the write transactions in `metric_counts`
//! (see its migration): what each write adds, how it lands, and how stats and list totals
//! read them back.

use super::Dialect;
use crate::domain::Metric;
use crate::store::error::StoreError;
use crate::store::model::CatalogStats;
use crate::store::query::MetricFilter;
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};
use std::collections::BTreeMap;

/// The facet counting every metric once (its value is empty).
const TOTAL: &str = "total";
/// The facet the `owner` filter reads: any of the three owner columns.
const OWNER: &str = "owner";

/// The counted columns of a metric row, selected under these names next to the stored ones.
pub(crate) const COUNTED_COLUMNS: &str = ", t.category AS c_category, t.tier AS c_tier, \
    t.metric_type AS c_metric_type, t.business_domain AS c_business_domain, t.owner_team AS c_owner_team, \
    t.status AS c_status, t.technical_owner AS c_technical_owner, t.business_owner AS c_business_owner";

/// What a metric row contributes to the counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counted {
    category: String,
    tier: String,
    metric_type: String,
    business_domain: String,
    owner_team: Option<String>,
    status: Option<String>,
    technical_owner: Option<String>,
    business_owner: Option<String>,
}

impl Counted {
    /// The row `metric_row` writes for this metric.
    pub(crate) fn of(m: &Metric) -> Self {
        let s = |v: Option<&str>| v.map(str::to_string);
        Counted {
            category: m.category.clone(),
            tier: m.tier_str().to_string(),
            metric_type: m.metric_type.clone(),
            business_domain: m.business_domain.clone(),
            owner_team: s(m.owner_team()),
            status: s(m.status()),
            technical_owner: s(m.technical_owner()),
            business_owner: s(m.business_owner()),
        }
    }

    /// Reads the columns selected with `COUNTED_COLUMNS`.
    pub(crate) fn decode<DB: Database>(row: &DB::Row) -> Result<Self, StoreError>
    where
        for<'r> String: Decode<'r, DB> + Type<DB>,
        for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
        for<'a> &'a str: ColumnIndex<DB::Row>,
    {
        Ok(Counted {
            category: row.try_get("c_category")?,
            tier: row.try_get("c_tier")?,
            metric_type: row.try_get("c_metric_type")?,
            business_domain: row.try_get("c_business_domain")?,
            owner_team: row.try_get("c_owner_team")?,
            status: row.try_get("c_status")?,
            technical_owner: row.try_get("c_technical_owner")?,
            business_owner: row.try_get("c_business_owner")?,
        })
    }

    /// Every (facet, value) this row is counted under.
    fn keys(&self) -> Vec<(&'static str, &str)> {
        let mut keys = vec![
            (TOTAL, ""),
            ("category", self.category.as_str()),
            ("tier", self.tier.as_str()),
            ("metric_type", self.metric_type.as_str()),
            ("business_domain", self.business_domain.as_str()),
        ];
        keys.extend(self.owner_team.as_deref().map(|v| ("owner_team", v)));
        keys.extend(self.status.as_deref().map(|v| ("status", v)));
        let mut owners: Vec<&str> = [&self.owner_team, &self.technical_owner, &self.business_owner]
            .into_iter()
            .filter_map(|o| o.as_deref())
            .collect();
        owners.sort_unstable();
        owners.dedup();
        keys.extend(owners.into_iter().map(|o| (OWNER, o)));
        keys
    }
}

/// The count changes of one write transaction, applied once just before it commits.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    deltas: BTreeMap<(&'static str, String), i64>,
    /// Whether the transaction changed any metric (it then moves `metric_writes` too).
    pub(crate) changed: bool,
}

impl Tally {
    /// Counts a row in (`+1`) or out (`-1`).
    pub(crate) fn add(&mut self, row: &Counted, sign: i64) {
        for (facet, value) in row.keys() {
            *self.deltas.entry((facet, value.to_string())).or_insert(0) += sign;
        }
    }

    /// An update moves only the counts of the fields it changed.
    pub(crate) fn replace(&mut self, old: &Counted, new: &Counted) {
        if old != new {
            self.add(old, -1);
            self.add(new, 1);
        }
    }

    /// How many counters this transaction moves (zero deltas included).
    pub(crate) fn len(&self) -> usize {
        self.deltas.len()
    }

    /// Upserts adding the non-zero deltas to `shard`, `rows` rows per statement. The rows go in
    /// key order, so two transactions on one shard lock them in the same order (no deadlock).
    pub(crate) fn upserts<DB: Dialect>(&self, shard: i64, rows: usize) -> Vec<QueryBuilder<DB>>
    where
        for<'t> String: Encode<'t, DB> + Type<DB>,
        for<'t> i64: Encode<'t, DB> + Type<DB>,
        <DB as Database>::Arguments: Default,
    {
        let changes: Vec<_> = self.deltas.iter().filter(|(_, n)| **n != 0).collect();
        changes
            .chunks(rows.max(1))
            .map(|chunk| {
                let mut qb = QueryBuilder::new("INSERT INTO metric_counts (facet, value, shard, n) VALUES ");
                for (i, ((facet, value), n)) in chunk.iter().enumerate() {
                    qb.push(if i == 0 { "(" } else { ", (" })
                        .push_bind(facet.to_string())
                        .push(", ")
                        .push_bind(value.clone())
                        .push(", ")
                        .push_bind(shard)
                        .push(", ")
                        .push_bind(**n)
                        .push(")");
                }
                qb.push(" ON CONFLICT (facet, value, shard) DO UPDATE SET n = metric_counts.n + excluded.n");
                qb
            })
            .collect()
    }
}

/// The counter that holds how many metrics `filter` matches, when one does: no filter, or
/// exactly one equality filter. Tags (any-of) and search still count their matches.
pub(crate) fn counter_for(filter: &MetricFilter) -> Option<(&'static str, String)> {
    if filter.q.is_some() || !filter.tags.is_empty() {
        return None;
    }
    let set: Vec<(&'static str, &String)> = [
        ("category", &filter.category),
        ("tier", &filter.tier),
        ("business_domain", &filter.business_domain),
        ("metric_type", &filter.metric_type),
        ("status", &filter.status),
        (OWNER, &filter.owner),
    ]
    .into_iter()
    .filter_map(|(facet, v)| v.as_ref().map(|v| (facet, v)))
    .collect();
    match set.as_slice() {
        [] => Some((TOTAL, String::new())),
        [(facet, value)] => Some((facet, value.to_string())),
        _ => None,
    }
}

/// `SELECT` of one counter's value (its shards summed).
pub(crate) fn counter_query<DB: Dialect>(facet: &str, value: &str) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM metric_counts WHERE facet = ");
    qb.push_bind(facet.to_string())
        .push(" AND value = ")
        .push_bind(value.to_string());
    qb
}

/// Every counter, shards summed, and the domains and objectives counted (few rows): `(facet,
/// value, n)` rows for `fill_stats`, from one statement so they agree with each other.
pub(crate) const ALL_COUNTERS: &str = "SELECT facet, value, CAST(SUM(n) AS BIGINT) FROM metric_counts \
     GROUP BY facet, value HAVING SUM(n) <> 0 \
     UNION ALL SELECT 'domains', '', COUNT(*) FROM domains \
     UNION ALL SELECT 'objectives', '', COUNT(*) FROM objectives";

/// Fills the stats from `ALL_COUNTERS`; metrics without a status or an
/// owner team are the total minus those counted, under `(none)`.
pub(crate) fn fill_stats(stats: &mut CatalogStats, rows: Vec<(String, String, i64)>) {
    for (facet, value, n) in rows {
        let n = n.max(0) as u64;
        let target = match facet.as_str() {
            TOTAL => {
                stats.total_metrics = n;
                continue;
            }
            "category" => &mut stats.by_category,
            "tier" => &mut stats.by_tier,
            "metric_type" => &mut stats.by_metric_type,
            "business_domain" => &mut stats.by_business_domain,
            "owner_team" => &mut stats.by_owner_team,
            "status" => &mut stats.by_status,
            "domains" => {
                stats.total_domains = n;
                continue;
            }
            "objectives" => {
                stats.total_objectives = n;
                continue;
            }
            _ => continue,
        };
        target.insert(value, n);
    }
    let total = stats.total_metrics;
    for target in [&mut stats.by_owner_team, &mut stats.by_status] {
        let none = total.saturating_sub(target.values().sum());
        if none > 0 {
            *target.entry("(none)".to_string()).or_insert(0) += none;
        }
    }
}
