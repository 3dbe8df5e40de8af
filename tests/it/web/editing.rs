//! Editing over plain HTTP: saving through the API's write path, field errors, the stale-save
//! conflict page, roles and CSRF on the edit routes, creating and deleting.

use super::forms::{client, get_with_session, hidden, sign_in, urlencoded};
use crate::support::{ADMIN_PASSWORD, TestApp, TestDb, backend_tests, load, spawn};
use reqwest::Method;
use serde_json::{Value, json};

const ID: &str = "METRIC-CSAT";

/// Signs in a new user of `role` (made through the store, as `TestApp::user` makes them).
async fn session_as(app: &TestApp, db: &TestDb, name: &str, role: &str) -> String {
    app.user(db, name, role).await;
    sign_in(app, name, &format!("{name}-password-123")).await
}

pub async fn post_form(app: &TestApp, path: &str, session: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(app.url(path))
        .header("cookie", format!("mdl_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(pairs))
        .send()
        .await
        .unwrap()
}

/// The edit form's token and version, and the stored document as the API returns it.
async fn open_editor(app: &TestApp, session: &str, token: &str) -> (String, String, Value) {
    let r = get_with_session(app, &format!("/metrics/{ID}/edit"), session).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<textarea id=\"document\""));
    let doc = app
        .get(&format!("/api/v1/metrics/{ID}"), token)
        .await
        .json::<Value>()
        .await
        .unwrap()["data"]
        .clone();
    (hidden(&html, "csrf"), hidden(&html, "version"), doc)
}

async fn save(app: &TestApp, session: &str, csrf: &str, version: &str, doc: &Value) -> reqwest::Response {
    let text = serde_json::to_string_pretty(doc).unwrap();
    post_form(
        app,
        &format!("/metrics/{ID}/edit"),
        session,
        &[
            ("csrf", csrf),
            ("version", version),
            ("format", "json"),
            ("document", &text),
        ],
    )
    .await
}

pub async fn api_metric(app: &TestApp, token: &str) -> Value {
    app.get(&format!("/api/v1/metrics/{ID}"), token)
        .await
        .json::<Value>()
        .await
        .unwrap()["data"]
        .clone()
}

async fn an_editors_save_reaches_the_api_and_the_cached_pages(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    // Both caches hold the old answers.
    for _ in 0..2 {
        get_with_session(&app, &format!("/metrics/{ID}"), &session).await;
        app.get(&format!("/api/v1/metrics/{ID}"), &token).await;
    }
    let page = get_with_session(&app, &format!("/metrics/{ID}"), &session).await;
    assert_eq!(page.headers()["x-cache"], "HIT");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(&format!("href=\"/metrics/{ID}/edit\""))
    );
    let (csrf, version, mut doc) = open_editor(&app, &session, &token).await;
    assert_eq!(version, "1");

    doc["description"] = json!("Saved from the web editor");
    let r = save(&app, &session, &csrf, &version, &doc).await;

    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/metrics/{ID}"));
    let stored = api_metric(&app, &token).await;
    assert_eq!(
        (stored["version"].as_i64(), stored["description"].as_str()),
        (Some(2), Some("Saved from the web editor"))
    );
    assert_eq!(stored["updated_by"], "eddie");
    let page = get_with_session(&app, &format!("/metrics/{ID}"), &session).await;
    assert_eq!(page.headers()["x-cache"], "MISS");
    let html = page.text().await.unwrap();
    assert!(html.contains("Saved from the web editor") && html.contains("Version 2"));
    assert!(
        html.contains(&format!("/metrics/{ID}/diff?from=1&#38;to=2")),
        "the new entry links its changes: {html}"
    );
}

async fn field_errors_name_the_apis_paths_and_keep_the_text(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    let (csrf, version, mut doc) = open_editor(&app, &session, &token).await;

    doc["tier"] = json!("Tier-9");
    doc["definition"]["expected_direction"] = json!("sideways");
    let r = save(&app, &session, &csrf, &version, &doc).await;

    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    for field in ["tier", "definition.expected_direction"] {
        assert!(
            html.contains(&format!("<code class=\"field\">{field}</code>")),
            "{field} named: {html}"
        );
    }
    assert!(html.contains("aria-describedby=\"document-hint document-errors\""));
    assert!(
        html.contains("Tier-9") && html.contains("sideways"),
        "the text sent is kept"
    );
    assert_eq!(hidden(&html, "version"), "1");
    assert_eq!(api_metric(&app, &token).await["version"], 1, "nothing was written");
    // A syntax error is reported on `body`, as the API reports it.
    let r = post_form(
        &app,
        &format!("/metrics/{ID}/edit"),
        &session,
        &[
            ("csrf", &csrf),
            ("version", "1"),
            ("format", "json"),
            ("document", "{ not json"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("<code class=\"field\">body</code>"));
}

async fn a_stale_save_shows_the_changes_and_overwrites_nothing(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    let (csrf, version, mut mine) = open_editor(&app, &session, &token).await;
    // Someone else saves first.
    let theirs = json!({ "description": "Their change, saved first" });
    let r = app
        .send(Method::PATCH, &format!("/api/v1/metrics/{ID}"), &token, Some(&theirs))
        .await;
    assert_eq!(r.status(), 200);

    mine["name"] = json!("My renamed metric");
    let r = save(&app, &session, &csrf, &version, &mine).await;

    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("changed since you opened it"));
    assert!(
        html.contains("<code>description</code>") && html.contains("Their change, saved first"),
        "their diff: {html}"
    );
    assert!(html.contains("My renamed metric"), "my text is kept");
    assert_eq!(
        hidden(&html, "version"),
        "2",
        "saving again is a change to the current version"
    );
    let stored = api_metric(&app, &token).await;
    assert_eq!(stored["description"], "Their change, saved first");
    assert_ne!(stored["name"], "My renamed metric");
    assert_eq!(stored["version"], 2);
}

async fn viewers_get_403_and_forms_need_their_token(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let viewer = session_as(&app, db, "vera", "viewer").await;
    let editor = session_as(&app, db, "eddie", "editor").await;

    let page = get_with_session(&app, &format!("/metrics/{ID}"), &viewer)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("/edit\"") && !page.contains("/delete\""),
        "no edit controls for viewers"
    );
    for path in [
        format!("/metrics/{ID}/edit"),
        "/metrics/new".to_string(),
        format!("/metrics/{ID}/delete"),
    ] {
        let r = get_with_session(&app, &path, &viewer).await;
        assert_eq!(r.status(), 403, "{path}");
        assert!(r.text().await.unwrap().contains("Not allowed"));
    }
    let csrf = hidden(
        &get_with_session(&app, "/", &viewer).await.text().await.unwrap(),
        "csrf",
    );
    let r = post_form(
        &app,
        &format!("/metrics/{ID}/edit"),
        &viewer,
        &[("csrf", &csrf), ("version", "1"), ("document", "{}")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        get_with_session(&app, &format!("/metrics/{ID}/delete"), &editor)
            .await
            .status(),
        403,
        "deleting is for admins"
    );
    // An editor's form without its token, or sent from another site, is refused.
    let r = post_form(
        &app,
        &format!("/metrics/{ID}/edit"),
        &editor,
        &[("version", "1"), ("document", "{}")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let csrf = hidden(
        &get_with_session(&app, "/", &editor).await.text().await.unwrap(),
        "csrf",
    );
    let r = client()
        .post(app.url(&format!("/metrics/{ID}/edit")))
        .header("cookie", format!("mdl_session={editor}"))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[("csrf", &csrf), ("version", "1"), ("document", "{}")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Anonymous visitors are sent to sign in.
    let r = client()
        .get(app.url(&format!("/metrics/{ID}/edit")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

async fn creating_and_deleting(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let editor = session_as(&app, db, "eddie", "editor").await;
    let admin = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let new = get_with_session(&app, "/metrics/new", &editor)
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&new, "csrf");
    let doc = mdl::domain::synthetic::synthetic_metric(3);
    let id = doc["metric_id"].as_str().unwrap().to_string();
    let yaml = mdl::catalog::format::render(&doc, mdl::catalog::Format::Yaml).unwrap();

    let r = post_form(
        &app,
        "/metrics/new",
        &editor,
        &[("csrf", &csrf), ("format", "yaml"), ("document", &yaml)],
    )
    .await;

    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/metrics/{id}"));
    assert_eq!(app.get(&format!("/api/v1/metrics/{id}"), &token).await.status(), 200);
    let again = post_form(
        &app,
        "/metrics/new",
        &editor,
        &[("csrf", &csrf), ("format", "yaml"), ("document", &yaml)],
    )
    .await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("already exists"));

    let confirm = get_with_session(&app, &format!("/metrics/{id}/delete"), &admin).await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    let (csrf, version) = (hidden(&confirm, "csrf"), hidden(&confirm, "version"));
    get_with_session(&app, "/", &admin).await; // cache the catalog page
    let r = post_form(
        &app,
        &format!("/metrics/{id}/delete"),
        &admin,
        &[("csrf", &csrf), ("version", &version)],
    )
    .await;

    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&format!("/api/v1/metrics/{id}"), &token).await.status(), 404);
    assert_eq!(
        get_with_session(&app, &format!("/metrics/{id}"), &admin).await.status(),
        404
    );
    let catalog = get_with_session(&app, "/", &admin).await.text().await.unwrap();
    assert!(
        !catalog.contains(doc["name"].as_str().unwrap()),
        "the catalog page turned over"
    );
}

/// A save on instance A turns over instance B's API answers and pages (through Redis).
async fn a_web_save_turns_over_another_instances_caches(db: &TestDb) {
    let Some(redis) = crate::support::redis_url() else {
        return;
    };
    load(db).await;
    let (a, b) = crate::cache::pair(db, &redis, &crate::support::redis_prefix()).await;
    let token_b = b.token().await;
    let session = session_as(&a, db, "eddie", "editor").await;
    for _ in 0..2 {
        b.get(&format!("/api/v1/metrics/{ID}"), &token_b).await;
        get_with_session(&b, &format!("/metrics/{ID}"), &session).await;
    }
    assert_eq!(
        get_with_session(&b, &format!("/metrics/{ID}"), &session)
            .await
            .headers()["x-cache"],
        "HIT"
    );
    let (csrf, version, mut doc) = open_editor(&a, &session, &token_b).await;

    doc["description"] = json!("Saved on instance A");
    assert_eq!(save(&a, &session, &csrf, &version, &doc).await.status(), 303);

    let limit = std::time::Duration::from_secs(2);
    crate::cache::wait_for("B's API answer turns over", limit, async || {
        api_metric(&b, &token_b).await["version"] == 2
    })
    .await;
    crate::cache::wait_for("B's page turns over", limit, async || {
        let page = get_with_session(&b, &format!("/metrics/{ID}"), &session).await;
        page.text().await.unwrap().contains("Saved on instance A")
    })
    .await;
}

async fn the_per_field_form_saves_and_marks_its_inputs(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    let (csrf, version, _) = open_editor(&app, &session, &token).await;
    let path = format!("/metrics/{ID}/edit");

    let r = post_form(
        &app,
        &path,
        &session,
        &[
            ("csrf", &csrf),
            ("mode", "fields"),
            ("version", &version),
            ("name", "Renamed by field"),
            ("definition.unit", "points"),
        ],
    )
    .await;

    assert_eq!(r.status(), 303);
    let stored = api_metric(&app, &token).await;
    assert_eq!(
        (stored["name"].as_str(), stored["definition"]["unit"].as_str()),
        (Some("Renamed by field"), Some("points"))
    );
    assert!(
        stored["definition"]["formula"].is_string(),
        "fields not on the form are kept"
    );
    let r = post_form(
        &app,
        &path,
        &session,
        &[
            ("csrf", &csrf),
            ("mode", "fields"),
            ("version", "2"),
            ("tier", "Tier-9"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("aria-describedby=\"f-tier-error\"") && html.contains("id=\"f-tier-error\""),
        "{html}"
    );
    // Against an older version: the conflict page, nothing written.
    let r = post_form(
        &app,
        &path,
        &session,
        &[("csrf", &csrf), ("mode", "fields"), ("version", "1"), ("name", "Stale")],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(api_metric(&app, &token).await["name"], "Renamed by field");
}

backend_tests!(
    the_per_field_form_saves_and_marks_its_inputs,
    a_web_save_turns_over_another_instances_caches,
    an_editors_save_reaches_the_api_and_the_cached_pages,
    field_errors_name_the_apis_paths_and_keep_the_text,
    a_stale_save_shows_the_changes_and_overwrites_nothing,
    viewers_get_403_and_forms_need_their_token,
    creating_and_deleting,
);
