//! The `Store` logic shared by both backends, written once as generic functions over the sqlx
//! database. Each backend provides its `Dialect` (SQL fragments) and a `SqlBackend` (the few
//! statements and locks that really differ); its `Store` impl forwards every method here.

mod accounts;
mod catalog;

pub(crate) use catalog::SqlReader;

use super::error::StoreError;
use super::model::{Backend, BlockBuild, Entity, EntityKind, Provenance, RawStored, Saved, Stored, WriteKind};
use super::query::{MetricFilter, MetricQuery, Page, PageRequest};
use super::sql::{self, Access, BlockStart, Bounded, Counted, Dialect, RowSpec, SearchTier, Tally, TierRead};
use super::write::{self, Plan, WriteInput};
use super::{Expect, PoolStatus, StoreResult};
use crate::domain::Metric;
use serde_json::{Map, Value};
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Transaction, Type,
};
use std::collections::HashMap;
use std::future::Future;

/// What differs between the backends beyond SQL fragments: transaction starts, locks and the
/// statements written natively for each engine.
pub(crate) trait SqlBackend: Dialect + sqlx::database::HasStatementCache {
    const KIND: Backend;
    /// Rows per value in `metric_counts` that writers spread over (see its migration).
    const COUNT_SHARDS: u32;
    /// sqlx has no trait for this: each backend's result type has its own method.
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// `NotFound` when a statement changed no row.
    fn changed_any(result: &Self::QueryResult, noun: &'static str, id: &str) -> StoreResult<()> {
        match Self::rows_affected(result) {
            0 => Err(StoreError::not_found(noun, id)),
            _ => Ok(()),
        }
    }
    /// Starts a write transaction (SQLite takes its one write lock up front, in turn).
    fn begin_write(pool: &Pool<Self>) -> impl Future<Output = StoreResult<WriteTx<Self>>> + Send;
    /// Inserts new metric rows; true when their tags were written too (no `sync_tags` needed).
    fn insert_metrics(
        conn: &mut Self::Connection,
        rows: &[(&RowSpec, &Metric, &Stored)],
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Appends entries to the metric history.
    fn append_history(
        conn: &mut Self::Connection,
        entries: &[(&Plan, String)],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Brings the tag index of these metrics (all already written in this transaction) up to date.
    fn sync_tags(conn: &mut Self::Connection, metrics: &[&Metric]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Adds search-block rows covering these metrics, all written in this transaction.
    fn cover_written(conn: &mut Self::Connection, ids: &[String]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Whether `create_fresh` can write at all: if not, a create goes the general way at once.
    const FRESH_CREATES: bool;
    /// Writes a metric whose id never existed, everything the general path would write, in
    /// one statement; false when it wrote nothing (the id exists or existed, or a concurrent
    /// writer holds it) and the general path must run.
    fn create_fresh(pool: &Pool<Self>, fresh: &Fresh<'_>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Marks the search blocks stale: a bulk load leaves them to the next build.
    fn mark_blocks_stale(conn: &mut Self::Connection) -> impl Future<Output = StoreResult<()>> + Send;
    /// Builds the search blocks anew, `rows` metrics each (see `sql::blocks`): with `wait`,
    /// after whatever build or bulk load is running; without, only if none is and a build
    /// is still due. `None` when it did not build.
    fn build_blocks(
        pool: &Pool<Self>,
        rows: i64,
        wait: bool,
    ) -> impl Future<Output = StoreResult<Option<BlockBuild>>> + Send;
    /// Serialises imports against each other.
    fn lock_for_import(conn: &mut Self::Connection) -> impl Future<Output = StoreResult<()>> + Send;
    /// Holds off every other catalog writer until this transaction ends.
    fn lock_catalog_writes(conn: &mut Self::Connection) -> impl Future<Output = StoreResult<()>> + Send;
    /// Makes the rest of this transaction read one consistent view.
    fn begin_snapshot(conn: &mut Self::Connection) -> impl Future<Output = StoreResult<()>> + Send;
    fn upsert_catalog(
        conn: &mut Self::Connection,
        info: &Map<String, Value>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// A write transaction, with the writer's turn on backends that queue their writers
/// (`sqlite::write_queue`): the turn passes on once the transaction has ended. It reads as the
/// transaction's connection, like `sqlx::Transaction`.
pub(crate) struct WriteTx<DB: Database> {
    // Fields drop in order: the transaction ends (rolled back if still open), then the turn.
    tx: Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: Database> WriteTx<DB> {
    pub(crate) fn new(tx: Transaction<'static, DB>, turn: Option<tokio::sync::OwnedMutexGuard<()>>) -> Self {
        WriteTx { tx, _turn: turn }
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().await?)
    }

    pub(crate) async fn rollback(self) -> StoreResult<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl<DB: Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// One create of an id never used, computed in full before anything is written
/// (`SqlBackend::create_fresh`).
pub(crate) struct Fresh<'a> {
    pub row: &'a RowSpec,
    pub metric: &'a Metric,
    pub plan: &'a Plan,
    /// The history snapshot: the stored document with its server fields.
    pub snapshot: &'a str,
    pub tally: &'a Tally,
    /// The counters' shard and the metric-writes shard this writer takes.
    pub count_shard: i64,
    pub write_shard: i64,
}

/// A pool of either backend with every shared `Store` operation on it. Trait where-clauses
/// on other types are not implied at use sites, so each impl block below states the bounds.
pub(crate) struct SqlStore<DB: Database> {
    pub(crate) pool: Pool<DB>,
    /// Most matches a search counts (`count=true`) before it reports "at least this many".
    search_count_cap: u64,
    /// Matches a tier must have for a page near the start to walk the order (`tier_access`);
    /// the most an owner's or tags' counters may give for a list to read its matches first
    /// (`Bounded`).
    dense_at: i64,
    /// Metrics per search block a build writes; 0: searches and builds leave the blocks
    /// alone (writes still keep them, for other instances).
    block_rows: i64,
}

impl<DB: Database> SqlStore<DB> {
    /// `block_rows` is the backend's block size, for a configuration that names none.
    pub(crate) fn new(pool: Pool<DB>, cfg: &crate::config::DbConfig, block_rows: u32) -> Self {
        SqlStore {
            pool,
            search_count_cap: cfg.search_count_cap,
            dense_at: i64::from(cfg.search_dense_at.max(1)),
            block_rows: i64::from(cfg.search_block_rows.unwrap_or(block_rows)),
        }
    }

    pub(crate) fn pool_status(&self) -> PoolStatus {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        PoolStatus {
            size,
            idle,
            in_use: size.saturating_sub(idle),
            max: self.pool.options().get_max_connections(),
        }
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Rows of `metric_writes` (see its migration).
const METRIC_WRITE_SHARDS: u32 = 16;

pub(crate) fn migration_error(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Database(format!("migration failed: {e}"))
}

impl<DB: SqlBackend> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'t> String: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> i32: Decode<'t, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    pub(crate) async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Reads one row by id (locked when about to be written).
    async fn fetch_stored(
        conn: &mut DB::Connection,
        table: &str,
        id_col: &str,
        id: &str,
        lock: bool,
    ) -> StoreResult<Option<Stored>> {
        let mut qb = sql::fetch_many::<DB>(table, id_col, &[id], lock);
        let row = qb.build().fetch_optional(&mut *conn).await?;
        row.as_ref().map(sql::decode_stored::<DB>).transpose()
    }

    /// Reads the current row (locked), plans the write and applies it to the entity's table.
    async fn write_row(conn: &mut DB::Connection, row: &RowSpec, input: WriteInput<'_>) -> StoreResult<Plan> {
        let current = Self::fetch_stored(conn, row.table, row.id_col, input.id, true).await?;
        let last_version: i64 = if current.is_none() {
            sqlx::query_scalar("SELECT last_version FROM tombstones WHERE entity = $1 AND entity_id = $2")
                .bind(row.kind.noun())
                .bind(input.id)
                .fetch_optional(&mut *conn)
                .await?
                .unwrap_or(0)
        } else {
            0
        };
        let plan = write::plan(input, current.as_ref(), last_version)?;
        match plan.kind {
            WriteKind::Unchanged => {}
            WriteKind::Created => {
                if let Some(mut qb) = sql::insert_many::<DB>(&[(row, &plan.entity)]) {
                    qb.build().execute(&mut *conn).await?;
                }
            }
            WriteKind::Updated => {
                let mut qb = QueryBuilder::<DB>::new("");
                sql::push_update(&mut qb, row, &plan.entity);
                qb.build().execute(&mut *conn).await?;
            }
        }
        Ok(plan)
    }

    /// Every metric change is recorded here, so this is also where the transaction learns that
    /// it must move the count of metric writes (`apply_tally`).
    async fn insert_history(
        conn: &mut DB::Connection,
        entries: &[(&Plan, String)],
        tally: &mut Tally,
    ) -> StoreResult<()> {
        if !entries.is_empty() {
            DB::append_history(conn, entries).await?;
            tally.changed = true;
        }
        Ok(())
    }

    /// Lands a transaction's changes to the metric counts and the count of metric writes, in
    /// the same transaction (they never disagree with the metrics) and as its last statements:
    /// a writer takes these row locks after every other lock it needs, in key order, so it
    /// never holds one while waiting for a metric row (no deadlock with other writers).
    async fn apply_tally(conn: &mut DB::Connection, tally: &Tally) -> StoreResult<()> {
        if !tally.changed {
            return Ok(());
        }
        // Before the counters' row locks, by every writer in the same order: marking stale
        // locks the blocks' state row on PostgreSQL (concurrent loads queue for it here).
        if tally.written.len() > sql::APPEND_MAX {
            DB::mark_blocks_stale(conn).await?;
        } else if !tally.written.is_empty() {
            DB::cover_written(conn, &tally.written).await?;
        }
        let (count_shard, write_shard) = Self::shards();
        let small = tally.len() <= 32;
        for mut qb in tally.upserts::<DB>(count_shard, sql::CHUNK) {
            qb.build().persistent(small).execute(&mut *conn).await?;
        }
        sqlx::query("UPDATE metric_writes SET writes = writes + 1 WHERE shard = $1")
            .bind(write_shard)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The counters' shard and the metric-writes shard of one write. Any will do; spreading
    /// writers over them keeps them off one row lock.
    fn shards() -> (i64, i64) {
        let r = getrandom::u32().unwrap_or(0);
        (i64::from(r % DB::COUNT_SHARDS), i64::from(r % METRIC_WRITE_SHARDS))
    }

    /// A create of an id never used, in one statement where the backend has one
    /// (`SqlBackend::create_fresh`); `None` when nothing was written.
    async fn create_fresh(&self, metric: &Metric, actor: &str) -> StoreResult<Option<Saved>> {
        if !DB::FRESH_CREATES {
            return Ok(None);
        }
        let input = WriteInput {
            kind: EntityKind::Metric,
            id: &metric.metric_id,
            doc: &metric.doc,
            actor,
            expect: Expect::Absent,
            provenance: None,
        };
        let plan = write::plan(input, None, 0)?;
        let mut tally = Tally::default();
        tally.add(&Counted::of(metric), 1);
        let (count_shard, write_shard) = Self::shards();
        let fresh = Fresh {
            row: &sql::metric_row(metric),
            metric,
            plan: &plan,
            snapshot: &plan.entity.to_json_string()?,
            tally: &tally,
            count_shard,
            write_shard,
        };
        Ok(DB::create_fresh(&self.pool, &fresh).await?.then(|| Saved::from(plan)))
    }

    /// Writes metrics with a few statements per chunk of `sql::CHUNK`: one read of the
    /// current rows, one of past versions, one multi-row insert, the updates, one tag sync
    /// and one history insert. Ids must be unique within `items`.
    async fn write_metrics(
        conn: &mut DB::Connection,
        items: &[(&Metric, Option<&Provenance>)],
        actor: &str,
        expect: Expect,
        tally: &mut Tally,
    ) -> StoreResult<Vec<Saved>> {
        let mut saved = Vec::with_capacity(items.len());
        for chunk in items.chunks(sql::CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|(m, _)| m.metric_id.as_str()).collect();
            let mut qb = sql::fetch_many_with::<DB>("metrics", "metric_id", sql::COUNTED_COLUMNS, &ids, true);
            let mut current = HashMap::new();
            let mut counted = HashMap::new();
            let single = chunk.len() == 1;
            for row in qb.build().persistent(single).fetch_all(&mut *conn).await? {
                let stored = sql::decode_stored::<DB>(&row)?;
                counted.insert(stored.id.clone(), Counted::decode::<DB>(&row, &stored.doc)?);
                current.insert(stored.id.clone(), stored);
            }
            let absent: Vec<&str> = ids.iter().copied().filter(|id| !current.contains_key(*id)).collect();
            let mut last = HashMap::new();
            if !absent.is_empty() {
                let mut qb = sql::last_versions::<DB>(&absent);
                let rows: Vec<(String, Option<i64>)> =
                    qb.build_query_as().persistent(single).fetch_all(&mut *conn).await?;
                last.extend(rows.into_iter().filter_map(|(id, v)| Some((id, v?))));
            }
            let mut plans = Vec::with_capacity(chunk.len());
            for (m, provenance) in chunk {
                let input = WriteInput {
                    kind: EntityKind::Metric,
                    id: &m.metric_id,
                    doc: &m.doc,
                    actor,
                    expect,
                    provenance: *provenance,
                };
                let last_version = last.get(&m.metric_id).copied().unwrap_or(0);
                let plan = write::plan(input, current.get(&m.metric_id), last_version)?;
                match (plan.kind, counted.get(&m.metric_id)) {
                    (WriteKind::Created, _) => tally.add(&Counted::of(m), 1),
                    (WriteKind::Updated, Some(old)) => tally.replace(old, &Counted::of(m)),
                    _ => {}
                }
                // One id past the limit already means "stale": a bulk load keeps no list.
                if plan.kind != WriteKind::Unchanged && tally.written.len() <= sql::APPEND_MAX {
                    tally.written.push(m.metric_id.clone());
                }
                plans.push((*m, plan));
            }
            let mut creates: Vec<(RowSpec, &Metric, &Stored)> = plans
                .iter()
                .filter(|(_, p)| p.kind == WriteKind::Created)
                .map(|(m, p)| (sql::metric_row(m), *m, &p.entity))
                .collect();
            // Insert in id order, like the row locks, so concurrent writers queue up
            // instead of deadlocking on each other's new keys.
            creates.sort_by(|a, b| a.2.id.cmp(&b.2.id));
            let creates: Vec<(&RowSpec, &Metric, &Stored)> = creates.iter().map(|(r, m, s)| (r, *m, *s)).collect();
            let tagged = !creates.is_empty() && DB::insert_metrics(conn, &creates).await?;
            for (m, plan) in plans.iter().filter(|(_, p)| p.kind == WriteKind::Updated) {
                let mut qb = QueryBuilder::<DB>::new("");
                sql::push_update(&mut qb, &sql::metric_row(m), &plan.entity);
                qb.build().execute(&mut *conn).await?;
            }
            let changed: Vec<&(&Metric, Plan)> = plans.iter().filter(|(_, p)| p.kind != WriteKind::Unchanged).collect();
            if !changed.is_empty() {
                let metrics: Vec<&Metric> = changed
                    .iter()
                    .filter(|(_, p)| !(tagged && p.kind == WriteKind::Created))
                    .map(|(m, _)| *m)
                    .collect();
                if !metrics.is_empty() {
                    DB::sync_tags(conn, &metrics).await?;
                }
                let entries = changed
                    .iter()
                    .map(|(_, p)| Ok((p, p.entity.to_json_string()?)))
                    .collect::<StoreResult<Vec<(&Plan, String)>>>()?;
                Self::insert_history(conn, &entries, tally).await?;
            }
            saved.extend(plans.into_iter().map(|(_, p)| Saved::from(p)));
        }
        Ok(saved)
    }

    async fn delete_row(
        conn: &mut DB::Connection,
        kind: EntityKind,
        id: &str,
        version: Option<i64>,
    ) -> StoreResult<(Stored, Option<Counted>)> {
        let (table, id_col) = (kind.table(), kind.id_col());
        let metric = kind == EntityKind::Metric;
        let extra = if metric { sql::COUNTED_COLUMNS } else { "" };
        let mut qb = sql::fetch_many_with::<DB>(table, id_col, extra, &[id], true);
        let row = qb.build().fetch_optional(&mut *conn).await?;
        let current = row.as_ref().map(sql::decode_stored::<DB>).transpose()?;
        let counted = match (&row, &current) {
            (Some(row), Some(stored)) if metric => Some(Counted::decode::<DB>(row, &stored.doc)?),
            _ => None,
        };
        let cur = write::check_delete(kind, id, current.as_ref(), version)?;
        let mut qb = QueryBuilder::<DB>::new(format!("DELETE FROM {table} WHERE {id_col} = "));
        qb.push_bind(id.to_string());
        qb.build().execute(&mut *conn).await?;
        if kind != EntityKind::Metric {
            sqlx::query(
                "INSERT INTO tombstones (entity, entity_id, last_version) VALUES ($1, $2, $3) \
                 ON CONFLICT (entity, entity_id) DO UPDATE SET last_version = excluded.last_version",
            )
            .bind(kind.noun())
            .bind(id)
            .bind(cur.version)
            .execute(&mut *conn)
            .await?;
        }
        Ok((cur, counted))
    }

    async fn write_plain(
        conn: &mut DB::Connection,
        row: RowSpec,
        doc: &Map<String, Value>,
        actor: &str,
        expect: Expect,
        provenance: Option<&Provenance>,
    ) -> StoreResult<Saved> {
        let input = WriteInput {
            kind: row.kind,
            id: &row.id,
            doc,
            actor,
            expect,
            provenance,
        };
        let plan = Self::write_row(conn, &row, input).await?;
        Ok(Saved::from(plan))
    }

    async fn list(&self, spec: &sql::ListSpec<'_>, filter: Option<&MetricFilter>) -> StoreResult<Page<Stored>> {
        let decode = sql::decode_stored::<DB>;
        self.list_rows(spec, filter, decode, |s| sql::stored_key(spec.sort_col, s))
            .await
    }

    /// One page of rows decoded by `decode`; `key` gives a row's sort key and id for the cursor.
    async fn list_rows<T>(
        &self,
        spec: &sql::ListSpec<'_>,
        filter: Option<&MetricFilter>,
        decode: fn(&DB::Row) -> StoreResult<T>,
        key: impl Fn(&T) -> (String, String),
    ) -> StoreResult<Page<T>> {
        if let Some(f) = filter
            && let Some(q) = f.q.as_deref()
        {
            return self.search_rows(spec, f, q, decode).await;
        }
        let bounded = match filter {
            Some(f) if spec.table == "metrics" => self.bounded(f).await?,
            _ => None,
        };
        let driver = bounded.filter(|b| b.bound <= self.dense_at).map(|b| b.driver);
        let rows = match (bounded, driver) {
            (Some(b), _) if b.bound == 0 => Vec::new(),
            (_, Some(d)) => {
                let qb = sql::page_query::<DB>(spec, filter, Some(d))?;
                self.fetch_with(qb, Access::Index).await?
            }
            _ => {
                let mut qb = sql::page_query::<DB>(spec, filter, None)?;
                qb.build().fetch_all(&self.pool).await?
            }
        };
        let rows = rows.iter().map(decode).collect::<StoreResult<Vec<_>>>()?;
        let total = if !spec.page.wants_count() {
            None
        } else if let Some(b) = bounded.filter(|b| b.exact || b.bound == 0) {
            Some(b.bound.max(0) as u64)
        } else {
            let counted = filter
                .filter(|_| spec.table == "metrics")
                .and_then(sql::counted_total_query::<DB>);
            let n = match (counted, driver) {
                (Some(mut qb), _) => qb.build_query_scalar().fetch_one(&self.pool).await?,
                (None, Some(d)) => {
                    self.count_forced(sql::count_query::<DB>(spec.table, filter, Some(d))?)
                        .await?
                }
                (None, None) => {
                    let mut qb = sql::count_query::<DB>(spec.table, filter, None)?;
                    qb.build_query_scalar().fetch_one(&self.pool).await?
                }
            };
            Some(n.max(0) as u64)
        };
        Ok(sql::finish_page(spec, rows, total, key))
    }

    /// What the counters say of a list (not a search) filtered by an owner or tags; `None`
    /// for other filters, whose indexes give the list's order (a column's index holds
    /// `(column, name, id)`).
    async fn bounded(&self, filter: &MetricFilter) -> StoreResult<Option<Bounded>> {
        let Some(mut qb) = sql::bound_query::<DB>(filter) else {
            return Ok(None);
        };
        let (owner, tags): (i64, i64) = qb.build_query_as().fetch_one(&self.pool).await?;
        Ok(Some(Bounded::from_counts(filter, owner, tags)))
    }

    /// A search page, tier by tier, each tier read in the list's order until the page is full.
    /// A tier is counted only when the page starts past its end, which the offset walk would
    /// have paid for anyway; the total is counted on request only, up to the configured cap.
    async fn search_rows<T>(
        &self,
        spec: &sql::ListSpec<'_>,
        filter: &MetricFilter,
        q: &str,
        decode: fn(&DB::Row) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let terms = sql::checked_terms(q)?;
        let PageRequest::Offset { page, limit } = *spec.page else {
            return Err(MetricQuery::no_cursor_with_search());
        };
        let limit = i64::from(limit);
        let mut skip = i64::from(page - 1) * limit;
        let mut need = limit + 1;
        let mut items = Vec::new();
        let mut names_empty = false;
        for tier in SearchTier::ALL {
            let tier = if names_empty { tier.after_empty_names() } else { tier };
            let start = self.block_start(spec, &terms, tier).await?;
            if start == BlockStart::Empty {
                // No block holds the words in this tier: it has no match to return or skip.
                names_empty = tier == SearchTier::Name;
                continue;
            }
            let mut read = TierRead {
                tier,
                access: self.tier_access(&terms, tier, skip, start.dense()).await?,
                limit: need,
                offset: skip,
                from: start.key(),
            };
            let mut rows = self
                .fetch_with(sql::tier_page_query::<DB>(spec, filter, &terms, &read), read.access)
                .await?;
            if read.access == Access::Walk && (rows.len() as i64) < need {
                // The walk's budget ran out before the page filled: the word's rows are not
                // near the start of the list's order (or of the first block holding it).
                read.access = Access::Scan;
                rows = self
                    .fetch_with(sql::tier_page_query::<DB>(spec, filter, &terms, &read), read.access)
                    .await?;
            }
            let got = rows.len() as i64;
            for row in &rows {
                items.push(decode(row)?);
            }
            need -= got;
            if need <= 0 {
                break;
            }
            skip = if got > 0 || skip == 0 {
                0
            } else {
                let size = self
                    .count_forced(sql::tier_count_query::<DB>(filter, &terms, tier))
                    .await?;
                (skip - size).max(0)
            };
        }
        let has_next = items.len() as i64 > limit;
        items.truncate(limit as usize);
        let (total, total_capped) = if spec.count_search {
            let cap = self.search_count_cap;
            let n = self
                .count_forced(sql::capped_count_query::<DB>(filter, &terms, cap))
                .await?;
            let n = n.max(0) as u64;
            (Some(n.min(cap)), n > cap)
        } else {
            (None, false)
        };
        Ok(Page {
            items,
            total,
            total_capped,
            has_next,
            next_cursor: None,
        })
    }

    /// Where the tier's matches can start, by the search blocks (`sql::blocks`).
    async fn block_start(
        &self,
        spec: &sql::ListSpec<'_>,
        terms: &[String],
        tier: SearchTier,
    ) -> StoreResult<BlockStart> {
        if self.block_rows == 0 || !sql::follows_blocks(spec) {
            return Ok(BlockStart::Unknown);
        }
        let rows = self
            .fetch_with(
                DB::block_start_query(terms, tier, (self.dense_at / self.block_rows).max(1)),
                Access::Index,
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Database("the search blocks' state is missing".into()))?;
        let stale: i32 = row.try_get(0usize)?;
        Ok(BlockStart::from_row(
            stale != 0,
            row.try_get(1usize)?,
            row.try_get(2usize)?,
            row.try_get::<i32, _>(3usize)? != 0,
        ))
    }

    /// Builds the search blocks anew (see `SqlBackend::build_blocks`); never when they are
    /// switched off (`block_rows` 0).
    pub(crate) async fn build_search_blocks(&self, wait: bool) -> StoreResult<Option<BlockBuild>> {
        if self.block_rows == 0 {
            return Ok(None);
        }
        DB::build_blocks(&self.pool, self.block_rows, wait).await
    }

    /// A query's rows; a read by a filter's index rather than the list's order (any access but
    /// a walk) runs with the backend's `FORCE_INDEX`.
    async fn fetch_with(&self, mut qb: QueryBuilder<DB>, access: Access) -> StoreResult<Vec<DB::Row>> {
        let Some(force) = DB::FORCE_INDEX.filter(|_| access != Access::Walk) else {
            return Ok(qb.build().fetch_all(&self.pool).await?);
        };
        let mut tx = self.pool.begin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(force)).execute(&mut *tx).await?;
        let rows = qb.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// A count read by the filter's index (see `fetch_with`).
    async fn count_forced(&self, qb: QueryBuilder<DB>) -> StoreResult<i64> {
        let rows = self.fetch_with(qb, Access::Index).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Database("a count returned no row".into()))?;
        Ok(row.try_get::<i64, _>(0usize)?)
    }

    /// For a tier that matches many rows (at least `dense_at`), a page near the start is
    /// usually found within a few hundred rows of the list's order (`Walk`); a deeper one, or
    /// a tier of a few hundred to `dense_at` rows, by walking the order against the set of
    /// matches (`Scan`); for fewer, reading and sorting them is cheapest (`Index`: 1,250 rows
    /// read and sorted took 18 ms on SQLite, where the scan stops after a few hundred index
    /// entries). A backend without a cheap count (PostgreSQL) walks
    /// first and falls back to its index. So does a page near the start when the blocks from
    /// its start all hold the words (`BlockStart::dense`): counting up to `dense_at` matches
    /// read 10,000 postings, a third of the server's time for `checkout` at 1M, where the walk
    /// from the start block needed a few dozen rows. A walk that falls short is read again as
    /// a scan.
    async fn tier_access(&self, terms: &[String], tier: SearchTier, skip: i64, dense: bool) -> StoreResult<Access> {
        const SORT_BELOW: i64 = 300;
        const WALK_SKIP_MAX: i64 = 1_000;
        if dense && skip <= WALK_SKIP_MAX {
            return Ok(Access::Walk);
        }
        let Some(qb) = DB::tier_density_probe(terms, tier, self.dense_at) else {
            return Ok(if skip <= WALK_SKIP_MAX {
                Access::Walk
            } else {
                Access::Index
            });
        };
        let n = self.count_forced(qb).await?;
        Ok(if n < SORT_BELOW {
            Access::Index
        } else if n < self.dense_at || skip > WALK_SKIP_MAX {
            Access::Scan
        } else {
            Access::Walk
        })
    }

    async fn get(&self, kind: EntityKind, id: &str) -> StoreResult<Option<Stored>> {
        Self::fetch_stored(&mut *self.pool.acquire().await?, kind.table(), kind.id_col(), id, false).await
    }

    pub(crate) async fn get_metric(&self, id: &str) -> StoreResult<Option<Stored>> {
        self.get(EntityKind::Metric, id).await
    }

    pub(crate) async fn list_metrics(&self, query: &MetricQuery) -> StoreResult<Page<Stored>> {
        query.check()?;
        self.list(&sql::metric_spec::<DB>(query), Some(&query.filter)).await
    }

    pub(crate) async fn list_metrics_raw(&self, query: &MetricQuery) -> StoreResult<Page<RawStored>> {
        query.check()?;
        let spec = sql::metric_spec::<DB>(query);
        let key = |r: &RawStored| sql::raw_key(spec.sort_col, r);
        self.list_rows(&spec, Some(&query.filter), sql::decode_raw::<DB>, key)
            .await
    }

    pub(crate) async fn save_metric(&self, metric: &Metric, actor: &str, expect: Expect) -> StoreResult<Saved> {
        if expect == Expect::Absent
            && let Some(saved) = self.create_fresh(metric, actor).await?
        {
            return Ok(saved);
        }
        let mut tx = DB::begin_write(&self.pool).await?;
        let mut tally = Tally::default();
        let mut saved = Self::write_metrics(&mut tx, &[(metric, None)], actor, expect, &mut tally).await?;
        Self::apply_tally(&mut tx, &tally).await?;
        tx.commit().await?;
        saved
            .pop()
            .ok_or_else(|| StoreError::Database("write returned nothing".into()))
    }

    pub(crate) async fn delete_metric(&self, id: &str, actor: &str, version: Option<i64>) -> StoreResult<()> {
        let mut tx = DB::begin_write(&self.pool).await?;
        let (cur, counted) = Self::delete_row(&mut tx, EntityKind::Metric, id, version).await?;
        let mut tally = Tally::default();
        if let Some(counted) = &counted {
            tally.add(counted, -1);
        }
        // The last state as it was stored, server fields included.
        let snapshot = cur.to_json_string()?;
        let plan = write::delete_plan(cur, actor)?;
        Self::insert_history(&mut tx, &[(&plan, snapshot)], &mut tally).await?;
        Self::apply_tally(&mut tx, &tally).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_entity(&self, kind: EntityKind, id: &str) -> StoreResult<Option<Stored>> {
        self.get(kind, id).await
    }

    pub(crate) async fn list_entities(&self, kind: EntityKind, page: &PageRequest) -> StoreResult<Page<Stored>> {
        self.list(&sql::named_spec::<DB>(kind.table(), kind.id_col(), page), None)
            .await
    }

    pub(crate) async fn save_entity(&self, entity: &Entity, actor: &str, expect: Expect) -> StoreResult<Saved> {
        let mut tx = DB::begin_write(&self.pool).await?;
        let saved = Self::write_plain(&mut tx, sql::entity_row(entity), entity.doc(), actor, expect, None).await?;
        tx.commit().await?;
        Ok(saved)
    }

    pub(crate) async fn delete_entity(&self, kind: EntityKind, id: &str, version: Option<i64>) -> StoreResult<()> {
        if kind == EntityKind::Metric {
            return Err(StoreError::invalid(
                "kind",
                "metrics are deleted with their history (delete_metric)",
            ));
        }
        let mut tx = DB::begin_write(&self.pool).await?;
        Self::delete_row(&mut tx, kind, id, version).await?;
        tx.commit().await?;
        Ok(())
    }
}
