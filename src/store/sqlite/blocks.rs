//! Search blocks on SQLite (see `sql::blocks` and the migration `create_search_blocks`): the
//! layout in `search_blocks`, the words in contentless FTS5 tables (`search_block_fts`, and
//! the names alone in `search_block_names_fts`) whose rowids put each block's rows together in
//! name order (`block << 40`, plus a sequence number for rows added since the build), so "the
//! first block holding these words" is the first rowid of a MATCH.
//! One writer at a time: a build and a writer never interleave.

use crate::store::StoreResult;
use crate::store::model::BlockBuild;
use crate::store::model::{now, timestamp_text};
use crate::store::sql::BlocksState;
use sqlx::SqliteConnection;
use std::time::Instant;

/// Bits of a `search_block_fts` rowid below the block number.
pub(super) const SEQ_BITS: u32 = 40;

pub(super) async fn cover(conn: &mut SqliteConnection, ids: &[String]) -> StoreResult<()> {
    for id in ids {
        let rowid: Option<i64> = sqlx::query_scalar(
            "UPDATE search_blocks SET appended = appended + 1 WHERE block = ( \
                 SELECT b.block FROM search_blocks b, metrics t \
                 WHERE t.metric_id = $1 AND (b.lo_name, b.lo_id) <= (t.name, t.metric_id) \
                 ORDER BY b.lo_name DESC, b.lo_id DESC LIMIT 1) \
             RETURNING (block << 40) + appended",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        // Block 0 starts at ('', ''): every written metric has a block.
        let Some(rowid) = rowid else { continue };
        sqlx::query(
            "INSERT INTO search_block_fts (rowid, name, description, search_text) \
             SELECT $1, name, description, search_text FROM metrics WHERE metric_id = $2",
        )
        .bind(rowid)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO search_block_names_fts (rowid, name) SELECT $1, name FROM metrics WHERE metric_id = $2",
        )
        .bind(rowid)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) async fn mark_stale(conn: &mut SqliteConnection) -> StoreResult<()> {
    sqlx::query("UPDATE search_blocks_state SET stale = 1 WHERE stale = 0")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const STATE: &str = "SELECT s.stale, s.block_rows, s.blocks, \
     (SELECT coalesce(sum(appended), 0) FROM search_blocks), \
     (SELECT coalesce(sum(n), 0) FROM metric_counts WHERE facet = 'total') \
     FROM search_blocks_state s";

pub(super) async fn state(conn: &mut SqliteConnection) -> StoreResult<BlocksState> {
    let row: (bool, i64, i64, i64, i64) = sqlx::query_as(STATE).fetch_one(&mut *conn).await?;
    Ok(row.into())
}

/// One block's rows in name order, after the previous block's last key.
const NEXT_ROWS: &str = "SELECT name, metric_id, description, search_text FROM metrics \
     WHERE (name, metric_id) > ($1, $2) ORDER BY name, metric_id LIMIT $3";

/// Builds the blocks anew with `rows` metrics each in `tx`, a write transaction (the write lock
/// held throughout). Without `wait`, only if a build is still due once the lock is held.
pub(super) async fn build(
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    rows: i64,
    wait: bool,
) -> StoreResult<Option<BlockBuild>> {
    let started = Instant::now();
    if !wait && crate::store::sql::build_due(&state(&mut tx).await?, rows).is_none() {
        return Ok(None);
    }
    for table in ["search_block_fts", "search_block_names_fts"] {
        let clear = format!("INSERT INTO {table} ({table}) VALUES ('delete-all')");
        sqlx::query(sqlx::AssertSqlSafe(clear)).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM search_blocks").execute(&mut *tx).await?;
    // Keyset batches of one block each: memory holds one block's text. A key before any
    // real one starts the first block, which keeps ('', '') as its lower key.
    let (mut last_name, mut last_id) = (String::new(), String::new());
    let mut block: i64 = 0;
    let mut first = true;
    loop {
        let batch: Vec<(String, String, String, String)> = sqlx::query_as(NEXT_ROWS)
            .bind(&last_name)
            .bind(&last_id)
            .bind(rows)
            .fetch_all(&mut *tx)
            .await?;
        if batch.is_empty() && !first {
            break;
        }
        let (lo_name, lo_id) = if first {
            (String::new(), String::new())
        } else {
            (batch[0].0.clone(), batch[0].1.clone())
        };
        sqlx::query("INSERT INTO search_blocks (block, lo_name, lo_id, appended) VALUES ($1, $2, $3, 0)")
            .bind(block)
            .bind(&lo_name)
            .bind(&lo_id)
            .execute(&mut *tx)
            .await?;
        if !batch.is_empty() {
            let join =
                |f: fn(&(String, String, String, String)) -> &str| batch.iter().map(f).collect::<Vec<_>>().join(" ");
            let names = join(|r| &r.0);
            sqlx::query("INSERT INTO search_block_fts (rowid, name, description, search_text) VALUES ($1, $2, $3, $4)")
                .bind(block << SEQ_BITS)
                .bind(&names)
                .bind(join(|r| &r.2))
                .bind(join(|r| &r.3))
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO search_block_names_fts (rowid, name) VALUES ($1, $2)")
                .bind(block << SEQ_BITS)
                .bind(names)
                .execute(&mut *tx)
                .await?;
        }
        let full = batch.len() as i64 == rows;
        if let Some(last) = batch.last() {
            (last_name, last_id) = (last.0.clone(), last.1.clone());
        }
        block += 1;
        first = false;
        if !full {
            break;
        }
    }
    let metrics = state(&mut tx).await?.metrics;
    sqlx::query("UPDATE search_blocks_state SET stale = 0, block_rows = $1, blocks = $2, built_at = $3")
        .bind(rows)
        .bind(block)
        .bind(timestamp_text(&now()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(BlockBuild {
        blocks: block,
        metrics,
        millis: started.elapsed().as_millis() as u64,
    }))
}
