//! Hostile input over real sockets: path ids no entity can have, query strings built to grow the
//! response cache, spellings of one id that must share one cache entry, and content negotiation
//! on cache hits.

use crate::support::{
    PrivateRedis, TestApp, TestDb, backend_tests, error_code, load, redis_prefix, spawn, spawn_with, sqlite,
    test_config,
};
use mdl::cache::keys::canonical_query;
use mdl::http::routes::read_route;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;

fn x_cache(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn status_and_code(r: reqwest::Response) -> (u16, String) {
    let (status, code, _) = error_code(r).await;
    (status.as_u16(), code)
}

async fn cache_stats(app: &TestApp, token: &str) -> Value {
    let body: Value = app.get("/api/v1/stats/cache", token).await.json().await.unwrap();
    body["data"].clone()
}

async fn path_ids_that_cannot_exist_are_404_and_undecodable_ones_400(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let long = "A".repeat(101);
    let cannot_exist = [
        (Method::GET, "/api/v1/metrics/%00".to_string()),
        (Method::GET, "/api/v1/metrics/METRIC%00CSAT/history".to_string()),
        (Method::GET, "/api/v1/metrics/%0A/policy".to_string()),
        (Method::PATCH, "/api/v1/metrics/%00".to_string()),
        (Method::PUT, "/api/v1/metrics/%1B".to_string()),
        (Method::DELETE, "/api/v1/metrics/%00".to_string()),
        (Method::GET, format!("/api/v1/metrics/{long}")),
        (Method::GET, "/api/v1/domains/%00".to_string()),
        (Method::DELETE, "/api/v1/objectives/%7F".to_string()),
        (Method::GET, "/api/v1/users/%00".to_string()),
        (Method::DELETE, "/api/v1/api-keys/%00".to_string()),
    ];
    for (method, path) in cannot_exist {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let r = app.send(method.clone(), &path, &token, body.as_ref()).await;
        assert_eq!(status_and_code(r).await, (404, "NOT_FOUND".into()), "{method} {path}");
    }
    for path in [
        "/api/v1/metrics/%ff",
        "/api/v1/metrics/%C3%28/history",
        "/api/v1/domains/%ff",
        "/api/v1/users/%ff",
    ] {
        let r = app.get(path, &token).await;
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let (status, code, body) = error_code(r).await;
        assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"), "{path}");
        assert_eq!(body["error"]["details"][0]["field"], "id", "{path}: {body}");
    }
    // A percent-encoded spelling of a real id is that id.
    let r = app.get("/api/v1/metrics/METRIC%2DCSAT", &token).await;
    assert_eq!(r.status(), 200);
}

async fn unknown_query_parameters_are_refused_on_every_route_before_the_cache(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let domain: Value = app.get("/api/v1/domains?limit=1", &token).await.json().await.unwrap();
    let domain = domain["data"][0]["domain_id"].as_str().unwrap_or("none").to_string();
    let before = cache_stats(&app, &token).await["l1"]["entries"].clone();

    let refused = [
        (Method::GET, "/api/v1/metrics/METRIC-CSAT?bogus=1".to_string(), "bogus"),
        (Method::GET, "/api/v1/metrics/METRIC-CSAT/policy?v=2".to_string(), "v"),
        (
            Method::GET,
            "/api/v1/metrics/METRIC-CSAT/history?limit=1&x=".to_string(),
            "x",
        ),
        (Method::GET, "/api/v1/stats?fresh=1".to_string(), "fresh"),
        (Method::GET, format!("/api/v1/domains/{domain}?a=b"), "a"),
        (Method::GET, "/api/v1/objectives/none?a=b".to_string(), "a"),
        (Method::GET, "/api/v1/policies/bundle.tar.gz?rev=1".to_string(), "rev"),
        (Method::GET, "/api/v1/policies?fields=name".to_string(), "fields"),
        (Method::GET, "/api/v1/export?format=json&pretty=1".to_string(), "pretty"),
        (Method::GET, "/api/v1/auth/me?x=1".to_string(), "x"),
        (Method::GET, "/health?verbose=1".to_string(), "verbose"),
        (Method::POST, "/api/v1/metrics?dry_run=true".to_string(), "dry_run"),
        (
            Method::DELETE,
            "/api/v1/metrics/METRIC-CSAT?force=1".to_string(),
            "force",
        ),
    ];
    for (method, path, name) in refused {
        let body = (method == Method::POST).then(|| json!({}));
        let r = app.send(method.clone(), &path, &token, body.as_ref()).await;
        if method == Method::GET && !path.contains("/auth/") && !path.starts_with("/health") {
            assert_eq!(x_cache(&r), "BYPASS", "{path}");
        }
        let (status, code, body) = error_code(r).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "VALIDATION_ERROR"),
            "{method} {path}"
        );
        assert_eq!(body["error"]["details"][0]["field"], name, "{method} {path}: {body}");
    }
    // The parameters a route does take still work.
    for path in [
        "/api/v1/metrics?limit=5&tier=Tier-1",
        "/api/v1/metrics/METRIC-CSAT/history?limit=1",
        "/api/v1/export?format=yaml",
        "/api/v1/metrics/METRIC-CSAT?",
    ] {
        assert_eq!(app.get(path, &token).await.status(), 200, "{path}");
    }

    // Junk on a cached entity read no longer becomes cache entries, and a huge name is not
    // echoed back whole.
    for i in 0..50 {
        let r = app.get(&format!("/api/v1/metrics/METRIC-CSAT?junk{i}=1"), &token).await;
        assert_eq!(r.status(), 400);
    }
    let huge = "j".repeat(20_000);
    let r = app.get(&format!("/api/v1/metrics/METRIC-CSAT?{huge}=1"), &token).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().len() < 2_000);
    let after = cache_stats(&app, &token).await;
    let filled = after["l1"]["entries"].as_u64().unwrap() - before.as_u64().unwrap();
    assert!(filled <= 4, "only the allowed reads above were cached: {after}");
}

async fn bad_filter_values_are_refused_and_any_large_limit_is_capped(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let refused = [
        ("tier=Tier-9", "tier", "Tier-1, Tier-2, Tier-3"),
        ("tier=tier-1", "tier", "Tier-1, Tier-2, Tier-3"),
        ("metric_type=kpi", "metric_type", "leading, lagging, operational"),
        ("status=live", "status", "draft, active, deprecated, retired"),
        ("sort=sideways", "sort", "-updated_at"),
        ("limit=%2B5", "limit", ""),
        ("limit=-1", "limit", ""),
        (
            "category=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "category",
            "at most 100",
        ),
    ];
    for collection in ["metrics", "policies"] {
        for (query, field, allowed) in refused {
            let r = app.get(&format!("/api/v1/{collection}?{query}"), &token).await;
            let (status, code, body) = error_code(r).await;
            assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"), "{query}");
            assert_eq!(body["error"]["details"][0]["field"], field, "{query}: {body}");
            let message = body["error"]["details"][0]["message"].as_str().unwrap();
            assert!(message.contains(allowed), "{query}: {message}");
        }
    }
    // Every bad value at once.
    let (_, _, body) = error_code(
        app.get("/api/v1/metrics?tier=T&metric_type=k&status=s&sort=up", &token)
            .await,
    )
    .await;
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 4, "{body}");
    // Free-text filters longer than any stored value, which every link would repeat.
    let long = |n: usize| "x".repeat(n);
    for (query, field) in [
        (format!("business_domain={}", long(201)), "business_domain"),
        (format!("owner={}", long(60_000)), "owner"),
        (format!("tag=a&tag={}", long(65)), "tag"),
        (format!("q={}", long(501)), "q"),
        (vec!["tag=a"; 101].join("&"), "tag"),
    ] {
        let r = app.get(&format!("/api/v1/metrics?{query}"), &token).await;
        let (status, _, body) = error_code(r).await;
        assert_eq!(status.as_u16(), 400, "{field}");
        assert_eq!(body["error"]["details"][0]["field"], field, "{body}");
        assert!(body.to_string().len() < 2_000, "the value is not echoed");
    }
    // Valid values still filter.
    let body: Value = app
        .get("/api/v1/metrics?tier=Tier-1", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(!body["data"].as_array().unwrap().is_empty());

    for path in [
        "/api/v1/metrics?limit=100000000000000000000000",
        "/api/v1/policies?limit=99999999999999999999999999999999999999999",
        "/api/v1/domains?limit=18446744073709551616",
        "/api/v1/metrics/METRIC-CSAT/history?limit=4294967296",
    ] {
        let r = app.get(path, &token).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-per-page"], "100", "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["pagination"]["limit"], 100, "{path}");
    }
    // Spellings the handler reads alike share one cache entry.
    let first = app.get("/api/v1/metrics?tier=Tier-2&limit=100", &token).await;
    assert_eq!(x_cache(&first), "MISS");
    for same in ["limit=0100&tier=Tier-2", "tier=Tier-2&limit=100000000000000000000000"] {
        let r = app.get(&format!("/api/v1/metrics?{same}"), &token).await;
        assert_eq!(x_cache(&r), "HIT", "{same}");
    }
}

#[test]
fn canonical_limit_matches_what_the_handler_reads() {
    let list = read_route("/api/v1/metrics").unwrap();
    let capped = canonical_query(Some("limit=100"), &list);
    assert_eq!(canonical_query(Some("limit=100000000000000000000000"), &list), capped);
    assert_eq!(canonical_query(Some("limit=0100"), &list), capped);
    assert_eq!(
        canonical_query(Some("limit=007"), &list),
        canonical_query(Some("limit=7"), &list)
    );
}

async fn cli_list_refuses_bad_filter_values(db: &TestDb) {
    let mdl = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mdl"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env_remove("RUST_LOG")
            .output()
            .expect("run mdl")
    };
    assert!(mdl(&["migrate"]).status.success());
    for (args, allowed) in [
        (&["list", "--type", "kpi"][..], "leading, lagging, operational"),
        (&["list", "--tier", "tier-1"][..], "Tier-1, Tier-2, Tier-3"),
        (&["list", "--status", "live"][..], "draft, active, deprecated, retired"),
    ] {
        let out = mdl(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(allowed), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(mdl(&["list", "--type", "lagging"]).status.code(), Some(0));
}

async fn version_and_cache(app: &TestApp, path: &str, token: &str) -> (i64, String) {
    let r = app.get(path, token).await;
    let outcome = x_cache(&r);
    let body: Value = r.json().await.unwrap();
    (body["data"]["version"].as_i64().unwrap_or(-1), outcome)
}

async fn every_spelling_of_an_id_shares_one_cache_entry_and_its_invalidation(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let plain = "/api/v1/metrics/METRIC-CSAT";
    let spellings = [
        "/api/v1/metrics/METRIC%2DCSAT",
        "/api/v1/metrics/%4DETRIC-CSAT",
        "/api/v1/metrics/METRIC%2dCSAT",
    ];

    assert_eq!(version_and_cache(&app, plain, &token).await, (1, "MISS".into()));
    for path in spellings {
        assert_eq!(version_and_cache(&app, path, &token).await, (1, "HIT".into()), "{path}");
    }
    let policy = app.get("/api/v1/metrics/METRIC-CSAT/policy", &token).await;
    assert_eq!(x_cache(&policy), "MISS");
    let policy = app.get("/api/v1/metrics/METRIC%2DCSAT/policy", &token).await;
    assert_eq!(x_cache(&policy), "HIT");

    // A write through an encoded spelling turns over what plain readers were served.
    let r = app
        .send(
            Method::PATCH,
            spellings[0],
            &token,
            Some(&json!({ "description": "Changed through an encoded path" })),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(version_and_cache(&app, plain, &token).await, (2, "MISS".into()));
    for path in spellings {
        assert_eq!(version_and_cache(&app, path, &token).await.0, 2, "{path}");
    }
    let rego = app.get("/api/v1/metrics/METRIC-CSAT/policy", &token).await;
    assert_eq!(x_cache(&rego), "MISS", "the policy hangs on the same shard");

    // A delete through a plain path removes the encoded spellings too, and the other way round.
    let r = app.send(Method::DELETE, plain, &token, None).await;
    assert_eq!(r.status(), 204);
    for path in spellings {
        assert_eq!(app.get(path, &token).await.status(), 404, "{path}");
    }
    let other = "/api/v1/metrics/METRIC-LOGIN-SUCCESS-RATE";
    assert_eq!(app.get(other, &token).await.status(), 200);
    let r = app
        .send(
            Method::DELETE,
            "/api/v1/metrics/METRIC%2DLOGIN%2DSUCCESS%2DRATE",
            &token,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.get(other, &token).await.status(), 404);
}

async fn cache_memory_counts_keys_and_long_keys_are_not_cached(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let l1 = |stats: &Value| {
        (
            stats["l1"]["entries"].as_u64().unwrap(),
            stats["l1"]["bytes"].as_u64().unwrap(),
        )
    };

    // Each answer is a small empty page whose links repeat the filters; on top of what the
    // answer holds, its key (20 tags of 64 characters: 1,420 bytes) is kept by the tier and by
    // its collection's set.
    let tags = |i: u64, n: usize| -> String {
        (0..n)
            .map(|t| format!("tag={i:04}{t:02}{}", "t".repeat(58)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let (entries, bytes) = l1(&cache_stats(&app, &token).await);
    let n = 40_u64;
    let mut answers = 0;
    for i in 0..n {
        let r = app.get(&format!("/api/v1/metrics?{}", tags(i, 20)), &token).await;
        assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()));
        let headers: usize = r.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        answers += (headers + r.bytes().await.unwrap().len()) as u64;
    }
    let (entries_after, bytes_after) = l1(&cache_stats(&app, &token).await);
    assert_eq!(entries_after - entries, n);
    let counted = bytes_after - bytes;
    assert!(
        counted >= answers + n * 2 * 1_400,
        "{counted} bytes counted for {n} entries: {answers} bytes of answers and 1,420-byte keys"
    );

    // Longer keys are answered but never stored.
    for _ in 0..2 {
        let r = app.get(&format!("/api/v1/metrics?{}", tags(99, 40)), &token).await;
        assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "BYPASS".into()));
    }
    assert_eq!(l1(&cache_stats(&app, &token).await).0, entries_after);
}

async fn only_metrics_that_exist_become_warming_candidates(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let hot = async || cache_stats(&app, &token).await["hot_paths"]["count"].as_u64().unwrap();
    for i in 0..300 {
        let r = app
            .get(&format!("/api/v1/metrics/NOPE-{i}-{}", "x".repeat(80)), &token)
            .await;
        assert_eq!(r.status(), 404);
    }
    assert_eq!(hot().await, 0, "404s are not warming candidates");
    for path in ["/api/v1/metrics/METRIC-CSAT", "/api/v1/metrics/METRIC%2DCSAT"] {
        assert_eq!(app.get(path, &token).await.status(), 200);
    }
    assert_eq!(hot().await, 1, "two spellings of one metric are one candidate");
    assert!(
        cache_stats(&app, &token).await["hot_paths"]["capacity"]
            .as_u64()
            .unwrap()
            <= 1024
    );
}

backend_tests!(
    only_metrics_that_exist_become_warming_candidates,
    cache_memory_counts_keys_and_long_keys_are_not_cached,
    every_spelling_of_an_id_shares_one_cache_entry_and_its_invalidation,
    path_ids_that_cannot_exist_are_404_and_undecodable_ones_400,
    unknown_query_parameters_are_refused_on_every_route_before_the_cache,
    bad_filter_values_are_refused_and_any_large_limit_is_capped,
    cli_list_refuses_bad_filter_values,
);

/// The body as the client receives it, decoded by its `Content-Encoding`.
async fn decoded(r: reqwest::Response) -> (String, Value) {
    let coding = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let raw = r.bytes().await.unwrap();
    let mut out = Vec::new();
    match coding.as_str() {
        "" => out.extend_from_slice(&raw),
        "gzip" => {
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        }
        "deflate" => {
            flate2::read::ZlibDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        }
        "br" => {
            brotli::Decompressor::new(&raw[..], 4096).read_to_end(&mut out).unwrap();
        }
        "zstd" => out = zstd::decode_all(&raw[..]).unwrap(),
        other => panic!("unexpected coding {other}"),
    }
    (coding, serde_json::from_slice(&out).expect("a JSON body"))
}

#[tokio::test]
async fn cache_hits_are_encoded_as_the_client_prefers() {
    let db = sqlite().await;
    load(&db).await;
    let app = spawn(&db, false).await;
    let token = app.token().await;
    let cases = [
        ("gzip;q=0.1, deflate;q=0.9", "deflate"),
        ("br, gzip;q=0.5", "br"),
        ("gzip;q=0.2, *;q=0.5", "zstd"),
        ("deflate, gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip;q=0", ""),
        ("identity", ""),
    ];
    for (i, (accept, expected)) in cases.into_iter().enumerate() {
        // Its own page per case: the first answer fills the cache, the second is a hit.
        let path = format!("/api/v1/metrics?limit={}", 12 + i);
        for round in ["MISS", "HIT"] {
            let r = app
                .client
                .get(app.url(&path))
                .bearer_auth(&token)
                .header("accept-encoding", accept)
                .send()
                .await
                .unwrap();
            assert_eq!((r.status().as_u16(), x_cache(&r)), (200, round.to_string()), "{accept}");
            let (coding, body) = decoded(r).await;
            assert_eq!(coding, expected, "{accept} ({round})");
            assert_eq!(body["data"].as_array().unwrap().len(), 12, "{accept} ({round})");
        }
    }
    db.cleanup().await;
}

#[tokio::test]
async fn health_names_redis_when_it_is_down() {
    let db = sqlite().await;
    let without = spawn(&db, false).await;
    let health = without.health().await;
    assert_eq!(health["components"]["redis"]["status"], "disabled", "{health}");
    assert_eq!(health["status"], "ok");
    drop(without);

    let Some(mut redis) = PrivateRedis::start() else { return };
    let mut config = test_config();
    config.cache.redis_url = Some(redis.url());
    config.cache.redis_prefix = redis_prefix();
    let app = spawn_with(&db, config).await;
    wait_for_health(&app, |h| h["components"]["redis"]["status"] == "ok").await;

    redis.stop();
    let health = wait_for_health(&app, |h| h["components"]["redis"]["status"] == "down").await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(health["components"]["redis"]["reason"].is_string(), "{health}");
    let cache_reason = health["components"]["cache"]["reason"].as_str().unwrap();
    assert!(cache_reason.to_lowercase().contains("redis"), "{health}");
    db.cleanup().await;
}

async fn wait_for_health(app: &TestApp, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let health = app.health().await;
        if check(&health) {
            return health;
        }
        assert!(std::time::Instant::now() < deadline, "health never got there: {health}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
