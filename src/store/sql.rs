//! SQL shared by both backends, built with bound parameters only. Backend differences (tags,
//! full-text search, timestamp binding) go through `Dialect`.

use super::error::StoreError;
use super::model::UserChange;
use super::model::{CatalogStats, EntityKind, HistoryEntry, Stored, timestamp_text};
use super::query::{Cursor, MetricFilter, MetricQuery, MetricSort, Page, PageRequest, search_terms};
use super::write::Plan;
use crate::domain::user::{Role, User, UserStatus};
use crate::domain::{Action, ChangeType};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

pub(crate) trait Dialect: Database + Sized {
    /// Column list that `decode_stored` reads, for a table aliased `t` with id column `id`.
    fn select_stored(id_col: &str) -> String;
    /// `AND <row matches any of tags>`.
    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &[String]);
    /// The FROM clause of a full-text search over `table` (aliased `t`).
    fn push_search_from(qb: &mut QueryBuilder<Self>, table: &str, terms: &[String], ranked: bool);
    /// `AND <row matches the search>`, if the search needs a WHERE part.
    fn push_search_where(qb: &mut QueryBuilder<Self>, terms: &[String], ranked: bool);
    /// The relevance of a match, and the direction that puts the best match first.
    const SEARCH_RANK: &'static str;
    const SEARCH_RANK_DIR: &'static str;
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
}

/// Most rows one multi-row statement carries: well under both engines' parameter limits
/// (SQLite 32766, PostgreSQL 65535) at the widest row (18 parameters).
pub(crate) const CHUNK: usize = 500;

/// `SELECT <stored columns> FROM table t WHERE id IN (...)`, optionally locking the rows.
pub(crate) fn fetch_many<DB: Dialect>(table: &str, id_col: &str, ids: &[&str], lock: bool) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(DB::select_stored(id_col));
    qb.push(format_args!(" FROM {table} t WHERE t.{id_col} IN ("));
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    // A fixed order: concurrent writers then lock rows in the same sequence (no deadlock).
    qb.push(format_args!(") ORDER BY t.{id_col}"));
    if lock {
        qb.push(DB::LOCK);
    }
    qb
}

/// The highest version each id ever had, deleted ones included.
pub(crate) fn last_versions<DB: Dialect>(ids: &[&str]) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT metric_id, MAX(version) FROM metric_history WHERE metric_id IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    qb.push(") GROUP BY metric_id");
    qb
}

/// One INSERT for many rows of one table.
pub(crate) fn insert_many<DB: Dialect>(rows: &[(&RowSpec, &Stored)]) -> Option<QueryBuilder<DB>>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let (first, _) = rows.first()?;
    let mut qb = QueryBuilder::new(format!("INSERT INTO {} ({}", first.table, first.id_col));
    for (col, _) in &first.columns {
        qb.push(format_args!(", {col}"));
    }
    qb.push(", version, created_at, created_by, updated_at, updated_by, doc) VALUES ");
    for (i, (row, stored)) in rows.iter().enumerate() {
        qb.push(if i == 0 { "(" } else { ", (" });
        qb.push_bind(stored.id.clone());
        for (_, value) in &row.columns {
            qb.push(", ").push_bind(value.clone());
        }
        qb.push(", ");
        bind_server(&mut qb, stored);
        qb.push(")");
    }
    Some(qb)
}

/// One INSERT of many history entries; each carries its full snapshot.
pub(crate) fn history_many<DB: Dialect>(entries: &[(&Plan, String)]) -> Result<Option<QueryBuilder<DB>>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    if entries.is_empty() {
        return Ok(None);
    }
    let mut qb = QueryBuilder::new(
        "INSERT INTO metric_history (metric_id, version, action, change_type, fields_changed, changed_by, changed_at, snapshot) VALUES ",
    );
    for (i, (plan, snapshot)) in entries.iter().enumerate() {
        let e = &plan.entity;
        qb.push(if i == 0 { "(" } else { ", (" })
            .push_bind(e.id.clone())
            .push(", ")
            .push_bind(e.version)
            .push(", ")
            .push_bind(plan.action.as_str().to_string())
            .push(", ")
            .push_bind(plan.change_type.as_str().to_string())
            .push(", ")
            .push_bind(serde_json::to_string(&plan.fields_changed)?)
            .push(DB::JSONB_CAST)
            .push(", ")
            .push_bind(plan.changed_by.clone())
            .push(", ");
        DB::push_time(&mut qb, &plan.changed_at);
        qb.push(", ").push_bind(snapshot.clone()).push(DB::JSON_CAST).push(")");
    }
    Ok(Some(qb))
}

/// Binds `version, created_at, created_by, updated_at, updated_by, doc` in that order.
fn bind_server<DB: Dialect>(qb: &mut QueryBuilder<DB>, s: &Stored)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    qb.push_bind(s.version).push(", ");
    DB::push_time(qb, &s.created_at);
    qb.push(", ").push_bind(s.created_by.clone()).push(", ");
    DB::push_time(qb, &s.updated_at);
    qb.push(", ")
        .push_bind(s.updated_by.clone())
        .push(", ")
        .push_bind(serde_json::to_string(&s.doc).unwrap_or_default())
        .push(DB::JSON_CAST);
}

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
}

pub(crate) fn metric_spec<DB: Dialect>(query: &MetricQuery) -> ListSpec<'_> {
    ListSpec {
        columns: DB::select_stored("metric_id"),
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
}

/// `FROM table t [search join] WHERE 1=1 [search condition] [filters]`. `ranked` asks for the
/// relevance the page query orders by; counts skip it (SQLite's bm25 per match is costly).
fn push_from<DB: Dialect>(
    qb: &mut QueryBuilder<DB>,
    table: &str,
    filter: Option<&MetricFilter>,
    ranked: bool,
) -> Result<(), StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    let terms = match filter.and_then(|f| f.q.as_deref()) {
        Some(q) => {
            let terms = search_terms(q);
            if terms.is_empty() {
                return Err(StoreError::invalid(
                    "q",
                    "must contain at least one word that is not a stop word",
                ));
            }
            DB::push_search_from(qb, table, &terms, ranked);
            Some(terms)
        }
        None => {
            qb.push(format_args!(" FROM {table} t"));
            None
        }
    };
    qb.push(" WHERE 1=1");
    if let Some(terms) = terms {
        DB::push_search_where(qb, &terms, ranked);
    }
    if let Some(f) = filter {
        push_metric_filters(qb, f);
    }
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
    push_from(&mut qb, table, filter, false)?;
    Ok(qb)
}

/// The page query; fetches one row more than the limit to learn whether a next page exists.
///
/// Deep numbered pages and searches use a deferred join: the offset is walked, or the matches
/// ranked, over ids (and the rank) only, and full rows are read for the one page returned.
/// Without it PostgreSQL carries every skipped or ranked document through the sort (page 1000
/// of 100k metrics: ~1 s; ranking 23k matches: 240 ms instead of 45 ms).
pub(crate) fn page_query<DB: Dialect>(
    spec: &ListSpec<'_>,
    filter: Option<&MetricFilter>,
) -> Result<QueryBuilder<DB>, StoreError>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let searching = filter.is_some_and(|f| f.q.is_some());
    let deferred = searching || matches!(spec.page, PageRequest::Offset { page, .. } if *page > 1);
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(&spec.columns);
    if deferred {
        qb.push(format_args!(
            " FROM {} t JOIN (SELECT t.{} AS k_id",
            spec.table, spec.id_col
        ));
        if searching {
            qb.push(format_args!(", {} AS k_rank", DB::SEARCH_RANK));
        }
    }
    push_from(&mut qb, spec.table, filter, true)?;
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
    let order = |qb: &mut QueryBuilder<DB>, rank: &str| {
        qb.push(" ORDER BY ");
        if searching {
            qb.push(format_args!("{rank} {}, ", DB::SEARCH_RANK_DIR));
        }
        if spec.sort_col != spec.id_col {
            qb.push(format_args!("t.{} {dir}, ", spec.sort_col));
        }
        qb.push(format_args!("t.{} {dir}", spec.id_col));
    };
    order(&mut qb, DB::SEARCH_RANK);
    let limit = i64::from(spec.page.limit());
    qb.push(" LIMIT ").push_bind(limit + 1);
    if let PageRequest::Offset { page, .. } = spec.page {
        qb.push(" OFFSET ").push_bind(i64::from(page - 1) * limit);
    }
    if deferred {
        qb.push(format_args!(") k ON t.{} = k.k_id", spec.id_col));
        order(&mut qb, "k.k_rank");
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
        has_next,
        next_cursor,
    }
}

/// Sort key and id of a stored entity for the spec's sort column.
pub(crate) fn stored_key(sort_col: &str, s: &Stored) -> (String, String) {
    let k = match sort_col {
        "name" => s.name().to_string(),
        "updated_at" => timestamp_text(&s.updated_at),
        _ => s.id.clone(),
    };
    (k, s.id.clone())
}

/// The spec for domains and objectives: by name, then id.
pub(crate) fn named_spec<'a, DB: Dialect>(
    table: &'static str,
    id_col: &'static str,
    page: &'a PageRequest,
) -> ListSpec<'a> {
    ListSpec {
        columns: DB::select_stored(id_col),
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

/// Builds `UPDATE table SET cols..., server fields, doc WHERE id = ?`.
pub(crate) fn push_update<DB: Dialect>(qb: &mut QueryBuilder<DB>, row: &RowSpec, stored: &Stored)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    qb.push(format_args!("UPDATE {} SET ", row.table));
    for (col, value) in &row.columns {
        qb.push(format_args!("{col} = ")).push_bind(value.clone()).push(", ");
    }
    qb.push("(version, created_at, created_by, updated_at, updated_by, doc) = (");
    bind_server(qb, stored);
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

/// Decodes a row selected with `Dialect::select_stored`.
pub(crate) fn decode_stored<DB: Dialect>(row: &DB::Row) -> Result<Stored, StoreError>
where
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let doc: String = row.try_get("doc")?;
    Ok(Stored {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        created_at: DB::time(row, "created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: DB::time(row, "updated_at")?,
        updated_by: row.try_get("updated_by")?,
        doc: serde_json::from_str(&doc)?,
    })
}

/// Decodes a row selected with `Dialect::HISTORY_COLUMNS`.
pub(crate) fn decode_history<DB: Dialect>(row: &DB::Row) -> Result<HistoryEntry, StoreError>
where
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let action: String = row.try_get("action")?;
    let change_type: String = row.try_get("change_type")?;
    let fields: String = row.try_get("fields_changed")?;
    let snapshot: String = row.try_get("snapshot")?;
    Ok(HistoryEntry {
        metric_id: row.try_get("metric_id")?,
        version: row.try_get("version")?,
        action: Action::parse(&action).ok_or_else(|| StoreError::Corrupt(format!("action {action}")))?,
        change_type: ChangeType::parse(&change_type)
            .ok_or_else(|| StoreError::Corrupt(format!("change type {change_type}")))?,
        fields_changed: serde_json::from_str(&fields)?,
        changed_by: row.try_get("changed_by")?,
        changed_at: timestamp_text(&DB::time(row, "changed_at")?),
        snapshot: serde_json::from_str(&snapshot)?,
    })
}

const USER_COLUMNS: &str =
    "t.user_id, t.username, t.email, t.full_name, t.role, t.status, t.created_at, t.updated_at, t.token_version";

/// Users listed by username (unique, so it is its own tie-breaker).
pub(crate) fn user_spec(page: &PageRequest) -> ListSpec<'_> {
    ListSpec {
        columns: USER_COLUMNS.to_string(),
        table: "users",
        id_col: "username",
        sort_col: "username",
        descending: false,
        page,
        scope: "users|username".to_string(),
    }
}

/// `SELECT user columns [, password_hash] FROM users t WHERE <col> = value`.
pub(crate) fn user_lookup<DB: Dialect>(col: &str, value: &str, with_hash: bool) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new(format!("SELECT {USER_COLUMNS}"));
    if with_hash {
        qb.push(", t.password_hash");
    }
    qb.push(format_args!(" FROM users t WHERE t.{col} = "))
        .push_bind(value.to_string());
    qb
}

pub(crate) fn user_insert<DB: Dialect>(user: &User, password_hash: &str) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new(
        "INSERT INTO users (user_id, username, email, full_name, role, status, password_hash, created_at, updated_at) VALUES (",
    );
    let mut values = qb.separated(", ");
    values.push_bind(user.user_id.clone());
    values.push_bind(user.username.clone());
    values.push_bind(user.email.clone());
    values.push_bind(user.full_name.clone());
    values.push_bind(user.role.as_str().to_string());
    values.push_bind(user.status.as_str().to_string());
    values.push_bind(password_hash.to_string());
    qb.push(", ");
    DB::push_time(&mut qb, &user.created_at);
    qb.push(", ");
    DB::push_time(&mut qb, &user.updated_at);
    qb.push(")");
    qb
}

/// `UPDATE users SET <changed fields>, updated_at = now WHERE user_id = id`.
pub(crate) fn user_update<DB: Dialect>(id: &str, change: &UserChange, at: &DateTime<Utc>) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("UPDATE users SET ");
    let text = [
        ("email", change.email.clone()),
        ("role", change.role.map(|r| r.as_str().to_string())),
        ("status", change.status.map(|s| s.as_str().to_string())),
        ("password_hash", change.password_hash.clone()),
    ];
    for (col, value) in text {
        if let Some(v) = value {
            qb.push(format_args!("{col} = ")).push_bind(v).push(", ");
        }
    }
    if let Some(full_name) = &change.full_name {
        qb.push("full_name = ").push_bind(full_name.clone()).push(", ");
    }
    if change.ends_sessions() {
        qb.push("token_version = token_version + 1, ");
    }
    qb.push("updated_at = ");
    DB::push_time(&mut qb, at);
    qb.push(" WHERE user_id = ").push_bind(id.to_string());
    qb
}

pub(crate) fn decode_user<DB: Dialect>(row: &DB::Row) -> Result<User, StoreError>
where
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(User {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        full_name: row.try_get("full_name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        status: UserStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        created_at: DB::time(row, "created_at")?,
        updated_at: DB::time(row, "updated_at")?,
        token_version: row.try_get("token_version")?,
    })
}
