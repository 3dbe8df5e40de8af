//! Full-text search as a bounded top-k. Relevance is a tier (every word is in the name, or
//! not), then the list's sort order. Each tier is a plain filter, so a page is read in index
//! order and stops after `limit` rows: a word that matches a quarter of the catalog costs
//! about what a filtered list does, where ranking every match (`ts_rank`, `bm25`) grew with
//! the number of matches (5 s at 1M).

use super::{Dialect, ListSpec, blocks, metrics};
use crate::store::query::MetricFilter;
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Where the words of the query were found; a lower tier ranks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchTier {
    /// Every word is in the name.
    Name,
    /// Every word is somewhere, not all of them in the name.
    Elsewhere,
    /// Every word is somewhere: the second tier when the blocks say no name holds them all,
    /// so the test "not all in the name" can be left out (a walk probes each row once, not
    /// twice, and SQLite counts the word without a column filter).
    Anywhere,
}

impl SearchTier {
    pub(crate) const ALL: [SearchTier; 2] = [Self::Name, Self::Elsewhere];

    /// The tier to read for `self` once the tier before it is known to be empty.
    pub(crate) fn after_empty_names(self) -> SearchTier {
        match self {
            SearchTier::Elsewhere => SearchTier::Anywhere,
            tier => tier,
        }
    }
}

/// How a tier's matches are found:
/// - `Walk`: walk the list's order and test each row, at most `WALK_BUDGET` rows (for words
///   many rows contain, near the start of the order);
/// - `Scan`: list every match of the word, then walk the list's order against that set (for
///   words many rows contain, wherever they sit in the order; PostgreSQL reads it as `Index`);
/// - `Index`: list every match, read those rows and sort them (for words few rows contain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Walk,
    Scan,
    Index,
}

/// Most rows past the offset a walk tests before it gives up (see `Access::Walk`).
pub(crate) const WALK_BUDGET: i64 = 300;

/// A tier's matches, as a page asks for them.
#[derive(Clone, Copy)]
pub(crate) struct TierRead<'a> {
    pub tier: SearchTier,
    pub access: Access,
    pub limit: i64,
    pub offset: i64,
    /// No match sorts before this key (name, id), by the search blocks.
    pub from: Option<(&'a str, &'a str)>,
}

/// One tier's rows of a page: ids in order, then full rows joined to them, so skipped and
/// sorted rows carry no document. A walk or a scan starts at `read.from`.
pub(crate) fn tier_page_query<DB: Dialect>(
    spec: &ListSpec<'_>,
    filter: &MetricFilter,
    terms: &[String],
    read: &TierRead<'_>,
) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let TierRead {
        tier,
        access,
        limit,
        offset,
        from,
    } = *read;
    let order = |qb: &mut QueryBuilder<DB>| {
        let dir = if spec.descending { "DESC" } else { "ASC" };
        qb.push(" ORDER BY ");
        if spec.sort_col != spec.id_col {
            qb.push(format_args!("t.{} {dir}, ", spec.sort_col));
        }
        qb.push(format_args!("t.{} {dir}", spec.id_col));
    };
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(&spec.columns);
    qb.push(format_args!(
        " FROM {} t JOIN (SELECT t.{} AS k_id FROM ",
        spec.table, spec.id_col
    ));
    match access {
        Access::Index | Access::Scan => {
            qb.push(format_args!("{} t WHERE 1=1", spec.table));
            DB::push_search_tier(&mut qb, terms, tier, access);
            metrics::push_filters(&mut qb, filter, None);
            blocks::push_from(&mut qb, from);
        }
        // The walk tests at most `WALK_BUDGET` rows of the list's order: when the word's rows
        // cluster away from the start of that order, the caller reads the index instead.
        Access::Walk => {
            let mut columns: Vec<&str> = Vec::new();
            for c in [spec.id_col, spec.sort_col].iter().chain(DB::WALK_COLUMNS) {
                if !columns.contains(c) {
                    columns.push(c);
                }
            }
            let list: Vec<String> = columns.iter().map(|c| format!("t.{c}")).collect();
            qb.push(format_args!(
                "(SELECT {} FROM {} t WHERE 1=1",
                list.join(", "),
                spec.table
            ));
            metrics::push_filters(&mut qb, filter, None);
            blocks::push_from(&mut qb, from);
            order(&mut qb);
            qb.push(" LIMIT ").push_bind(offset + WALK_BUDGET);
            qb.push(") t WHERE 1=1");
            DB::push_search_tier(&mut qb, terms, tier, access);
        }
    }
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
    metrics::push_filters(&mut qb, filter, None);
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
    metrics::push_filters(&mut qb, filter, None);
    qb.push(" LIMIT ")
        .push_bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX));
    qb.push(") c");
    qb
}
