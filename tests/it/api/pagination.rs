//! Metric lists: page numbers with counts and Link headers, opaque cursors, projections,
//! conditional GETs.

use crate::support::{TestApp, TestDb, backend_tests, error_code, load, spawn};
use mdl::domain::Metric;
use mdl::store::Expect;
use serde_json::{Value, json};

async fn metric_lists_paginate_with_headers(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    reads_need_a_token(&app).await;
    let token = app.token().await;

    page_numbers_come_with_counts_and_links(&app, &token).await;
    an_unchanged_list_answers_304(&app, &token).await;
    limits_are_capped_and_bad_parameters_refused(&app, &token).await;
    let seen = cursor_walk_visits_every_metric_once(&app, &token).await;
    count_picks_the_mode(&app, &token, &seen).await;
}

async fn reads_need_a_token(app: &TestApp) {
    let (status, _, _) = error_code(app.client.get(app.url("/api/v1/metrics")).send().await.unwrap()).await;
    assert_eq!(status, 401, "reads need a token");
}

async fn page_numbers_come_with_counts_and_links(app: &TestApp, token: &str) {
    let r = app.get("/api/v1/metrics?limit=5&page=2&tier=Tier-1", token).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(
        (h["x-total-count"].to_str().unwrap(), h["x-page"].to_str().unwrap()),
        ("8", "2")
    );
    assert_eq!(
        (h["x-per-page"].to_str().unwrap(), h["x-total-pages"].to_str().unwrap()),
        ("5", "2")
    );
    let link = h["link"].to_str().unwrap();
    assert!(
        link.contains("</api/v1/metrics?limit=5&tier=Tier-1&page=1>; rel=\"first\""),
        "{link}"
    );
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["pagination"]["has_prev"], true);
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
}

async fn an_unchanged_list_answers_304(app: &TestApp, token: &str) {
    let r = app.get("/api/v1/metrics?limit=5", token).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = app
        .client
        .get(app.url("/api/v1/metrics?limit=5"))
        .bearer_auth(token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}

async fn limits_are_capped_and_bad_parameters_refused(app: &TestApp, token: &str) {
    let body: Value = app.get("/api/v1/metrics?limit=1000", token).await.json().await.unwrap();
    assert_eq!(body["pagination"]["limit"], 100);
    for bad in [
        "limit=0",
        "limit=abc",
        "page=0",
        "page=1&cursor=x",
        "colour=red",
        "sort=sideways",
        "cursor=garbage",
        "q=rate&cursor=x",
    ] {
        let (status, code, body) = error_code(app.get(&format!("/api/v1/metrics?{bad}"), token).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "VALIDATION_ERROR"),
            "{bad}: {body}"
        );
        assert!(!body["error"]["details"].as_array().unwrap().is_empty(), "{bad}");
    }
    let body: Value = app.get("/api/v1/metrics?page=99", token).await.json().await.unwrap();
    assert_eq!(
        (body["data"].as_array().unwrap().len(), &body["pagination"]["has_next"]),
        (0, &json!(false))
    );
}

/// Follows `next_cursor` from the first page with a light projection; returns the ids in order.
async fn cursor_walk_visits_every_metric_once(app: &TestApp, token: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    let first: Value = app
        .get("/api/v1/metrics?limit=5&fields=name", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"][0].as_object().unwrap().len(), 2, "id and name only");
    seen.extend(ids(&first));
    let mut cursor = first["pagination"]["next_cursor"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let page: Value = app
            .get(&format!("/api/v1/metrics?limit=5&cursor={c}&fields=name"), token)
            .await
            .json()
            .await
            .unwrap();
        assert!(page["pagination"]["total"].is_null(), "cursor mode does not count");
        seen.extend(ids(&page));
        cursor = page["pagination"]["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 12);
    seen
}

/// `count=false` without page or cursor: the first page of cursor mode, not counted, and the
/// same rows as page 1; `count` beside a page number is refused.
async fn count_picks_the_mode(app: &TestApp, token: &str, seen: &[Value]) {
    let uncounted: Value = app
        .get("/api/v1/metrics?limit=5&count=false", token)
        .await
        .json()
        .await
        .unwrap();
    assert!(uncounted["pagination"]["total"].is_null(), "{uncounted}");
    assert_eq!(ids(&uncounted), seen[..5].to_vec());
    assert!(uncounted["pagination"]["next_cursor"].is_string());
    let counted: Value = app
        .get("/api/v1/metrics?limit=5&count=true", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counted["pagination"]["total"], 12);
    let r = app.get("/api/v1/metrics?page=1&count=false", token).await;
    assert_eq!(r.status(), 400);
}

fn ids(page: &Value) -> Vec<Value> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric_id"].clone())
        .collect()
}

async fn cursor_walk_over_http_survives_concurrent_inserts(db: &TestDb) {
    for i in 0..60 {
        let doc = mdl::domain::synthetic::synthetic_metric(i);
        db.store
            .save_metric(&Metric::parse(doc).unwrap(), "seed", Expect::Absent)
            .await
            .unwrap();
    }
    let app = spawn(db, false).await;
    let token = app.token().await;
    let store = db.store.clone();
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            let mut doc = mdl::domain::synthetic::synthetic_metric(1000 + i);
            doc["metric_id"] = json!(format!("{}-{i:03}", if i % 2 == 0 { "AAA" } else { "ZZZ" }));
            store
                .save_metric(&Metric::parse(doc).unwrap(), "writer", Expect::Absent)
                .await
                .unwrap();
            tokio::task::yield_now().await;
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some("/api/v1/metrics?sort=metric_id&limit=7&fields=name".to_string());
    while let Some(path) = next.take() {
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["metric_id"].as_str().unwrap().to_string()),
        );
        if let Some(c) = page["pagination"]["next_cursor"].as_str() {
            next = Some(format!("/api/v1/metrics?sort=metric_id&limit=7&fields=name&cursor={c}"));
        }
    }
    writer.await.unwrap();
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    for i in 0..60 {
        assert!(seen.contains(&format!("SYN-{i:07}")), "no gaps: SYN-{i:07} missing");
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered");
}

backend_tests!(
    metric_lists_paginate_with_headers,
    cursor_walk_over_http_survives_concurrent_inserts,
);
