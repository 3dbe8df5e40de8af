//! User administration: who may create, list, change and delete users, and what they see.

use crate::support::{TestApp, TestDb, backend_tests, error_code, spawn};
use reqwest::Method;
use serde_json::{Value, json};

async fn user_administration_over_http(db: &TestDb) {
    let app = spawn(db, false).await;
    let admin = app.token().await;
    let viewer = app.user(db, "vera", "viewer").await;

    let carol_id = only_admins_create_users(&app, &admin, &viewer).await;
    invalid_or_duplicate_users_are_refused(&app, &admin).await;
    only_admins_list_and_read_other_users(&app, &admin, &viewer, &carol_id).await;
    let carol = app.access_token("carol", "carol-password-1").await;
    let me = format!("/api/v1/users/{carol_id}");
    users_edit_themselves_but_not_their_role(&app, &carol, &me).await;
    deactivation_locks_the_user_out_at_once(&app, &admin, &carol, &me).await;
    admins_cannot_demote_or_delete_themselves(&app, db, &admin).await;

    assert_eq!(app.send(Method::DELETE, &me, &admin, None).await.status(), 204);
    assert_eq!(app.get(&me, &admin).await.status(), 404);
}

fn carol() -> Value {
    json!({ "username": "Carol", "email": "carol@example.com", "password": "carol-password-1", "role": "editor" })
}

/// Returns the new user's id.
async fn only_admins_create_users(app: &TestApp, admin: &str, viewer: &str) -> String {
    let (status, _, _) = error_code(app.send(Method::POST, "/api/v1/users", viewer, Some(&carol())).await).await;
    assert_eq!(status, 403);
    let r = app.send(Method::POST, "/api/v1/users", admin, Some(&carol())).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let carol: Value = r.json().await.unwrap();
    assert_eq!(
        (carol["data"]["username"].as_str(), carol["data"]["role"].as_str()),
        (Some("carol"), Some("editor"))
    );
    assert!(carol["data"].get("password_hash").is_none());
    carol["data"]["user_id"].as_str().unwrap().to_string()
}

async fn invalid_or_duplicate_users_are_refused(app: &TestApp, admin: &str) {
    assert_eq!(
        app.send(Method::POST, "/api/v1/users", admin, Some(&carol()))
            .await
            .status(),
        409
    );
    let bad = json!({ "username": "x", "email": "nope", "password": "short", "role": "king" });
    let (status, _, body) = error_code(app.send(Method::POST, "/api/v1/users", admin, Some(&bad)).await).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"].as_array().unwrap().len()),
        (400, 4)
    );
    let odd = json!({ "username": "dave", "email": "d@example.com", "password": "dave-password-1", "is_admin": true });
    assert_eq!(
        app.send(Method::POST, "/api/v1/users", admin, Some(&odd))
            .await
            .status(),
        400
    );
}

async fn only_admins_list_and_read_other_users(app: &TestApp, admin: &str, viewer: &str, carol_id: &str) {
    let list: Value = app.get("/api/v1/users", admin).await.json().await.unwrap();
    assert_eq!(list["pagination"]["total"], 3);
    assert_eq!(error_code(app.get("/api/v1/users", viewer).await).await.0, 403);
    assert_eq!(
        error_code(app.get(&format!("/api/v1/users/{carol_id}"), viewer).await)
            .await
            .0,
        403
    );
}

async fn users_edit_themselves_but_not_their_role(app: &TestApp, carol: &str, me: &str) {
    assert_eq!(app.get(me, carol).await.status(), 200);
    let r = app
        .send(Method::PATCH, me, carol, Some(&json!({ "full_name": "Carol C." })))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        error_code(
            app.send(Method::PATCH, me, carol, Some(&json!({ "role": "admin" })))
                .await
        )
        .await
        .0,
        403
    );
}

async fn deactivation_locks_the_user_out_at_once(app: &TestApp, admin: &str, carol: &str, me: &str) {
    let r = app
        .send(Method::PUT, me, admin, Some(&json!({ "status": "inactive" })))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get("/api/v1/auth/me", carol).await.status(), 401);
    assert_eq!(app.login("carol", "carol-password-1").await.status(), 401);
}

/// So an admin cannot lock themselves out, nor a stolen token take the account over.
async fn admins_cannot_demote_or_delete_themselves(app: &TestApp, db: &TestDb, admin: &str) {
    let (admin_user, _) = db.store.find_user("admin").await.unwrap().unwrap();
    let own = format!("/api/v1/users/{}", admin_user.user_id);
    assert_eq!(
        error_code(
            app.send(Method::PATCH, &own, admin, Some(&json!({ "role": "viewer" })))
                .await
        )
        .await
        .0,
        403
    );
    assert_eq!(
        error_code(app.send(Method::DELETE, &own, admin, None).await).await.0,
        409
    );
    // Their own password goes through change-password, which asks for the current one.
    let set = json!({ "password": "a-new-admin-password-1" });
    assert_eq!(
        error_code(app.send(Method::PATCH, &own, admin, Some(&set)).await)
            .await
            .0,
        403
    );
    assert_eq!(app.get("/api/v1/auth/me", admin).await.status(), 200);
}

backend_tests!(user_administration_over_http);
