//! The embedded default: one SQLite file in WAL mode, FTS5 for search.

mod blocks;
mod write_queue;

use super::backend::{Fresh, SqlBackend, SqlReader, SqlStore, WriteTx, migration_error};
use super::error::StoreError;
use super::model::{
    ApiKey, Backend, BlockBuild, CatalogStats, Entity, EntityKind, FacetCounts, HistoryEntry, ImportBatch,
    ImportOutcome, RawStored, RefreshUse, Saved, Stored, UserChange, now, parse_timestamp, timestamp_text,
};
use super::query::{MetricFilter, MetricQuery, Page, PageRequest};
use super::sql::{self, Access, Dialect, SearchTier};
use super::write::Plan;
use super::{CatalogReader, Expect, PoolStatus, Store, StoreResult};
use crate::config::DbConfig;
use crate::domain::Metric;
use crate::domain::user::{NewUser, User};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Each word quoted: FTS5 syntax in user input cannot reach the parser; words are ANDed.
fn fts_query(terms: &[String]) -> String {
    terms.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" ")
}

/// The tier's matches as an FTS5 table and query. Names have an index of their own: a column
/// filter on `metrics_fts` (`name : (...)`) reads the word's whole doclist, descriptions
/// included, to find the name entries (33 ms for `events` at 1M metrics, with none to find).
fn fts_tier_query(terms: &[String], tier: SearchTier) -> (&'static str, String) {
    let all = fts_query(terms);
    match tier {
        SearchTier::Name => ("metric_names_fts", all),
        SearchTier::Elsewhere => ("metrics_fts", format!("({all}) NOT name : ({all})")),
        SearchTier::Anywhere => ("metrics_fts", all),
    }
}

/// Metrics per search block unless configured. A walk from a block's lower key probes the
/// full-text index for every row before the first match, up to a block's worth, at about 10 µs
/// a probe: at 256, `checkout` (names clustered past the middle of a 1M catalog) probed 139
/// rows before its first match; 64 took its p95 at 1M from 33 to 19 ms at the price of four
/// times the block rows (docs/benchmarks.md, "SQLite's global mutexes, finer blocks and dense
/// starts").
/// PostgreSQL stays at 256: its block start sorts every block holding the words.
const BLOCK_ROWS: u32 = 64;

pub struct SqliteStore {
    db: SqlStore<Sqlite>,
}

impl Dialect for Sqlite {
    fn select_stored(id_col: &str) -> String {
        format!("t.{id_col} AS id, t.version, t.created_at, t.created_by, t.updated_at, t.updated_by, t.doc")
    }

    const TAG_FACET_HEAD: &'static str =
        "SELECT g.tag AS k, COUNT(*) AS n FROM metric_tags g WHERE g.metric_pk IN (SELECT t.metric_pk";
    const TAG_FACET_TAIL: &'static str = ") GROUP BY g.tag";

    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &[String]) {
        qb.push("t.metric_pk IN (SELECT metric_pk FROM metric_tags WHERE tag IN (");
        let mut list = qb.separated(", ");
        for tag in tags {
            list.push_bind(tag.clone());
        }
        qb.push("))");
    }

    fn push_search_all(qb: &mut QueryBuilder<Self>, terms: &[String]) {
        qb.push(" AND t.metric_pk IN (SELECT rowid FROM metrics_fts WHERE metrics_fts MATCH ")
            .push_bind(fts_query(terms))
            .push(")");
    }

    fn push_search_tier(qb: &mut QueryBuilder<Self>, terms: &[String], tier: SearchTier, access: Access) {
        if (access, tier) == (Access::Walk, SearchTier::Elsewhere) {
            // Two plain probes, the words anywhere and not all in the name: one probe with the
            // column filter cost 22 ms per 300 rows for `events` at 1M, a plain one 12 ms.
            let all = fts_query(terms);
            qb.push(" AND EXISTS (SELECT 1 FROM metrics_fts WHERE metrics_fts MATCH ")
                .push_bind(all.clone())
                .push(" AND metrics_fts.rowid = t.metric_pk)")
                .push(" AND NOT EXISTS (SELECT 1 FROM metric_names_fts WHERE metric_names_fts MATCH ")
                .push_bind(all)
                .push(" AND metric_names_fts.rowid = t.metric_pk)");
            return;
        }
        let (table, query) = fts_tier_query(terms, tier);
        match access {
            // Probed row by row as the list's order is walked: SQLite would otherwise list
            // every match of the word before looking at the first row.
            Access::Walk => qb
                .push(format_args!(" AND EXISTS (SELECT 1 FROM {table} WHERE {table} MATCH "))
                .push_bind(query)
                .push(format_args!(" AND {table}.rowid = t.metric_pk)")),
            // For a scan, the unary `+` keeps SQLite from looking rows up by the listed ids: it
            // walks the covering index of the list's order and checks each entry against the set.
            Access::Index | Access::Scan => {
                let plus = if access == Access::Scan { "+" } else { "" };
                qb.push(format_args!(
                    " AND {plus}t.metric_pk IN (SELECT rowid FROM {table} WHERE {table} MATCH "
                ))
                .push_bind(query)
                .push(")")
            }
        };
    }

    fn tier_density_probe(terms: &[String], tier: SearchTier, at: i64) -> Option<QueryBuilder<Self>> {
        let (table, query) = fts_tier_query(terms, tier);
        let mut qb = QueryBuilder::new(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH "
        ));
        qb.push_bind(query).push(" LIMIT ").push_bind(at).push(")");
        Some(qb)
    }

    /// FTS5 returns a MATCH in rowid order, and a block's rowids sort with its number: the
    /// first rowid is the first block holding the words. The fourth column says whether the
    /// start is dense (`BlockStart::From`): the `DENSE_RUN` blocks from the first all hold the
    /// words (a rowid range of the same doclist), and at least `wide_at` rows of the set do,
    /// so the word can have as many matches as a density probe would count.
    fn block_start_query(terms: &[String], tier: SearchTier, wide_at: i64) -> QueryBuilder<Self> {
        let table = match tier {
            SearchTier::Name => "search_block_names_fts",
            SearchTier::Elsewhere | SearchTier::Anywhere => "search_block_fts",
        };
        let bits = blocks::SEQ_BITS;
        let words = fts_query(terms);
        let mut qb = QueryBuilder::new(format!(
            "SELECT CASE WHEN s.stale THEN 1 ELSE 0 END, b.lo_name, b.lo_id, \
             CASE WHEN (SELECT COUNT(DISTINCT rowid >> {bits}) FROM {table} WHERE {table} MATCH "
        ));
        qb.push_bind(words.clone()).push(format!(
            " AND rowid >= b.block << {bits} AND rowid < min(b.block + {run}, s.base + s.blocks) << {bits}) >= {run} \
             AND (SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ",
            run = sql::DENSE_RUN,
        ));
        qb.push_bind(words.clone()).push(format!(
            " AND rowid >= (SELECT base FROM search_blocks_state) << {bits} \
             AND rowid < (SELECT base + blocks FROM search_blocks_state) << {bits} LIMIT "
        ));
        qb.push_bind(wide_at).push(")) >= ").push_bind(wide_at).push(format!(
            " THEN 1 ELSE 0 END \
             FROM search_blocks_state s LEFT JOIN search_blocks b \
             ON b.block = (SELECT rowid >> {bits} FROM {table} WHERE {table} MATCH "
        ));
        // Only the blocks searches read: a build writes its own beside them.
        qb.push_bind(words).push(format!(
            " AND rowid >= s.base << {bits} AND rowid < (s.base + s.blocks) << {bits} ORDER BY rowid LIMIT 1)"
        ));
        qb
    }

    const WALK_COLUMNS: &'static [&'static str] = &["metric_pk"];
    const FORCE_INDEX: Option<&'static str> = None;
    const UNINDEXED_ORDER: &'static str = "+";

    const CATALOG_DOC: &'static str = "doc";
    const HISTORY_COLUMNS: &'static str =
        "metric_id, version, action, change_type, fields_changed, changed_by, changed_at, snapshot";

    fn push_sort_key(qb: &mut QueryBuilder<Self>, _column: &str, key: &str) -> Result<(), StoreError> {
        qb.push_bind(key.to_string());
        Ok(())
    }

    const JSON_CAST: &'static str = "";
    const JSONB_CAST: &'static str = "";
    // BEGIN IMMEDIATE already holds the database's single write lock.
    const LOCK: &'static str = "";

    fn push_time(qb: &mut QueryBuilder<Self>, t: &DateTime<Utc>) {
        qb.push_bind(timestamp_text(t));
    }

    fn time(row: &SqliteRow, col: &str) -> StoreResult<DateTime<Utc>> {
        let text: String = row.try_get(col)?;
        parse_timestamp(&text).ok_or_else(|| StoreError::Corrupt(format!("bad timestamp in {col}: {text}")))
    }
}

impl SqliteStore {
    pub async fn connect(cfg: &DbConfig) -> StoreResult<Self> {
        let busy = Duration::from_millis(cfg.statement_timeout_ms.max(5_000));
        let options = SqliteConnectOptions::from_str(&cfg.url)
            .map_err(|e| StoreError::invalid("DATABASE_URL", e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(busy)
            // 16 MiB of page cache per connection instead of 2: large imports and deep scans
            // otherwise re-read the same pages from the OS over and over.
            .pragma("cache_size", "-16384")
            .pragma("temp_store", "memory");
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .min_connections(cfg.pool_min)
            .max_connections(cfg.pool_max.max(1))
            // One writer at a time: waiting for a connection is contention here, not an outage.
            .acquire_timeout(Duration::from_secs(cfg.connect_timeout_s.max(1)))
            .idle_timeout(Duration::from_secs(cfg.idle_timeout_s))
            .connect_with(options)
            .await?;
        write_queue::set_wait_max(&pool, busy);
        Ok(Self {
            db: SqlStore::new(pool, cfg, BLOCK_ROWS),
        })
    }
}

impl SqlBackend for Sqlite {
    const COUNT_SHARDS: u32 = 1;
    const KIND: Backend = Backend::Sqlite;
    /// A write here is in-process calls under one write lock, not round trips.
    const FRESH_CREATES: bool = false;

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    /// SQLite allows one writer; taking the write lock up front avoids deadlocking upgrades,
    /// and taking turns for it first (`write_queue`) keeps writers from polling for it.
    async fn begin_write(pool: &SqlitePool) -> StoreResult<WriteTx<Sqlite>> {
        let turn = write_queue::turn(pool).await?;
        Ok(WriteTx::new(pool.begin_with("BEGIN IMMEDIATE").await?, Some(turn)))
    }

    /// Tags live in `metric_tags`, keyed by the rowid the insert assigns: `sync_tags` follows.
    async fn insert_metrics(
        conn: &mut SqliteConnection,
        rows: &[(&sql::RowSpec, &Metric, &Stored)],
    ) -> StoreResult<bool> {
        let rows: Vec<(&sql::RowSpec, &Stored)> = rows.iter().map(|(r, _, s)| (*r, *s)).collect();
        if let Some(mut qb) = sql::insert_many::<Sqlite>(&rows) {
            // Multi-row statements vary in size: do not fill the statement cache with them.
            qb.build().persistent(rows.len() == 1).execute(&mut *conn).await?;
        }
        Ok(false)
    }

    async fn append_history(conn: &mut SqliteConnection, entries: &[(&Plan, String)]) -> StoreResult<()> {
        if let Some(mut qb) = sql::history_many::<Sqlite>(entries)? {
            qb.build().persistent(entries.len() == 1).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Replaces the tag rows of these metrics (all already written in this transaction).
    async fn sync_tags(conn: &mut SqliteConnection, metrics: &[&Metric]) -> StoreResult<()> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "DELETE FROM metric_tags WHERE metric_pk IN (SELECT metric_pk FROM metrics WHERE metric_id IN (",
        );
        let mut ids = qb.separated(", ");
        for m in metrics {
            ids.push_bind(m.metric_id.clone());
        }
        qb.push("))");
        qb.build().persistent(metrics.len() == 1).execute(&mut *conn).await?;
        let pairs: Vec<(&str, &str)> = metrics
            .iter()
            .flat_map(|m| m.tags.iter().map(|t| (t.as_str(), m.metric_id.as_str())))
            .collect();
        for chunk in pairs.chunks(sql::CHUNK * 2) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO metric_tags (tag, metric_pk) SELECT v.column1, m.metric_pk FROM (VALUES ",
            );
            for (i, (tag, id)) in chunk.iter().enumerate() {
                qb.push(if i == 0 { "(" } else { ", (" })
                    .push_bind(tag.to_string())
                    .push(", ")
                    .push_bind(id.to_string())
                    .push(")");
            }
            qb.push(") AS v JOIN metrics m ON m.metric_id = v.column2");
            qb.build().persistent(false).execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn cover_written(conn: &mut SqliteConnection, ids: &[String]) -> StoreResult<()> {
        blocks::cover(conn, ids).await
    }

    async fn create_fresh(_pool: &SqlitePool, _fresh: &Fresh<'_>) -> StoreResult<bool> {
        Ok(false)
    }

    async fn mark_blocks_stale(conn: &mut SqliteConnection) -> StoreResult<()> {
        blocks::mark_stale(conn).await
    }

    async fn build_blocks(pool: &SqlitePool, rows: i64, wait: bool) -> StoreResult<Option<BlockBuild>> {
        blocks::build(pool, rows, wait).await
    }

    /// `BEGIN IMMEDIATE` already serialises every write transaction.
    async fn lock_for_import(_conn: &mut SqliteConnection) -> StoreResult<()> {
        Ok(())
    }

    /// `BEGIN IMMEDIATE` already holds the database's one write lock.
    async fn lock_catalog_writes(_conn: &mut SqliteConnection) -> StoreResult<()> {
        Ok(())
    }

    /// In WAL mode a read transaction already sees one snapshot from its first read on.
    async fn begin_snapshot(_conn: &mut SqliteConnection) -> StoreResult<()> {
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
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Sqlite::KIND
    }
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.db.pool)
            .await
            .map_err(migration_error)
    }
    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await
    }
    /// Each table merged into one segment: a probe of `metric_names_fts` for a word in an
    /// eighth of 1M names took 20 ms per 300 rows as the migration's rebuild left it, 5 ms after.
    async fn compact_search(&self) -> StoreResult<()> {
        let mut tx = Sqlite::begin_write(&self.db.pool).await?;
        for optimize in [
            "INSERT INTO metrics_fts (metrics_fts) VALUES ('optimize')",
            "INSERT INTO metric_names_fts (metric_names_fts) VALUES ('optimize')",
        ] {
            sqlx::query(optimize).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
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
impl CatalogReader for SqlReader<Sqlite> {
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
