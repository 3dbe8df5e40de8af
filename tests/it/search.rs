//! Full-text search as a bounded top-k, on both backends: relevance tiers, pages that cross
//! tiers, the capped count, and the ways a tier is read (walking the list's order for a word
//! most rows contain, the full-text index for the rest) giving the same pages.

use crate::support::{TestDb, backend_tests, metrics_batch};
use mdl::config::DbConfig;
use mdl::domain::Metric;
use mdl::domain::synthetic::synthetic_metric;
use mdl::store::{self, Expect, MetricFilter, MetricQuery, MetricSort, PageRequest, Store};
use serde_json::{Value, json};

fn doc(id: &str, name: &str, description: &str, tags: &[&str]) -> Value {
    json!({
        "metric_id": id,
        "name": name,
        "description": description,
        "category": "KPI",
        "tier": "Tier-2",
        "business_domain": "Growth",
        "metric_type": "leading",
        "tags": tags,
    })
}

pub(crate) fn metric(id: &str, name: &str, description: &str, tags: &[&str]) -> Metric {
    Metric::parse(doc(id, name, description, tags)).expect("valid metric")
}

fn search(q: &str, page: u32, limit: u32) -> MetricQuery {
    MetricQuery {
        filter: MetricFilter {
            q: Some(q.into()),
            ..Default::default()
        },
        sort: MetricSort::Name,
        page: PageRequest::offset(page, limit),
        count_search: false,
    }
}

async fn ids(store: &dyn Store, query: &MetricQuery) -> Vec<String> {
    let page = store.list_metrics(query).await.expect("search");
    page.items.into_iter().map(|m| m.id).collect()
}

/// Names sort against the tiers (the name matches sort last by name), so only relevance can
/// put them first.
async fn seed_tiers(store: &dyn Store) {
    let rows = [
        ("M-TAG", "A metric", "Nothing to see.", &["widget"][..]),
        ("M-DESC-2", "B metric", "Counts each widget sold.", &[][..]),
        ("M-DESC-1", "C metric", "Widgets per order.", &[][..]),
        ("M-NAME", "Z widget rate", "Share of visits.", &[][..]),
        ("M-SPLIT", "Y widget", "Per order of a gadget.", &[][..]),
        ("M-NONE", "D metric", "Unrelated.", &[][..]),
    ];
    for (id, name, description, tags) in rows {
        store
            .save_metric(&metric(id, name, description, tags), "t", Expect::Absent)
            .await
            .expect("save");
    }
}

async fn name_matches_rank_before_the_rest(db: &TestDb) {
    let store = &*db.store;
    seed_tiers(store).await;

    let all = ids(store, &search("widgets", 1, 50)).await;

    assert_eq!(all, ["M-SPLIT", "M-NAME", "M-TAG", "M-DESC-2", "M-DESC-1"]);
    // Two words: split over name and description, they rank with the other matches.
    let two = ids(store, &search("widget order", 1, 50)).await;
    assert_eq!(two, ["M-DESC-1", "M-SPLIT"]);
    let two = ids(store, &search("widget rate", 1, 50)).await;
    assert_eq!(two, ["M-NAME"]);

    // Renames and deletes move metrics between the tiers (SQLite indexes names apart).
    let renamed = [
        ("M-DESC-1", "C widget total", "Widgets per order."),
        ("M-NAME", "Z rate", "Share of visits."),
    ];
    for (id, name, description) in renamed {
        store
            .save_metric(&metric(id, name, description, &[]), "t", Expect::Any)
            .await
            .expect("rename");
    }
    let all = ids(store, &search("widgets", 1, 50)).await;
    assert_eq!(all, ["M-DESC-1", "M-SPLIT", "M-TAG", "M-DESC-2"]);
    store.delete_metric("M-SPLIT", "t", None).await.expect("delete");
    let all = ids(store, &search("widgets", 1, 50)).await;
    assert_eq!(all, ["M-DESC-1", "M-TAG", "M-DESC-2"]);
    // Merging the indexes after a bulk load changes no answer.
    store.compact_search().await.expect("compact");
    assert_eq!(ids(store, &search("widgets", 1, 50)).await, all);
    assert_eq!(ids(store, &search("widget rate", 1, 50)).await, Vec::<String>::new());
}

async fn pages_cross_tiers_without_gaps_or_repeats(db: &TestDb) {
    let store = &*db.store;
    seed_tiers(store).await;
    let all = ids(store, &search("widget", 1, 50)).await;

    for limit in [1, 2, 3] {
        let mut walked = Vec::new();
        for page in 1..=6 {
            let p = store.list_metrics(&search("widget", page, limit)).await.expect("page");
            let more = p.has_next;
            walked.extend(p.items.into_iter().map(|m| m.id));
            assert_eq!(more, walked.len() < all.len(), "limit {limit}, page {page}");
        }
        assert_eq!(walked, all, "limit {limit}");
    }
    // Past the end: empty, nothing next.
    let past = store.list_metrics(&search("widget", 9, 2)).await.expect("past");
    assert!(past.items.is_empty() && !past.has_next);
}

async fn search_counts_on_request_up_to_the_cap(db: &TestDb) {
    seed_tiers(&*db.store).await;
    let mut counted = search("widget", 1, 2);
    counted.count_search = true;

    let uncounted = db.store.list_metrics(&search("widget", 1, 2)).await.unwrap();
    let exact = db.store.list_metrics(&counted).await.unwrap();
    let capped_store = store::connect(&DbConfig {
        search_count_cap: 3,
        ..DbConfig::new(&db.url)
    })
    .await
    .expect("second store");
    let capped = capped_store.list_metrics(&counted).await.unwrap();
    let at_cap = {
        let mut q = search("widget rate", 1, 2);
        q.count_search = true;
        capped_store.list_metrics(&q).await.unwrap()
    };

    assert_eq!((uncounted.total, uncounted.total_capped), (None, false));
    assert_eq!((exact.total, exact.total_capped), (Some(5), false));
    assert_eq!((capped.total, capped.total_capped), (Some(3), true));
    assert_eq!((at_cap.total, at_cap.total_capped), (Some(1), false));
}

/// 10,050 synthetic metrics all say "events" in their description: enough for SQLite to walk
/// the name order for the first pages and to scan it against the matches for a deep one;
/// PostgreSQL's planner chooses by itself. 1,100 fillers without the word sort first, so the
/// walk runs out of budget and falls back. Either way the pages are the name order of all the
/// matches.
async fn common_and_rare_words_page_alike(db: &TestDb) {
    let docs: Vec<Value> = (0..10_050).map(synthetic_metric).collect();
    let fillers = (0..1_100).map(|i| {
        let id = format!("FILL-{i:04}");
        doc(&id, &format!("Aaa filler {i:04}"), "Nothing to see.", &[])
    });
    let batch = metrics_batch(docs.iter().cloned().chain(fillers));
    db.store.import(&batch, "seeder").await.expect("seed");
    let mut by_name: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["metric_id"].as_str().unwrap()))
        .collect();
    by_name.sort_unstable();
    let expected = |page: u32, limit: usize| -> Vec<String> {
        by_name
            .iter()
            .skip((page as usize - 1) * limit)
            .take(limit)
            .map(|(_, id)| id.to_string())
            .collect()
    };

    for page in [1, 2, 40] {
        assert_eq!(
            ids(&*db.store, &search("events", page, 50)).await,
            expected(page, 50),
            "page {page}"
        );
    }
    // A word in an eighth of the names: more than a handful, fewer than a walk needs.
    let conversion: Vec<String> = by_name
        .iter()
        .filter(|(name, _)| name.contains("Conversion"))
        .skip(50)
        .take(50)
        .map(|(_, id)| id.to_string())
        .collect();
    assert_eq!(ids(&*db.store, &search("conversion", 2, 50)).await, conversion);
    // A rare word: one metric's number is in its name.
    assert_eq!(ids(&*db.store, &search("4242", 1, 50)).await, ["SYN-0004242"]);
    // A filter with a common word walks the filter's order.
    let mut tiered = search("events", 1, 20);
    tiered.filter.tier = Some("Tier-2".into());
    let tier_2: std::collections::HashSet<&str> = docs
        .iter()
        .filter(|d| d["tier"] == "Tier-2")
        .map(|d| d["metric_id"].as_str().unwrap())
        .collect();
    let want: Vec<String> = by_name
        .iter()
        .filter(|(_, id)| tier_2.contains(id))
        .take(20)
        .map(|(_, id)| id.to_string())
        .collect();
    assert_eq!(ids(&*db.store, &tiered).await, want);
}

backend_tests!(
    name_matches_rank_before_the_rest,
    pages_cross_tiers_without_gaps_or_repeats,
    search_counts_on_request_up_to_the_cap,
    common_and_rare_words_page_alike,
);
