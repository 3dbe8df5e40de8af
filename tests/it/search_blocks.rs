//! Search blocks (which words occur in which stretch of the name order) on both backends:
//! a search that starts reading where the blocks say finds exactly what a store that ignores
//! them finds (`MDL_SEARCH_BLOCK_ROWS=0`), after a build, after writes that move words
//! between blocks, after a bulk load that leaves them stale, and with writes racing a build.

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
        search_block_rows: block_rows,
        ..DbConfig::new(&db.url)
    })
    .await
    .expect("second store")
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

fn metric(v: Value) -> Metric {
    Metric::parse(v).expect("valid metric")
}

fn named(id: &str, name: &str, description: &str) -> Metric {
    crate::search::metric(id, name, description, &[])
}

async fn searches_agree_with_and_without_blocks(db: &TestDb) {
    let with = store_with(db, ROWS).await;
    let without = store_with(db, 0).await;
    // Rows added per metric (fewer than a bulk load's), then a build.
    let docs: Vec<Value> = (0..600).map(synthetic_metric).collect();
    db.store.import(&metrics_batch(docs), "seeder").await.expect("seed");
    let found = assert_same_pages(&*with, &*without, "before the first build").await;
    assert!(found > 500, "the words match something ({found})");
    let built = with.build_search_blocks(true).await.expect("build").expect("built");
    assert_eq!((built.blocks, built.metrics), (75, 600));
    assert_same_pages(&*with, &*without, "after the build").await;

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

    // A bulk load leaves the blocks stale: searches do without them until the next build.
    let bulk: Vec<Value> = (600..600 + store::SEARCH_BLOCKS_APPEND_MAX + 1)
        .map(synthetic_metric)
        .collect();
    db.store.import(&metrics_batch(bulk), "seeder").await.expect("bulk");
    assert_same_pages(&*with, &*without, "stale after a bulk load").await;
    with.build_search_blocks(true).await.expect("build").expect("built");
    assert_same_pages(&*with, &*without, "after the second build").await;
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
        let found = with
            .list_metrics(&query(&format!("racer{i}"), None, 1, 5))
            .await
            .expect("search");
        let ids: Vec<String> = found.items.into_iter().map(|m| m.id).collect();
        assert_eq!(ids, [format!("RACE-{i:03}")], "racer{i}");
    }
    with.close().await;
    without.close().await;
}

backend_tests!(
    searches_agree_with_and_without_blocks,
    writes_racing_a_build_stay_findable
);
