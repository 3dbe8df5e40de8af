//! Reading and writing the rows of metrics, domains and objectives.

use super::{Dialect, ListSpec};
use crate::store::error::StoreError;
use crate::store::model::{Entity, EntityKind, RawStored, Stored, timestamp_text};
use crate::store::query::{MetricSort, PageRequest};
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

/// `SELECT <stored columns> FROM table t WHERE id IN (...)`, optionally locking the rows.
pub(crate) fn fetch_many<DB: Dialect>(table: &str, id_col: &str, ids: &[&str], lock: bool) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    fetch_many_with(table, id_col, "", ids, lock)
}

/// `fetch_many` selecting `extra` columns (`, t.col AS name...`) too.
pub(crate) fn fetch_many_with<DB: Dialect>(
    table: &str,
    id_col: &str,
    extra: &str,
    ids: &[&str],
    lock: bool,
) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(DB::select_stored(id_col));
    qb.push(extra);
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

/// Binds `version, created_at, created_by, updated_at, updated_by, doc` in that order.
pub(crate) fn bind_server<DB: Dialect>(qb: &mut QueryBuilder<DB>, s: &Stored)
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

/// `stored_key` of the entity a raw row holds.
pub(crate) fn raw_key(sort_col: &str, r: &RawStored) -> (String, String) {
    let k = match sort_col {
        "name" => r.name(),
        "updated_at" => timestamp_text(&r.updated_at),
        _ => r.id.clone(),
    };
    (k, r.id.clone())
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
        count_search: false,
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

pub(crate) fn domain_row(d: &crate::domain::BusinessDomain) -> RowSpec {
    RowSpec {
        kind: EntityKind::Domain,
        id: d.domain_id.clone(),
        table: "domains",
        id_col: "domain_id",
        columns: vec![("name", Some(d.name.clone())), ("owner_team", d.owner_team.clone())],
    }
}

pub(crate) fn entity_row(entity: &Entity) -> RowSpec {
    match entity {
        Entity::Domain(d) => domain_row(d),
        Entity::Objective(o) => objective_row(o),
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

/// Decodes a row selected with `Dialect::select_stored`.
pub(crate) fn decode_stored<DB: Dialect>(row: &DB::Row) -> Result<Stored, StoreError>
where
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    Ok(decode_raw::<DB>(row)?.parse()?)
}

/// Decodes a row selected with `Dialect::select_stored`, leaving the document as text.
pub(crate) fn decode_raw<DB: Dialect>(row: &DB::Row) -> Result<RawStored, StoreError>
where
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    Ok(RawStored {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        created_at: DB::time(row, "created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: DB::time(row, "updated_at")?,
        updated_by: row.try_get("updated_by")?,
        doc: row.try_get("doc")?,
    })
}
