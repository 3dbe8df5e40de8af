//! Compression, request ids, performance stats and Prometheus.

use crate::support::{TestApp, load, spawn_with, sqlite, test_config};
use serde_json::Value;
use std::io::Read;

async fn get_with(app: &TestApp, path: &str, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

/// Every `Vary` value, lower-cased.
fn vary(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn compression_negotiation() {
    let db = sqlite().await;
    load(&db).await;
    let mut config = test_config();
    config.cache.enabled = false; // the compression layer itself, on fresh responses
    let app = spawn_with(&db, config).await;
    let token = app.token().await;
    let page = "/api/v1/metrics?limit=20";
    let identity = get_with(&app, page, &token, &[("accept-encoding", "identity")]).await;
    assert_eq!(header(&identity, "content-encoding"), None);
    assert!(vary(&identity).contains("accept-encoding"));
    let strong = header(&identity, "etag").unwrap();
    assert!(!strong.starts_with("W/"));
    let plain = identity.bytes().await.unwrap();

    for coding in ["br", "zstd", "gzip", "deflate"] {
        let r = get_with(&app, page, &token, &[("accept-encoding", coding)]).await;
        assert_eq!(header(&r, "content-encoding").as_deref(), Some(coding), "{coding}");
        assert_eq!(
            header(&r, "etag"),
            Some(format!("W/{strong}")),
            "re-encoded bodies get weak validators"
        );
        assert!(vary(&r).contains("accept-encoding"));
        let body = r.bytes().await.unwrap();
        assert!(
            body.len() * 2 < plain.len(),
            "{coding}: {} vs {}",
            body.len(),
            plain.len()
        );
        if coding == "gzip" {
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut inflated)
                .unwrap();
            assert_eq!(inflated, plain);
        }
    }
    // q-values pick the client's preference; q=0 refuses.
    let r = get_with(
        &app,
        page,
        &token,
        &[("accept-encoding", "gzip;q=0.4, br;q=0.9, zstd;q=0.1")],
    )
    .await;
    assert_eq!(header(&r, "content-encoding").as_deref(), Some("br"));
    let r = get_with(&app, page, &token, &[("accept-encoding", "br;q=0, gzip")]).await;
    assert_eq!(header(&r, "content-encoding").as_deref(), Some("gzip"));
    // Opt-out header and the size threshold.
    let r = get_with(
        &app,
        page,
        &token,
        &[("accept-encoding", "gzip"), ("x-no-compression", "1")],
    )
    .await;
    assert_eq!(header(&r, "content-encoding"), None);
    let small = get_with(&app, "/api/v1/auth/me", &token, &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&small, "content-encoding"), None, "below the threshold");
    assert!(vary(&small).contains("accept-encoding"), "Vary on every response");
    // An already-compressed type is left alone.
    let bundle = get_with(
        &app,
        "/api/v1/policies/bundle.tar.gz",
        &token,
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(header(&bundle, "content-encoding"), None);
    db.cleanup().await;
}

#[tokio::test]
async fn cached_responses_honour_the_opt_out_and_other_codings() {
    let db = sqlite().await;
    load(&db).await;
    let app = spawn_with(&db, test_config()).await;
    let token = app.token().await;
    let page = "/api/v1/metrics?limit=30";
    get_with(&app, page, &token, &[]).await;
    let r = get_with(
        &app,
        page,
        &token,
        &[("accept-encoding", "gzip"), ("x-no-compression", "yes")],
    )
    .await;
    assert_eq!(
        (header(&r, "x-cache").as_deref(), header(&r, "content-encoding")),
        (Some("HIT"), None)
    );
    let r = get_with(&app, page, &token, &[("accept-encoding", "br")]).await;
    assert_eq!(header(&r, "x-cache").as_deref(), Some("HIT"));
    assert_eq!(
        header(&r, "content-encoding").as_deref(),
        Some("br"),
        "a br client still gets br"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn request_ids_are_kept_or_replaced_and_reach_error_bodies() {
    let db = sqlite().await;
    let app = spawn_with(&db, test_config()).await;
    let r = app
        .client
        .get(app.url("/api/v1/nope"))
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "x-request-id").as_deref(), Some("trace-42.a_b"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-42.a_b");
    let r = app
        .client
        .get(app.url("/api/v1/nope"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    let id = header(&r, "x-request-id").unwrap();
    assert_ne!(id, "bad id!");
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    assert!(header(&r, "x-response-time").unwrap().ends_with("ms"));
    db.cleanup().await;
}

#[tokio::test]
async fn prometheus_labels_monitors_and_shipped_dashboards() {
    let db = sqlite().await;
    load(&db).await;
    let app = spawn_with(&db, test_config()).await;
    let token = app.token().await;

    let random = query_stats_count_each_list_and_the_pool(&app, &token).await;
    request_stats_group_by_route_and_health_shows_the_pool(&app, &token).await;
    let scrape = scrape_labels_routes_by_template(&app, &token, &random).await;
    every_series_the_shipped_monitoring_uses_is_exported(&scrape);
    db.cleanup().await;
}

/// Three metric lists and a request to an unknown path; returns that path.
async fn query_stats_count_each_list_and_the_pool(app: &TestApp, token: &str) -> String {
    let before: Value = get_with(app, "/api/v1/stats/performance", token, &[])
        .await
        .json()
        .await
        .unwrap();
    let listed = |v: &Value| {
        v["data"]["queries"]["by_key"]["list_metrics"]["count"]
            .as_u64()
            .unwrap_or(0)
    };
    for q in ["tier=Tier-1", "tier=Tier-2", "category=Engineering"] {
        assert_eq!(
            get_with(app, &format!("/api/v1/metrics?{q}"), token, &[])
                .await
                .status(),
            200
        );
    }
    let random = format!("/no/such/{}", uuid::Uuid::new_v4().simple());
    assert_eq!(app.client.get(app.url(&random)).send().await.unwrap().status(), 404);
    let after: Value = get_with(app, "/api/v1/stats/performance", token, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed(&after), listed(&before) + 3, "{after}");
    assert!(after["data"]["pool"]["max"].as_u64().is_some());
    assert_eq!(after["data"]["circuit"]["state"], "closed");
    let patterns: Value = get_with(app, "/api/v1/stats/performance/patterns", token, &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(
        patterns["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pattern"] == "list_metrics")
    );
    let slow = get_with(app, "/api/v1/stats/performance/slow-queries?limit=5", token, &[]).await;
    assert_eq!(slow.status(), 200);
    random
}

async fn request_stats_group_by_route_and_health_shows_the_pool(app: &TestApp, token: &str) {
    let requests: Value = get_with(app, "/api/performance/stats", token, &[])
        .await
        .json()
        .await
        .unwrap();
    let routes = &requests["data"]["requests"]["by_key"];
    assert!(routes["GET /api/v1/metrics"]["p95_ms"].is_number(), "{requests}");
    assert!(routes["GET (unmatched)"]["count"].as_u64().unwrap() >= 1);
    assert!(requests["data"]["process"]["rss_bytes"].as_u64().unwrap() > 0);
    let health: Value = app.health().await;
    let database = &health["components"]["database"];
    assert!(database["pool"]["max"].as_u64().unwrap() >= 1, "{health}");
    assert_eq!(database["circuit"], "closed");
}

/// A reader's scrape (anonymous ones get no catalog gauges); returns the exposition text.
async fn scrape_labels_routes_by_template(app: &TestApp, token: &str, random: &str) -> String {
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(random), "raw paths never become labels");
    assert!(text.contains(r#"route="GET (unmatched)""#));
    assert!(text.contains(r#"route="GET /api/v1/metrics""#));
    assert!(
        text.contains("mdl_catalog_metrics_total 12"),
        "catalog gauges from grouped counts"
    );
    text
}

fn every_series_the_shipped_monitoring_uses_is_exported(scrape: &str) {
    let used = series_used_by_shipped_monitoring();
    assert!(used.len() >= 12, "{used:?}");
    let exported: std::collections::BTreeSet<&str> = scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(n.as_str())).collect();
    assert!(
        missing.is_empty(),
        "used by deploy/monitoring but not exported: {missing:?}"
    );
}

/// Every `mdl_*` and `process_*` name in the Grafana dashboard and the alert rules.
fn series_used_by_shipped_monitoring() -> std::collections::BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring");
    let mut used = std::collections::BTreeSet::new();
    for file in ["grafana-dashboard.json", "alerts.yml"] {
        let content = std::fs::read_to_string(dir.join(file)).unwrap();
        let bytes = content.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &content[i..];
            if (rest.starts_with("mdl_") || rest.starts_with("process_"))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
            {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                i += name.len();
                used.insert(name);
            } else {
                i += 1;
            }
        }
    }
    used
}

#[tokio::test]
async fn metrics_on_their_own_listener_only() {
    let db = sqlite().await;
    let mut config = test_config();
    // Port 0: a port picked in advance can be taken by a parallel test before the server binds.
    config.metrics_bind = Some("127.0.0.1:0".into());
    let app = spawn_with(&db, config).await;
    assert_eq!(app.client.get(app.url("/metrics")).send().await.unwrap().status(), 404);
    let url = format!("http://{}/metrics", app.metrics_addr.expect("metrics listener"));
    // Bound before the server starts, so the first request connects.
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("mdl_uptime_seconds"), "{text}");
    db.cleanup().await;
}

#[tokio::test]
async fn every_served_route_has_its_own_figures_and_invented_methods_create_no_series() {
    let db = sqlite().await;
    let app = spawn_with(&db, test_config()).await;
    let token = app.token().await;
    for path in ["/api-docs/openapi.json", "/api-docs/", "/health/live"] {
        assert_eq!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    let invented = reqwest::Method::from_bytes(b"BREW").unwrap();
    let r = app
        .client
        .request(invented, app.url("/api/v1/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    let stats: Value = get_with(&app, "/api/performance/stats", &token, &[])
        .await
        .json()
        .await
        .unwrap();
    let routes = &stats["data"]["requests"]["by_key"];
    for label in [
        "GET /api-docs/openapi.json",
        "GET /health/live",
        "OTHER /api/v1/metrics",
    ] {
        assert_eq!(routes[label]["count"], 1, "{label}: {stats}");
        let (p50, p99, max) = (
            routes[label]["p50_ms"].as_f64().unwrap(),
            routes[label]["p99_ms"].as_f64().unwrap(),
            routes[label]["max_ms"].as_f64().unwrap(),
        );
        assert!(p50 <= p99 && p99 <= max && max > 0.0, "{label}: {p50} {p99} {max}");
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("BREW"), "methods are a fixed set of labels");
    assert!(text.contains(r#"mdl_http_requests_total{method="OTHER",route="OTHER /api/v1/metrics",status="405"} 1"#));
    let live = r#"mdl_http_request_duration_seconds_count{method="GET",route="GET /health/live"} 1"#;
    assert!(text.contains(live), "{text}");
    db.cleanup().await;
}
