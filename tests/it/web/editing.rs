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
    let (csrf, version, before) = open_editor(&app, &session, &token).await;
    let path = format!("/metrics/{ID}/edit");

    let r = post_form(
        &app,
        &path,
        &session,
        &[
            ("csrf", &csrf),
            ("mode", "fields"),
            ("section", "main"),
            ("version", &version),
            ("name", "Renamed by field"),
            ("definition.unit", "points"),
        ],
    )
    .await;

    assert_eq!(r.status(), 303);
    let stored = api_metric(&app, &token).await;
    assert_eq!(stored["name"], "Renamed by field");
    assert_eq!(
        stored["definition"], before["definition"],
        "another section's input sent along is not applied"
    );
    let r = post_form(
        &app,
        &path,
        &session,
        &[
            ("csrf", &csrf),
            ("mode", "fields"),
            ("section", "main"),
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
        &[
            ("csrf", &csrf),
            ("mode", "fields"),
            ("section", "main"),
            ("version", "1"),
            ("name", "Stale"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(api_metric(&app, &token).await["name"], "Renamed by field");
}

/// Posts one section's form as a browser sends it: every input of the section, as `inputs`
/// gives them, over the values the edit page showed.
async fn save_section(
    app: &TestApp,
    session: &str,
    version: &str,
    section: &str,
    inputs: &[(&str, &str)],
) -> reqwest::Response {
    let page = get_with_session(app, &format!("/metrics/{ID}/edit"), session)
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let mut pairs = vec![
        ("csrf", csrf.as_str()),
        ("mode", "fields"),
        ("section", section),
        ("version", version),
    ];
    pairs.extend_from_slice(inputs);
    post_form(app, &format!("/metrics/{ID}/edit"), session, &pairs).await
}

/// The text of the error paragraph an input points at with `aria-describedby`.
fn error_next_to(html: &str, input_id: &str) -> String {
    let input = html
        .find(&format!("id=\"{input_id}\""))
        .unwrap_or_else(|| panic!("no input {input_id}"));
    let tag_end = input + html[input..].find('>').unwrap();
    assert!(
        html[input..tag_end].contains(&format!("aria-invalid=\"true\" aria-describedby=\"{input_id}-error\"")),
        "{input_id} is marked: {}",
        &html[input..tag_end]
    );
    let marker = format!("<p class=\"field-error\" id=\"{input_id}-error\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no error for {input_id}")) + marker.len();
    html[start..].split("</p>").next().unwrap().to_string()
}

async fn saving_one_section_keeps_the_other_sections_and_unknown_fields(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    let (csrf, version, mut doc) = open_editor(&app, &session, &token).await;
    // Fields no form shows: unknown ones, at the top and inside the section being saved.
    doc["x_review_board"] = json!({ "chair": "Ada" });
    doc["governance"]["x_sign_off"] = json!("2025-06-01");
    assert_eq!(save(&app, &session, &csrf, &version, &doc).await.status(), 303);
    let before = api_metric(&app, &token).await;

    let r = save_section(
        &app,
        &session,
        "2",
        "governance",
        &[
            ("governance.owner_team", "Voice of the Customer"),
            ("governance.status", "deprecated"),
            ("governance.pii_involved", "true"),
            ("governance.business_owner", ""),
            // As shown: unchanged.
            ("governance.technical_owner", "product_team"),
            ("governance.regulatory_constraints", ""),
            // Another section's input sent along is not applied.
            ("name", "Not this"),
        ],
    )
    .await;

    assert_eq!(r.status(), 303);
    let after = api_metric(&app, &token).await;
    let governance = &after["governance"];
    assert_eq!(governance["owner_team"], "Voice of the Customer");
    assert_eq!(governance["status"], "deprecated");
    assert_eq!(governance["pii_involved"], true);
    assert!(governance.get("business_owner").is_none(), "a blanked field is removed");
    for kept in [
        "technical_owner",
        "regulatory_constraints",
        "created_at",
        "version",
        "x_sign_off",
    ] {
        assert_eq!(governance[kept], before["governance"][kept], "governance.{kept}");
    }
    for (key, value) in before.as_object().unwrap() {
        if ["governance", "version", "updated_at", "updated_by"].contains(&key.as_str()) {
            continue;
        }
        assert_eq!(&after[key], value, "{key} is unchanged");
    }
    assert_eq!(after["version"], 3);
}

async fn a_list_textarea_round_trips_one_value_per_line(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;

    let r = save_section(
        &app,
        &session,
        "1",
        "main",
        &[("tags", "surveys\r\n\r\n  happiness \r\nsupport quality\r\n")],
    )
    .await;

    assert_eq!(r.status(), 303);
    assert_eq!(
        api_metric(&app, &token).await["tags"],
        json!(["surveys", "happiness", "support quality"])
    );
    let page = get_with_session(&app, &format!("/metrics/{ID}/edit"), &session)
        .await
        .text()
        .await
        .unwrap();
    let marker = "<textarea id=\"f-tags\" name=\"tags\" rows=\"3\">";
    let start = page.find(marker).expect("the tags textarea") + marker.len();
    assert_eq!(
        page[start..].split("</textarea>").next(),
        Some("surveys\nhappiness\nsupport quality")
    );
}

async fn a_bad_value_in_a_section_is_shown_next_to_its_field(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    let rules = r#"[{"rule_id": "ALERT-CSAT-001", "severity": "apocalyptic"}]"#;

    let r = save_section(
        &app,
        &session,
        "1",
        "targets_and_alerts",
        &[
            ("targets_and_alerts.target_value", "lots"),
            ("targets_and_alerts.comparison_baseline", "previous_quarter"),
            ("targets_and_alerts.alert_rules", rules),
        ],
    )
    .await;

    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        error_next_to(&html, "f-targets_and_alerts-target_value")
            .contains("<code>targets_and_alerts.target_value</code>: must be a number")
    );
    let error = error_next_to(&html, "f-targets_and_alerts-alert_rules");
    assert!(
        error.contains("<code>targets_and_alerts.alert_rules[0].severity</code>: must be one of"),
        "the domain's path inside the JSON value: {error}"
    );
    assert!(
        html.contains("value=\"lots\"") && html.contains("previous_quarter"),
        "what was sent is kept"
    );
    assert!(
        html.contains("<ul id=\"s-targets_and_alerts-errors\">"),
        "the section's summary"
    );
    assert!(
        html.contains("<a href=\"#s-targets_and_alerts\">Targets and alerts was not saved</a>"),
        "the top of the page points at it"
    );
    let stored = api_metric(&app, &token).await;
    assert_eq!(stored["version"], 1, "nothing was written");
    assert_eq!(stored["targets_and_alerts"]["comparison_baseline"], "previous_month");

    // An error naming no input on the form is in the section's summary.
    let r = save_section(&app, &session, "1", "main", &[("metric_id", "METRIC-OTHER")]).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    let start = html
        .find("<ul id=\"s-main-errors\">")
        .expect("the main section's summary");
    let summary = html[start..].split("</ul>").next().unwrap();
    assert!(
        summary.contains("<code class=\"field\">metric_id</code>: does not match"),
        "{summary}"
    );
    assert!(!html.contains("id=\"f-metric_id\""), "no input for the id when editing");
}

async fn a_stale_section_save_gets_the_conflict_page(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    let theirs = json!({ "governance": { "owner_team": "Their team" } });
    let r = app
        .send(Method::PATCH, &format!("/api/v1/metrics/{ID}"), &token, Some(&theirs))
        .await;
    assert_eq!(r.status(), 200);

    let r = save_section(
        &app,
        &session,
        "1",
        "governance",
        &[("governance.owner_team", "My team")],
    )
    .await;

    assert_eq!(r.status(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("changed since you opened it") && html.contains("Their team"));
    let stored = api_metric(&app, &token).await;
    assert_eq!(
        (stored["governance"]["owner_team"].as_str(), stored["version"].as_i64()),
        (Some("Their team"), Some(2))
    );
}

async fn a_metric_is_created_from_the_new_metric_form(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = session_as(&app, db, "eddie", "editor").await;
    let page = get_with_session(&app, "/metrics/new", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"f-metric_id\"") && page.contains("<legend>Definition</legend>"));
    let csrf = hidden(&page, "csrf");
    let mut inputs = vec![
        ("csrf", csrf.as_str()),
        ("mode", "fields"),
        ("metric_id", "METRIC-FIRST-REPLY-TIME"),
        ("name", "First reply time"),
        ("description", "Minutes until a support ticket's first reply."),
        ("category", "Support"),
        ("tier", "Tier-2"),
        ("business_domain", "Customer Success"),
        ("metric_type", "operational"),
        ("tags", "support\r\nspeed"),
        ("definition.formula", "median(first_reply_at - created_at)"),
        ("definition.unit", "minutes"),
        ("definition.expected_direction", "decrease"),
        // Blank inputs of other sections, as a browser sends them.
        ("alignment.strategic_pillar", ""),
        ("governance.pii_involved", ""),
        ("dimensions", ""),
    ];

    let r = post_form(&app, "/metrics/new", &session, &inputs).await;

    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/metrics/METRIC-FIRST-REPLY-TIME");
    let stored = app
        .get("/api/v1/metrics/METRIC-FIRST-REPLY-TIME", &token)
        .await
        .json::<Value>()
        .await
        .unwrap()["data"]
        .clone();
    assert_eq!(stored["tags"], json!(["support", "speed"]));
    assert_eq!(stored["definition"]["unit"], "minutes");
    assert_eq!(stored["definition"]["expected_direction"], "decrease");
    for absent in ["alignment", "governance", "dimensions"] {
        assert!(stored.get(absent).is_none(), "a blank {absent} is not added");
    }
    // A blank name, then the same id again: each refused next to its field, nothing written.
    inputs[3].1 = "";
    let r = post_form(&app, "/metrics/new", &session, &inputs).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(error_next_to(&html, "f-name").contains("<code>name</code>"), "{html}");
    assert!(
        html.contains("value=\"METRIC-FIRST-REPLY-TIME\""),
        "what was sent is kept"
    );
    inputs[3].1 = "Another first reply time";
    let r = post_form(&app, "/metrics/new", &session, &inputs).await;
    assert_eq!(r.status(), 400);
    assert!(error_next_to(&r.text().await.unwrap(), "f-metric_id").contains("already exists"));
    let stored = app.get("/api/v1/metrics/METRIC-FIRST-REPLY-TIME", &token).await;
    let stored = stored.json::<Value>().await.unwrap();
    assert_eq!(
        (stored["data"]["name"].as_str(), stored["data"]["version"].as_i64()),
        (Some("First reply time"), Some(1))
    );
}

backend_tests!(
    the_per_field_form_saves_and_marks_its_inputs,
    saving_one_section_keeps_the_other_sections_and_unknown_fields,
    a_list_textarea_round_trips_one_value_per_line,
    a_bad_value_in_a_section_is_shown_next_to_its_field,
    a_stale_section_save_gets_the_conflict_page,
    a_metric_is_created_from_the_new_metric_form,
    a_web_save_turns_over_another_instances_caches,
    an_editors_save_reaches_the_api_and_the_cached_pages,
    field_errors_name_the_apis_paths_and_keep_the_text,
    a_stale_save_shows_the_changes_and_overwrites_nothing,
    viewers_get_403_and_forms_need_their_token,
    creating_and_deleting,
);
