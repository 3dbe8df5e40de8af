//! Editing in headless Chromium: an editor fixes a field error and saves, saves one section's
//! form, a stale save is refused with the other editor's changes, and versions are compared.

use super::browser::{Browser, browser};
use crate::support::{TestDb, backend_tests, load, spawn};
use serde_json::json;

const ID: &str = "METRIC-CSAT";

/// Changes the editor's JSON text in place, as a person typing into it would.
async fn set_field(b: &Browser, field: &str, value: &str) {
    b.run(&format!(
        "const t = document.getElementById('document'); const d = JSON.parse(t.value); d[{}] = {}; t.value = JSON.stringify(d, null, 2); return true;",
        json!(field),
        json!(value)
    ))
    .await;
}

async fn an_editor_fixes_an_error_saves_and_sees_the_new_version(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    app.user(db, "eddie", "editor").await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "eddie", "eddie-password-123").await;
    b.goto(&app.url(&format!("/metrics/{ID}"))).await;
    b.click(".actions a.button").await;
    b.wait_for_url(|u| u.ends_with("/edit")).await;

    set_field(&b, "tier", "Tier-9").await;
    b.click("form.editor button[type=submit]").await;
    let errors = b.text("#document-errors").await;
    assert!(errors.contains("tier"), "{errors}");
    set_field(&b, "tier", "Tier-1").await;
    set_field(&b, "description", "Edited in a browser").await;
    b.click("form.editor button[type=submit]").await;

    b.wait_for_url(|u| u.ends_with(&format!("/metrics/{ID}"))).await;
    let history = b.text(".timeline").await;
    assert!(history.contains("Version 2") && history.contains("eddie"), "{history}");
    assert!(b.text(".lead").await.contains("Edited in a browser"));
    // Compare the two versions from the history.
    b.click("form.version-pick button[type=submit]").await;
    b.wait_for_url(|u| u.contains("/diff?from=1&to=2")).await;
    assert!(b.text("table.diff").await.contains("Edited in a browser"));
    b.close().await;
}

async fn a_stale_save_is_refused_with_the_other_editors_changes(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    app.user(db, "eddie", "editor").await;
    let token = app.token().await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "eddie", "eddie-password-123").await;
    b.goto(&app.url(&format!("/metrics/{ID}/edit"))).await;
    set_field(&b, "name", "Eddie's name").await;
    let theirs = json!({ "description": "The admin saved first" });
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/metrics/{ID}"),
            &token,
            Some(&theirs),
        )
        .await;
    assert_eq!(r.status(), 200);

    b.click("form.editor button[type=submit]").await;

    // The diff table is only on the conflict page: waiting for it waits for the navigation.
    assert!(b.text("table.diff").await.contains("The admin saved first"));
    assert!(b.text("h1").await.contains("changed since you opened it"));
    let kept = b.run("return document.getElementById('document').value").await;
    assert!(
        kept.as_str().unwrap_or_default().contains("Eddie's name"),
        "the text is kept"
    );
    b.close().await;
}

async fn an_editor_changes_the_governance_section_and_sees_it_on_the_metric_page(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    app.user(db, "eddie", "editor").await;
    let token = app.token().await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "eddie", "eddie-password-123").await;
    b.goto(&app.url(&format!("/metrics/{ID}/edit"))).await;

    b.fill("#f-governance-owner_team", "Voice of the Customer").await;
    b.fill("#f-governance-regulatory_constraints", "gdpr\nccpa").await;
    b.click("#s-governance button[type=submit]").await;

    b.wait_for_url(|u| u.ends_with(&format!("/metrics/{ID}"))).await;
    let owners = b.text("#owners").await;
    assert!(owners.contains("Voice of the Customer"), "{owners}");
    let stored = app.get(&format!("/api/v1/metrics/{ID}"), &token).await;
    let stored = stored.json::<serde_json::Value>().await.unwrap();
    assert_eq!(
        stored["data"]["governance"]["regulatory_constraints"],
        json!(["gdpr", "ccpa"])
    );
    assert_eq!(stored["data"]["governance"]["business_owner"], "Chief Customer Officer");
    b.close().await;
}

backend_tests!(
    an_editor_fixes_an_error_saves_and_sees_the_new_version,
    an_editor_changes_the_governance_section_and_sees_it_on_the_metric_page,
    a_stale_save_is_refused_with_the_other_editors_changes,
);
