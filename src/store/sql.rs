//! SQL shared by both backends, built with bound parameters only. Backend differences (tags,
//! full-text search, timestamp binding) go through `Dialect`.

use super::error::StoreError;
use super::model::{CatalogStats, EntityKind, HistoryEntry, Stored, timestamp_text};
use super::query::{Cursor, MetricFilter, MetricQuery, MetricSort, Page, PageRequest, search_terms};
use sqlx::{Database, Encode, QueryBuilder, Type};

pub(crate) trait Dialect: Database + Sized {
    /// Column list that `decode_stored` reads, for a table aliased `t` with id column `id`.
    fn select_stored(id_col: &str) -> String;
    /// `AND <row matches any of tags>`.
    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &[String]);
    /// Adds the FROM-clause part of a full-text search (after `FROM metrics t`).
    fn push_search_from(qb: &mut QueryBuilder<Self>, terms: &[String]);
    /// `AND <row matches the search>`, if the search needs a WHERE part.
    fn push_search_where(qb: &mut QueryBuilder<Self>);
    /// ORDER BY expression putting the best match first.
    const SEARCH_ORDER: &'static str;
    /// Expression reading `catalog_info.doc` as text.
    const CATALOG_DOC: &'static str;
    /// Column list that the backend's history decoder reads.
    const HISTORY_COLUMNS: &'static str;
    /// Binds a sort key taken from a cursor (timestamps arrive as text).
    fn push_sort_key(qb: &mut QueryBuilder<Self>, column: &str, key: &str) -> Result<(), StoreError>;
    /// Binds `version, created_at, created_by, updated_at, updated_by, doc` in that order.
    fn bind_server(qb: &mut QueryBuilder<Self>, stored: &Stored);
}

/// Which rows a list query wants, common to every collection.
pub(crate) struct ListSpec<'a> {
    pub table: &'static str,
    pub id_col: &'static str,
    pub sort_col: &'static str,
    pub descending: bool,
    pub page: &'a PageRequest,
    pub scope: String,
}

pub(crate) fn metric_spec(query: &MetricQuery) -> ListSpec<'_> {
    ListSpec {
        table: "metrics",
        id_col: "metric_id",
        sort_col: query.sort.column(),
        descending: query.sort.descending(),
        page: &query.page,
        scope: query.scope(),
    }
}

fn push_metric_filters<DB: Dialect>(qb: &mut QueryBuilder<DB>, f: &MetricFilter)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    let eq = [
        ("category", &f.category),
        ("tier", &f.tier),
        ("business_domain", &f.business_domain),
        ("metric_type", &f.metric_type),
        ("status", &f.status),
    ];
    for (col, value) in eq {
        if let Some(v) = value {
            qb.push(format_args!(" AND t.{col} = ")).push_bind(v.clone());
        }
    }
    if let Some(owner) = &f.owner {
        qb.push(" AND (t.owner_team = ")
            .push_bind(owner.clone())
            .push(" OR t.technical_owner = ")
            .push_bind(owner.clone())
            .push(" OR t.business_owner = ")
            .push_bind(owner.clone())
            .push(")");
    }
    if !f.tags.is_empty() {
        DB::push_tags(qb, &f.tags);
    }
    if f.q.is_some() {
        DB::push_search_where(qb);
    }
}

fn push_from<DB: Dialect>(
    qb: &mut QueryBuilder<DB>,
    table: &str,
    filter: Option<&MetricFilter>,
) -> Result<(), StoreError> {
    qb.push(format_args!(" FROM {table} t"));
    if let Some(q) = filter.and_then(|f| f.q.as_deref()) {
        let terms = search_terms(q);
        if terms.is_empty() {
            return Err(StoreError::invalid("q", "must contain at least one word"));
        }
        DB::push_search_from(qb, &terms);
    }
    qb.push(" WHERE 1=1");
    Ok(())
}

/// `SELECT COUNT(*)` of what a list query matches.
pub(crate) fn count_query<DB: Dialect>(
    table: &str,
    filter: Option<&MetricFilter>,
) -> Result<QueryBuilder<DB>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT COUNT(*)");
    push_from(&mut qb, table, filter)?;
    if let Some(f) = filter {
        push_metric_filters(&mut qb, f);
    }
    Ok(qb)
}

/// The page query; fetches one row more than the limit to learn whether a next page exists.
pub(crate) fn page_query<DB: Dialect>(
    spec: &ListSpec<'_>,
    filter: Option<&MetricFilter>,
) -> Result<QueryBuilder<DB>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(DB::select_stored(spec.id_col));
    push_from(&mut qb, spec.table, filter)?;
    if let Some(f) = filter {
        push_metric_filters(&mut qb, f);
    }
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
    qb.push(" ORDER BY ");
    if filter.is_some_and(|f| f.q.is_some()) {
        qb.push(DB::SEARCH_ORDER).push(", ");
    }
    if spec.sort_col != spec.id_col {
        qb.push(format_args!("t.{} {dir}, ", spec.sort_col));
    }
    qb.push(format_args!("t.{} {dir}", spec.id_col));
    let limit = i64::from(spec.page.limit());
    qb.push(" LIMIT ").push_bind(limit + 1);
    if let PageRequest::Offset { page, .. } = spec.page {
        qb.push(" OFFSET ").push_bind(i64::from(page - 1) * limit);
    }
    Ok(qb)
}

/// Turns the fetched rows (limit + 1 at most) into a page with its next cursor.
pub(crate) fn finish_page(spec: &ListSpec<'_>, mut rows: Vec<Stored>, total: Option<u64>) -> Page<Stored> {
    let limit = spec.page.limit() as usize;
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if has_next {
        rows.last().map(|last| {
            let key = match spec.sort_col {
                "name" => last.name().to_string(),
                "updated_at" => timestamp_text(&last.updated_at),
                _ => last.id.clone(),
            };
            Cursor::new(&spec.scope, key, last.id.clone()).encode()
        })
    } else {
        None
    };
    Page {
        items: rows,
        total,
        has_next,
        next_cursor,
    }
}

/// The spec for domains and objectives: by name, then id.
pub(crate) fn named_spec<'a>(table: &'static str, id_col: &'static str, page: &'a PageRequest) -> ListSpec<'a> {
    ListSpec {
        table,
        id_col,
        sort_col: "name",
        descending: false,
        page,
        scope: format!("{table}|{}", MetricSort::Name.as_str()),
    }
}

/// Table layout of one entity kind: its table, id column and the indexed columns derived
/// from the document.
pub(crate) struct RowSpec {
    pub kind: EntityKind,
    pub id: String,
    pub table: &'static str,
    pub id_col: &'static str,
    pub columns: Vec<(&'static str, Option<String>)>,
}

pub(crate) fn metric_row(m: &crate::domain::Metric) -> RowSpec {
    let s = |v: &str| Some(v.to_string());
    RowSpec {
        kind: EntityKind::Metric,
        id: m.metric_id.clone(),
        table: "metrics",
        id_col: "metric_id",
        columns: vec![
            ("name", s(&m.name)),
            ("description", s(&m.description)),
            ("category", s(&m.category)),
            ("tier", s(m.tier_str())),
            ("business_domain", s(&m.business_domain)),
            ("metric_type", s(&m.metric_type)),
            ("status", m.status().map(str::to_string)),
            ("owner_team", m.owner_team().map(str::to_string)),
            ("technical_owner", m.technical_owner().map(str::to_string)),
            ("business_owner", m.business_owner().map(str::to_string)),
            ("search_text", Some(m.search_text())),
        ],
    }
}

pub(crate) fn domain_row(d: &crate::domain::BusinessDomain) -> RowSpec {
    RowSpec {
        kind: EntityKind::Domain,
        id: d.domain_id.clone(),
        table: "domains",
        id_col: "domain_id",
        columns: vec![("name", Some(d.name.clone())), ("owner_team", d.owner_team.clone())],
    }
}

pub(crate) fn objective_row(o: &crate::domain::Objective) -> RowSpec {
    RowSpec {
        kind: EntityKind::Objective,
        id: o.objective_id.clone(),
        table: "objectives",
        id_col: "objective_id",
        columns: vec![
            ("name", Some(o.name.clone())),
            ("status", o.status.clone()),
            ("owner_team", o.owner_team.clone()),
        ],
    }
}

/// Group-by columns reported in the stats.
pub(crate) const STAT_COLUMNS: &[&str] = &[
    "category",
    "tier",
    "metric_type",
    "business_domain",
    "owner_team",
    "status",
];

/// Builds `INSERT INTO table (id, cols..., server fields, doc) VALUES (...)`; the document and
/// timestamps are bound through the dialect-specific `bind_server`.
pub(crate) fn push_insert<DB: Dialect>(qb: &mut QueryBuilder<DB>, row: &RowSpec, stored: &Stored)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
{
    qb.push(format_args!("INSERT INTO {} ({}", row.table, row.id_col));
    for (col, _) in &row.columns {
        qb.push(format_args!(", {col}"));
    }
    qb.push(", version, created_at, created_by, updated_at, updated_by, doc) VALUES (");
    qb.push_bind(stored.id.clone());
    for (_, value) in &row.columns {
        qb.push(", ").push_bind(value.clone());
    }
    qb.push(", ");
    DB::bind_server(qb, stored);
    qb.push(")");
}

/// Builds `UPDATE table SET cols..., server fields, doc WHERE id = ?`.
pub(crate) fn push_update<DB: Dialect>(qb: &mut QueryBuilder<DB>, row: &RowSpec, stored: &Stored)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
{
    qb.push(format_args!("UPDATE {} SET ", row.table));
    for (col, value) in &row.columns {
        qb.push(format_args!("{col} = ")).push_bind(value.clone()).push(", ");
    }
    qb.push("(version, created_at, created_by, updated_at, updated_by, doc) = (");
    DB::bind_server(qb, stored);
    qb.push(format_args!(") WHERE {} = ", row.id_col))
        .push_bind(stored.id.clone());
}

/// A metric's history, newest first, by page or by cursor on the version.
pub(crate) fn history_query<DB: Dialect>(id: &str, page: &PageRequest) -> Result<QueryBuilder<DB>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(DB::HISTORY_COLUMNS)
        .push(" FROM metric_history WHERE metric_id = ")
        .push_bind(id.to_string());
    if let PageRequest::Cursor { after: Some(token), .. } = page {
        let cursor = Cursor::decode(token, &history_scope(id))?;
        let version: i64 = cursor
            .key
            .parse()
            .map_err(|_| StoreError::invalid("cursor", "is not a valid cursor"))?;
        qb.push(" AND version < ").push_bind(version);
    }
    let limit = i64::from(page.limit());
    qb.push(" ORDER BY version DESC LIMIT ").push_bind(limit + 1);
    if let PageRequest::Offset { page, .. } = page {
        qb.push(" OFFSET ").push_bind(i64::from(page - 1) * limit);
    }
    Ok(qb)
}

fn history_scope(id: &str) -> String {
    format!("history|{id}")
}

pub(crate) fn finish_history(
    id: &str,
    page: &PageRequest,
    mut rows: Vec<HistoryEntry>,
    total: Option<u64>,
) -> Page<HistoryEntry> {
    let limit = page.limit() as usize;
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = has_next
        .then(|| rows.last())
        .flatten()
        .map(|last| Cursor::new(&history_scope(id), last.version.to_string(), id.to_string()).encode());
    Page {
        items: rows,
        total,
        has_next,
        next_cursor,
    }
}

pub(crate) fn fill_stat(stats: &mut CatalogStats, column: &str, rows: Vec<(String, i64)>) {
    let target = match column {
        "category" => &mut stats.by_category,
        "tier" => &mut stats.by_tier,
        "metric_type" => &mut stats.by_metric_type,
        "business_domain" => &mut stats.by_business_domain,
        "owner_team" => &mut stats.by_owner_team,
        _ => &mut stats.by_status,
    };
    target.extend(rows.into_iter().map(|(k, n)| (k, n as u64)));
}
