//! Search blocks on SQLite (see `sql::blocks` and the migrations `create_search_blocks` and
//! `build_search_blocks_beside_reads`): the layout in `search_blocks`, the words in
//! contentless FTS5 tables (`search_block_fts`, and the names alone in
//! `search_block_names_fts`) whose rowids put each block's rows together in name order
//! (`block << 32`, plus a sequence number for rows added since the build), so "the first block
//! holding these words" is the first rowid of a MATCH within the blocks searches read.
//!
//! SQLite has one write lock, so a build does not take it for its whole length (26-108 s at
//! 1M): it writes a new set of blocks beside the one searches read, one block per write
//! transaction, and swaps it in at the end. Writers in between cover their metrics in both
//! sets (in the new one only below the key the build has reached: above it, the build reads
//! them itself). The old set is deleted after the swap, a few hundred blocks at a time.

use crate::store::StoreResult;
use crate::store::model::BlockBuild;
use crate::store::model::{now, timestamp_text};
use crate::store::sql::BlocksState;
use sqlx::{SqliteConnection, SqlitePool};
use std::time::{Duration, Instant};

/// Bits of a `search_block_fts` rowid below the block number: four billion rows a block can
/// gain between builds, two billion block numbers before they run out (a build at 1M metrics
/// takes 3,907).
pub(super) const SEQ_BITS: u32 = 32;

/// A build that has not written for this long is taken for dead (its process gone) and
/// replaced; if it was only slow, its next write finds its claim gone and it stops.
const TAKE_OVER_AFTER_MS: i64 = 60_000;

/// Old blocks deleted per write transaction after a swap.
const CLEAN_BLOCKS: i64 = 256;

/// Which set of blocks a cover goes to.
#[derive(Clone, Copy)]
enum Set {
    /// The blocks searches read.
    Read,
    /// The blocks a build is writing, up to the last key it has read.
    Building,
}

impl Set {
    /// Adds one to the appended count of the block covering the metric's key, returning the
    /// rowid for its words; no row when the set has no such block. It walks the lower-key
    /// index down from the key: left to itself, the planner reads every block of the set by
    /// number and sorts them (3,907 at 1M, on every write).
    fn claim_row(self) -> &'static str {
        // One statement, the set's bounds apart.
        macro_rules! claim_in {
            ($bounds:literal) => {
                concat!(
                    "UPDATE search_blocks SET appended = appended + 1 WHERE block = ( \
                     SELECT b.block FROM search_blocks_state s, metrics t, search_blocks b INDEXED BY search_blocks_lo_idx \
                     WHERE t.metric_id = $1 AND (b.lo_name, b.lo_id) <= (t.name, t.metric_id) AND ",
                    $bounds,
                    " ORDER BY b.lo_name DESC, b.lo_id DESC LIMIT 1) RETURNING (block << 32) + appended"
                )
            };
        }
        match self {
            Set::Read => claim_in!("b.block >= s.base AND b.block < s.base + s.blocks"),
            Set::Building => claim_in!(
                "(t.name, t.metric_id) <= (s.build_name, s.build_id) \
                 AND b.block >= s.build_base AND b.block < s.build_next"
            ),
        }
    }
}

pub(super) async fn cover(conn: &mut SqliteConnection, ids: &[String]) -> StoreResult<()> {
    let building: bool = sqlx::query_scalar("SELECT build_base IS NOT NULL FROM search_blocks_state")
        .fetch_one(&mut *conn)
        .await?;
    let sets: &[Set] = if building {
        &[Set::Read, Set::Building]
    } else {
        &[Set::Read]
    };
    for id in ids {
        for set in sets {
            cover_in(conn, id, *set).await?;
        }
    }
    Ok(())
}

async fn cover_in(conn: &mut SqliteConnection, id: &str, set: Set) -> StoreResult<()> {
    let rowid: Option<i64> = sqlx::query_scalar(set.claim_row())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    // The read set always has a block from ('', ''); the building one may not reach the key.
    let Some(rowid) = rowid else { return Ok(()) };
    sqlx::query(
        "INSERT INTO search_block_fts (rowid, name, description, search_text) \
         SELECT $1, name, description, search_text FROM metrics WHERE metric_id = $2",
    )
    .bind(rowid)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO search_block_names_fts (rowid, name) SELECT $1, name FROM metrics WHERE metric_id = $2")
        .bind(rowid)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A bulk load: the blocks searches read miss its metrics, and so will a running build's.
pub(super) async fn mark_stale(conn: &mut SqliteConnection) -> StoreResult<()> {
    sqlx::query("UPDATE search_blocks_state SET stale = 1, build_stale = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const STATE: &str = "SELECT s.stale, s.block_rows, s.blocks, \
     (SELECT coalesce(sum(appended), 0) FROM search_blocks WHERE block >= s.base AND block < s.base + s.blocks), \
     (SELECT coalesce(sum(n), 0) FROM metric_counts WHERE facet = 'total') \
     FROM search_blocks_state s";

pub(super) async fn state(conn: &mut SqliteConnection) -> StoreResult<BlocksState> {
    let row: (bool, i64, i64, i64, i64) = sqlx::query_as(STATE).fetch_one(&mut *conn).await?;
    Ok(row.into())
}

/// One block's rows in name order, after the previous block's last key.
const NEXT_ROWS: &str = "SELECT name, metric_id, description, search_text FROM metrics \
     WHERE (name, metric_id) > ($1, $2) ORDER BY name, metric_id LIMIT $3";

async fn begin_write(pool: &SqlitePool) -> StoreResult<crate::store::backend::WriteTx<sqlx::Sqlite>> {
    <sqlx::Sqlite as crate::store::backend::SqlBackend>::begin_write(pool).await
}

fn unix_ms() -> i64 {
    now().timestamp_millis()
}

enum Claim {
    /// This build's first block number.
    Claimed(i64),
    NotDue,
    /// Another build is running.
    Busy,
}

/// Takes the build over in a write transaction: without `wait`, only if one is due.
async fn claim(pool: &SqlitePool, rows: i64, wait: bool) -> StoreResult<Claim> {
    let mut tx = begin_write(pool).await?;
    let (build_base, beat): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT build_base, build_beat FROM search_blocks_state")
            .fetch_one(&mut *tx)
            .await?;
    if build_base.is_some() && unix_ms() - beat.unwrap_or(0) < TAKE_OVER_AFTER_MS {
        return Ok(Claim::Busy);
    }
    if !wait && crate::store::sql::build_due(&state(&mut tx).await?, rows).is_none() {
        return Ok(Claim::NotDue);
    }
    // Above every block there is, a dead build's included (the clean after the swap takes them).
    let base: i64 = sqlx::query_scalar("SELECT coalesce(max(block), -1) + 1 FROM search_blocks")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE search_blocks_state SET build_base = $1, build_next = $1, build_name = NULL, build_id = NULL, \
         build_stale = 0, build_beat = $2",
    )
    .bind(base)
    .bind(unix_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Claim::Claimed(base))
}

/// Builds the blocks anew with `rows` metrics each, beside the ones searches read (see the
/// module's doc). Without `wait`, only if a build is due and none is running; with it, after a
/// running one. `None` when it did not build, or another build took over from this one.
pub(super) async fn build(pool: &SqlitePool, rows: i64, wait: bool) -> StoreResult<Option<BlockBuild>> {
    let started = Instant::now();
    let base = loop {
        match claim(pool, rows, wait).await? {
            Claim::Claimed(base) => break base,
            Claim::NotDue => return Ok(None),
            Claim::Busy if wait => tokio::time::sleep(Duration::from_millis(200)).await,
            Claim::Busy => return Ok(None),
        }
    };
    let next = match write_blocks(pool, base, rows).await {
        Ok(Some(next)) => next,
        Ok(None) => return Ok(None),
        Err(e) => {
            // Give the claim up, so the next check need not wait out the heartbeat; the
            // blocks written so far go with the next build's clean.
            let _ = sqlx::query(
                "UPDATE search_blocks_state SET build_base = NULL, build_next = NULL, build_name = NULL, \
                 build_id = NULL, build_stale = 0, build_beat = NULL WHERE build_base = $1",
            )
            .bind(base)
            .execute(pool)
            .await;
            return Err(e);
        }
    };
    let mut tx = begin_write(pool).await?;
    let swapped = sqlx::query(
        "UPDATE search_blocks_state SET stale = build_stale, block_rows = $1, base = build_base, \
         blocks = build_next - build_base, built_at = $2, build_base = NULL, build_next = NULL, \
         build_name = NULL, build_id = NULL, build_stale = 0, build_beat = NULL \
         WHERE build_base = $3",
    )
    .bind(rows)
    .bind(timestamp_text(&now()))
    .bind(base)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if swapped == 0 {
        return Ok(None);
    }
    let metrics = state(&mut tx).await?.metrics;
    tx.commit().await?;
    clean_below(pool, base).await?;
    Ok(Some(BlockBuild {
        blocks: next - base,
        metrics,
        millis: started.elapsed().as_millis() as u64,
    }))
}

/// Writes the new blocks from `base` on, one per write transaction, each reading its metrics
/// in that transaction (so no writer falls between the read and the key it records). Returns
/// the block after the last, or `None` if another build took over.
async fn write_blocks(pool: &SqlitePool, base: i64, rows: i64) -> StoreResult<Option<i64>> {
    // A key before any real one starts the first block, which keeps ('', '') as its lower key.
    let (mut last_name, mut last_id) = (String::new(), String::new());
    let mut block = base;
    loop {
        let began = Instant::now();
        let mut tx = begin_write(pool).await?;
        let batch: Vec<(String, String, String, String)> = sqlx::query_as(NEXT_ROWS)
            .bind(&last_name)
            .bind(&last_id)
            .bind(rows)
            .fetch_all(&mut *tx)
            .await?;
        let first = block == base;
        if batch.is_empty() && !first {
            return Ok(Some(block));
        }
        let (lo_name, lo_id) = match batch.first() {
            Some(row) if !first => (row.0.as_str(), row.1.as_str()),
            _ => ("", ""),
        };
        sqlx::query("INSERT INTO search_blocks (block, lo_name, lo_id, appended) VALUES ($1, $2, $3, 0)")
            .bind(block)
            .bind(lo_name)
            .bind(lo_id)
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
        if let Some(last) = batch.last() {
            (last_name, last_id) = (last.0.clone(), last.1.clone());
        }
        // Writers from here on cover keys up to (last_name, last_id) in this set.
        let mine = sqlx::query(
            "UPDATE search_blocks_state SET build_next = $1, build_name = $2, build_id = $3, build_beat = $4 \
             WHERE build_base = $5",
        )
        .bind(block + 1)
        .bind(&last_name)
        .bind(&last_id)
        .bind(unix_ms())
        .bind(base)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if mine == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        let held = began.elapsed();
        if held > Duration::from_millis(250) {
            // Writers waited this long: FTS5 merges segments in the transaction that tips them over.
            tracing::warn!(
                block,
                held_ms = held.as_millis() as u64,
                "a search-block build held the write lock long"
            );
        }
        block += 1;
        if (batch.len() as i64) < rows {
            return Ok(Some(block));
        }
        yield_lock(began).await;
    }
}

/// Deletes the blocks below `base` (the set swapped out, and any a dead build left), a few
/// hundred per write transaction. Searches no longer read them.
async fn clean_below(pool: &SqlitePool, base: i64) -> StoreResult<()> {
    loop {
        let began = Instant::now();
        let mut tx = begin_write(pool).await?;
        let lowest: Option<i64> = sqlx::query_scalar("SELECT min(block) FROM search_blocks WHERE block < $1")
            .bind(base)
            .fetch_one(&mut *tx)
            .await?;
        let Some(lo) = lowest else { return Ok(()) };
        let hi = (lo + CLEAN_BLOCKS).min(base);
        for table in ["search_block_fts", "search_block_names_fts"] {
            let delete = format!("DELETE FROM {table} WHERE rowid >= $1 AND rowid < $2");
            sqlx::query(sqlx::AssertSqlSafe(delete))
                .bind(lo << SEQ_BITS)
                .bind(hi << SEQ_BITS)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM search_blocks WHERE block >= $1 AND block < $2")
            .bind(lo)
            .bind(hi)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        yield_lock(began).await;
    }
}

/// Leaves the write lock free for as long as the last transaction held it: a build that
/// asked for it again at once would leave writers only the moment between its transactions.
/// Writers that wait meanwhile are ahead of it in the queue for the lock (`write_queue`), so they
/// go first; under writes that never stop it still moves, at half the lock.
async fn yield_lock(began: Instant) {
    tokio::time::sleep(began.elapsed().max(Duration::from_millis(1))).await;
}
