//! User administration: who may create, list, change and delete users, and what they see.

use crate::support::{TestDb, backend_tests, error_code, spawn};
use serde_json::{Value, json};

async fn user_administration_over_http(db: &TestDb) {
    use reqwest::Method;
    let app = spawn(db, false).await;
    let admin = app.token().await;
    let viewer = app.user(db, "vera", "viewer").await;
    let new =
        json!({ "username": "Carol", "email": "carol@example.com", "password": "carol-password-1", "role": "editor" });
    let (status, _, _) = error_code(app.send(Method::POST, "/api/v1/users", &viewer, Some(&new)).await).await;
    assert_eq!(status, 403);
    let r = app.send(Method::POST, "/api/v1/users", &admin, Some(&new)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let carol: Value = r.json().await.unwrap();
    let carol_id = carol["data"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        (carol["data"]["username"].as_str(), carol["data"]["role"].as_str()),
        (Some("carol"), Some("editor"))
    );
    assert!(carol["data"].get("password_hash").is_none());
    assert_eq!(
        app.send(Method::POST, "/api/v1/users", &admin, Some(&new))
            .await
            .status(),
        409
    );
    let bad = json!({ "username": "x", "email": "nope", "password": "short", "role": "king" });
    let (status, _, body) = error_code(app.send(Method::POST, "/api/v1/users", &admin, Some(&bad)).await).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"].as_array().unwrap().len()),
        (400, 4)
    );
    let odd = json!({ "username": "dave", "email": "d@example.com", "password": "dave-password-1", "is_admin": true });
    assert_eq!(
        app.send(Method::POST, "/api/v1/users", &admin, Some(&odd))
            .await
            .status(),
        400
    );

    let list: Value = app.get("/api/v1/users", &admin).await.json().await.unwrap();
    assert_eq!(list["pagination"]["total"], 3);
    assert_eq!(error_code(app.get("/api/v1/users", &viewer).await).await.0, 403);
    assert_eq!(
        error_code(app.get(&format!("/api/v1/users/{carol_id}"), &viewer).await)
            .await
            .0,
        403
    );

    let carol_token = {
        let body: Value = app.login("carol", "carol-password-1").await.json().await.unwrap();
        body["data"]["tokens"]["access_token"].as_str().unwrap().to_string()
    };
    let me = format!("/api/v1/users/{carol_id}");
    assert_eq!(app.get(&me, &carol_token).await.status(), 200);
    let r = app
        .send(
            Method::PATCH,
            &me,
            &carol_token,
            Some(&json!({ "full_name": "Carol C." })),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        error_code(
            app.send(Method::PATCH, &me, &carol_token, Some(&json!({ "role": "admin" })))
                .await
        )
        .await
        .0,
        403
    );

    // Deactivation locks the user out at once.
    let r = app
        .send(Method::PUT, &me, &admin, Some(&json!({ "status": "inactive" })))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get("/api/v1/auth/me", &carol_token).await.status(), 401);
    assert_eq!(app.login("carol", "carol-password-1").await.status(), 401);

    let (admin_user, _) = db.store.find_user("admin").await.unwrap().unwrap();
    let own = format!("/api/v1/users/{}", admin_user.user_id);
    assert_eq!(
        error_code(
            app.send(Method::PATCH, &own, &admin, Some(&json!({ "role": "viewer" })))
                .await
        )
        .await
        .0,
        403
    );
    assert_eq!(
        error_code(app.send(Method::DELETE, &own, &admin, None).await).await.0,
        409
    );
    assert_eq!(app.send(Method::DELETE, &me, &admin, None).await.status(), 204);
    assert_eq!(app.get(&me, &admin).await.status(), 404);
}

backend_tests!(user_administration_over_http,);
