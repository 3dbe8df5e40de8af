//! What only metrics have: filters, past-version lookup and indexed columns.

use super::{Dialect, ListSpec, RowSpec};
use crate::store::model::EntityKind;
use crate::store::query::{MetricFilter, MetricQuery};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// The highest version each id ever had, deleted ones included (NULL for an id never used).
///
/// One index probe per id, whatever the planner knows: as `metric_id IN (...) GROUP BY`, a
/// growing history without fresh statistics (a bulk load outruns autoanalyze) was scanned
/// whole for every chunk of 500 ids, which made seeding quadratic (PostgreSQL: 551 sequential
/// scans reading 10M rows to seed 100k metrics).
pub(crate) fn last_versions<DB: Dialect>(ids: &[&str]) -> QueryBuilder<DB>
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
    <DB as Database>::Arguments: Default,
{
    let mut qb = QueryBuilder::new(
        "SELECT v.column1, (SELECT MAX(h.version) FROM metric_history h WHERE h.metric_id = v.column1) FROM (VALUES ",
    );
    for (i, id) in ids.iter().enumerate() {
        qb.push(if i == 0 { "(" } else { ", (" })
            .push_bind(id.to_string())
            .push(")");
    }
    qb.push(") AS v");
    qb
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
        count_search: query.count_search,
    }
}

/// The filter a list reads its matches by when they are few (`Bounded`): the others
/// are still tested, row by row, but offer the planner no index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    Owner,
    Tags,
}

pub(super) fn push_filters<DB: Dialect>(qb: &mut QueryBuilder<DB>, f: &MetricFilter, driver: Option<Driver>)
where
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    // `(x) IS TRUE` keeps x's meaning in a WHERE clause (NULL and false both fail) and is
    // no index's condition on either backend.
    let hidden = |by: Option<Driver>| driver.is_some() && driver != by;
    let open = |qb: &mut QueryBuilder<DB>, by| {
        qb.push(if hidden(by) { " AND (" } else { " AND " });
    };
    let close = |qb: &mut QueryBuilder<DB>, by| {
        if hidden(by) {
            qb.push(") IS TRUE");
        }
    };
    let eq = [
        ("category", &f.category),
        ("tier", &f.tier),
        ("business_domain", &f.business_domain),
        ("metric_type", &f.metric_type),
        ("status", &f.status),
    ];
    for (col, value) in eq {
        if let Some(v) = value {
            open(qb, None);
            qb.push(format_args!("t.{col} = ")).push_bind(v.clone());
            close(qb, None);
        }
    }
    if let Some(owner) = &f.owner {
        open(qb, Some(Driver::Owner));
        qb.push("(t.owner_team = ")
            .push_bind(owner.clone())
            .push(" OR t.technical_owner = ")
            .push_bind(owner.clone())
            .push(" OR t.business_owner = ")
            .push_bind(owner.clone())
            .push(")");
        close(qb, Some(Driver::Owner));
    }
    if !f.tags.is_empty() {
        open(qb, Some(Driver::Tags));
        DB::push_tags(qb, &f.tags);
        close(qb, Some(Driver::Tags));
    }
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
