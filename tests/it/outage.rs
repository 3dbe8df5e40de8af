//! Surviving a database that goes away: PostgreSQL behind a proxy the test cuts and restores.

use crate::support::{TcpProxy, TestApp, load, postgres, postgres_url, sample_metrics, spawn_on, test_config};
use mdl::config::DbConfig;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// PostgreSQL behind a proxy the test cuts: cached reads go on, the rest fail fast with 503
/// and `Retry-After`, the breaker opens, and everything recovers with no acknowledged write lost.
#[tokio::test]
async fn database_outage_and_recovery() {
    let Some(base) = postgres_url() else { return };
    let Some(db) = postgres().await else { return };
    load(&db).await;
    let upstream: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let mut proxy = TcpProxy::start(upstream).await;
    assert!(
        base.contains("127.0.0.1:5432"),
        "the test expects the database at 127.0.0.1:5432"
    );
    let url = db.url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let store = mdl::store::connect(&DbConfig::new(&url)).await.unwrap();
    let app = spawn_on(store, test_config()).await;
    let token = app.token().await;
    let cached = "/api/v1/metrics?tier=Tier-1";
    let mut acknowledged = writes_before_the_outage_and_a_cached_list(&app, &token, cached).await;

    proxy.cut();
    cached_reads_go_on(&app, &token, cached).await;
    writes_and_uncached_reads_fail_fast_with_503(&app, &token, &mut acknowledged).await;
    the_breaker_opens_and_readiness_fails(&app, &token).await;

    proxy.restore().await;
    writes_resume_within_10_s(&app, &token, &mut acknowledged).await;
    no_acknowledged_write_is_lost_and_the_breaker_closes(&app, &token, &acknowledged).await;
    db.cleanup().await;
}

fn outage_metric(n: usize) -> Value {
    let mut doc = sample_metrics()[0].clone();
    doc["metric_id"] = json!(format!("OUTAGE-{n}"));
    doc
}

/// Returns the numbers of the metrics whose creation was acknowledged.
async fn writes_before_the_outage_and_a_cached_list(app: &TestApp, token: &str, cached: &str) -> Vec<usize> {
    app.get(cached, token).await;
    let mut acknowledged = Vec::new();
    for n in 0..3 {
        let r = app
            .send(Method::POST, "/api/v1/metrics", token, Some(&outage_metric(n)))
            .await;
        assert_eq!(r.status(), 201);
        acknowledged.push(n);
    }
    app.get(cached, token).await; // re-cache after the writes
    acknowledged
}

async fn cached_reads_go_on(app: &TestApp, token: &str, cached: &str) {
    let r = app.get(cached, token).await;
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers().get("x-cache").map(|v| v.to_str().unwrap())
        ),
        (200, Some("HIT")),
        "cached reads go on"
    );
}

/// A write that still gets through is acknowledged and must survive.
async fn writes_and_uncached_reads_fail_fast_with_503(app: &TestApp, token: &str, acknowledged: &mut Vec<usize>) {
    let mut statuses = Vec::new();
    for n in 3..12 {
        let started = Instant::now();
        let r = app
            .send(Method::POST, "/api/v1/metrics", token, Some(&outage_metric(n)))
            .await;
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        if r.status().is_success() {
            acknowledged.push(n);
        } else {
            assert_eq!(r.status(), 503);
            assert!(r.headers().get("retry-after").is_some());
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
        }
        let r = app.get(&format!("/api/v1/metrics/OUTAGE-{n}"), token).await;
        statuses.push(r.status().as_u16());
    }
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
}

async fn the_breaker_opens_and_readiness_fails(app: &TestApp, token: &str) {
    let perf: Value = app.get("/api/v1/stats/performance", token).await.json().await.unwrap();
    let circuit = &perf["data"]["circuit"];
    assert_ne!(circuit["state"], "closed", "{circuit}");
    assert!(circuit["opened"].as_u64().unwrap() >= 1);
    assert!(
        circuit["short_circuited"].as_u64().unwrap() >= 1,
        "later calls never touched the database: {circuit}"
    );
    let health = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(health.status(), 503);
}

async fn writes_resume_within_10_s(app: &TestApp, token: &str, acknowledged: &mut Vec<usize>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .send(Method::POST, "/api/v1/metrics", token, Some(&outage_metric(100)))
            .await;
        if r.status() == 201 {
            acknowledged.push(100);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume within 10 s: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn no_acknowledged_write_is_lost_and_the_breaker_closes(app: &TestApp, token: &str, acknowledged: &[usize]) {
    for n in acknowledged {
        let r = app.get(&format!("/api/v1/metrics/OUTAGE-{n}"), token).await;
        assert_eq!(r.status(), 200, "acknowledged write OUTAGE-{n} is there");
    }
    let perf: Value = app.get("/api/v1/stats/performance", token).await.json().await.unwrap();
    assert_eq!(perf["data"]["circuit"]["state"], "closed");
}
