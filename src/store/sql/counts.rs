//! Exact metric counts per facet value (`metric_counts`) and per combination of the five
//! equality filters (`metric_combination_counts`), kept by the write transactions (see their
//! migrations): what each write adds, how it lands, and how stats and list totals read them back.

use super::Dialect;
use super::metrics::Driver;
use crate::domain::Metric;
use crate::store::error::StoreError;
use crate::store::model::CatalogStats;
use crate::store::query::MetricFilter;
use serde_json::{Map, Value};
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};
use std::collections::BTreeMap;

/// The facet counting every metric once (its value is empty).
const TOTAL: &str = "total";
/// The facet the `owner` filter reads: any of the three owner columns.
const OWNER: &str = "owner";
/// The facet a one-tag filter reads: a metric is counted once under each of its tags.
const TAG: &str = "tag";

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
    /// Sorted, each once.
    tags: Vec<String>,
}

/// A metric's tags as counted: each distinct tag once.
fn distinct(tags: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut tags: Vec<String> = tags.into_iter().collect();
    tags.sort_unstable();
    tags.dedup();
    tags
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
            tags: distinct(m.tags.iter().cloned()),
        }
    }

    /// Reads the columns selected with `COUNTED_COLUMNS`, and the tags from the stored
    /// document (the tag columns and tables are written from that list).
    pub(crate) fn decode<DB: Database>(row: &DB::Row, doc: &Map<String, Value>) -> Result<Self, StoreError>
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
            tags: distinct(
                doc.get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string)),
            ),
        })
    }

    /// The combination this row is counted under in `metric_combination_counts`, in its key
    /// order (category, business domain, metric type, tier, status or '').
    fn combination(&self) -> [String; 5] {
        [
            self.category.clone(),
            self.business_domain.clone(),
            self.metric_type.clone(),
            self.tier.clone(),
            self.status.clone().unwrap_or_default(),
        ]
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
        keys.extend(self.tags.iter().map(|t| (TAG, t.as_str())));
        keys
    }
}

/// The count changes of one write transaction, applied once just before it commits.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    deltas: BTreeMap<(&'static str, String), i64>,
    combinations: BTreeMap<[String; 5], i64>,
    /// Whether the transaction changed any metric (it then moves `metric_writes` too).
    pub(crate) changed: bool,
    /// Ids of the metrics it created or updated, for the search blocks (`sql::blocks`); no
    /// more than `APPEND_MAX + 1`, which is enough to know the blocks go stale.
    pub(crate) written: Vec<String>,
}

impl Tally {
    /// Counts a row in (`+1`) or out (`-1`).
    pub(crate) fn add(&mut self, row: &Counted, sign: i64) {
        for (facet, value) in row.keys() {
            *self.deltas.entry((facet, value.to_string())).or_insert(0) += sign;
        }
        *self.combinations.entry(row.combination()).or_insert(0) += sign;
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
        self.deltas.len() + self.combinations.len()
    }

    /// The non-zero (facet, value) deltas, in the order `upserts` applies them.
    pub(crate) fn facet_deltas(&self) -> impl Iterator<Item = (&'static str, &str, i64)> {
        self.deltas
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((facet, value), n)| (*facet, value.as_str(), *n))
    }

    /// The non-zero combination deltas (category, business domain, metric type, tier, status),
    /// in the order `upserts` applies them.
    pub(crate) fn combination_deltas(&self) -> impl Iterator<Item = (&[String; 5], i64)> {
        self.combinations
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(key, n)| (key, *n))
    }

    /// Upserts adding the non-zero deltas to `shard`, `rows` rows per statement. The rows go in
    /// key order, facets before combinations, so two transactions on one shard lock them in the
    /// same order (no deadlock).
    pub(crate) fn upserts<DB: Dialect>(&self, shard: i64, rows: usize) -> Vec<QueryBuilder<DB>>
    where
        for<'t> String: Encode<'t, DB> + Type<DB>,
        for<'t> i64: Encode<'t, DB> + Type<DB>,
        <DB as Database>::Arguments: Default,
    {
        let facets = self.facet_deltas().map(|(facet, value, n)| (vec![facet, value], n));
        let combinations = self
            .combination_deltas()
            .map(|(key, n)| (key.iter().map(String::as_str).collect(), n));
        let mut statements = upsert_rows("metric_counts", &["facet", "value"], facets.collect(), shard, rows);
        statements.extend(upsert_rows(
            "metric_combination_counts",
            &["category", "business_domain", "metric_type", "tier", "status"],
            combinations.collect(),
            shard,
            rows,
        ));
        statements
    }
}

/// Multi-row upserts adding each `n` (the tally's non-zero deltas) to its key's counter in
/// `shard`, `rows` rows per statement, in the order given.
fn upsert_rows<DB: Dialect>(
    table: &str,
    key_columns: &[&str],
    deltas: Vec<(Vec<&str>, i64)>,
    shard: i64,
    rows: usize,
) -> Vec<QueryBuilder<DB>>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let keys = key_columns.join(", ");
    deltas
        .chunks(rows.max(1))
        .map(|chunk| {
            let mut qb = QueryBuilder::new(format!("INSERT INTO {table} ({keys}, shard, n) VALUES "));
            for (i, (key, n)) in chunk.iter().enumerate() {
                qb.push(if i == 0 { "(" } else { ", (" });
                for part in key {
                    qb.push_bind(part.to_string()).push(", ");
                }
                qb.push_bind(shard).push(", ").push_bind(*n).push(")");
            }
            qb.push(format_args!(
                " ON CONFLICT ({keys}, shard) DO UPDATE SET n = {table}.n + excluded.n"
            ));
            qb
        })
        .collect()
}

/// The equality filters of `filter` as (facet, value): the five filter columns, `owner` and
/// one tag, when counters may answer its total: not for a search or several tags (any-of).
fn facet_filters(filter: &MetricFilter) -> Option<Vec<(&'static str, &str)>> {
    if filter.q.is_some() || filter.tags.len() > 1 {
        return None;
    }
    let set = [
        ("category", &filter.category),
        ("tier", &filter.tier),
        ("business_domain", &filter.business_domain),
        ("metric_type", &filter.metric_type),
        ("status", &filter.status),
        (OWNER, &filter.owner),
    ];
    Some(
        set.into_iter()
            .filter_map(|(facet, v)| v.as_deref().map(|v| (facet, v)))
            .chain(filter.tags.first().map(|t| (TAG, t.as_str())))
            .collect(),
    )
}

/// A list filtered by an owner or tags, by the counters. Those filters' indexes do not hold
/// the list's order, so a page is read by walking the order and testing each row: a walk
/// that finds its page within a few hundred rows when matches are common and spread, and
/// reads the whole table when they are rare or none (2 s for a tag of 200 metrics at 1M on
/// PostgreSQL, whose estimate for such a value is the same as for any other). With few
/// matches (`MDL_SEARCH_DENSE_AT`), the page is read from the driver's matches and sorted
/// instead (`page_query`); with none, there is nothing to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounded {
    /// The filter with the fewer matches: the owner, or the tags (any of them).
    pub driver: Driver,
    /// At least as many metrics as the list matches; 0 exactly when it matches none.
    pub bound: i64,
    /// The bound is the list's exact total: the filter is the driver alone.
    pub exact: bool,
}

impl Bounded {
    /// From the row of `bound_query`.
    pub(crate) fn from_counts(filter: &MetricFilter, owner: i64, tags: i64) -> Bounded {
        let (driver, bound) = if owner >= 0 && (tags < 0 || owner <= tags) {
            (Driver::Owner, owner)
        } else {
            (Driver::Tags, tags)
        };
        let columns = [
            &filter.category,
            &filter.tier,
            &filter.business_domain,
            &filter.metric_type,
            &filter.status,
        ];
        let alone = match driver {
            Driver::Owner => filter.tags.is_empty(),
            // Two tags' counts add up a metric that has both twice.
            Driver::Tags => filter.owner.is_none() && filter.tags.len() == 1,
        };
        Bounded {
            driver,
            bound,
            exact: alone && columns.iter().all(|c| c.is_none()),
        }
    }
}

/// A query for one row `(owner, tags)`: how many metrics have the filter's owner, and the
/// sum of its tags' counts (at least how many have any of them), read from the counters;
/// -1 for either the filter does not name. Both bound the filter's matches from above, and
/// exactly: 0 means none. `None` when the filter names neither.
pub(crate) fn bound_query<DB: Dialect>(filter: &MetricFilter) -> Option<QueryBuilder<DB>>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    if filter.owner.is_none() && filter.tags.is_empty() {
        return None;
    }
    let sum = "(SELECT COALESCE(SUM(n), 0) FROM metric_counts WHERE facet = ";
    let mut qb = QueryBuilder::new("SELECT CAST(");
    match &filter.owner {
        Some(owner) => {
            qb.push(sum)
                .push_bind(OWNER.to_string())
                .push(" AND value = ")
                .push_bind(owner.clone())
                .push(")");
        }
        None => {
            qb.push("-1");
        }
    }
    qb.push(" AS BIGINT), CAST(");
    if filter.tags.is_empty() {
        qb.push("-1");
    } else {
        qb.push(sum).push_bind(TAG.to_string()).push(" AND value IN (");
        let mut list = qb.separated(", ");
        for tag in &filter.tags {
            list.push_bind(tag.clone());
        }
        qb.push("))");
    }
    qb.push(" AS BIGINT)");
    Some(qb)
}

/// A query for the exact number of metrics `filter` matches, read from the counters: one
/// counter's shards summed for no filter or one equality filter, the matching combinations
/// summed for two or more of the five filter columns. `None`, the matches must be counted: a
/// search, several tags, `owner` (an any-of over three columns) or a tag among other filters,
/// or an empty value among several (a metric without a status is counted under '').
pub(crate) fn counted_total_query<DB: Dialect>(filter: &MetricFilter) -> Option<QueryBuilder<DB>>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let set = facet_filters(filter)?;
    let sum = "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM ";
    match set.as_slice() {
        [] | [_] => {
            let (facet, value) = set.first().copied().unwrap_or((TOTAL, ""));
            let mut qb = QueryBuilder::new(sum);
            qb.push("metric_counts WHERE facet = ")
                .push_bind(facet.to_string())
                .push(" AND value = ")
                .push_bind(value.to_string());
            Some(qb)
        }
        _ if set
            .iter()
            .any(|(facet, value)| [OWNER, TAG].contains(facet) || value.is_empty()) =>
        {
            None
        }
        _ => {
            let mut qb = QueryBuilder::new(sum);
            qb.push("metric_combination_counts WHERE 1=1");
            for (column, value) in set {
                qb.push(format_args!(" AND {column} = ")).push_bind(value.to_string());
            }
            Some(qb)
        }
    }
}

/// Every counter, shards summed, and the domains and objectives counted (few rows): `(facet,
/// value, n)` rows for `fill_stats`, from one statement so they agree with each other.
pub(crate) const ALL_COUNTERS: &str = "SELECT facet, value, CAST(SUM(n) AS BIGINT) FROM metric_counts \
     WHERE facet <> 'tag' GROUP BY facet, value HAVING SUM(n) <> 0 \
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

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Postgres;

    fn sql(filter: &MetricFilter) -> Option<String> {
        counted_total_query::<Postgres>(filter).map(|qb| qb.sql().as_str().to_string())
    }

    fn counted(filter: &MetricFilter) -> String {
        sql(filter).unwrap_or_else(|| panic!("no counter for {filter:?}"))
    }

    #[test]
    fn totals_come_from_the_counter_that_can_answer_them() {
        let some = |v: &str| Some(v.to_string());
        let one = MetricFilter {
            tier: some("Tier-1"),
            ..Default::default()
        };
        assert!(counted(&MetricFilter::default()).contains("FROM metric_counts"));
        assert!(counted(&one).contains("FROM metric_counts"));
        let owner = MetricFilter {
            owner: some("SRE"),
            ..Default::default()
        };
        assert!(counted(&owner).contains("FROM metric_counts"));
        let tag = MetricFilter {
            tags: vec!["web".into()],
            ..Default::default()
        };
        assert!(counted(&tag).contains("FROM metric_counts"));
        let two = MetricFilter {
            category: some("KPI"),
            status: some("active"),
            ..one.clone()
        };
        let combined = counted(&two);
        assert!(combined.contains("FROM metric_combination_counts"), "{combined}");
        assert!(
            combined.contains("category = $1") && combined.contains("tier = $2") && combined.contains("status = $3")
        );
        // Counted by a scan: an owner or a tag among other filters, two tags, a search, an empty value.
        for filter in [
            MetricFilter {
                owner: some("SRE"),
                ..one.clone()
            },
            MetricFilter {
                tags: vec!["web".into()],
                ..two.clone()
            },
            MetricFilter {
                tags: vec!["web".into()],
                ..one.clone()
            },
            MetricFilter {
                tags: vec!["web".into(), "api".into()],
                ..Default::default()
            },
            MetricFilter {
                q: some("login"),
                ..two.clone()
            },
            MetricFilter {
                status: some(""),
                ..two.clone()
            },
        ] {
            assert_eq!(sql(&filter), None, "{filter:?}");
        }
    }

    #[test]
    fn the_filter_with_fewer_matches_drives_and_alone_it_is_the_total() {
        let some = |v: &str| Some(v.to_string());
        let owner = MetricFilter {
            owner: some("SRE"),
            ..Default::default()
        };
        let tag = MetricFilter {
            tags: vec!["web".into()],
            ..Default::default()
        };
        let both = MetricFilter {
            tags: vec!["web".into()],
            ..owner.clone()
        };
        let b = |filter: &MetricFilter, o, t| {
            let b = Bounded::from_counts(filter, o, t);
            (b.driver, b.bound, b.exact)
        };
        assert_eq!(b(&owner, 120, -1), (Driver::Owner, 120, true));
        assert_eq!(b(&tag, -1, 7), (Driver::Tags, 7, true));
        assert_eq!(b(&both, 120, 7), (Driver::Tags, 7, false));
        assert_eq!(b(&both, 5, 7), (Driver::Owner, 5, false));
        assert_eq!(b(&both, 0, 7), (Driver::Owner, 0, false));
        let two_tags = MetricFilter {
            tags: vec!["web".into(), "api".into()],
            ..Default::default()
        };
        assert_eq!(b(&two_tags, -1, 30), (Driver::Tags, 30, false));
        for column in [
            MetricFilter {
                tier: some("Tier-1"),
                ..owner.clone()
            },
            MetricFilter {
                status: some("active"),
                ..tag.clone()
            },
        ] {
            assert!(!Bounded::from_counts(&column, 3, 3).exact, "{column:?}");
        }
    }
}
