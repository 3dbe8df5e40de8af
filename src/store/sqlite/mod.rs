//! The embedded default: one SQLite file in WAL mode, FTS5 for search.

use super::error::StoreError;
use super::model::{
    Backend, CatalogStats, EntityKind, HistoryEntry, ImportBatch, ImportOutcome, Provenance, Saved, Stored, WriteKind,
    now, parse_timestamp, timestamp_text,
};
use super::query::{MetricQuery, Page, PageRequest};
use super::sql::{self, Dialect, RowSpec};
use super::write::{self, Plan, WriteInput};
use super::{Expect, Store, StoreResult};
use crate::config::DbConfig;
use crate::domain::{Action, BusinessDomain, ChangeType, Metric, Objective};
use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl Dialect for Sqlite {
    fn select_stored(id_col: &str) -> String {
        format!("t.{id_col} AS id, t.version, t.created_at, t.created_by, t.updated_at, t.updated_by, t.doc")
    }

    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &[String]) {
        qb.push(" AND t.metric_pk IN (SELECT metric_pk FROM metric_tags WHERE tag IN (");
        let mut list = qb.separated(", ");
        for tag in tags {
            list.push_bind(tag.clone());
        }
        qb.push("))");
    }

    fn push_search_from(qb: &mut QueryBuilder<Self>, terms: &[String]) {
        // Each word quoted: FTS5 syntax in user input cannot reach the parser.
        let expr: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
        qb.push(" JOIN (SELECT rowid AS fts_rowid, bm25(metrics_fts, 10.0, 5.0, 1.0) AS rank FROM metrics_fts WHERE metrics_fts MATCH ")
            .push_bind(expr.join(" "))
            .push(") s ON s.fts_rowid = t.metric_pk");
    }

    fn push_search_where(_qb: &mut QueryBuilder<Self>) {}

    const SEARCH_ORDER: &'static str = "s.rank ASC";
    const CATALOG_DOC: &'static str = "doc";
    const HISTORY_COLUMNS: &'static str =
        "metric_id, version, action, change_type, fields_changed, changed_by, changed_at, snapshot";

    fn push_sort_key(qb: &mut QueryBuilder<Self>, _column: &str, key: &str) -> Result<(), StoreError> {
        qb.push_bind(key.to_string());
        Ok(())
    }

    fn bind_server(qb: &mut QueryBuilder<Self>, s: &Stored) {
        qb.push_bind(s.version)
            .push(", ")
            .push_bind(timestamp_text(&s.created_at))
            .push(", ")
            .push_bind(s.created_by.clone())
            .push(", ")
            .push_bind(timestamp_text(&s.updated_at))
            .push(", ")
            .push_bind(s.updated_by.clone())
            .push(", ")
            .push_bind(Value::Object(s.doc.clone()).to_string());
    }
}

fn time(row: &SqliteRow, col: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    let text: String = row.try_get(col)?;
    parse_timestamp(&text).ok_or_else(|| StoreError::Corrupt(format!("bad timestamp in {col}: {text}")))
}

fn decode_stored(row: &SqliteRow) -> StoreResult<Stored> {
    let doc: String = row.try_get("doc")?;
    Ok(Stored {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        created_at: time(row, "created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: time(row, "updated_at")?,
        updated_by: row.try_get("updated_by")?,
        doc: serde_json::from_str(&doc)?,
    })
}

fn decode_history(row: &SqliteRow) -> StoreResult<HistoryEntry> {
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
        changed_at: row.try_get("changed_at")?,
        snapshot: serde_json::from_str(&snapshot)?,
    })
}

impl SqliteStore {
    pub async fn connect(cfg: &DbConfig) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(&cfg.url)
            .map_err(|e| StoreError::invalid("DATABASE_URL", e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_millis(cfg.statement_timeout_ms.max(5_000)));
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .min_connections(cfg.pool_min)
            .max_connections(cfg.pool_max.max(1))
            .acquire_timeout(Duration::from_secs(cfg.connect_timeout_s.max(1)))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// SQLite allows one writer; taking the write lock up front avoids deadlocking upgrades.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// `_lock` is for the shared write path; SQLite's `BEGIN IMMEDIATE` already holds the write lock.
async fn fetch_stored(
    conn: &mut SqliteConnection,
    table: &str,
    id_col: &str,
    id: &str,
    _lock: bool,
) -> StoreResult<Option<Stored>> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
    qb.push(Sqlite::select_stored(id_col))
        .push(format_args!(" FROM {table} t WHERE t.{id_col} = "))
        .push_bind(id.to_string());
    let row = qb.build().fetch_optional(&mut *conn).await?;
    row.as_ref().map(decode_stored).transpose()
}

/// Replaces the metric's rows in the tag side table.
async fn sync_tags(conn: &mut SqliteConnection, m: &Metric) -> StoreResult<()> {
    let pk: i64 = sqlx::query_scalar("SELECT metric_pk FROM metrics WHERE metric_id = $1")
        .bind(&m.metric_id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM metric_tags WHERE metric_pk = $1")
        .bind(pk)
        .execute(&mut *conn)
        .await?;
    for tag in &m.tags {
        sqlx::query("INSERT OR IGNORE INTO metric_tags (tag, metric_pk) VALUES ($1, $2)")
            .bind(tag)
            .bind(pk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn append_history(conn: &mut SqliteConnection, plan: &Plan, snapshot: &Value) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO metric_history (metric_id, version, action, change_type, fields_changed, changed_by, changed_at, snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&plan.entity.id)
    .bind(plan.entity.version)
    .bind(plan.action.as_str())
    .bind(plan.change_type.as_str())
    .bind(serde_json::to_string(&plan.fields_changed)?)
    .bind(&plan.entity.updated_by)
    .bind(timestamp_text(&plan.entity.updated_at))
    .bind(snapshot.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert_catalog(conn: &mut SqliteConnection, info: &Map<String, Value>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO catalog_info (catalog_info_id, doc, updated_at) VALUES (1, $1, $2) \
         ON CONFLICT (catalog_info_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
    )
    .bind(Value::Object(info.clone()).to_string())
    .bind(timestamp_text(&now()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

crate::store::impl_store!(SqliteStore, Sqlite, Backend::Sqlite, "./migrations/sqlite");
