//! The admin pages over plain HTTP: users created, promoted and deactivated through the
//! API's rules, API keys shown once and revoked, and who may open the pages at all.

use super::editing::post_form;
use super::forms::{client, get_with_session, hidden, sign_in};
use crate::support::{ADMIN_PASSWORD, TestApp, TestDb, backend_tests, spawn};

async fn admin_session(app: &TestApp) -> (String, String) {
    let session = sign_in(app, "admin", ADMIN_PASSWORD).await;
    let page = get_with_session(app, "/admin/users", &session).await;
    assert_eq!(page.status(), 200);
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    (session, csrf)
}

/// The user id in the role form of `username`'s row.
async fn user_id(app: &TestApp, session: &str, username: &str) -> String {
    let html = get_with_session(app, "/admin/users", session)
        .await
        .text()
        .await
        .unwrap();
    let row = html
        .split("<tr>")
        .find(|r| r.contains(&format!("<th scope=\"row\">{username}</th>")))
        .unwrap_or_else(|| panic!("no row for {username}"));
    let start = row.find("/admin/users/").unwrap() + "/admin/users/".len();
    row[start..].split('/').next().unwrap().to_string()
}

async fn an_admin_creates_a_user_who_can_then_sign_in(db: &TestDb) {
    let app = spawn(db, false).await;
    let (session, csrf) = admin_session(&app).await;

    // The API's validation, each message beside its input under the API's field path.
    let r = post_form(
        &app,
        "/admin/users/new",
        &session,
        &[
            ("csrf", &csrf),
            ("username", "nadia"),
            ("email", "not-an-email"),
            ("full_name", "Nadia N"),
            ("role", "editor"),
            ("password", "nadia-password-123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("aria-describedby=\"f-email-error\"") && html.contains("<code class=\"path\">email</code>"),
        "{html}"
    );
    assert!(html.contains("value=\"Nadia N\""), "the form keeps what was typed");

    let r = post_form(
        &app,
        "/admin/users/new",
        &session,
        &[
            ("csrf", &csrf),
            ("username", "nadia"),
            ("email", "nadia@example.com"),
            ("full_name", "Nadia N"),
            ("role", "editor"),
            ("password", "nadia-password-123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/users");
    let list = get_with_session(&app, "/admin/users", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("nadia@example.com") && list.contains("Nadia N"), "{list}");

    let hers = sign_in(&app, "nadia", "nadia-password-123").await;
    assert_eq!(
        get_with_session(&app, "/metrics/new", &hers).await.status(),
        200,
        "an editor"
    );

    // The same username again: the API's conflict, shown on the form.
    let r = post_form(
        &app,
        "/admin/users/new",
        &session,
        &[
            ("csrf", &csrf),
            ("username", "nadia"),
            ("email", "other@example.com"),
            ("role", "viewer"),
            ("password", "nadia-password-123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    // Without its token nothing is created.
    let r = post_form(
        &app,
        "/admin/users/new",
        &session,
        &[
            ("username", "mallory"),
            ("email", "mallory@example.com"),
            ("role", "admin"),
            ("password", "mallory-password-123"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let list = get_with_session(&app, "/admin/users", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains("mallory"));
}

async fn role_changes_take_effect_and_deactivation_ends_sessions(db: &TestDb) {
    let app = spawn(db, false).await;
    app.user(db, "rita", "viewer").await;
    let (session, csrf) = admin_session(&app).await;
    let hers = sign_in(&app, "rita", "rita-password-123").await;
    assert_eq!(get_with_session(&app, "/metrics/new", &hers).await.status(), 403);
    let id = user_id(&app, &session, "rita").await;

    let r = post_form(
        &app,
        &format!("/admin/users/{id}/role"),
        &session,
        &[("csrf", &csrf), ("role", "editor")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        get_with_session(&app, "/metrics/new", &hers).await.status(),
        200,
        "now an editor"
    );
    let r = post_form(
        &app,
        &format!("/admin/users/{id}/role"),
        &session,
        &[("csrf", &csrf), ("role", "emperor")],
    )
    .await;
    assert_eq!(r.status(), 400);

    let r = post_form(
        &app,
        &format!("/admin/users/{id}/status"),
        &session,
        &[("csrf", &csrf), ("status", "inactive")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = get_with_session(&app, "/", &hers).await;
    assert_eq!(r.status(), 303, "her session ended");
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/login"));
    let list = get_with_session(&app, "/admin/users", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("Reactivate"), "{list}");

    // As in the API, an admin cannot change their own role or status.
    let me = app.user_id(&app.token().await, "admin").await;
    let r = post_form(
        &app,
        &format!("/admin/users/{me}/status"),
        &session,
        &[("csrf", &csrf), ("status", "inactive")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(get_with_session(&app, "/admin/users", &session).await.status(), 200);
}

async fn only_admins_open_the_admin_pages(db: &TestDb) {
    let app = spawn(db, false).await;
    app.user(db, "vera", "viewer").await;
    app.user(db, "eddie", "editor").await;
    let vera = sign_in(&app, "vera", "vera-password-123").await;
    let eddie = sign_in(&app, "eddie", "eddie-password-123").await;

    for path in ["/admin/users", "/admin/users/new", "/admin/api-keys"] {
        for session in [&vera, &eddie] {
            let r = get_with_session(&app, path, session).await;
            assert_eq!(r.status(), 403, "{path}");
            assert!(r.text().await.unwrap().contains("Not allowed"));
        }
        let r = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path} anonymous");
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login?next="));
    }
    // The header links follow the role.
    let page = get_with_session(&app, "/", &vera).await.text().await.unwrap();
    assert!(!page.contains("href=\"/admin/users\"") && !page.contains("href=\"/import\""));
    let page = get_with_session(&app, "/", &eddie).await.text().await.unwrap();
    assert!(!page.contains("href=\"/admin/users\"") && page.contains("href=\"/import\""));
    let admin = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let page = get_with_session(&app, "/", &admin).await.text().await.unwrap();
    assert!(page.contains("href=\"/admin/users\"") && page.contains("href=\"/import\""));
}

async fn an_api_key_is_shown_once_works_and_can_be_revoked(db: &TestDb) {
    let app = spawn(db, false).await;
    let (session, csrf) = admin_session(&app).await;

    let r = post_form(
        &app,
        "/admin/api-keys",
        &session,
        &[
            ("csrf", &csrf),
            ("name", "nightly"),
            ("scope", "nope"),
            ("expires_in_days", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<code class=\"path\">scopes[0]</code>")
    );

    let r = post_form(
        &app,
        "/admin/api-keys",
        &session,
        &[
            ("csrf", &csrf),
            ("name", "nightly"),
            ("scope", "read"),
            ("expires_in_days", "30"),
        ],
    )
    .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("no-store"));
    let html = r.text().await.unwrap();
    let start = html.find("id=\"new-key\">").expect("the secret") + "id=\"new-key\">".len();
    let secret = html[start..].split('<').next().unwrap().to_string();
    assert!(secret.starts_with("mdl_"), "{secret}");

    let again = get_with_session(&app, "/admin/api-keys", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(again.contains("nightly") && !again.contains(&secret), "shown once");

    let with_key = || {
        client()
            .get(app.url("/api/v1/metrics"))
            .header("x-api-key", secret.clone())
            .send()
    };
    assert_eq!(with_key().await.unwrap().status(), 200);

    let start = again.find("/admin/api-keys/").unwrap();
    let action = again[start..].split('"').next().unwrap().to_string();
    assert!(action.ends_with("/revoke"), "{action}");
    assert_eq!(post_form(&app, &action, &session, &[]).await.status(), 403, "no token");
    assert_eq!(with_key().await.unwrap().status(), 200);
    let r = post_form(&app, &action, &session, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(with_key().await.unwrap().status(), 401);
    let after = get_with_session(&app, "/admin/api-keys", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(after.contains("revoked"));
}

backend_tests!(
    an_admin_creates_a_user_who_can_then_sign_in,
    role_changes_take_effect_and_deactivation_ends_sessions,
    only_admins_open_the_admin_pages,
    an_api_key_is_shown_once_works_and_can_be_revoked,
);
