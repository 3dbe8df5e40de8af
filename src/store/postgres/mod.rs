//! PostgreSQL: tsvector + GIN for search, a text[] + GIN for tags, row locks for writes.

mod blocks;
mod copy;
mod create;

use super::backend::{Fresh, SqlBackend, SqlReader, SqlStore, WriteTx, migration_error};
use super::error::StoreError;
use super::model::{
    ApiKey, Backend, BlockBuild, CatalogStats, Entity, EntityKind, FacetCounts, HistoryEntry, ImportBatch,
    ImportOutcome, RawStored, RefreshUse, Saved, Stored, UserChange, now, parse_timestamp,
};
use super::query::{MetricFilter, MetricQuery, Page, PageRequest};
use super::sql::{self, Access, Dialect, RowSpec, SearchTier};
use super::write::Plan;
use super::{CatalogReader, Expect, PoolStatus, Store, StoreResult};
use crate::config::DbConfig;
use crate::domain::Metric;
use crate::domain::user::{NewUser, User};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The expression of the name tier's index; a query must spell it exactly so.
const NAME_TSV: &str = "to_tsvector('english'::regconfig, t.name)";

/// Metrics per search block unless configured (see `block_start_query`: the start sorts every
/// block holding the words, so finer blocks cost a common word more there).
const BLOCK_ROWS: u32 = 256;

pub struct PgStore {
    db: SqlStore<Postgres>,
}

impl Dialect for Postgres {
    fn select_stored(id_col: &str) -> String {
        format!(
            "t.{id_col} AS id, t.version, t.created_at, t.created_by, t.updated_at, t.updated_by, t.doc::text AS doc"
        )
    }

    const TAG_FACET_HEAD: &'static str = "SELECT g.k, COUNT(*) AS n FROM (SELECT unnest(t.tags) AS k";
    const TAG_FACET_TAIL: &'static str = ") g GROUP BY g.k";

    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &[String]) {
        qb.push("t.tags && ").push_bind(tags.to_vec()).push("::text[]");
    }

    fn push_search_all(qb: &mut QueryBuilder<Self>, terms: &[String]) {
        qb.push(" AND t.search @@ plainto_tsquery('english', ")
            .push_bind(terms.join(" "))
            .push(")");
    }

    /// The stored vector weighs the name A, so "not every word in the name" is a weighted
    /// query on it (`word:A`), checked per row without recomputing anything. The name tier
    /// also has a GIN index of its own (migration 20261204000012): without it, learning that no
    /// name holds a word every description holds would recheck every match.
    fn push_search_tier(qb: &mut QueryBuilder<Self>, terms: &[String], tier: SearchTier, _access: Access) {
        match tier {
            SearchTier::Name => {
                qb.push(format_args!(" AND {NAME_TSV} @@ plainto_tsquery('english', "))
                    .push_bind(terms.join(" "))
                    .push(")");
            }
            SearchTier::Anywhere => {
                qb.push(" AND t.search @@ plainto_tsquery('english', ")
                    .push_bind(terms.join(" "))
                    .push(")");
            }
            SearchTier::Elsewhere => {
                let in_name = terms.iter().map(|t| format!("{t}:A")).collect::<Vec<_>>().join(" & ");
                qb.push(" AND t.search @@ plainto_tsquery('english', ")
                    .push_bind(terms.join(" "))
                    .push(") AND NOT t.search @@ to_tsquery('english', ")
                    .push_bind(in_name)
                    .push(")");
            }
        }
    }

    /// No probe: counting even a few thousand matches reads as many heap pages (0.2-1 s at
    /// 1M). A page walks first, within its budget, and reads the index when the walk falls short.
    fn tier_density_probe(_terms: &[String], _tier: SearchTier, _at: i64) -> Option<QueryBuilder<Self>> {
        None
    }

    /// Read under `FORCE_INDEX`: the GIN index gives every block holding the words, a few
    /// thousand rows at most, sorted for the first. A walk of the key index instead reads
    /// each block's vector until one holds them (half the blocks for a word past the middle).
    /// The fourth column (dense) is always 0: without a density probe, a page near the start
    /// walks first anyway.
    fn block_start_query(terms: &[String], tier: SearchTier, _wide_at: i64) -> QueryBuilder<Self> {
        let column = match tier {
            SearchTier::Name => "names",
            SearchTier::Elsewhere | SearchTier::Anywhere => "words",
        };
        let mut qb = QueryBuilder::new(format!(
            "SELECT CASE WHEN s.stale THEN 1 ELSE 0 END, b.lo_name, b.lo_id, 0 FROM search_blocks_state s LEFT JOIN LATERAL ( \
             SELECT k.lo_name, k.lo_id FROM search_blocks k WHERE k.{column} @@ plainto_tsquery('english', "
        ));
        qb.push_bind(terms.join(" "))
            .push(") ORDER BY k.lo_name, k.lo_id LIMIT 1) b ON true");
        qb
    }

    const WALK_COLUMNS: &'static [&'static str] = &["name", "search"];
    /// The planner's row estimate for a word it has no statistics on is a guess (0.5 %), and
    /// with a LIMIT it then walks an index for rows that are not there (4.6 s for a word in no
    /// name at 1M; 2 s for a tag of 200 metrics). Reads of the filter's index (GIN, or the
    /// owners' B-trees) are forced instead, as bitmap scans: no sequential or plain index scan.
    /// JIT off: the penalty on the scans it rules out puts the plan's cost past `jit_above_cost`,
    /// and compiling it took 135 ms where the query took 1 ms.
    const FORCE_INDEX: Option<&'static str> = Some(
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL jit = off",
    );

    const UNINDEXED_ORDER: &'static str = "";
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

    const JSON_CAST: &'static str = "::json";
    const JSONB_CAST: &'static str = "::jsonb";
    const LOCK: &'static str = " FOR UPDATE";

    fn push_time(qb: &mut QueryBuilder<Self>, t: &DateTime<Utc>) {
        qb.push_bind(*t);
    }

    fn time(row: &PgRow, col: &str) -> StoreResult<DateTime<Utc>> {
        Ok(row.try_get(col)?)
    }
}

impl PgStore {
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
                .acquire_timeout(Duration::from_millis(cfg.acquire_timeout_ms))
                .idle_timeout(Duration::from_secs(cfg.idle_timeout_s))
                .connect_with(options.clone())
                .await;
            match attempt {
                Ok(pool) => {
                    return Ok(Self {
                        db: SqlStore::new(pool, cfg, BLOCK_ROWS),
                    });
                }
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

impl SqlBackend for Postgres {
    const COUNT_SHARDS: u32 = 16;
    const KIND: Backend = Backend::Postgres;
    const FRESH_CREATES: bool = true;

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    async fn begin_write(pool: &PgPool) -> StoreResult<WriteTx<Postgres>> {
        Ok(WriteTx::new(pool.begin().await?, None))
    }

    /// Large batches go through COPY; a few rows through one INSERT. Both write the tags
    /// with the row: setting them after the insert would write the row, and every index
    /// entry, twice. (A COPY of one row waits ~40 ms on Nagle's algorithm and delayed ACKs:
    /// its last message is a few bytes sent after the data.)
    async fn insert_metrics(conn: &mut PgConnection, rows: &[(&RowSpec, &Metric, &Stored)]) -> StoreResult<bool> {
        let Some((first, _, _)) = rows.first() else {
            return Ok(true);
        };
        if rows.len() >= copy::MIN_ROWS {
            copy::metrics(conn, rows).await?;
            return Ok(true);
        }
        let mut qb = QueryBuilder::<Postgres>::new("INSERT INTO metrics (metric_id");
        for (col, _) in &first.columns {
            qb.push(format_args!(", {col}"));
        }
        qb.push(", tags, version, created_at, created_by, updated_at, updated_by, doc) VALUES ");
        for (i, (row, metric, stored)) in rows.iter().enumerate() {
            qb.push(if i == 0 { "(" } else { ", (" });
            qb.push_bind(stored.id.clone());
            for (_, value) in &row.columns {
                qb.push(", ").push_bind(value.clone());
            }
            qb.push(", ").push_bind(metric.tags.clone()).push("::text[], ");
            sql::bind_server(&mut qb, stored);
            qb.push(")");
        }
        // Multi-row statements vary in size: do not fill the statement cache with them.
        qb.build().persistent(rows.len() == 1).execute(&mut *conn).await?;
        Ok(true)
    }

    async fn append_history(conn: &mut PgConnection, entries: &[(&Plan, String)]) -> StoreResult<()> {
        if entries.len() >= copy::MIN_ROWS {
            return copy::history(conn, entries).await;
        }
        if let Some(mut qb) = sql::history_many::<Postgres>(entries)? {
            qb.build().persistent(entries.len() == 1).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Sets the `tags` array of these metrics in one statement.
    async fn sync_tags(conn: &mut PgConnection, metrics: &[&Metric]) -> StoreResult<()> {
        let rows: Vec<Value> = metrics
            .iter()
            .map(|m| serde_json::json!({ "id": m.metric_id, "tags": m.tags }))
            .collect();
        sqlx::query(
            "UPDATE metrics AS m SET tags = ARRAY(SELECT json_array_elements_text(v.tags)) \
         FROM json_to_recordset($1::json) AS v(id text, tags json) WHERE m.metric_id = v.id",
        )
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn cover_written(conn: &mut PgConnection, ids: &[String]) -> StoreResult<()> {
        blocks::cover(conn, ids).await
    }

    async fn create_fresh(pool: &PgPool, fresh: &Fresh<'_>) -> StoreResult<bool> {
        create::fresh(pool, fresh).await
    }

    async fn mark_blocks_stale(conn: &mut PgConnection) -> StoreResult<()> {
        blocks::mark_stale(conn).await
    }

    async fn build_blocks(pool: &PgPool, rows: i64, wait: bool) -> StoreResult<Option<BlockBuild>> {
        blocks::build(pool, rows, wait).await
    }

    /// Imports touch many rows, some not yet existing (row locks cannot cover those): one import
    /// at a time, across every instance sharing the database.
    async fn lock_for_import(conn: &mut PgConnection) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(7243001)")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Holds off every other writer of the catalog until this transaction ends (readers go on).
    /// Tables in the order single writes take them, so a writer already inside cannot deadlock
    /// with this: it finishes first.
    async fn lock_catalog_writes(conn: &mut PgConnection) -> StoreResult<()> {
        sqlx::query("LOCK TABLE metrics, domains, objectives, metric_history, tombstones IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// One consistent view for the rest of the transaction.
    async fn begin_snapshot(conn: &mut PgConnection) -> StoreResult<()> {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
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
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Postgres::KIND
    }
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.db.pool)
            .await
            .map_err(migration_error)
    }
    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
    fn pool_status(&self) -> Option<PoolStatus> {
        Some(self.db.pool_status())
    }
    async fn close(&self) {
        self.db.close().await
    }
    async fn get_metric(&self, id: &str) -> StoreResult<Option<Stored>> {
        self.db.get_metric(id).await
    }
    async fn list_metrics(&self, query: &MetricQuery) -> StoreResult<Page<Stored>> {
        self.db.list_metrics(query).await
    }
    async fn list_metrics_raw(&self, query: &MetricQuery) -> StoreResult<Page<RawStored>> {
        self.db.list_metrics_raw(query).await
    }
    async fn save_metric(&self, metric: &Metric, actor: &str, expect: Expect) -> StoreResult<Saved> {
        self.db.save_metric(metric, actor, expect).await
    }
    async fn delete_metric(&self, id: &str, actor: &str, version: Option<i64>) -> StoreResult<()> {
        self.db.delete_metric(id, actor, version).await
    }
    async fn metric_history(&self, id: &str, page: &PageRequest) -> StoreResult<Page<HistoryEntry>> {
        self.db.metric_history(id, page).await
    }
    async fn metric_version(&self, id: &str, version: i64) -> StoreResult<Option<HistoryEntry>> {
        self.db.metric_version(id, version).await
    }
    async fn get_entity(&self, kind: EntityKind, id: &str) -> StoreResult<Option<Stored>> {
        self.db.get_entity(kind, id).await
    }
    async fn list_entities(&self, kind: EntityKind, page: &PageRequest) -> StoreResult<Page<Stored>> {
        self.db.list_entities(kind, page).await
    }
    async fn save_entity(&self, entity: &Entity, actor: &str, expect: Expect) -> StoreResult<Saved> {
        self.db.save_entity(entity, actor, expect).await
    }
    async fn delete_entity(&self, kind: EntityKind, id: &str, version: Option<i64>) -> StoreResult<()> {
        self.db.delete_entity(kind, id, version).await
    }
    async fn import(&self, batch: &ImportBatch, actor: &str) -> StoreResult<ImportOutcome> {
        self.db.import(batch, actor).await
    }
    async fn build_search_blocks(&self, wait: bool) -> StoreResult<Option<BlockBuild>> {
        self.db.build_search_blocks(wait).await
    }
    async fn catalog_info(&self) -> StoreResult<Map<String, Value>> {
        self.db.catalog_info().await
    }
    async fn read_catalog(&self) -> StoreResult<Box<dyn CatalogReader>> {
        Ok(Box::new(self.db.reader().await?))
    }
    async fn setting_or_init(&self, key: &str, candidate: &str) -> StoreResult<String> {
        self.db.setting_or_init(key, candidate).await
    }
    async fn count_users(&self) -> StoreResult<u64> {
        self.db.count_users().await
    }
    async fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<User> {
        self.db.create_user(user, password_hash).await
    }
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        self.db.get_user(user_id).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        self.db.find_user(username).await
    }
    async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
        self.db.list_users(page).await
    }
    async fn update_user(&self, user_id: &str, change: &UserChange) -> StoreResult<User> {
        self.db.update_user(user_id, change).await
    }
    async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
        self.db.delete_user(user_id).await
    }
    async fn create_api_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()> {
        self.db.create_api_key(key, key_hash).await
    }
    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        self.db.list_api_keys(user_id).await
    }
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.db.find_api_key(key_hash).await
    }
    async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKey>> {
        self.db.get_api_key(key_id).await
    }
    async fn revoke_api_key(&self, key_id: &str, now: i64) -> StoreResult<()> {
        self.db.revoke_api_key(key_id, now).await
    }
    async fn insert_refresh_token(&self, hash: &str, family: &str, user_id: &str, expires_at: i64) -> StoreResult<()> {
        self.db.insert_refresh_token(hash, family, user_id, expires_at).await
    }
    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<RefreshUse> {
        self.db.use_refresh_token(token_hash, now).await
    }
    async fn refresh_token_user(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        self.db.refresh_token_user(token_hash, now).await
    }
    async fn revoke_refresh_family(&self, token_hash: &str, now: i64) -> StoreResult<()> {
        self.db.revoke_refresh_family(token_hash, now).await
    }
    async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> StoreResult<()> {
        self.db.revoke_user_refresh_tokens(user_id, now).await
    }
    async fn stats(&self) -> StoreResult<CatalogStats> {
        self.db.stats().await
    }
    async fn metric_facets(&self, filter: &MetricFilter, limit: u32) -> StoreResult<Vec<FacetCounts>> {
        self.db.metric_facets(filter, limit).await
    }
}

#[async_trait]
impl CatalogReader for SqlReader<Postgres> {
    async fn catalog_info(&mut self) -> StoreResult<Map<String, Value>> {
        self.read_catalog_info().await
    }
    async fn metrics(&mut self, after: Option<String>, limit: u32) -> StoreResult<Page<Stored>> {
        self.read_metrics(after, limit).await
    }
    async fn entities(&mut self, kind: EntityKind) -> StoreResult<Vec<Stored>> {
        self.read_entities(kind).await
    }
    async fn metric_writes(&mut self) -> StoreResult<i64> {
        self.read_metric_writes().await
    }
}
