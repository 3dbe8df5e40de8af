//! Logging in, refreshing, logging out, changing the password, and the login rate limit.

use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, error_code, spawn};
use serde_json::{Value, json};

async fn login_and_identity(db: &TestDb) {
    let app = spawn(db, false).await;
    let (status, code, _) = error_code(app.login("admin", "wrong password!").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "AUTHENTICATION_ERROR"));
    let (status, _, _) = error_code(app.login("nobody", "whatever-password").await).await;
    assert_eq!(status, 401);
    let r = app.login("ADMIN", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["tokens"]["token_type"], "Bearer");
    assert!(body["data"]["user"].get("password_hash").is_none());
    let token = body["data"]["tokens"]["access_token"].as_str().unwrap();
    let me: Value = app.get("/api/v1/auth/me", token).await.json().await.unwrap();
    assert_eq!(
        (me["data"]["username"].as_str(), me["data"]["role"].as_str()),
        (Some("admin"), Some("admin"))
    );
    let (status, _, _) = error_code(app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let (status, _, _) = error_code(app.get("/api/v1/auth/me", "not-a-jwt").await).await;
    assert_eq!(status, 401);

    // Deactivation through the API locks the user out at once, token or not.
    let carl = app.user(db, "carl", "viewer").await;
    assert_eq!(app.get("/api/v1/auth/me", &carl).await.status(), 200);
    let (carl_user, _) = db.store.find_user("carl").await.unwrap().unwrap();
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", carl_user.user_id),
            token,
            Some(&json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, _, _) = error_code(app.get("/api/v1/auth/me", &carl).await).await;
    assert_eq!(status, 401);
    let (status, _, _) = error_code(app.login("carl", "carl-password-123").await).await;
    assert_eq!(status, 401);
}

async fn refresh_rotation_reuse_logout_and_password_change(db: &TestDb) {
    let app = spawn(db, false).await;
    let refresh = |token: String| {
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": token }))
            .send()
    };
    let body: Value = app.login("admin", ADMIN_PASSWORD).await.json().await.unwrap();
    let first = body["data"]["tokens"]["refresh_token"].as_str().unwrap().to_string();

    let r = refresh(first.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let second = body["data"]["tokens"]["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(
        app.get(
            "/api/v1/auth/me",
            body["data"]["tokens"]["access_token"].as_str().unwrap()
        )
        .await
        .status(),
        200
    );

    // Reusing the rotated token revokes the whole family, the newer token included.
    let (status, _, body) = error_code(refresh(first).await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"].as_str().unwrap().contains("already used"));
    assert_eq!(refresh(second).await.unwrap().status(), 401);
    assert_eq!(refresh("garbage".into()).await.unwrap().status(), 401);

    // Logout ends that session only.
    let body: Value = app.login("admin", ADMIN_PASSWORD).await.json().await.unwrap();
    let a = body["data"]["tokens"]["refresh_token"].as_str().unwrap().to_string();
    let access = body["data"]["tokens"]["access_token"].as_str().unwrap().to_string();
    let body: Value = app.login("admin", ADMIN_PASSWORD).await.json().await.unwrap();
    let b = body["data"]["tokens"]["refresh_token"].as_str().unwrap().to_string();
    let r = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": a }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(refresh(a).await.unwrap().status(), 401);

    // Changing the password checks the current one and ends every session.
    let change = |current: &str, new: &str| {
        app.client
            .post(app.url("/api/v1/auth/change-password"))
            .bearer_auth(&access)
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
    };
    let (status, _, body) = error_code(change("wrong one!!", "a new password 1").await.unwrap()).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"][0]["field"].as_str()),
        (400, Some("current_password"))
    );
    let (status, _, _) = error_code(change(ADMIN_PASSWORD, "short").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(change(ADMIN_PASSWORD, "a new password 1").await.unwrap().status(), 204);
    assert_eq!(refresh(b).await.unwrap().status(), 401);
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status(), 401);
    assert_eq!(app.login("admin", "a new password 1").await.status(), 200);
}

async fn logins_are_rate_limited_per_ip_and_username(db: &TestDb) {
    let app = spawn(db, false).await;
    for _ in 0..10 {
        assert_eq!(app.login("admin", "wrong password!").await.status(), 401);
    }
    let r = app.login("Admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429, "even the right password waits");
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let (_, code, _) = error_code(r).await;
    assert_eq!(code, "RATE_LIMITED");
    // Another username from the same address is not affected.
    assert_eq!(app.login("someone", "wrong password!").await.status(), 401);
}

backend_tests!(
    login_and_identity,
    refresh_rotation_reuse_logout_and_password_change,
    logins_are_rate_limited_per_ip_and_username,
);
