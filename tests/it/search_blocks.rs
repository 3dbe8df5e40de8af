//! Search blocks (which words occur in which stretch of the name order) on both backends:
//! a search that starts reading where the blocks say finds exactly what a store that ignores
//! them finds (`MDL_SEARCH_BLOCK_ROWS=0`), after a build, after writes that move words
//! between blocks, after a bulk load that leaves them stale, and with writes racing a build;
//! and a PostgreSQL create writes its block row before it takes the counters every writer takes.

use crate::support::{TestDb, backend_tests, metrics_batch};
use mdl::config::DbConfig;
use mdl::domain::Metric;
use mdl::domain::synthetic::synthetic_metric;
use mdl::store::{self, DynStore, Expect, MetricFilter, MetricQuery, MetricSort, PageRequest, Store};
use serde_json::{Value, json};

/// Small blocks, so a few hundred metrics make many.
const ROWS: u32 = 8;

async fn store_with(db: &TestDb, block_rows: u32) -> DynStore {
    store::connect(&DbConfig {
        search_block_rows: Some(block_rows),
        ..DbConfig::new(&db.url)
    })
    .await
    .expect("second store")
}

/// Blocks of `ROWS`, and a word counts as common from 40 matches: a page near the start walks
/// without counting the words whenever the blocks from its start all hold them.
async fn dense_store(db: &TestDb) -> DynStore {
    store::connect(&DbConfig {
        search_block_rows: Some(ROWS),
        search_dense_at: 40,
        ..DbConfig::new(&db.url)
    })
    .await
    .expect("third store")
}

fn query(q: &str, tier: Option<&str>, page: u32, limit: u32) -> MetricQuery {
    MetricQuery {
        filter: MetricFilter {
            q: Some(q.into()),
            tier: tier.map(str::to_string),
            ..Default::default()
        },
        sort: MetricSort::Name,
        page: PageRequest::offset(page, limit),
        count_search: false,
    }
}

/// Words clustered in the name order (a subject's names sit together; the strategic pillar
/// follows the subject), spread through it, in one metric, in names and descriptions, and
/// in none; alone, paired, and with a filter.
const WORDS: &[&str] = &[
    "checkout",
    "excellence",
    "operational excellence",
    "conversion",
    "events",
    "4242",
    "latency",
    "signup",
    "checkout latency",
    "excellence signup",
    "zebra",
    "moonbeam",
];

/// Every page of every word, as the store with blocks and the one without give them.
async fn assert_same_pages(with: &dyn Store, without: &dyn Store, stage: &str) -> usize {
    let mut found = 0;
    for q in WORDS {
        for tier in [None, Some("Tier-2")] {
            for (page, limit) in [(1, 7), (2, 7), (5, 7), (1, 50), (3, 50)] {
                let query = query(q, tier, page, limit);
                let a = with.list_metrics(&query).await.expect("search with blocks");
                let b = without.list_metrics(&query).await.expect("search without blocks");
                let ids = |p: &store::Page<store::Stored>| p.items.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
                assert_eq!(
                    (ids(&a), a.has_next),
                    (ids(&b), b.has_next),
                    "{stage}: q={q} tier={tier:?} page={page} limit={limit}"
                );
                found += a.items.len();
            }
        }
    }
    found
}

/// A search for a word only one metric holds finds that metric and nothing else.
async fn assert_found_alone(store: &dyn Store, word: &str, id: &str) {
    let found = store.list_metrics(&query(word, None, 1, 5)).await.expect("search");
    let ids: Vec<String> = found.items.into_iter().map(|m| m.id).collect();
    assert_eq!(ids, [id], "{word}");
}

fn metric(v: Value) -> Metric {
    Metric::parse(v).expect("valid metric")
}

fn named(id: &str, name: &str, description: &str) -> Metric {
    crate::search::metric(id, name, description, &[])
}

async fn searches_agree_with_and_without_blocks(db: &TestDb) {
    let with = store_with(db, ROWS).await;
    let without = store_with(db, 0).await;
    let dense = dense_store(db).await;
    // Rows added per metric (fewer than a bulk load's), then a build.
    let docs: Vec<Value> = (0..600).map(synthetic_metric).collect();
    db.store.import(&metrics_batch(docs), "seeder").await.expect("seed");
    let found = assert_same_pages(&*with, &*without, "before the first build").await;
    assert!(found > 500, "the words match something ({found})");
    let built = with.build_search_blocks(true).await.expect("build").expect("built");
    assert_eq!((built.blocks, built.metrics), (75, 600));
    assert_same_pages(&*with, &*without, "after the build").await;
    assert_same_pages(&*dense, &*without, "after the build, walking dense starts").await;

    // Writes after the build: words new to a block, a rename across blocks, a word only the
    // first and last names hold, deletes.
    let writes = [
        named("NEW-FIRST", "Aaaa zebra moonbeam", "Sorts before every block."),
        named("NEW-LAST", "Zzzz zebra", "Sorts after every block; checkout latency."),
        named("NEW-MID", "Mmmm signup", "Operational excellence, late in the order."),
    ];
    for m in &writes {
        db.store.save_metric(m, "t", Expect::Absent).await.expect("create");
    }
    let mut moved = synthetic_metric(4242 % 600);
    moved["name"] = json!("Aaab excellence moved to the front");
    db.store
        .save_metric(&metric(moved), "t", Expect::Any)
        .await
        .expect("rename");
    let mut reworded = synthetic_metric(17);
    reworded["description"] = json!("Now about moonbeam conversion events.");
    db.store
        .save_metric(&metric(reworded), "t", Expect::Any)
        .await
        .expect("reword");
    for id in ["SYN-0000003", "SYN-0000300"] {
        db.store.delete_metric(id, "t", None).await.expect("delete");
    }
    assert_same_pages(&*with, &*without, "after writes").await;
    assert_same_pages(&*dense, &*without, "after writes, walking dense starts").await;

    // A bulk load leaves the blocks stale: searches do without them until the next build.
    let bulk: Vec<Value> = (600..600 + store::SEARCH_BLOCKS_APPEND_MAX + 1)
        .map(synthetic_metric)
        .collect();
    db.store.import(&metrics_batch(bulk), "seeder").await.expect("bulk");
    assert_same_pages(&*with, &*without, "stale after a bulk load").await;
    with.build_search_blocks(true).await.expect("build").expect("built");
    assert_same_pages(&*with, &*without, "after the second build").await;
    assert_same_pages(&*dense, &*without, "after the second build, walking dense starts").await;
    // Not due again until something changes.
    assert_eq!(with.build_search_blocks(false).await.expect("check"), None);
    with.close().await;
    without.close().await;
}

/// Writers never wait for a build and never fall outside the blocks: each one either lands
/// before the build reads, or adds its own row after. Builds run while the first half of the
/// writes land; the second half lands after the last build, on the rows the writes add.
async fn writes_racing_a_build_stay_findable(db: &TestDb) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let with = store_with(db, ROWS).await;
    let without = store_with(db, 0).await;
    let docs: Vec<Value> = (0..400).map(synthetic_metric).collect();
    db.store.import(&metrics_batch(docs), "seeder").await.expect("seed");
    with.build_search_blocks(true).await.expect("build");
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (store, written) = (db.store.clone(), written.clone());
        tokio::spawn(async move {
            for i in 0..60 {
                let name = format!("{} zebra racer racer{i}", ["Aa", "Mm", "Zz"][i % 3]);
                let m = named(&format!("RACE-{i:03}"), &name, "Written during a build: moonbeam.");
                store.save_metric(&m, "t", Expect::Absent).await.expect("write");
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let mut builds = 0;
    while written.load(Ordering::SeqCst) < 30 || builds == 0 {
        with.build_search_blocks(true).await.expect("build");
        builds += 1;
        // SQLite's writer retries its lock in sleeps: back-to-back builds would starve it.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(builds < 2_000, "the writer made no progress");
    }
    writer.await.expect("writer");
    assert_same_pages(&*with, &*without, "after racing writes").await;
    let zebras = with
        .list_metrics(&query("zebra racer", None, 1, 100))
        .await
        .expect("search");
    assert_eq!(zebras.items.len(), 60);
    // A word only one racer holds: its block was decided by the build or by the write alone.
    for i in 0..60 {
        assert_found_alone(&*with, &format!("racer{i}"), &format!("RACE-{i:03}")).await;
    }
    with.close().await;
    without.close().await;
}

backend_tests!(
    searches_agree_with_and_without_blocks,
    writes_racing_a_build_stay_findable
);

/// SQLite has one write lock: its builds write a block per transaction beside the blocks
/// searches read, and swap them in at the end (see `store::sqlite::blocks`).
mod sqlite_builds {
    use super::*;
    use sqlx::SqlitePool;

    /// (build_base, build_next) of the running build, if any.
    async fn running(pool: &SqlitePool) -> Option<(i64, i64)> {
        let (base, next): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT build_base, build_next FROM search_blocks_state")
                .fetch_one(pool)
                .await
                .expect("state");
        base.zip(next)
    }

    /// Blocks left outside the set searches read, and the rows of that set.
    async fn leftovers(pool: &SqlitePool) -> (i64, i64, i64) {
        let (base, blocks): (i64, i64) = sqlx::query_as("SELECT base, blocks FROM search_blocks_state")
            .fetch_one(pool)
            .await
            .expect("state");
        let outside: i64 = sqlx::query_scalar("SELECT count(*) FROM search_blocks WHERE block < $1 OR block >= $2")
            .bind(base)
            .bind(base + blocks)
            .fetch_one(pool)
            .await
            .expect("blocks");
        let words_outside: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM search_block_fts WHERE rowid < $1 OR rowid >= $2) \
             + (SELECT count(*) FROM search_block_names_fts WHERE rowid < $1 OR rowid >= $2)",
        )
        .bind(base << 32)
        .bind((base + blocks) << 32)
        .fetch_one(pool)
        .await
        .expect("words");
        (outside, words_outside, blocks)
    }

    #[tokio::test]
    async fn a_write_commits_while_a_build_runs() {
        let db = crate::support::sqlite().await;
        let with = store_with(&db, 4).await;
        let without = store_with(&db, 0).await;
        let pool = SqlitePool::connect(&db.url).await.expect("pool");
        let docs: Vec<Value> = (0..1_000).map(synthetic_metric).collect();
        db.store.import(&metrics_batch(docs), "seeder").await.expect("seed");
        let mut during = 0;
        let mut written = 0;
        for _ in 0..20 {
            let build = {
                let with = with.clone();
                tokio::spawn(async move { with.build_search_blocks(true).await })
            };
            while !build.is_finished() {
                let Some(before) = running(&pool).await else {
                    // A timer, not a yield: the build's own pauses are timers on this thread.
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    continue;
                };
                // Early names land in blocks the build has written, late ones ahead of it.
                let name = format!("{} midbuild{written}", ["Aa", "Zz"][written % 2]);
                let m = named(&format!("MID-{written:04}"), &name, "Written during a build.");
                db.store.save_metric(&m, "t", Expect::Absent).await.expect("write");
                written += 1;
                // The same build before and after the write, still unswapped: the write
                // committed between its claim and its swap.
                if running(&pool).await.map(|r| r.0) == Some(before.0) {
                    during += 1;
                }
                // A client's pace: a writer that takes the lock back the moment it commits
                // leaves the build only the chance of SQLite's busy handler polling then.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            build.await.expect("build task").expect("build");
            if during >= 10 {
                break;
            }
        }
        assert!(during >= 10, "writes committed during builds: {during}");
        assert_eq!(running(&pool).await, None, "no build left claimed");
        let (outside, words_outside, _) = leftovers(&pool).await;
        assert_eq!((outside, words_outside), (0, 0), "old blocks deleted after the swap");
        for i in 0..written {
            assert_found_alone(&*with, &format!("midbuild{i}"), &format!("MID-{i:04}")).await;
        }
        assert_same_pages(&*with, &*without, "after writes during builds").await;
        with.close().await;
        without.close().await;
        pool.close().await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn a_silent_build_is_taken_over_and_its_blocks_deleted() {
        let db = crate::support::sqlite().await;
        let with = store_with(&db, ROWS).await;
        let without = store_with(&db, 0).await;
        let pool = SqlitePool::connect(&db.url).await.expect("pool");
        let docs: Vec<Value> = (0..300).map(synthetic_metric).collect();
        db.store.import(&metrics_batch(docs), "seeder").await.expect("seed");
        with.build_search_blocks(true).await.expect("build").expect("built");
        // A build that claimed blocks far above and wrote two of them, then went quiet, with
        // the blocks stale since (a bulk load).
        let fake = |beat: i64| {
            sqlx::query(
                "UPDATE search_blocks_state SET stale = 1, build_base = 100000, build_next = 100002, \
                 build_name = 'zzz', build_id = 'z', build_beat = $1",
            )
            .bind(beat)
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        fake(now_ms).execute(&pool).await.expect("claim");
        for block in [100_000i64, 100_001] {
            sqlx::query("INSERT INTO search_blocks (block, lo_name, lo_id) VALUES ($1, $2, '')")
                .bind(block)
                .bind(if block == 100_000 { "" } else { "m" })
                .execute(&pool)
                .await
                .expect("orphan block");
            sqlx::query("INSERT INTO search_block_names_fts (rowid, name) VALUES ($1, 'orphan')")
                .bind(block << 32)
                .execute(&pool)
                .await
                .expect("orphan words");
        }
        // A write covers its metric in the quiet build's blocks too.
        let m = named("DURING-DEAD", "Bb zebra moonbeam", "Written while a build was claimed.");
        db.store.save_metric(&m, "t", Expect::Absent).await.expect("write");
        // Alive by its last write: not due to anyone else.
        assert_eq!(with.build_search_blocks(false).await.expect("check"), None);
        assert!(running(&pool).await.is_some());
        // Silent past the limit: the next due check takes over.
        fake(now_ms - 120_000).execute(&pool).await.expect("silence");
        let built = with
            .build_search_blocks(false)
            .await
            .expect("check")
            .expect("taken over");
        assert_eq!((built.blocks, built.metrics), (38, 301));
        assert_eq!(running(&pool).await, None);
        let (outside, words_outside, blocks) = leftovers(&pool).await;
        assert_eq!((outside, words_outside, blocks), (0, 0, 38));
        assert_same_pages(&*with, &*without, "after a take-over").await;
        with.close().await;
        without.close().await;
        pool.close().await;
        db.cleanup().await;
    }
}

/// PostgreSQL: bulk loads do not wait for a build (they count themselves in the state row
/// instead of sharing the build's advisory lock), and a build clears the stale mark only if
/// no load landed since it began.
/// Polls `count_waiting` (a count of ungranted locks, `$1` bound to `arg`) until it is not 0:
/// the statement a test holds up has reached the lock it is held at.
async fn until_a_lock_waits(pool: &sqlx::PgPool, count_waiting: &'static str, arg: &str, never: &str) {
    for _ in 0..600 {
        let waiting: i64 = sqlx::query_scalar(count_waiting)
            .bind(arg)
            .fetch_one(pool)
            .await
            .expect("locks");
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{never}");
}

mod postgres_loads {
    use super::*;
    use sqlx::PgPool;

    const BUILD_LOCK: &str = "SELECT pg_advisory_xact_lock(7243002, hashtext(current_schema()))";

    async fn is_stale(pool: &PgPool) -> bool {
        sqlx::query_scalar("SELECT stale FROM search_blocks_state")
            .fetch_one(pool)
            .await
            .expect("state")
    }

    /// A PostgreSQL test store, one with blocks of `ROWS` and one without, and a pool of its
    /// own for the statements a test plays another instance's part with.
    async fn setup() -> Option<(TestDb, DynStore, DynStore, PgPool)> {
        let db = crate::support::postgres().await?;
        let with = store_with(&db, ROWS).await;
        let without = store_with(&db, 0).await;
        let pool = PgPool::connect(&db.url).await.expect("pool");
        Some((db, with, without, pool))
    }

    fn bulk(from: usize) -> Vec<Value> {
        (from..from + store::SEARCH_BLOCKS_APPEND_MAX + 1)
            .map(synthetic_metric)
            .collect()
    }

    #[tokio::test]
    async fn a_bulk_load_does_not_wait_for_a_running_build() {
        let Some((db, with, without, pool)) = setup().await else {
            return;
        };
        // A build in another instance, holding its lock for longer than a statement may take.
        let mut build = pool.begin().await.expect("begin");
        sqlx::query(BUILD_LOCK).execute(&mut *build).await.expect("lock");
        let short = store::connect(&DbConfig {
            statement_timeout_ms: 1_000,
            ..DbConfig::new(&db.url)
        })
        .await
        .expect("store");
        let started = std::time::Instant::now();
        short
            .import(&metrics_batch(bulk(0)), "seeder")
            .await
            .expect("a load while a build runs");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        build.rollback().await.expect("rollback");
        assert!(is_stale(&pool).await, "the load marked the blocks stale");
        with.build_search_blocks(true).await.expect("build").expect("built");
        assert_same_pages(&*with, &*without, "after a load beside a build and a build").await;
        for s in [short, with, without] {
            s.close().await;
        }
        pool.close().await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn a_build_leaves_the_mark_of_a_load_that_landed_during_it() {
        let Some((db, with, without, pool)) = setup().await else {
            return;
        };
        db.store.import(&metrics_batch(bulk(0)), "seeder").await.expect("seed");
        // Hold the state row as a load's last statement does, so the build below has read the
        // count and the catalog, and waits at its final update, when this load lands.
        let mut load = pool.begin().await.expect("begin");
        sqlx::query("UPDATE search_blocks_state SET stale = true, loads = loads + 1")
            .execute(&mut *load)
            .await
            .expect("count a load");
        let xid: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
            .fetch_one(&mut *load)
            .await
            .expect("xid");
        let building = {
            let with = with.clone();
            tokio::spawn(async move { with.build_search_blocks(true).await })
        };
        // The build's final update waits for the row, that is for this transaction to end.
        until_a_lock_waits(
            &pool,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' \
             AND transactionid::text = $1 AND NOT granted",
            &xid,
            "the build never reached its final update",
        )
        .await;
        load.commit().await.expect("commit the load");
        building.await.expect("join").expect("build").expect("built");
        assert!(
            is_stale(&pool).await,
            "a load that landed during the build keeps the blocks stale"
        );
        assert_same_pages(&*with, &*without, "stale after a load during a build").await;
        with.build_search_blocks(true).await.expect("build").expect("built");
        assert!(!is_stale(&pool).await, "the next build clears it");
        for s in [with, without] {
            s.close().await;
        }
        pool.close().await;
        db.cleanup().await;
    }
}

mod postgres_creates {
    use super::*;
    use sqlx::PgPool;

    /// A create writes its search-block row before it takes any counter, as the general path
    /// does: counters are the rows every writer takes, and a block insert can stall (a GIN
    /// index flushing its pending list), so a writer must not hold them through it.
    #[tokio::test]
    async fn a_create_waiting_on_its_block_row_holds_no_counter() {
        let Some(db) = crate::support::postgres().await else {
            return;
        };
        db.store
            .import(&metrics_batch((0..20).map(synthetic_metric)), "seeder")
            .await
            .expect("seed");
        let pool = PgPool::connect(&db.url).await.expect("pool");
        // Writers spread over shards: every counter the seed made, on every shard (adding 0),
        // so the create's counters are rows that exist, whichever shard it picks.
        for spread in [
            "INSERT INTO metric_counts (facet, value, shard, n) SELECT DISTINCT facet, value, s, 0 \
             FROM metric_counts, generate_series(0, 15) s ON CONFLICT DO NOTHING",
            "INSERT INTO metric_combination_counts (category, business_domain, metric_type, tier, status, shard, n) \
             SELECT DISTINCT category, business_domain, metric_type, tier, status, s, 0 \
             FROM metric_combination_counts, generate_series(0, 15) s ON CONFLICT DO NOTHING",
        ] {
            sqlx::query(spread).execute(&pool).await.expect("spread the counters");
        }
        // A block row's insert waits here for as long as the test holds the advisory lock:
        // the statement is under way by then (a table lock would stop it before it starts).
        let key = i64::from(getrandom::u32().expect("random"));
        sqlx::query(
            "CREATE FUNCTION hold_block_rows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             PERFORM pg_advisory_xact_lock_shared(TG_ARGV[0]::bigint); RETURN NEW; END $$",
        )
        .execute(&pool)
        .await
        .expect("function");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TRIGGER hold_block_rows BEFORE INSERT ON search_blocks \
             FOR EACH ROW EXECUTE FUNCTION hold_block_rows('{key}')"
        )))
        .execute(&pool)
        .await
        .expect("trigger");
        let mut hold = pool.acquire().await.expect("connection");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *hold)
            .await
            .expect("hold the block rows");
        let creating = {
            let store = db.store.clone();
            tokio::spawn(async move {
                let m = Metric::parse(synthetic_metric(100)).expect("valid");
                store.save_metric(&m, "writer", Expect::Absent).await
            })
        };
        until_a_lock_waits(
            &pool,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND ((classid::bigint << 32) | objid::bigint) = $1::bigint AND NOT granted",
            &key.to_string(),
            "the create never reached its block row",
        )
        .await;
        for (table, all, free) in [
            (
                "metric_counts",
                "SELECT count(*) FROM metric_counts",
                "SELECT count(*) FROM (SELECT 1 FROM metric_counts FOR UPDATE SKIP LOCKED) f",
            ),
            (
                "metric_combination_counts",
                "SELECT count(*) FROM metric_combination_counts",
                "SELECT count(*) FROM (SELECT 1 FROM metric_combination_counts FOR UPDATE SKIP LOCKED) f",
            ),
            (
                "metric_writes",
                "SELECT count(*) FROM metric_writes",
                "SELECT count(*) FROM (SELECT 1 FROM metric_writes FOR UPDATE SKIP LOCKED) f",
            ),
        ] {
            let all: i64 = sqlx::query_scalar(all).fetch_one(&pool).await.expect("count");
            let free: i64 = sqlx::query_scalar(free)
                .fetch_one(&pool)
                .await
                .expect("count the unlocked");
            assert_eq!(free, all, "{table}: a create waiting on its block row holds none");
        }
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *hold)
            .await
            .expect("release");
        drop(hold);
        let saved = creating.await.expect("join").expect("created");
        assert_eq!(saved.entity.version, 1);
        assert_eq!(db.store.stats().await.expect("stats").total_metrics, 21);
        pool.close().await;
        db.cleanup().await;
    }
}
