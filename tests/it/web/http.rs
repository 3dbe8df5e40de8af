//! Pages over plain HTTP: headers, assets, the catalog's filters and facets, the metric page,
//! and the size of a full catalog page.

use super::forms::{client, get_with_session, sign_in};
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, load, spawn};
use mdl::domain::Metric;
use mdl::store::{Expect, MetricFilter};

async fn page(app: &crate::support::TestApp, path: &str) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let r = client().get(app.url(path)).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

fn asset_href(html: &str, ext: &str) -> String {
    html.match_indices("/assets/app.")
        .map(|(i, _)| html[i..].split('"').next().unwrap())
        .find(|h| h.ends_with(ext))
        .unwrap_or_else(|| panic!("no {ext} asset linked"))
        .to_string()
}

async fn pages_carry_their_own_policy_and_are_not_stored(db: &TestDb) {
    load(db).await;
    let app = spawn(db, true).await;

    let (status, headers, html) = page(&app, "/").await;

    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-store, private");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe"), "{csp}");
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline code");
    // The API keeps its own policy.
    let (_, api, _) = page(&app, "/api/v1/metrics").await;
    assert_eq!(
        api["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}

async fn assets_have_fingerprinted_names_and_are_immutable(db: &TestDb) {
    let app = spawn(db, false).await;
    let (_, _, html) = page(&app, "/login").await;

    for (ext, kind) in [(".css", "text/css"), (".js", "text/javascript")] {
        let href = asset_href(&html, ext);
        let r = client().get(app.url(&href)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{href}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind));
    }
    let stale = client()
        .get(app.url("/assets/app.000000000000.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
}

async fn the_catalog_filters_searches_and_counts_facets(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let all = db.store.list_metrics(&Default::default()).await.unwrap().total.unwrap();
    let tier1 = MetricFilter {
        tier: Some("Tier-1".into()),
        ..Default::default()
    };
    let facets = db.store.metric_facets(&tier1, 25).await.unwrap();
    let tiers = &facets.iter().find(|f| f.facet == "tier").unwrap().values;
    // A facet's own filter is left out of its counts, so every tier stays reachable.
    assert_eq!(tiers.iter().map(|(_, n)| n).sum::<u64>(), all);
    let n_tier1 = tiers.iter().find(|(t, _)| t == "Tier-1").unwrap().1;
    let categories: u64 = facets
        .iter()
        .find(|f| f.facet == "category")
        .unwrap()
        .values
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(categories, n_tier1, "other facets count within the filter");
    assert!(!facets.iter().find(|f| f.facet == "tag").unwrap().values.is_empty());

    let html = get_with_session(&app, "/?tier=Tier-1", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("{n_tier1} metrics")) || (n_tier1 == 1 && html.contains("1 metric")),
        "{html}"
    );
    assert!(
        html.contains("aria-current=\"true\""),
        "the active facet value is marked"
    );
    let html = get_with_session(&app, "/?q=login", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Login Success Rate"));
    let r = get_with_session(&app, "/?tier=Tier-9", &session).await;
    assert_eq!(r.status(), 400, "the API's parser refuses what it refuses");
    let r = get_with_session(&app, "/?bogus=1", &session).await;
    assert_eq!(r.status(), 400);
}

async fn metric_pages_show_the_definition_and_unknown_ones_are_404(db: &TestDb) {
    load(db).await;
    let app = spawn(db, true).await;

    let (status, _, html) = page(&app, "/metrics/METRIC-LOGIN-SUCCESS-RATE").await;

    assert_eq!(status, 200);
    for text in [
        "successful_logins / total_login_attempts",
        "Version 1",
        "package mdl.metrics",
        "href=\"/metrics/METRIC-SESSION_SUCCESS_RATE\"",
        "Digital Analytics",
        "ALERT-LOGIN-001",
    ] {
        assert!(html.contains(text), "missing {text}");
    }
    assert_eq!(html.matches("<h1>").count(), 1);
    let (status, headers, html) = page(&app, "/metrics/NOPE").await;
    assert_eq!(status, 404);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(html.contains("Not found"));
    let r = client()
        .get(app.url("/metrics/METRIC-LOGIN-SUCCESS-RATE/download?format=yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(".yaml"));
    assert!(r.text().await.unwrap().contains("metric_id: METRIC-LOGIN-SUCCESS-RATE"));
}

/// Compressed size of a response, as a browser asking for gzip would receive it.
async fn gzip_size(app: &crate::support::TestApp, path: &str) -> usize {
    let r = client()
        .get(app.url(path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.unwrap().len()
}

async fn a_page_of_fifty_results_stays_small(db: &TestDb) {
    for i in 0..60 {
        let m = Metric::parse(mdl::domain::synthetic::synthetic_metric(i)).unwrap();
        db.store.save_metric(&m, "seed", Expect::Absent).await.unwrap();
    }
    let app = spawn(db, true).await;
    let (_, _, html) = page(&app, "/?limit=50").await;
    assert_eq!(html.matches("class=\"card\"").count(), 50);

    let total = gzip_size(&app, "/?limit=50").await
        + gzip_size(&app, &asset_href(&html, ".css")).await
        + gzip_size(&app, &asset_href(&html, ".js")).await;

    assert!(total <= 60 * 1024, "catalog page with assets: {total} bytes compressed");
}

fn x_cache(r: &reqwest::Response) -> String {
    r.headers()["x-cache"].to_str().unwrap().to_string()
}

async fn page_content_is_cached_per_role_and_turned_over_by_writes(db: &TestDb) {
    load(db).await;
    let app = spawn(db, true).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let token = app.token().await;

    let first = client().get(app.url("/")).send().await.unwrap();
    assert_eq!(x_cache(&first), "MISS");
    let first = first.text().await.unwrap();
    let again = client().get(app.url("/")).send().await.unwrap();
    assert_eq!(x_cache(&again), "HIT");
    assert_eq!(again.text().await.unwrap(), first);
    // Another role is another entry, and the frame is always the visitor's own.
    let admin = get_with_session(&app, "/", &session).await;
    assert_eq!(x_cache(&admin), "MISS");
    assert!(admin.text().await.unwrap().contains("Signed in as"));
    let admin = get_with_session(&app, "/", &session).await;
    assert_eq!(x_cache(&admin), "HIT");
    assert!(admin.text().await.unwrap().contains("Signed in as"));
    assert!(
        !client()
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("Signed in as")
    );

    // Writes through the API turn the pages over, as they do the API's own answers.
    let new = mdl::domain::synthetic::synthetic_metric(7);
    let r = app
        .send(reqwest::Method::POST, "/api/v1/metrics", &token, Some(&new))
        .await;
    assert_eq!(r.status(), 201);
    let after = client().get(app.url("/")).send().await.unwrap();
    assert_eq!(x_cache(&after), "MISS");
    assert!(after.text().await.unwrap().contains(new["name"].as_str().unwrap()));
    let one = client().get(app.url("/metrics/METRIC-CSAT")).send().await.unwrap();
    assert_eq!(x_cache(&one), "MISS");
    assert_eq!(
        x_cache(&client().get(app.url("/metrics/METRIC-CSAT")).send().await.unwrap()),
        "HIT"
    );
    let patch = serde_json::json!({ "description": "Changed while the page was cached" });
    let r = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/metrics/METRIC-CSAT",
            &token,
            Some(&patch),
        )
        .await;
    assert_eq!(r.status(), 200);
    let changed = client().get(app.url("/metrics/METRIC-CSAT")).send().await.unwrap();
    assert!(
        changed
            .text()
            .await
            .unwrap()
            .contains("Changed while the page was cached")
    );
    // Failures are never stored.
    for _ in 0..2 {
        assert_eq!(
            client().get(app.url("/metrics/NOPE")).send().await.unwrap().status(),
            404
        );
    }
}

backend_tests!(
    page_content_is_cached_per_role_and_turned_over_by_writes,
    pages_carry_their_own_policy_and_are_not_stored,
    assets_have_fingerprinted_names_and_are_immutable,
    the_catalog_filters_searches_and_counts_facets,
    metric_pages_show_the_definition_and_unknown_ones_are_404,
    a_page_of_fifty_results_stays_small,
);
