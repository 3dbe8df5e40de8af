//! List invalidation grain: a metric write turns over the lists its old or new document
//! appears in (and the unfiltered ones), and leaves the other filtered lists cached, on every
//! instance sharing Redis.

use crate::cache::{pair, wait_for, x_cache};
use crate::http::{TestApp, load, spawn_with, test_config};
use crate::support::{TestDb, backend_tests, redis_prefix, redis_url};
use mdl::cache::keys::Collection;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A Tier-1 sample metric.
const LOGIN: &str = "METRIC-LOGIN-SUCCESS-RATE";
/// Created by each test: the samples have no Tier-3 metric.
const SPARE: &str = "METRIC-GRAIN-SPARE";
const TIER1: &str = "/api/v1/metrics?tier=Tier-1";
const TIER2: &str = "/api/v1/metrics?tier=Tier-2";
const TIER3: &str = "/api/v1/metrics?tier=Tier-3";
const ALL: &str = "/api/v1/metrics";

fn spare_doc() -> Value {
    json!({
        "metric_id": SPARE, "name": "Grain spare", "description": "starts in Tier-3",
        "category": "Grain Spare", "tier": "Tier-3", "business_domain": "Grain",
        "metric_type": "operational", "tags": ["grain-spare"],
    })
}

/// One server on the sample catalog plus `SPARE`, and an admin token.
async fn one_instance(db: &TestDb) -> (TestApp, String) {
    load(db).await;
    let app = spawn_with(db, test_config()).await;
    let token = app.token().await;
    create_spare(&app, &token).await;
    (app, token)
}

async fn create_spare(app: &TestApp, token: &str) {
    let r = app.send(Method::POST, ALL, token, Some(&spare_doc())).await;
    assert_eq!(r.status(), 201);
}

/// Reads each URL until the cache answers it: a HIT on the second read.
async fn prime(app: &TestApp, token: &str, urls: &[&str]) {
    for url in urls {
        app.get(url, token).await;
        assert_eq!(x_cache(&app.get(url, token).await), "HIT", "{url} primed");
    }
}

/// The cache outcome of one list read and its items.
async fn items(app: &TestApp, token: &str, url: &str) -> (String, Vec<Value>) {
    let r = app.get(url, token).await;
    let outcome = x_cache(&r);
    let body: Value = r.json().await.unwrap();
    (outcome, body["data"].as_array().unwrap().clone())
}

/// The cache outcome of one list read and the ids it lists.
async fn listing(app: &TestApp, token: &str, url: &str) -> (String, Vec<String>) {
    let (outcome, items) = items(app, token, url).await;
    let ids = items.iter().filter_map(|m| m["metric_id"].as_str().map(str::to_owned));
    (outcome, ids.collect())
}

/// The cache outcome of one list read and the description of `id` in it (null when absent).
async fn description_in(app: &TestApp, token: &str, url: &str, id: &str) -> (String, Value) {
    let (outcome, items) = items(app, token, url).await;
    let item = items.into_iter().find(|m| m["metric_id"] == id);
    (outcome, item.map_or(Value::Null, |m| m["description"].clone()))
}

/// `SPARE` left the list `left` and joined `joined`, both read afresh.
async fn assert_moved(app: &TestApp, token: &str, left: &str, joined: &str) {
    let (outcome, ids) = listing(app, token, left).await;
    assert_eq!(outcome, "MISS", "{left}: the list the metric left");
    assert!(!ids.contains(&SPARE.to_string()), "{left}: {ids:?}");
    let (outcome, ids) = listing(app, token, joined).await;
    assert_eq!(outcome, "MISS", "{joined}: the list the metric joined");
    assert!(ids.contains(&SPARE.to_string()), "{joined}: {ids:?}");
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) {
    let r = app
        .send(Method::PATCH, &format!("/api/v1/metrics/{id}"), token, Some(&body))
        .await;
    assert_eq!(r.status(), 200, "PATCH {id}");
}

/// The lists these tests keep cached across a write must not share a shard with a value the
/// write bumps (the hash is fixed, so this is a fact about the names, checked once here).
fn assert_apart(kept: &[(&str, &str)], bumped: &[(&str, &str)]) {
    for (kf, kv) in kept {
        for (bf, bv) in bumped {
            assert_ne!(
                Collection::list_shard(kf, kv),
                Collection::list_shard(bf, bv),
                "{kf}={kv} and {bf}={bv} share a shard: pick other test values"
            );
        }
    }
}

/// Values the sample Tier-1 metric `LOGIN` has for the list filters.
const LOGIN_VALUES: &[(&str, &str)] = &[
    ("category", "KPI"),
    ("tier", "Tier-1"),
    ("business_domain", "Digital Experience"),
    ("metric_type", "leading"),
    ("status", "active"),
    ("owner", "Digital Analytics"),
    ("tag", "authentication"),
    ("tag", "ux"),
    ("tag", "security"),
];

async fn a_write_turns_over_only_the_lists_it_can_change(db: &TestDb) {
    let (app, token) = one_instance(db).await;
    let tag = "/api/v1/metrics?tag=grain-spare";
    let search = "/api/v1/metrics?q=login";
    assert_apart(&[("tier", "Tier-3"), ("tag", "grain-spare")], LOGIN_VALUES);
    prime(&app, &token, &[TIER1, TIER3, ALL, tag, search]).await;

    patch(&app, &token, LOGIN, json!({"description": "grain: changed"})).await;

    for url in [TIER3, tag] {
        assert_eq!(x_cache(&app.get(url, &token).await), "HIT", "{url} cannot have changed");
    }
    for url in [TIER1, ALL] {
        let (outcome, description) = description_in(&app, &token, url, LOGIN).await;
        assert_eq!(outcome, "MISS", "{url} after a Tier-1 write");
        assert_eq!(description, "grain: changed", "{url} shows the write");
    }
    // Full-text results rank against the whole catalog: any write turns them over.
    assert_eq!(x_cache(&app.get(search, &token).await), "MISS", "{search}");
}

/// The old document's lists turn over too: a metric moved out of Tier-3 leaves the Tier-3
/// list at once (by merge patch, and by a replace that names no version).
async fn moving_a_metric_turns_over_both_lists(db: &TestDb) {
    let (app, token) = one_instance(db).await;
    assert_apart(&[("tier", "Tier-2")], &[("tier", "Tier-1"), ("tier", "Tier-3")]);
    prime(&app, &token, &[TIER1, TIER2, TIER3]).await;

    patch(&app, &token, SPARE, json!({"tier": "Tier-1"})).await;

    assert_moved(&app, &token, TIER3, TIER1).await;
    assert_eq!(x_cache(&app.get(TIER2, &token).await), "HIT");

    // Back again by a full replace without If-Match: the old document is the one the write
    // transaction replaced.
    prime(&app, &token, &[TIER1, TIER3]).await;
    let url = format!("/api/v1/metrics/{SPARE}");
    let r = app.send(Method::PUT, &url, &token, Some(&spare_doc())).await;
    assert_eq!(r.status(), 200);
    assert_moved(&app, &token, TIER1, TIER3).await;
}

/// A delete turns over every list the deleted document was in, and only those.
async fn a_delete_turns_over_its_lists(db: &TestDb) {
    let (app, token) = one_instance(db).await;
    let category = "/api/v1/metrics?category=Grain%20Spare";
    let tag = "/api/v1/metrics?tag=grain-spare";
    let spare: &[(&str, &str)] = &[
        ("category", "Grain Spare"),
        ("tier", "Tier-3"),
        ("business_domain", "Grain"),
        ("metric_type", "operational"),
        ("tag", "grain-spare"),
    ];
    assert_apart(&[("tier", "Tier-2"), ("tier", "Tier-1")], spare);
    prime(&app, &token, &[TIER1, TIER2, TIER3, category, tag, ALL]).await;

    let r = app
        .send(Method::DELETE, &format!("/api/v1/metrics/{SPARE}"), &token, None)
        .await;
    assert_eq!(r.status(), 204);

    for url in [TIER3, category, tag, ALL] {
        let (outcome, ids) = listing(&app, &token, url).await;
        assert_eq!(outcome, "MISS", "{url} after the delete");
        assert!(!ids.contains(&SPARE.to_string()), "{url}: {ids:?}");
    }
    for url in [TIER1, TIER2] {
        assert_eq!(x_cache(&app.get(url, &token).await), "HIT", "{url} never listed it");
    }
}

/// Two instances sharing Redis: a write on A turns over on B exactly the lists it turns over
/// on A; B keeps the others.
async fn instances_share_the_grain(db: &TestDb) {
    let Some(redis) = redis_url() else { return };
    load(db).await;
    let (a, b) = pair(db, &redis, &redis_prefix()).await;
    let (ta, tb) = (a.token().await, b.token().await);
    create_spare(&a, &ta).await;
    assert_apart(&[("tier", "Tier-3"), ("tier", "Tier-2")], LOGIN_VALUES);
    prime(&b, &tb, &[TIER1, TIER2, TIER3]).await;

    patch(&a, &ta, LOGIN, json!({"description": "grain: from A"})).await;

    wait_for(
        "B sees A's write in the Tier-1 list",
        Duration::from_secs(2),
        async || description_in(&b, &tb, TIER1, LOGIN).await.1 == "grain: from A",
    )
    .await;
    for url in [TIER2, TIER3] {
        assert_eq!(x_cache(&b.get(url, &tb).await), "HIT", "{url} on B");
    }

    // The old document's list, on the other instance.
    prime(&b, &tb, &[TIER3]).await;
    patch(&a, &ta, SPARE, json!({"tier": "Tier-1"})).await;
    wait_for(
        "B drops the moved metric from Tier-3",
        Duration::from_secs(2),
        async || !listing(&b, &tb, TIER3).await.1.contains(&SPARE.to_string()),
    )
    .await;
    assert_eq!(x_cache(&b.get(TIER2, &tb).await), "HIT", "Tier-2 on B");
}

backend_tests!(
    a_write_turns_over_only_the_lists_it_can_change,
    moving_a_metric_turns_over_both_lists,
    a_delete_turns_over_its_lists,
    instances_share_the_grain,
);
