//! Importing through the page: a dry-run preview that writes nothing, the confirmation that
//! applies the same document and turns the cached pages over, the size limit and the token.

use super::editing::post_form;
use super::forms::{get_with_session, hidden, sign_in};
use crate::support::{TestApp, TestDb, backend_tests, example, spawn, spawn_with, test_config};
use serde_json::Value;

async fn metric_count(app: &TestApp, token: &str) -> u64 {
    let body: Value = app.get("/api/v1/metrics", token).await.json().await.unwrap();
    body["pagination"]["total"]
        .as_u64()
        .unwrap_or_else(|| body["data"].as_array().map_or(0, |a| a.len() as u64))
}

async fn editor(app: &TestApp, db: &TestDb) -> (String, String) {
    app.user(db, "eddie", "editor").await;
    let session = sign_in(app, "eddie", "eddie-password-123").await;
    let r = get_with_session(app, "/import", &session).await;
    assert_eq!(r.status(), 200);
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    (session, csrf)
}

async fn a_preview_writes_nothing_and_the_confirmation_applies_it(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    // The catalog page is cached while empty.
    for _ in 0..2 {
        get_with_session(&app, "/", &session).await;
    }
    let document = example("sample-metrics.json");

    let r = post_form(
        &app,
        "/import/preview",
        &session,
        &[("csrf", &csrf), ("format", "json"), ("document", &document)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<th scope=\"row\">metrics</th><td>12</td>"), "{html}");
    assert_eq!(metric_count(&app, &token).await, 0, "a dry run");

    // The confirm form carries the same document back.
    let carried = hidden(&html, "document");
    let carried = carried
        .replace("&#10;", "\n")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert_eq!(carried.trim_end(), document.trim_end());
    let r = post_form(
        &app,
        "/import",
        &session,
        &[("csrf", &csrf), ("format", "json"), ("document", &document)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let done = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        done.starts_with("/import?created=") && done.ends_with("&updated=0&unchanged=0"),
        "{done}"
    );
    assert_eq!(metric_count(&app, &token).await, 12);
    let done = get_with_session(&app, &done, &session).await;
    assert!(done.text().await.unwrap().contains("The import was applied"));
    let catalog = get_with_session(&app, "/", &session).await.text().await.unwrap();
    assert!(
        catalog.contains("METRIC-LOGIN-SUCCESS-RATE"),
        "the cached page turned over"
    );
}

async fn errors_are_listed_by_field_path_and_nothing_is_written(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    let document = r#"{"metrics": [{"metric_id": "METRIC-X", "name": "X", "tier": "Tier-9"}]}"#;
    for path in ["/import/preview", "/import"] {
        let r = post_form(
            &app,
            path,
            &session,
            &[("csrf", &csrf), ("format", "json"), ("document", document)],
        )
        .await;
        assert_eq!(r.status(), 400, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("<code class=\"path\">metrics[0]"), "{html}");
        assert!(html.contains("METRIC-X"), "the document is kept for fixing");
    }
    assert_eq!(metric_count(&app, &token).await, 0);
}

async fn oversized_documents_and_missing_tokens_are_refused(db: &TestDb) {
    let mut config = test_config();
    config.max_body_bytes = 2048;
    config.max_import_bytes = 2048;
    let app = spawn_with(db, config).await;
    let token = app.token().await;
    let (session, csrf) = editor(&app, db).await;
    let document = example("sample-metrics.json");
    assert!(document.len() > 2048);

    let r = post_form(
        &app,
        "/import/preview",
        &session,
        &[("csrf", &csrf), ("format", "json"), ("document", &document)],
    )
    .await;
    assert_eq!(r.status(), 413);
    let html = r.text().await.unwrap();
    assert!(html.contains("at most 2048 bytes"), "{html}");

    let small = r#"{"metrics": []}"#;
    let r = post_form(&app, "/import", &session, &[("format", "json"), ("document", small)]).await;
    assert_eq!(r.status(), 403, "no token");
    let r = post_form(
        &app,
        "/import/preview",
        &session,
        &[
            ("csrf", "0123456789abcdef0123456789abcdef"),
            ("format", "json"),
            ("document", small),
        ],
    )
    .await;
    assert_eq!(r.status(), 403, "wrong token");
    assert_eq!(metric_count(&app, &token).await, 0);

    // Viewers may not import.
    app.user(db, "vera", "viewer").await;
    let vera = sign_in(&app, "vera", "vera-password-123").await;
    assert_eq!(get_with_session(&app, "/import", &vera).await.status(), 403);
}

backend_tests!(
    a_preview_writes_nothing_and_the_confirmation_applies_it,
    errors_are_listed_by_field_path_and_nothing_is_written,
    oversized_documents_and_missing_tokens_are_refused,
);
