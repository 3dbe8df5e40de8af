//! History reads, import, snapshot and statistics: the catalog-wide operations.

use super::{SqlBackend, SqlStore};
use crate::domain::Metric;
use crate::store::model::{
    CatalogStats, EntityKind, FacetCounts, HistoryEntry, ImportBatch, ImportOutcome, Provenance, Stored,
};
use crate::store::query::{MetricFilter, Page, PageRequest};
use crate::store::sql::{self, Tally};
use crate::store::{Expect, StoreResult};
use serde_json::{Map, Value};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, QueryBuilder, Transaction, Type};

/// The facets of the metric list, in the order pages show them.
const FACETS: [&str; 7] = [
    "category",
    "tier",
    "business_domain",
    "metric_type",
    "status",
    "owner_team",
    "tag",
];

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
    pub(crate) async fn metric_history(&self, id: &str, page: &PageRequest) -> StoreResult<Page<HistoryEntry>> {
        let mut qb = sql::history_query::<DB>(id, page)?;
        let rows = qb.build().fetch_all(&self.pool).await?;
        let rows = rows
            .iter()
            .map(sql::decode_history::<DB>)
            .collect::<StoreResult<Vec<_>>>()?;
        let total = if page.wants_count() {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_history WHERE metric_id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
            Some(n as u64)
        } else {
            None
        };
        Ok(sql::finish_history(id, page, rows, total))
    }

    pub(crate) async fn metric_version(&self, id: &str, version: i64) -> StoreResult<Option<HistoryEntry>> {
        let mut qb = QueryBuilder::<DB>::new("SELECT ");
        qb.push(DB::HISTORY_COLUMNS)
            .push(" FROM metric_history WHERE metric_id = ")
            .push_bind(id.to_string())
            .push(" AND version = ")
            .push_bind(version);
        let row = qb.build().fetch_optional(&self.pool).await?;
        row.as_ref().map(sql::decode_history::<DB>).transpose()
    }

    /// True when no catalog entity and no history exist, i.e. nothing a restored version
    /// or author could contradict. Emptiness is only lost, never regained (deletes leave
    /// history and tombstones), so "not empty" needs no lock; "empty" is re-checked once
    /// the backend has stopped other writers until this transaction ends.
    async fn empty_for_restore(conn: &mut DB::Connection) -> StoreResult<bool> {
        const ANY_ROW: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM metrics) OR EXISTS (SELECT 1 FROM domains) \
             OR EXISTS (SELECT 1 FROM objectives) OR EXISTS (SELECT 1 FROM metric_history) \
             OR EXISTS (SELECT 1 FROM tombstones) THEN 1 ELSE 0 END";
        let any: i32 = sqlx::query_scalar(ANY_ROW).fetch_one(&mut *conn).await?;
        if any != 0 {
            return Ok(false);
        }
        DB::lock_catalog_writes(conn).await?;
        let any: i32 = sqlx::query_scalar(ANY_ROW).fetch_one(&mut *conn).await?;
        Ok(any == 0)
    }

    pub(crate) async fn import(&self, batch: &ImportBatch, actor: &str) -> StoreResult<ImportOutcome> {
        let mut tx = DB::begin_write(&self.pool).await?;
        if !batch.disjoint {
            DB::lock_for_import(&mut tx).await?;
        }
        let restored = batch.restore && Self::empty_for_restore(&mut tx).await?;
        let prov = |p| restored.then_some(p);
        let mut out = ImportOutcome {
            dry_run: batch.dry_run,
            restored,
            ..Default::default()
        };
        if let Some(info) = &batch.catalog {
            DB::upsert_catalog(&mut tx, info).await?;
        }
        for (d, p) in &batch.domains {
            let row = sql::domain_row(d);
            let saved = Self::write_plain(&mut tx, row, &d.doc, actor, Expect::Any, prov(p)).await?;
            out.domains.add(saved.kind);
        }
        let metrics: Vec<(&Metric, Option<&Provenance>)> = batch.metrics.iter().map(|(m, p)| (m, prov(p))).collect();
        let mut tally = Tally::default();
        for saved in Self::write_metrics(&mut tx, &metrics, actor, Expect::Any, &mut tally).await? {
            out.metrics.add(saved.kind);
        }
        for (o, p) in &batch.objectives {
            let row = sql::objective_row(o);
            let saved = Self::write_plain(&mut tx, row, &o.doc, actor, Expect::Any, prov(p)).await?;
            out.objectives.add(saved.kind);
        }
        if batch.dry_run {
            tx.rollback().await?;
        } else {
            Self::apply_tally(&mut tx, &tally).await?;
            tx.commit().await?;
        }
        Ok(out)
    }

    async fn read_catalog_doc(conn: &mut DB::Connection) -> StoreResult<Map<String, Value>> {
        let mut qb = QueryBuilder::<DB>::new("SELECT ");
        qb.push(DB::CATALOG_DOC)
            .push(" FROM catalog_info WHERE catalog_info_id = 1");
        let doc: Option<String> = qb.build_query_scalar().fetch_optional(&mut *conn).await?;
        Ok(match doc {
            Some(text) => serde_json::from_str(&text)?,
            None => Map::new(),
        })
    }

    pub(crate) async fn catalog_info(&self) -> StoreResult<Map<String, Value>> {
        Self::read_catalog_doc(&mut *self.pool.acquire().await?).await
    }

    /// A read transaction on its own connection, seeing one snapshot until it is dropped.
    pub(crate) async fn reader(&self) -> StoreResult<SqlReader<DB>> {
        let mut tx = self.pool.begin().await?;
        DB::begin_snapshot(&mut tx).await?;
        Ok(SqlReader { tx })
    }

    pub(crate) async fn metric_facets(&self, filter: &MetricFilter, limit: u32) -> StoreResult<Vec<FacetCounts>> {
        let mut out = Vec::with_capacity(FACETS.len());
        for facet in FACETS {
            let mut own_left_out = filter.clone();
            match facet {
                "category" => own_left_out.category = None,
                "tier" => own_left_out.tier = None,
                "business_domain" => own_left_out.business_domain = None,
                "metric_type" => own_left_out.metric_type = None,
                "status" => own_left_out.status = None,
                "owner_team" => own_left_out.owner = None,
                _ => own_left_out.tags.clear(),
            }
            let mut qb = sql::facet_query::<DB>(facet, &own_left_out, limit)?;
            let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&self.pool).await?;
            out.push(FacetCounts {
                facet,
                values: rows.into_iter().map(|(k, n)| (k, n.max(0) as u64)).collect(),
            });
        }
        Ok(out)
    }

    pub(crate) async fn stats(&self) -> StoreResult<CatalogStats> {
        let mut stats = CatalogStats::default();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(sql::ALL_COUNTERS).fetch_all(&self.pool).await?;
        sql::fill_stats(&mut stats, rows);
        Ok(stats)
    }
}

/// The catalog read from one snapshot, batch by batch: what `Store::read_catalog` hands out.
/// Dropping it rolls the read transaction back and returns the connection.
pub(crate) struct SqlReader<DB: Database> {
    tx: Transaction<'static, DB>,
}

impl<DB: SqlBackend> SqlReader<DB>
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
    pub(crate) async fn read_catalog_info(&mut self) -> StoreResult<Map<String, Value>> {
        SqlStore::<DB>::read_catalog_doc(&mut self.tx).await
    }

    /// One keyset page of a table in `sort_col, id` order.
    async fn read_page(
        &mut self,
        kind: EntityKind,
        sort_col: &'static str,
        after: Option<String>,
        limit: u32,
    ) -> StoreResult<Page<Stored>> {
        let page = PageRequest::Cursor {
            after,
            limit,
            count: false,
        };
        let spec = sql::ListSpec {
            columns: DB::select_stored(kind.id_col()),
            table: kind.table(),
            id_col: kind.id_col(),
            sort_col,
            descending: false,
            page: &page,
            scope: format!("snapshot|{}", kind.table()),
            count_search: false,
        };
        let mut qb = sql::page_query::<DB>(&spec, None, None)?;
        let rows = qb.build().fetch_all(&mut *self.tx).await?;
        let rows = rows
            .iter()
            .map(sql::decode_stored::<DB>)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(sql::finish_page(&spec, rows, None, |s| sql::stored_key(sort_col, s)))
    }

    pub(crate) async fn read_metrics(&mut self, after: Option<String>, limit: u32) -> StoreResult<Page<Stored>> {
        self.read_page(EntityKind::Metric, "metric_id", after, limit).await
    }

    /// Domains or objectives by name, then id: every one of them (there are few).
    pub(crate) async fn read_entities(&mut self, kind: EntityKind) -> StoreResult<Vec<Stored>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.read_page(kind, "name", after, 1000).await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => after = Some(c),
                None => return Ok(out),
            }
        }
    }

    pub(crate) async fn read_metric_writes(&mut self) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(writes), 0) AS BIGINT) FROM metric_writes")
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(n)
    }
}
