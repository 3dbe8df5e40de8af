//! PostgreSQL: tsvector + GIN for search, a text[] + GIN for tags, row locks for writes.

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
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::str::FromStr;
use std::time::{Duration, Instant};

pub struct PgStore {
    pool: PgPool,
}

impl Dialect for Postgres {
    fn select_stored(id_col: &str) -> String {
        format!(
            "t.{id_col} AS id, t.version, t.created_at, t.created_by, t.updated_at, t.updated_by, t.doc::text AS doc"
        )
    }

    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &[String]) {
        qb.push(" AND t.tags && ").push_bind(tags.to_vec()).push("::text[]");
    }

    fn push_search_from(qb: &mut QueryBuilder<Self>, terms: &[String]) {
        qb.push(" CROSS JOIN plainto_tsquery('english', ")
            .push_bind(terms.join(" "))
            .push(") AS tsq");
    }

    fn push_search_where(qb: &mut QueryBuilder<Self>) {
        qb.push(" AND t.search @@ tsq");
    }

    const SEARCH_ORDER: &'static str = "ts_rank(t.search, tsq) DESC";
    const CATALOG_DOC: &'static str = "doc::text";
    const HISTORY_COLUMNS: &'static str = "metric_id, version, action, change_type, fields_changed::text AS fields_changed, \
         changed_by, changed_at, snapshot::text AS snapshot";

    fn push_sort_key(qb: &mut QueryBuilder<Self>, column: &str, key: &str) -> Result<(), StoreError> {
        if column == "updated_at" {
            let t = parse_timestamp(key).ok_or_else(|| StoreError::invalid("cursor", "is not a valid cursor"))?;
            qb.push_bind(t);
        } else {
            qb.push_bind(key.to_string());
        }
        Ok(())
    }

    fn bind_server(qb: &mut QueryBuilder<Self>, s: &Stored) {
        qb.push_bind(s.version)
            .push(", ")
            .push_bind(s.created_at)
            .push(", ")
            .push_bind(s.created_by.clone())
            .push(", ")
            .push_bind(s.updated_at)
            .push(", ")
            .push_bind(s.updated_by.clone())
            .push(", ")
            .push_bind(Value::Object(s.doc.clone()).to_string())
            .push("::json");
    }
}

fn decode_stored(row: &PgRow) -> StoreResult<Stored> {
    let doc: String = row.try_get("doc")?;
    Ok(Stored {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
        doc: serde_json::from_str(&doc)?,
    })
}

fn decode_history(row: &PgRow) -> StoreResult<HistoryEntry> {
    let action: String = row.try_get("action")?;
    let change_type: String = row.try_get("change_type")?;
    let fields: String = row.try_get("fields_changed")?;
    let snapshot: String = row.try_get("snapshot")?;
    let changed_at: DateTime<Utc> = row.try_get("changed_at")?;
    Ok(HistoryEntry {
        metric_id: row.try_get("metric_id")?,
        version: row.try_get("version")?,
        action: Action::parse(&action).ok_or_else(|| StoreError::Corrupt(format!("action {action}")))?,
        change_type: ChangeType::parse(&change_type)
            .ok_or_else(|| StoreError::Corrupt(format!("change type {change_type}")))?,
        fields_changed: serde_json::from_str(&fields)?,
        changed_by: row.try_get("changed_by")?,
        changed_at: timestamp_text(&changed_at),
        snapshot: serde_json::from_str(&snapshot)?,
    })
}

impl PgStore {
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Connects, retrying with backoff until the configured connect timeout.
    pub async fn connect(cfg: &DbConfig) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(&cfg.url)
            .map_err(|e| StoreError::invalid("DATABASE_URL", e.to_string()))?
            .application_name("mdl")
            .options([("statement_timeout", cfg.statement_timeout_ms.to_string())]);
        let deadline = Instant::now() + Duration::from_secs(cfg.connect_timeout_s);
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = PgPoolOptions::new()
                .min_connections(cfg.pool_min)
                .max_connections(cfg.pool_max.max(1))
                .acquire_timeout(Duration::from_secs(5))
                .idle_timeout(Duration::from_secs(600))
                .connect_with(options.clone())
                .await;
            match attempt {
                Ok(pool) => return Ok(Self { pool }),
                Err(e) if Instant::now() + backoff < deadline => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "database not reachable yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    return Err(StoreError::Unavailable(format!(
                        "could not connect within {} s: {e}",
                        cfg.connect_timeout_s
                    )));
                }
            }
        }
    }
}

/// `lock` takes a row lock so concurrent writers of one entity queue up instead of racing.
async fn fetch_stored(
    conn: &mut PgConnection,
    table: &str,
    id_col: &str,
    id: &str,
    lock: bool,
) -> StoreResult<Option<Stored>> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
    qb.push(Postgres::select_stored(id_col))
        .push(format_args!(" FROM {table} t WHERE t.{id_col} = "))
        .push_bind(id.to_string());
    if lock {
        qb.push(" FOR UPDATE");
    }
    let row = qb.build().fetch_optional(&mut *conn).await?;
    row.as_ref().map(decode_stored).transpose()
}

async fn sync_tags(conn: &mut PgConnection, m: &Metric) -> StoreResult<()> {
    sqlx::query("UPDATE metrics SET tags = $1 WHERE metric_id = $2")
        .bind(&m.tags)
        .bind(&m.metric_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn append_history(conn: &mut PgConnection, plan: &Plan, snapshot: &Value) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO metric_history (metric_id, version, action, change_type, fields_changed, changed_by, changed_at, snapshot) \
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::json)",
    )
    .bind(&plan.entity.id)
    .bind(plan.entity.version)
    .bind(plan.action.as_str())
    .bind(plan.change_type.as_str())
    .bind(serde_json::to_string(&plan.fields_changed)?)
    .bind(&plan.entity.updated_by)
    .bind(plan.entity.updated_at)
    .bind(snapshot.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert_catalog(conn: &mut PgConnection, info: &Map<String, Value>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO catalog_info (catalog_info_id, doc, updated_at) VALUES (1, $1::json, $2) \
         ON CONFLICT (catalog_info_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
    )
    .bind(Value::Object(info.clone()).to_string())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

crate::store::impl_store!(PgStore, Postgres, Backend::Postgres, "./migrations/postgres");
