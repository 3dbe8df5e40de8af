//! The response cache end to end: real servers, the machine's Redis (a key prefix per test) and
//! private `redis-server`s that tests stop and restart.

use crate::support::{
    PrivateRedis, TestApp, TestDb, backend_tests, load, redis_prefix, redis_url, spawn_on, spawn_with, sqlite,
    test_config,
};
use mdl::cache::keys::canonical_query;
use mdl::config::{DbConfig, ServeConfig};
use mdl::http::routes::read_route;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;
use std::time::{Duration, Instant};

const LOGIN: &str = "METRIC-LOGIN-SUCCESS-RATE";

pub(crate) fn with_redis(url: &str, prefix: &str) -> ServeConfig {
    let mut config = test_config();
    config.cache.redis_url = Some(url.into());
    config.cache.redis_prefix = prefix.into();
    config
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.get(path, token).await
}

pub(crate) fn x_cache(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The headers a hit must reproduce.
fn kept(r: &reqwest::Response) -> Vec<(String, String)> {
    [
        "content-type",
        "etag",
        "link",
        "x-total-count",
        "x-page",
        "x-per-page",
        "x-total-pages",
        "cache-control",
    ]
    .iter()
    .filter_map(|h| Some((h.to_string(), r.headers().get(*h)?.to_str().ok()?.to_string())))
    .collect()
}

pub(crate) async fn wait_for(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within {limit:?}");
}

pub(crate) async fn redis_tier_live(app: &TestApp) {
    wait_for("redis tier live", Duration::from_secs(5), async || {
        app.health().await["components"]["cache"]["l2"] == "up"
    })
    .await;
}

async fn version_of(app: &TestApp, token: &str, id: &str) -> (i64, String) {
    let r = get(app, &format!("/api/v1/metrics/{id}"), token).await;
    let outcome = x_cache(&r);
    let body: Value = r.json().await.unwrap();
    (body["data"]["version"].as_i64().unwrap_or(-1), outcome)
}

#[test]
fn equivalent_queries_share_a_key() {
    let list = read_route("/api/v1/metrics").unwrap();
    let a = canonical_query(None, &list);
    assert_eq!(a, canonical_query(Some("limit=50&page=1"), &list));
    assert_eq!(a, canonical_query(Some("page=1&limit=50"), &list));
    assert_eq!(
        canonical_query(Some("limit=500"), &list),
        canonical_query(Some("limit=100"), &list)
    );
    assert_ne!(
        canonical_query(Some("tier=Tier-1"), &list),
        canonical_query(Some("tier=Tier-2"), &list)
    );
    assert_eq!(
        canonical_query(Some("tag=b&tag=a"), &list),
        canonical_query(Some("tag=a&tag=b"), &list)
    );
    let one = read_route("/api/v1/metrics/{id}").unwrap();
    assert_eq!(canonical_query(None, &one), "");
    assert_eq!(
        canonical_query(Some("limit=5"), &one),
        "limit=5",
        "no defaults where none apply"
    );
    assert_ne!(
        canonical_query(Some("count=false"), &list),
        canonical_query(Some("count=false&page=1"), &list),
        "cursor mode's first page is not page 1 (one is refused)"
    );
    assert!(read_route("/api/v1/auth/me").is_none());
    assert!(read_route("/api/v1/users").is_none());
}

async fn miss_then_identical_hit(db: &TestDb, config: ServeConfig) {
    load(db).await;
    let app = spawn_with(db, config).await;
    let token = app.token().await;
    let url = "/api/v1/metrics?limit=5&tier=Tier-1";

    let first = get(&app, url, &token).await;
    assert_eq!(first.status(), 200);
    assert_eq!(x_cache(&first), "MISS");
    let (first_headers, first_body) = (kept(&first), first.bytes().await.unwrap());
    let second = get(&app, url, &token).await;
    assert_eq!(x_cache(&second), "HIT");
    assert_eq!(kept(&second), first_headers, "pagination headers survive a hit");
    assert_eq!(second.bytes().await.unwrap(), first_body, "identical body");
    assert!(first_headers.iter().any(|(k, _)| k == "link"));

    // The same request spelled differently is the same entry.
    let same = get(&app, "/api/v1/metrics?tier=Tier-1&page=1&limit=5", &token).await;
    assert_eq!(x_cache(&same), "HIT");

    // gzip as stored, weak ETag, and the body inflates to the identity bytes.
    let zipped = app
        .client
        .get(app.url(url))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(x_cache(&zipped), "HIT");
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert!(zipped.headers()["etag"].to_str().unwrap().starts_with("W/"));
    assert!(zipped.headers()["vary"].to_str().unwrap().contains("Accept-Encoding"));
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&zipped.bytes().await.unwrap()[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, first_body);

    // Conditional requests are answered from the entry.
    let etag = first_headers.iter().find(|(k, _)| k == "etag").unwrap().1.clone();
    let r = app
        .client
        .get(app.url(url))
        .bearer_auth(&token)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // Credentials are checked before the cache: no token, no cached page.
    let anonymous = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // Errors, identity routes and unknown parameters are never cached.
    let bad = get(&app, "/api/v1/metrics?colour=red", &token).await;
    assert_eq!((bad.status().as_u16(), x_cache(&bad).as_str()), (400, "BYPASS"));
    let bad = get(&app, "/api/v1/metrics?colour=red", &token).await;
    assert_eq!((bad.status().as_u16(), x_cache(&bad).as_str()), (400, "BYPASS"));
    assert_eq!(x_cache(&get(&app, "/api/v1/auth/me", &token).await), "BYPASS");
    let missing = get(&app, "/api/v1/metrics/NOPE", &token).await;
    assert_eq!((missing.status().as_u16(), x_cache(&missing).as_str()), (404, "BYPASS"));

    let stats: Value = get(&app, "/api/v1/stats/cache", &token).await.json().await.unwrap();
    let route = &stats["data"]["routes"]["/api/v1/metrics"];
    assert_eq!(route["misses"], 1, "{stats}");
    assert!(route["hits"].as_u64().unwrap() >= 4, "{stats}");
    assert!(stats["data"]["l1"]["entries"].as_u64().is_some());
}

async fn l1_miss_then_identical_hit(db: &TestDb) {
    miss_then_identical_hit(db, test_config()).await;
}

async fn l2_miss_then_identical_hit(db: &TestDb) {
    let Some(url) = redis_url() else { return };
    miss_then_identical_hit(db, with_redis(&url, &redis_prefix())).await;
}

async fn every_write_path_invalidates_what_it_must(db: &TestDb) {
    load(db).await;
    let app = spawn_with(db, test_config()).await;
    let token = app.token().await;
    let one = format!("/api/v1/metrics/{LOGIN}");
    let reads = [
        "/api/v1/metrics",
        one.as_str(),
        "/api/v1/stats",
        "/api/v1/policies",
        "/api/v1/domains",
        "/api/v1/objectives",
        "/api/v1/export",
    ];
    let prime = async || {
        for url in reads {
            get(&app, url, &token).await;
            assert_eq!(x_cache(&get(&app, url, &token).await), "HIT", "{url} primed");
        }
    };
    // (write, URLs that must be fresh afterwards, URLs that must still hit)
    let mut doc = crate::support::sample_metrics()[0].clone();
    doc["metric_id"] = json!("METRIC-NEW");
    let mut renamed = doc.clone();
    renamed["name"] = json!("Zz renamed");
    let domain = json!({"domain_id": "ops", "name": "Operations", "description": "d", "owner_team": "ops"});
    let objective = json!({"objective_id": "OBJ-X", "name": "X", "description": "d", "status": "active"});
    let catalog = json!({
        "catalog_name": "again",
        "metrics": [doc.clone()],
        "domains": [{"domain_id": "imp", "name": "Imported", "description": "d", "owner_team": "t"}],
        "objectives": [{"objective_id": "OBJ-IMP", "name": "Imported", "description": "d", "status": "planning"}],
    });
    type Write<'a> = (Method, String, Option<Value>, Vec<&'a str>, Vec<&'a str>);
    let writes: Vec<Write> = vec![
        (
            Method::POST,
            "/api/v1/metrics".into(),
            Some(doc.clone()),
            vec!["/api/v1/metrics", "/api/v1/stats", "/api/v1/policies", "/api/v1/export"],
            vec!["/api/v1/domains", "/api/v1/objectives"],
        ),
        (
            Method::PATCH,
            one.clone(),
            Some(json!({"name": "Renamed"})),
            vec![one.as_str(), "/api/v1/metrics", "/api/v1/policies"],
            vec!["/api/v1/domains"],
        ),
        (
            Method::PUT,
            "/api/v1/metrics/METRIC-NEW".into(),
            Some(renamed),
            vec!["/api/v1/metrics"],
            vec!["/api/v1/objectives"],
        ),
        (
            Method::DELETE,
            "/api/v1/metrics/METRIC-NEW".into(),
            None,
            vec!["/api/v1/metrics", "/api/v1/stats"],
            vec!["/api/v1/domains"],
        ),
        (
            Method::POST,
            "/api/v1/domains".into(),
            Some(domain.clone()),
            vec!["/api/v1/domains", "/api/v1/stats", "/api/v1/export"],
            vec!["/api/v1/metrics", one.as_str(), "/api/v1/policies"],
        ),
        (
            Method::PUT,
            "/api/v1/domains/ops".into(),
            Some(json!({"domain_id": "ops", "name": "Ops", "description": "d2", "owner_team": "ops"})),
            vec!["/api/v1/domains"],
            vec!["/api/v1/metrics"],
        ),
        (
            Method::DELETE,
            "/api/v1/domains/ops".into(),
            None,
            vec!["/api/v1/domains", "/api/v1/stats"],
            vec!["/api/v1/objectives"],
        ),
        (
            Method::POST,
            "/api/v1/objectives".into(),
            Some(objective.clone()),
            vec!["/api/v1/objectives", "/api/v1/stats"],
            vec!["/api/v1/metrics", "/api/v1/domains"],
        ),
        (
            Method::DELETE,
            "/api/v1/objectives/OBJ-X".into(),
            None,
            vec!["/api/v1/objectives"],
            vec!["/api/v1/policies"],
        ),
        (
            Method::POST,
            "/api/v1/import".into(),
            Some(catalog),
            vec![
                "/api/v1/metrics",
                "/api/v1/stats",
                "/api/v1/policies",
                "/api/v1/domains",
                "/api/v1/objectives",
                "/api/v1/export",
            ],
            vec![],
        ),
    ];
    for (method, path, body, stale, untouched) in writes {
        prime().await;
        let before: Vec<(String, Vec<u8>)> = {
            let mut v = Vec::new();
            for url in &stale {
                v.push((
                    url.to_string(),
                    get(&app, url, &token).await.bytes().await.unwrap().to_vec(),
                ));
            }
            v
        };
        let r = app.send(method.clone(), &path, &token, body.as_ref()).await;
        assert!(r.status().is_success(), "{method} {path}: {}", r.status());
        for (url, old) in before {
            let r = get(&app, &url, &token).await;
            assert_eq!(x_cache(&r), "MISS", "{url} after {method} {path}");
            assert!(
                r.bytes().await.unwrap().to_vec() != old,
                "{url} changed after {method} {path}"
            );
        }
        for url in untouched {
            assert_eq!(
                x_cache(&get(&app, url, &token).await),
                "HIT",
                "{url} untouched by {method} {path}"
            );
        }
    }
    // A failed write invalidates nothing.
    prime().await;
    let r = app
        .send(Method::PATCH, &one, &token, Some(&json!({"tier": "Tier-9"})))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(x_cache(&get(&app, &one, &token).await), "HIT");
}

/// Single-metric answers hang on their metric's shard: a write to one metric turns over its
/// own entity, history and policy reads and leaves other metrics' cached reads alone; deleting
/// and re-creating an id, and importing, turn them over too.
async fn single_metric_reads_turn_over_only_for_their_metric(db: &TestDb) {
    use mdl::cache::keys::Collection;
    load(db).await;
    let app = spawn_with(db, test_config()).await;
    let token = app.token().await;
    let ids: Vec<String> = crate::support::sample_metrics()
        .iter()
        .map(|m| m["metric_id"].as_str().unwrap().to_string())
        .collect();
    let other = ids
        .iter()
        .find(|id| Collection::metric_shard(id) != Collection::metric_shard(LOGIN))
        .expect("a sample metric on another shard")
        .clone();
    let mine = |suffix: &str| format!("/api/v1/metrics/{LOGIN}{suffix}");
    let theirs = |suffix: &str| format!("/api/v1/metrics/{other}{suffix}");
    let suffixes = ["", "/policy", "/history"];
    let prime = async |urls: &[String]| {
        for url in urls {
            get(&app, url, &token).await;
            assert_eq!(x_cache(&get(&app, url, &token).await), "HIT", "{url} primed");
        }
    };
    let all: Vec<String> = suffixes.iter().flat_map(|s| [mine(s), theirs(s)]).collect();
    prime(&all).await;

    let r = app
        .send(
            Method::PATCH,
            &mine(""),
            &token,
            Some(&json!({"description": "changed"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    for s in suffixes {
        let r = get(&app, &mine(s), &token).await;
        assert_eq!(x_cache(&r), "MISS", "{} after its metric changed", mine(s));
        assert_eq!(
            x_cache(&get(&app, &theirs(s), &token).await),
            "HIT",
            "{} untouched",
            theirs(s)
        );
    }
    let (version, _) = version_of(&app, &token, LOGIN).await;
    assert_eq!(version, 2);

    // Deleted: the entity is gone at once; its history (still readable) is cached again...
    let r = app.send(Method::DELETE, &mine(""), &token, None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(get(&app, &mine(""), &token).await.status(), 404);
    assert_eq!(x_cache(&get(&app, &theirs(""), &token).await), "HIT");
    get(&app, &mine("/history"), &token).await;
    assert_eq!(x_cache(&get(&app, &mine("/history"), &token).await), "HIT");
    // ...and a create, which names the id only in its body, turns it over.
    let mut doc = crate::support::sample_metrics()[0].clone();
    assert_eq!(doc["metric_id"], LOGIN);
    doc["name"] = json!("Login success rate, again");
    let r = app.send(Method::POST, "/api/v1/metrics", &token, Some(&doc)).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let recreated = created["data"]["version"].as_i64().unwrap();
    assert!(recreated > 2, "re-creating continues the numbering");
    let r = get(&app, &mine("/history"), &token).await;
    assert_eq!(x_cache(&r), "MISS", "history after the id was re-created");
    let history: Value = r.json().await.unwrap();
    let versions: Vec<i64> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["version"].as_i64())
        .collect();
    assert!(versions.contains(&recreated), "{versions:?}");
    assert_eq!(
        x_cache(&get(&app, &theirs(""), &token).await),
        "HIT",
        "a create turns over only its own id"
    );
    assert_eq!(version_of(&app, &token, LOGIN).await.0, recreated);

    // An import may touch any metric: every single-metric answer turns over.
    prime(&[theirs("")]).await;
    let mut changed = crate::support::sample_metrics()
        .into_iter()
        .find(|m| m["metric_id"] == other.as_str())
        .unwrap();
    changed["description"] = json!("imported change");
    let r = app
        .send(
            Method::POST,
            "/api/v1/import",
            &token,
            Some(&json!({"catalog_name": "again", "metrics": [changed]})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = get(&app, &theirs(""), &token).await;
    assert_eq!(x_cache(&r), "MISS", "single metric after an import");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["description"], "imported change");
}

/// A write frees the memory of the entries it made stale (they are unreachable anyway): the
/// in-process tier's entry count falls back, and entries of other collections stay.
async fn stale_entries_leave_memory(db: &TestDb) {
    load(db).await;
    let app = spawn_with(db, test_config()).await;
    let token = app.token().await;
    let entries = async || -> u64 {
        let stats: Value = get(&app, "/api/v1/stats/cache", &token).await.json().await.unwrap();
        stats["data"]["l1"]["entries"].as_u64().unwrap()
    };
    get(&app, "/api/v1/domains", &token).await;
    for limit in 1..=20 {
        get(&app, &format!("/api/v1/metrics?limit={limit}"), &token).await;
    }
    wait_for("21 entries counted", Duration::from_secs(2), async || {
        entries().await >= 21
    })
    .await;
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/metrics/{LOGIN}"),
            &token,
            Some(&json!({"description": "frees the lists"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    wait_for("the 20 stale lists freed", Duration::from_secs(2), async || {
        entries().await <= 2
    })
    .await;
    assert_eq!(x_cache(&get(&app, "/api/v1/domains", &token).await), "HIT");
}

async fn concurrent_misses_run_the_loader_once(db: &TestDb) {
    load(db).await;
    let app = spawn_with(db, test_config()).await;
    let token = app.token().await;
    let url = "/api/v1/metrics?q=rate&limit=20";
    let requests: Vec<_> = (0..24).map(|_| get(&app, url, &token)).collect();
    let outcomes: Vec<String> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(x_cache)
        .collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "MISS").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "HIT").count(), 23, "{outcomes:?}");
}

async fn disabled_cache_bypasses_everything(db: &TestDb) {
    load(db).await;
    let mut config = test_config();
    config.cache.enabled = false;
    let app = spawn_with(db, config).await;
    let token = app.token().await;
    for _ in 0..2 {
        assert_eq!(x_cache(&get(&app, "/api/v1/metrics", &token).await), "BYPASS");
    }
}

/// A body over the entry bound goes to its client as it comes and is kept nowhere (the cache
/// never holds all of it); a smaller one is cached as before. Requests that wait on the same
/// load each still get the whole body.
async fn bodies_over_the_entry_bound_pass_through(db: &TestDb) {
    load(db).await;
    let mut config = test_config();
    config.cache.l1_capacity_mb = 1; // entries up to 1/8 of it: 128 KiB
    let bound = 128 * 1024;
    let app = spawn_with(db, config).await;
    let token = app.token().await;
    let small = get(&app, "/api/v1/export", &token).await;
    assert_eq!(x_cache(&small), "MISS");
    assert!(small.text().await.unwrap().len() < bound);
    assert_eq!(x_cache(&get(&app, "/api/v1/export", &token).await), "HIT");

    let metrics: Vec<Value> = (0..300).map(mdl::domain::synthetic::synthetic_metric).collect();
    let r = app
        .send(
            Method::POST,
            "/api/v1/import",
            &token,
            Some(&json!({ "metrics": metrics })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let expected = crate::support::rendered_at_once(&*db.store, mdl::catalog::Format::Json).await;
    assert!(
        expected.len() > bound,
        "the export must outgrow the bound: {}",
        expected.len()
    );
    // Twice: a stored entry would answer the second round.
    for _ in 0..2 {
        let requests: Vec<_> = (0..4).map(|_| get(&app, "/api/v1/export", &token)).collect();
        for r in futures_util::future::join_all(requests).await {
            assert_eq!((r.status().as_u16(), x_cache(&r).as_str()), (200, "BYPASS"));
            assert_eq!(r.text().await.unwrap(), expected);
        }
    }
}

/// Two instances: separate processes' worth of state (own store pool, own L1, own router)
/// sharing one database and one Redis.
pub(crate) async fn pair(db: &TestDb, redis: &str, prefix: &str) -> (TestApp, TestApp) {
    let a = spawn_with(db, with_redis(redis, prefix)).await;
    let store_b = mdl::store::connect(&DbConfig::new(&db.url)).await.unwrap();
    let b = spawn_on(store_b, with_redis(redis, prefix)).await;
    for app in [&a, &b] {
        redis_tier_live(app).await;
    }
    (a, b)
}

async fn two_instances_on_one_redis_stay_coherent(db: &TestDb) {
    let Some(redis) = redis_url() else { return };
    load(db).await;
    let (a, b) = pair(db, &redis, &redis_prefix()).await;
    let (ta, tb) = (a.token().await, b.token().await);
    let one = format!("/api/v1/metrics/{LOGIN}");

    // A fills the shared tier; B's first read is a hit from it.
    assert_eq!(x_cache(&get(&a, "/api/v1/metrics?tier=Tier-2", &ta).await), "MISS");
    wait_for("entry reaches redis", Duration::from_secs(2), async || {
        x_cache(&get(&b, "/api/v1/metrics?tier=Tier-2", &tb).await) == "HIT"
    })
    .await;

    // B caches the metric, A changes it: B never serves the old version once told.
    assert_eq!(version_of(&b, &tb, LOGIN).await.0, 1);
    assert_eq!(version_of(&b, &tb, LOGIN).await.1, "HIT");
    for round in 2..=6 {
        let r = a
            .send(
                Method::PATCH,
                &one,
                &ta,
                Some(&json!({"description": format!("round {round}")})),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            version_of(&a, &ta, LOGIN).await.0,
            round,
            "the writer sees its write at once"
        );
        wait_for("B sees the write", Duration::from_secs(2), async || {
            version_of(&b, &tb, LOGIN).await.0 == round
        })
        .await;
        for _ in 0..10 {
            assert_eq!(
                version_of(&b, &tb, LOGIN).await.0,
                round,
                "no stale read after the message"
            );
        }
    }

    // A user deactivated on A is locked out on B too.
    let viewer_token = b.user(db, "vic", "viewer").await;
    assert_eq!(get(&b, "/api/v1/metrics", &viewer_token).await.status(), 200);
    let vic = a.user_id(&ta, "vic").await;
    let r = a
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{vic}"),
            &ta,
            Some(&json!({"status": "inactive"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    wait_for("B refuses the deactivated user", Duration::from_secs(2), async || {
        get(&b, "/api/v1/metrics", &viewer_token).await.status() == 401
    })
    .await;
}

/// With Redis healthy, each write moves each generation it touches by exactly one, on both
/// instances, and the shared tier stays in use: an instance's own invalidation message arriving
/// before its bump's reply is not mistaken for Redis being behind (which forces a resync).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_redis_writes_bump_each_generation_once() {
    let Some(redis) = redis_url() else { return };
    let db = sqlite().await;
    load(&db).await;
    let (a, b) = pair(&db, &redis, &redis_prefix()).await;
    let (ta, tb) = (a.token().await, b.token().await);
    let one = format!("/api/v1/metrics/{LOGIN}");
    let writes = 30;
    for round in 0..writes {
        let r = a
            .send(
                Method::PATCH,
                &one,
                &ta,
                Some(&json!({"description": format!("r{round}")})),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let shard = mdl::cache::keys::Collection::metric_shard(LOGIN).to_string();
    for (app, token) in [(&a, &ta), (&b, &tb)] {
        wait_for("every message applied", Duration::from_secs(2), async || {
            let stats: Value = get(app, "/api/v1/stats/cache", token).await.json().await.unwrap();
            stats["data"]["generations"]["metrics"] == writes
        })
        .await;
        let stats: Value = get(app, "/api/v1/stats/cache", token).await.json().await.unwrap();
        let d = &stats["data"];
        assert_eq!(d["l2"]["status"], "up", "{d}");
        assert_eq!(d["generations"]["policies"], writes, "{d}");
        assert_eq!(d["metric_shards"]["bumps"], writes, "only {shard} moved: {d}");
        assert_eq!(d["generations"]["domains"], 0, "{d}");
    }
    db.cleanup().await;
}

async fn redis_down_then_back(db: &TestDb) {
    let Some(mut redis) = PrivateRedis::start() else { return };
    load(db).await;
    let prefix = redis_prefix();
    let (a, b) = pair(db, &redis.url(), &prefix).await;
    let (ta, tb) = (a.token().await, b.token().await);
    let one = format!("/api/v1/metrics/{LOGIN}");
    get(&b, &one, &tb).await;
    assert_eq!(version_of(&b, &tb, LOGIN).await.1, "HIT");
    get(&a, "/api/v1/domains", &ta).await;
    assert_eq!(x_cache(&get(&a, "/api/v1/domains", &ta).await), "HIT");

    redis.stop();
    // Reads go on, from memory or the database, without hanging on Redis.
    for _ in 0..20 {
        let started = Instant::now();
        let r = get(&a, "/api/v1/metrics?tier=Tier-3", &ta).await;
        assert_eq!(r.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    assert_eq!(version_of(&b, &tb, LOGIN).await, (1, "HIT".into()), "L1 keeps serving");
    wait_for("health says degraded", Duration::from_secs(5), async || {
        let h: Value = a.health().await;
        h["status"] == "degraded" && h["components"]["cache"]["status"] == "degraded"
    })
    .await;
    let ready = a.client.get(a.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "Redis down is not a reason to leave the pool");

    // A write during the outage: visible on A at once; B catches up once Redis is back.
    let r = a
        .send(
            Method::PATCH,
            &one,
            &ta,
            Some(&json!({"description": "during the outage"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(version_of(&a, &ta, LOGIN).await.0, 2);

    assert!(redis.restart(), "redis-server restarts");
    wait_for(
        "B catches up after Redis returns",
        Duration::from_secs(10),
        async || version_of(&b, &tb, LOGIN).await.0 == 2,
    )
    .await;
    wait_for("health recovers", Duration::from_secs(10), async || {
        let h: Value = a.health().await;
        h["status"] == "ok"
    })
    .await;
    // The resync raised only what A wrote without Redis: other collections keep their entries.
    assert_eq!(
        x_cache(&get(&a, "/api/v1/domains", &ta).await),
        "HIT",
        "domains were not written during the outage"
    );
    // And the shared tier works again: a page A fills is a hit on B.
    get(&a, "/api/v1/metrics?tier=Tier-1&limit=7", &ta).await;
    wait_for("shared tier serves again", Duration::from_secs(5), async || {
        x_cache(&get(&b, "/api/v1/metrics?tier=Tier-1&limit=7", &tb).await) == "HIT"
    })
    .await;
}

backend_tests!(
    l1_miss_then_identical_hit,
    l2_miss_then_identical_hit,
    every_write_path_invalidates_what_it_must,
    single_metric_reads_turn_over_only_for_their_metric,
    stale_entries_leave_memory,
    concurrent_misses_run_the_loader_once,
    disabled_cache_bypasses_everything,
    bodies_over_the_entry_bound_pass_through,
    two_instances_on_one_redis_stay_coherent,
    redis_down_then_back,
    cli_writes_reach_running_servers,
);

#[tokio::test]
async fn unreachable_redis_degrades_without_waiting() {
    let db = sqlite().await;
    load(&db).await;
    // Port 1: nothing listens there.
    let app = spawn_with(&db, with_redis("redis://127.0.0.1:1", &redis_prefix())).await;
    let token = app.token().await;
    let started = Instant::now();
    assert_eq!(x_cache(&get(&app, "/api/v1/metrics", &token).await), "MISS");
    assert_eq!(x_cache(&get(&app, "/api/v1/metrics", &token).await), "HIT");
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/metrics/{LOGIN}"),
            &token,
            Some(&json!({"name": "N"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(version_of(&app, &token, LOGIN).await.0, 2);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let h: Value = app.health().await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["components"]["cache"]["reason"].is_string(), "{h}");
    db.cleanup().await;
}

#[tokio::test]
async fn warming_fills_the_keys_real_requests_use() {
    let db = sqlite().await;
    load(&db).await;
    let mut config = test_config();
    config.cache.warming = true;
    let app = spawn_with(&db, config).await;
    let token = app.token().await;
    wait_for("a warming run", Duration::from_secs(10), async || {
        let stats: Value = get(&app, "/api/v1/stats/cache", &token).await.json().await.unwrap();
        !stats["data"]["last_warm"].is_null()
    })
    .await;
    for url in [
        "/api/v1/metrics",
        "/api/v1/metrics?page=1&limit=50",
        "/api/v1/metrics?tier=Tier-1",
        "/api/v1/metrics?category=Engineering",
        "/api/v1/stats",
        "/api/v1/domains",
        "/api/v1/policies",
    ] {
        let r = get(&app, url, &token).await;
        assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".to_string()), "{url}");
    }
    db.cleanup().await;
}

/// `mdl import` writes straight to the database; with `REDIS_URL` it tells running servers.
async fn cli_writes_reach_running_servers(db: &TestDb) {
    let Some(redis) = redis_url() else { return };
    let prefix = redis_prefix();
    let app = spawn_with(db, with_redis(&redis, &prefix)).await;
    let token = app.token().await;
    redis_tier_live(&app).await;
    let total = async || -> u64 {
        let stats: Value = get(&app, "/api/v1/stats", &token).await.json().await.unwrap();
        stats["data"]["total_metrics"].as_u64().unwrap()
    };
    assert_eq!(total().await, 0);
    assert_eq!(x_cache(&get(&app, "/api/v1/stats", &token).await), "HIT");
    let file = crate::support::examples_dir().join("sample-metrics.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(["import", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", &redis)
        .env("MDL_REDIS_PREFIX", &prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("the server sees the CLI's import", Duration::from_secs(2), async || {
        total().await == 12
    })
    .await;
}
