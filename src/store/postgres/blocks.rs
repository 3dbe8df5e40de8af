//! Search blocks on PostgreSQL (see `sql::blocks` and the migration `create_search_blocks`):
//! rows keyed by the lower key of their stretch of the name order, with the name lexemes and
//! all lexemes of its metrics (stripped of positions), each column under a GIN index.
//!
//! Rows are keyed by key, not by block number, so a writer that read the layout just before a
//! build replaced it still adds a valid row: its key is at most the metric's, whatever the
//! layout is now. A build runs in READ COMMITTED and deletes before it reads: a row a writer
//! adds after the delete began survives it, and a metric committed before the read began is in
//! the read. Bulk loads mark the blocks stale instead of adding rows, and count themselves in
//! the state row (`loads`) as their last write. A build reads that count before it reads the
//! catalog, and clears the mark only if the count has not moved when it ends, so it never
//! clears the mark of a load it did not read. Loads do not wait for builds: they used to
//! share the build's advisory lock, and a load behind a 1M build timed out.

use crate::store::StoreResult;
use crate::store::model::BlockBuild;
use crate::store::sql::BlocksState;
use sqlx::{PgConnection, PgPool};
use std::time::Instant;

// The advisory lock of builds, one per schema: instances take turns, and stores in other
// schemas of the database (tests, other deployments) do not wait on each other.
const LOCK: &str = "SELECT pg_advisory_xact_lock(7243002, hashtext(current_schema()))";
const TRY_LOCK: &str = "SELECT pg_try_advisory_xact_lock(7243002, hashtext(current_schema()))";

/// A row for each written metric of `$source` (a relation `t` with the metrics' name, id and
/// stored vector), at the lower key of its block ('' before the first build). Its name words
/// are the lexemes the stored vector weighs A (the name's).
macro_rules! cover_from {
    ($source:literal) => {
        concat!(
            "INSERT INTO search_blocks (lo_name, lo_id, names, words, appended) \
             SELECT coalesce(b.lo_name, ''), coalesce(b.lo_id, ''), \
                    strip(ts_filter(t.search, '{a}')), strip(t.search), true \
             FROM ",
            $source,
            " LEFT JOIN LATERAL ( \
                 SELECT s.lo_name, s.lo_id FROM search_blocks s \
                 WHERE (s.lo_name, s.lo_id) <= (t.name, t.metric_id) \
                 ORDER BY s.lo_name DESC, s.lo_id DESC LIMIT 1) b ON true"
        )
    };
}

const COVER: &str = concat!(cover_from!("metrics t"), " WHERE t.metric_id = ANY ($1)");

/// The same for the rows a create inserts in its own statement (`create`), which that
/// statement cannot read back from the table: from its insert's RETURNING, named `ins`.
pub(super) const COVER_INSERTED: &str = cover_from!("ins t");

/// The layout (every `$1`-th key in name order, the first block from ('', '')), then each
/// block's words from the stored vectors of its `$1` rows, a plain aggregate per block
/// (memory holds one block), the name words being those weighted A. 12 s at 1M metrics:
/// `unnest(search)` with its weights took 26 s, parsing the names again 10 s more.
const BUILD: &str = "INSERT INTO search_blocks (lo_name, lo_id, names, words, appended) \
     SELECT k.lo_name, k.lo_id, a.names, a.words, false \
     FROM (SELECT CASE WHEN r.rn = 1 THEN '' ELSE r.name END AS lo_name, \
                  CASE WHEN r.rn = 1 THEN '' ELSE r.metric_id END AS lo_id \
           FROM (SELECT t.name, t.metric_id, row_number() OVER (ORDER BY t.name, t.metric_id) AS rn \
                 FROM metrics t) r \
           WHERE (r.rn - 1) % $1 = 0) k, \
     LATERAL (SELECT array_to_tsvector(coalesce(array_agg(u.l) FILTER (WHERE u.in_name), '{}')) AS names, \
                     array_to_tsvector(coalesce(array_agg(u.l) FILTER (WHERE NOT u.in_name), '{}')) AS words \
              FROM (SELECT t.search FROM metrics t \
                    WHERE (t.name, t.metric_id) >= (k.lo_name, k.lo_id) \
                    ORDER BY t.name, t.metric_id LIMIT $1) m, \
              LATERAL (SELECT x AS l, false AS in_name FROM unnest(tsvector_to_array(m.search)) x \
                       UNION ALL \
                       SELECT x, true FROM unnest(tsvector_to_array(ts_filter(m.search, '{a}'))) x) u) a";

pub(super) async fn cover(conn: &mut PgConnection, ids: &[String]) -> StoreResult<()> {
    sqlx::query(COVER).bind(ids).execute(&mut *conn).await?;
    Ok(())
}

/// Every load writes (and locks) the state row, so it runs at the end of the load's
/// transaction (`apply_tally`): concurrent loads queue only for their last statements. A
/// build's final update waits for a load holding the row and then sees its count.
pub(super) async fn mark_stale(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("UPDATE search_blocks_state SET stale = true, loads = loads + 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const STATE: &str = "SELECT s.stale, s.block_rows::bigint, s.blocks::bigint, \
     (SELECT count(*) FROM search_blocks WHERE appended), \
     (SELECT coalesce(sum(n), 0)::bigint FROM metric_counts WHERE facet = 'total') \
     FROM search_blocks_state s";

pub(super) async fn state(conn: &mut PgConnection) -> StoreResult<BlocksState> {
    let row: (bool, i64, i64, i64, i64) = sqlx::query_as(STATE).fetch_one(&mut *conn).await?;
    Ok(row.into())
}

/// Builds the blocks anew with `rows` metrics each. With `wait`, after any bulk load or build
/// in progress; without, only if no other one is running and a build is still due.
pub(super) async fn build(pool: &PgPool, rows: i64, wait: bool) -> StoreResult<Option<BlockBuild>> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    // A build reads the whole catalog: 1M metrics take longer than a request may.
    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await?;
    if wait {
        sqlx::query(LOCK).execute(&mut *tx).await?;
    } else {
        let locked: bool = sqlx::query_scalar(TRY_LOCK).fetch_one(&mut *tx).await?;
        if !locked || crate::store::sql::build_due(&state(&mut tx).await?, rows).is_none() {
            return Ok(None);
        }
    }
    // Read before the catalog is (READ COMMITTED: each statement sees what committed before
    // it began): a load counted here committed its rows before the build reads them.
    let loads: i64 = sqlx::query_scalar("SELECT loads FROM search_blocks_state")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM search_blocks").execute(&mut *tx).await?;
    let blocks = sqlx::query(BUILD).bind(rows).execute(&mut *tx).await?.rows_affected() as i64;
    sqlx::query("UPDATE search_blocks_state SET stale = (loads <> $3), block_rows = $1, blocks = $2, built_at = now()")
        .bind(rows as i32)
        .bind(blocks as i32)
        .bind(loads)
        .execute(&mut *tx)
        .await?;
    let metrics = state(&mut tx).await?.metrics;
    tx.commit().await?;
    Ok(Some(BlockBuild {
        blocks,
        metrics,
        millis: started.elapsed().as_millis() as u64,
    }))
}
