//! The admin pages in headless Chromium: an admin finds the admin pages from the header,
//! creates a user and changes their role.

use super::browser::browser;
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, spawn};
use serde_json::Value;

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

backend_tests!(an_admin_creates_a_user_and_changes_their_role);
