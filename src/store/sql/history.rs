//! A metric's append-only history: the insert, the page query and the decoder.

use super::Dialect;
use crate::domain::{Action, ChangeType};
use crate::store::error::StoreError;
use crate::store::model::{HistoryEntry, timestamp_text};
use crate::store::query::{Cursor, Page, PageRequest};
use crate::store::write::Plan;
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

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
        total_capped: false,
        has_next,
        next_cursor,
    }
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
