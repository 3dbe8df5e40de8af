//! The admin and import pages in headless Chromium: an admin finds the admin pages from the
//! header, creates a user, changes their role and makes an API key; an editor imports a
//! catalog after its preview, pasted or picked as a file. No page asks another host for anything.

use super::browser::{Browser, browser};
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, example, spawn};
use serde_json::Value;

/// Fails if the current page loaded anything from a host other than `base`.
async fn only_our_host(b: &Browser, base: &str) {
    let urls = b
        .run("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);")
        .await;
    for url in urls.as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(url.starts_with(base), "{url} is not from {base}");
    }
}

async fn an_admin_creates_a_user_and_changes_their_role(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;
    b.click("nav a[href='/admin/users']").await;
    b.wait_for_url(|u| u.ends_with("/admin/users")).await;
    b.click(".actions a.button").await;
    b.wait_for_url(|u| u.ends_with("/admin/users/new")).await;

    b.fill("#f-username", "olga").await;
    b.fill("#f-email", "olga@example.com").await;
    b.fill("#f-full_name", "Olga O").await;
    b.fill("#f-password", "olga-password-123").await;
    b.click("form.fields button[type=submit]").await;
    b.wait_for_url(|u| u.ends_with("/admin/users")).await;
    let table = b.text("table.admin-users").await;
    assert!(
        table.contains("olga@example.com") && table.contains("viewer"),
        "{table}"
    );

    // Olga's row is the only one with a role form (the admin's own has none).
    b.run("document.querySelector(\"select[id^='role-']\").value = 'editor'; return true;")
        .await;
    b.click("form[action$='/role'] button[type=submit]").await;
    b.wait_for_url(|u| u.ends_with("/admin/users")).await;
    let chosen = b
        .run("return document.querySelector(\"select[id^='role-']\").value;")
        .await;
    assert_eq!(chosen, "editor");
    only_our_host(&b, &app.base).await;

    b.click(".admin-nav a[href='/admin/api-keys']").await;
    b.wait_for_url(|u| u.ends_with("/admin/api-keys")).await;
    b.fill("#f-name", "deploys").await;
    b.click("form.fields button[type=submit]").await;
    let secret = b.text("#new-key").await;
    assert!(secret.starts_with("mdl_"), "{secret}");
    only_our_host(&b, &app.base).await;
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/metrics"))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let users: Value = app.get("/api/v1/users", &token).await.json().await.unwrap();
    let olga = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "olga")
        .cloned()
        .unwrap();
    assert_eq!(olga["role"], "editor");
    b.close().await;
}

async fn an_editor_previews_then_confirms_an_import(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    app.user(db, "eddie", "editor").await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "eddie", "eddie-password-123").await;
    b.click("nav a[href='/import']").await;
    b.wait_for_url(|u| u.ends_with("/import")).await;

    let document = example("sample-metrics.json");
    b.run(&format!(
        "document.getElementById('document').value = {}; return true;",
        serde_json::to_string(&document).unwrap()
    ))
    .await;
    b.click("form.editor button[type=submit]").await;
    let preview = b.text("table.import-preview").await;
    assert!(preview.contains("metrics 12 0 0"), "{preview}");
    only_our_host(&b, &app.base).await;
    let before: Value = app.get("/api/v1/metrics", &token).await.json().await.unwrap();
    assert_eq!(before["data"].as_array().unwrap().len(), 0, "the preview wrote nothing");

    b.click("form[action='/import'] button[type=submit]").await;
    let done = b.text(".done").await;
    assert!(done.contains("The import was applied"), "{done}");
    b.goto(&app.url("/metrics/METRIC-LOGIN-SUCCESS-RATE")).await;
    assert!(b.text("h1").await.contains("Login Success Rate"));
    only_our_host(&b, &app.base).await;
    b.close().await;
}

async fn an_editor_uploads_a_catalog_file_and_confirms_it(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;
    app.user(db, "eddie", "editor").await;
    // A real file on disk, picked through the file input as a person would.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.yaml");
    std::fs::write(&path, example("sample-metrics.yaml")).unwrap();
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "eddie", "eddie-password-123").await;
    b.goto(&app.url("/import")).await;

    let input = b.client.find(fantoccini::Locator::Css("#file")).await.unwrap();
    input.send_keys(path.to_str().unwrap()).await.unwrap();
    b.click("form.editor button[type=submit]").await;
    let preview = b.text("table.import-preview").await;
    assert!(preview.contains("metrics 5 0 0"), "{preview}");
    let before: Value = app.get("/api/v1/metrics", &token).await.json().await.unwrap();
    assert_eq!(before["data"].as_array().unwrap().len(), 0, "the preview wrote nothing");

    b.click("form[action='/import'] button[type=submit]").await;
    let done = b.text(".done").await;
    assert!(done.contains("The import was applied"), "{done}");
    let after: Value = app.get("/api/v1/metrics", &token).await.json().await.unwrap();
    assert_eq!(after["data"].as_array().unwrap().len(), 5);
    b.close().await;
}

backend_tests!(
    an_admin_creates_a_user_and_changes_their_role,
    an_editor_previews_then_confirms_an_import,
    an_editor_uploads_a_catalog_file_and_confirms_it,
);
