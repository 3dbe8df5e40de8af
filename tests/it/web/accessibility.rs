//! axe-core (vendored into the test harness, see `vendor/README.md`) on the main pages: no
//! violation of impact `serious` or `critical`.

use super::browser::{Browser, browser};
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, load, spawn};
use serde_json::Value;

const AXE: &str = include_str!("vendor/axe.min.js");

/// Runs axe on the current page and returns its serious and critical violations.
pub async fn serious_violations(b: &Browser) -> Vec<String> {
    b.run(&format!("{AXE}\n;return true;")).await;
    let found = b
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] }).then(
  r => done(r.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): " + v.nodes.map(n => n.target.join(" ")).join(", "))),
  e => done(["axe failed: " + e]));"#,
            Vec::new(),
        )
        .await
        .unwrap();
    found
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_else(|| vec![format!("unexpected answer: {found}")])
}

async fn login_catalog_and_metric_pages_have_no_serious_violations(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let Some(b) = browser().await else { return };

    b.goto(&app.url("/login")).await;
    let login = serious_violations(&b).await;
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;
    b.goto(&app.url("/?tier=Tier-1")).await;
    let catalog = serious_violations(&b).await;
    b.goto(&app.url("/metrics/METRIC-LOGIN-SUCCESS-RATE")).await;
    let metric = serious_violations(&b).await;
    b.goto(&app.url("/metrics/NOPE")).await;
    let not_found = serious_violations(&b).await;

    assert!(login.is_empty(), "login: {login:#?}");
    assert!(catalog.is_empty(), "catalog: {catalog:#?}");
    assert!(metric.is_empty(), "metric: {metric:#?}");
    assert!(not_found.is_empty(), "404: {not_found:#?}");
    b.close().await;
}

/// The editor (its section forms, and with field errors showing in a section and in the raw
/// editor), the new-metric form (blank and with errors), the conflict page, the diff page, the delete
/// confirmation, and a metric page with its scale, edit controls and referrers.
async fn editing_pages_have_no_serious_violations(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;
    let mut found = Vec::new();

    b.goto(&app.url("/metrics/METRIC-CUSTOMER-CHURN-RATE")).await;
    found.push(("metric", serious_violations(&b).await));
    b.goto(&app.url("/metrics/METRIC-CSAT/edit")).await;
    found.push(("edit", serious_violations(&b).await));
    b.fill("#f-targets_and_alerts-target_value", "lots").await;
    b.click("#s-targets_and_alerts button[type=submit]").await;
    b.text("#s-targets_and_alerts-errors").await;
    found.push(("edit with a section's errors", serious_violations(&b).await));
    b.goto(&app.url("/metrics/METRIC-CSAT/edit")).await;
    b.run("document.getElementById('document').value = '{\"metric_id\": \"METRIC-CSAT\", \"tier\": \"Tier-9\"}'; return true;")
        .await;
    b.click("form.editor button[type=submit]").await;
    b.text("#document-errors").await;
    found.push(("edit with errors", serious_violations(&b).await));
    b.goto(&app.url("/metrics/METRIC-CSAT/edit")).await;
    let patch = serde_json::json!({ "description": "Changed meanwhile" });
    let r = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/metrics/METRIC-CSAT",
            &token,
            Some(&patch),
        )
        .await;
    assert_eq!(r.status(), 200);
    b.click("form.editor button[type=submit]").await;
    b.text("table.diff").await;
    found.push(("conflict", serious_violations(&b).await));
    b.goto(&app.url("/metrics/METRIC-CSAT/diff?from=1&to=2")).await;
    found.push(("diff", serious_violations(&b).await));
    b.goto(&app.url("/metrics/METRIC-CSAT/delete")).await;
    found.push(("delete", serious_violations(&b).await));
    b.goto(&app.url("/metrics/new")).await;
    found.push(("new", serious_violations(&b).await));
    b.click("#fields button[type=submit]").await;
    b.text("#fields-errors").await;
    found.push(("new with field errors", serious_violations(&b).await));

    for (page, violations) in &found {
        assert!(violations.is_empty(), "{page}: {violations:#?}");
    }
    b.close().await;
}

/// The admin pages (users, the new-user form with its field errors, API keys with a new
/// secret showing) and the import form and its preview.
async fn admin_and_import_pages_have_no_serious_violations(db: &TestDb) {
    let app = spawn(db, false).await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;
    let mut found = Vec::new();

    b.goto(&app.url("/admin/users/new")).await;
    b.fill("#f-username", "x").await;
    b.fill("#f-email", "x@example.com").await;
    b.fill("#f-password", "short").await;
    b.click("form.fields button[type=submit]").await;
    b.text(".field-error").await;
    found.push(("new user with errors", serious_violations(&b).await));
    b.fill("#f-username", "zoe").await;
    b.fill("#f-email", "zoe@example.com").await;
    b.fill("#f-password", "zoe-password-123").await;
    b.click("form.fields button[type=submit]").await;
    b.wait_for_url(|u| u.ends_with("/admin/users")).await;
    found.push(("users", serious_violations(&b).await));

    b.goto(&app.url("/admin/api-keys")).await;
    b.fill("#f-name", "axe").await;
    b.click("form.fields button[type=submit]").await;
    b.text("#new-key").await;
    found.push(("api keys with a new secret", serious_violations(&b).await));

    b.goto(&app.url("/import")).await;
    found.push(("import", serious_violations(&b).await));
    b.fill("#document", r#"{"metrics": []}"#).await;
    b.click("form.editor button[type=submit]").await;
    b.text("table.import-preview").await;
    found.push(("import preview", serious_violations(&b).await));

    for (page, violations) in found {
        assert!(violations.is_empty(), "{page}: {violations:#?}");
    }
    b.close().await;
}

backend_tests!(
    admin_and_import_pages_have_no_serious_violations,
    login_catalog_and_metric_pages_have_no_serious_violations,
    editing_pages_have_no_serious_violations,
);
