//! SQL shared by both backends, built with bound parameters only. Backend differences (tags,
//! full-text search, timestamp binding) go through `Dialect`. This module holds the dialect
//! and the list queries every collection pages through; the statements of each concern live
//! in the submodules.

mod blocks;
mod counts;
mod entities;
mod history;
mod metrics;
mod search;
mod users;

pub(crate) use blocks::{APPEND_MAX, BlockStart, BlocksState, DENSE_RUN, build_due, follows_blocks};
pub(crate) use counts::{
    ALL_COUNTERS, Bounded, COUNTED_COLUMNS, Counted, Tally, bound_query, counted_total_query, fill_stats,
};
pub(crate) use entities::{
    RowSpec, bind_server, decode_raw, decode_stored, domain_row, entity_row, fetch_many, fetch_many_with, insert_many,
    named_spec, objective_row, push_update, raw_key, stored_key,
};
pub(crate) use history::{decode_history, finish_history, history_many, history_query};
pub(crate) use metrics::{Driver, last_versions, metric_row, metric_spec};
pub(crate) use search::{Access, SearchTier, TierRead, capped_count_query, tier_count_query, tier_page_query};
pub(crate) use users::{decode_user, user_insert, user_lookup, user_spec, user_update};

use super::error::StoreError;
use super::query::{Cursor, MetricFilter, Page, PageRequest, search_terms};
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, QueryBuilder, Type};

pub(crate) trait Dialect: Database + Sized {
    /// Column list that `decode_stored` reads, for a table aliased `t` with id column `id`.
    fn select_stored(id_col: &str) -> String;
    /// `<row matches any of tags>` (a condition, without `AND`).
    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &[String]);
    /// `AND <row matches every word>`.
    fn push_search_all(qb: &mut QueryBuilder<Self>, terms: &[String]);
    /// `AND <row is in this relevance tier>`.
    fn push_search_tier(qb: &mut QueryBuilder<Self>, terms: &[String], tier: SearchTier, access: Access);
    /// A query giving `min(matches of the tier, at)`, when the backend needs one to choose
    /// between walking and the index (`None`: its planner chooses).
    fn tier_density_probe(terms: &[String], tier: SearchTier, at: i64) -> Option<QueryBuilder<Self>>;
    /// The one row `(stale, lo_name, lo_id, dense)`: whether the search blocks are stale (1 or
    /// 0), the lower key of the first block holding the words of `terms` in `tier` (NULLs if
    /// none), and whether the start is dense (1 or 0, see `BlockStart::From`; `wide_at`: rows
    /// of the block set that must hold the words).
    fn block_start_query(terms: &[String], tier: SearchTier, wide_at: i64) -> QueryBuilder<Self>;
    /// Columns a tier's condition reads, which a walk's bounded subquery must carry.
    const WALK_COLUMNS: &'static [&'static str];
    /// Statements (one round trip) that make the rest of a transaction read by the filter's
    /// index (the full-text index, an owner's or tags') rather than walk the list's order (for
    /// `Access::Index`/`Scan`, counts and lists that read their matches first).
    const FORCE_INDEX: Option<&'static str>;
    /// Prefix of an ORDER BY term that no index may give (SQLite's unary `+`); empty where
    /// `FORCE_INDEX` does that instead (PostgreSQL).
    const UNINDEXED_ORDER: &'static str;
    /// Expression reading `catalog_info.doc` as text.
    const CATALOG_DOC: &'static str;
    /// Column list that the backend's history decoder reads.
    const HISTORY_COLUMNS: &'static str;
    /// Binds a sort key taken from a cursor (timestamps arrive as text).
    fn push_sort_key(qb: &mut QueryBuilder<Self>, column: &str, key: &str) -> Result<(), StoreError>;
    /// Binds a timestamp (SQLite: fixed-width text; PostgreSQL: timestamptz).
    fn push_time(qb: &mut QueryBuilder<Self>, t: &DateTime<Utc>);
    /// Reads a timestamp column.
    fn time(row: &Self::Row, col: &str) -> Result<DateTime<Utc>, StoreError>;
    /// Cast appended to a bound JSON text parameter (for `json` columns).
    const JSON_CAST: &'static str;
    /// Cast appended to a bound JSON text parameter (for `jsonb` columns).
    const JSONB_CAST: &'static str;
    /// Row lock taken when reading rows a transaction is about to write.
    const LOCK: &'static str;
    /// A tag facet is `TAG_FACET_HEAD` + the FROM/WHERE of the matching metrics +
    /// `TAG_FACET_TAIL`, giving `(k, n)` rows: tags live in an array (PostgreSQL) or a table
    /// of their own (SQLite).
    const TAG_FACET_HEAD: &'static str;
    const TAG_FACET_TAIL: &'static str;
}

/// Most rows one multi-row statement carries: well under both engines' parameter limits
/// (SQLite 32766, PostgreSQL 65535) at the widest row (18 parameters).
pub(crate) const CHUNK: usize = 500;

/// Which rows a list query wants, common to every collection.
pub(crate) struct ListSpec<'a> {
    /// The SELECT list (what the backend's decoder for this collection reads).
    pub columns: String,
    pub table: &'static str,
    pub id_col: &'static str,
    pub sort_col: &'static str,
    pub descending: bool,
    pub page: &'a PageRequest,
    pub scope: String,
    /// Whether a search page counts its matches (see `MetricQuery::count_search`).
    pub count_search: bool,
}

/// `FROM table t WHERE 1=1 [search condition] [filters]`.
fn push_from<DB: Dialect>(
    qb: &mut QueryBuilder<DB>,
    table: &str,
    filter: Option<&MetricFilter>,
    driver: Option<Driver>,
) -> Result<(), StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    qb.push(format_args!(" FROM {table} t WHERE 1=1"));
    if let Some(f) = filter {
        if let Some(q) = f.q.as_deref() {
            DB::push_search_all(qb, &checked_terms(q)?);
        }
        metrics::push_filters(qb, f, driver);
    }
    Ok(())
}

/// The words of a search, refused when none is left to search for.
pub(crate) fn checked_terms(q: &str) -> Result<Vec<String>, StoreError> {
    let terms = search_terms(q);
    if terms.is_empty() {
        return Err(StoreError::invalid(
            "q",
            "must contain at least one word that is not a stop word",
        ));
    }
    Ok(terms)
}

/// `SELECT COUNT(*)` of what a list query matches (read by the `driver`'s index, if any: see
/// `page_query`).
pub(crate) fn count_query<DB: Dialect>(
    table: &str,
    filter: Option<&MetricFilter>,
    driver: Option<Driver>,
) -> Result<QueryBuilder<DB>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT COUNT(*)");
    push_from(&mut qb, table, filter, driver)?;
    Ok(qb)
}

/// Counts per value of `facet` (a metrics column, or `tag`) among the rows `filter` matches,
/// most frequent first, `limit` values at most.
pub(crate) fn facet_query<DB: Dialect>(
    facet: &str,
    filter: &MetricFilter,
    limit: u32,
) -> Result<QueryBuilder<DB>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("");
    if facet == "tag" {
        qb.push(DB::TAG_FACET_HEAD);
        push_from(&mut qb, "metrics", Some(filter), None)?;
        qb.push(DB::TAG_FACET_TAIL);
    } else {
        qb.push(format_args!("SELECT t.{facet} AS k, COUNT(*) AS n"));
        push_from(&mut qb, "metrics", Some(filter), None)?;
        qb.push(format_args!(" AND t.{facet} IS NOT NULL GROUP BY t.{facet}"));
    }
    qb.push(" ORDER BY n DESC, k LIMIT ").push_bind(i64::from(limit));
    Ok(qb)
}

/// The page query; fetches one row more than the limit to learn whether a next page exists.
/// Searches page through `search::tier_page_query` instead.
///
/// Deep numbered pages use a deferred join: the offset is walked over ids only, and full rows
/// are read for the one page returned. Without it PostgreSQL carries every skipped document
/// through the scan (page 1000 of 100k metrics: ~1 s).
///
/// With a `driver`, the page is read from that filter's matches, sorted, rather than by
/// walking the list's order (`Bounded`); PostgreSQL must then run it under `FORCE_INDEX`.
pub(crate) fn page_query<DB: Dialect>(
    spec: &ListSpec<'_>,
    filter: Option<&MetricFilter>,
    driver: Option<Driver>,
) -> Result<QueryBuilder<DB>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    // Reading the matches first sorts every match: ids and sort keys only, not documents
    // (PostgreSQL: 12.8 against 32 ms for 10,000 matches at 1M).
    let deferred = driver.is_some() || matches!(spec.page, PageRequest::Offset { page, .. } if *page > 1);
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(&spec.columns);
    if deferred {
        qb.push(format_args!(
            " FROM {} t JOIN (SELECT t.{} AS k_id",
            spec.table, spec.id_col
        ));
    }
    push_from(&mut qb, spec.table, filter, driver)?;
    let (cmp, dir) = if spec.descending { ("<", "DESC") } else { (">", "ASC") };
    if let PageRequest::Cursor { after: Some(token), .. } = spec.page {
        let cursor = Cursor::decode(token, &spec.scope)?;
        if spec.sort_col == spec.id_col {
            qb.push(format_args!(" AND t.{} {cmp} ", spec.id_col))
                .push_bind(cursor.id);
        } else {
            qb.push(format_args!(" AND (t.{}, t.{}) {cmp} (", spec.sort_col, spec.id_col));
            DB::push_sort_key(&mut qb, spec.sort_col, &cursor.key)?;
            qb.push(", ").push_bind(cursor.id).push(")");
        }
    }
    let plus = if driver.is_some() { DB::UNINDEXED_ORDER } else { "" };
    let order = |qb: &mut QueryBuilder<DB>| {
        qb.push(" ORDER BY ");
        if spec.sort_col != spec.id_col {
            qb.push(format_args!("{plus}t.{} {dir}, ", spec.sort_col));
        }
        qb.push(format_args!("{plus}t.{} {dir}", spec.id_col));
    };
    order(&mut qb);
    let limit = i64::from(spec.page.limit());
    qb.push(" LIMIT ").push_bind(limit + 1);
    if let PageRequest::Offset { page, .. } = spec.page {
        qb.push(" OFFSET ").push_bind(i64::from(page - 1) * limit);
    }
    if deferred {
        qb.push(format_args!(") k ON t.{} = k.k_id", spec.id_col));
        order(&mut qb);
    }
    Ok(qb)
}

/// Turns the fetched rows (limit + 1 at most) into a page with its next cursor; `key` gives a
/// row's sort key and id.
pub(crate) fn finish_page<T>(
    spec: &ListSpec<'_>,
    mut rows: Vec<T>,
    total: Option<u64>,
    key: impl Fn(&T) -> (String, String),
) -> Page<T> {
    let limit = spec.page.limit() as usize;
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = has_next.then(|| rows.last()).flatten().map(|last| {
        let (k, id) = key(last);
        Cursor::new(&spec.scope, k, id).encode()
    });
    Page {
        items: rows,
        total,
        total_capped: false,
        has_next,
        next_cursor,
    }
}
