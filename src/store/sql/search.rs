//! Full-text search as a bounded top-k. Relevance is a tier (the words are all in the name,
//! else all in the name and description, else anywhere), then the list's sort order. Each
//! tier is a plain filter, so a page is read in index order and stops after `limit` rows:
//! a word that matches a quarter of the catalog costs about what a filtered list does, where
//! ranking every match (`ts_rank`, `bm25`) grew with the number of matches (5 s at 1M).

use super::{Dialect, ListSpec, metrics};
use crate::store::query::MetricFilter;
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Where every word of the query was found; a lower tier ranks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchTier {
    Name,
    NameAndDescription,
    Anywhere,
}

impl SearchTier {
    pub(crate) const ALL: [SearchTier; 3] = [Self::Name, Self::NameAndDescription, Self::Anywhere];
}

/// How a tier's matches are found: walking the list's order and testing each row (`Walk`,
/// for words many rows contain), or from the full-text index and then sorted (`Index`).
/// PostgreSQL's planner makes this choice itself from the statistics of the tier's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Walk,
    Index,
}

/// One tier's rows of a page: ids in order, then full rows joined to them, so skipped and
/// sorted rows carry no document.
pub(crate) fn tier_page_query<DB: Dialect>(
    spec: &ListSpec<'_>,
    filter: &MetricFilter,
    terms: &[String],
    tier: SearchTier,
    access: Access,
    limit: i64,
    offset: i64,
) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(&spec.columns);
    qb.push(format_args!(
        " FROM {} t JOIN (SELECT t.{} AS k_id FROM {} t WHERE 1=1",
        spec.table, spec.id_col, spec.table
    ));
    DB::push_search_tier(&mut qb, terms, tier, access);
    metrics::push_filters(&mut qb, filter);
    let order = |qb: &mut QueryBuilder<DB>| {
        let dir = if spec.descending { "DESC" } else { "ASC" };
        qb.push(" ORDER BY ");
        if spec.sort_col != spec.id_col {
            qb.push(format_args!("t.{} {dir}, ", spec.sort_col));
        }
        qb.push(format_args!("t.{} {dir}", spec.id_col));
    };
    order(&mut qb);
    qb.push(" LIMIT ").push_bind(limit);
    qb.push(" OFFSET ").push_bind(offset);
    qb.push(format_args!(") k ON t.{} = k.k_id", spec.id_col));
    order(&mut qb);
    qb
}

/// The number of rows in one tier (read only when a page starts past the tier's end).
pub(crate) fn tier_count_query<DB: Dialect>(
    filter: &MetricFilter,
    terms: &[String],
    tier: SearchTier,
) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM metrics t WHERE 1=1");
    DB::push_search_tier(&mut qb, terms, tier, Access::Index);
    metrics::push_filters(&mut qb, filter);
    qb
}

/// The number of matches, counting no further than `cap + 1` (so the caller can tell "at least
/// `cap`" from an exact figure).
pub(crate) fn capped_count_query<DB: Dialect>(filter: &MetricFilter, terms: &[String], cap: u64) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM metrics t WHERE 1=1");
    DB::push_search_all(&mut qb, terms);
    metrics::push_filters(&mut qb, filter);
    qb.push(" LIMIT ")
        .push_bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX));
    qb.push(") c");
    qb
}
