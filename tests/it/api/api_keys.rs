//! API keys: creation, scopes capping the owner's role, revocation, expiry.

use crate::support::{TestApp, TestDb, backend_tests, error_code, load, sample_metrics, spawn};
use serde_json::{Value, json};

async fn api_keys_are_scoped_revocable_and_really_accepted(db: &TestDb) {
    use reqwest::Method;
    load(db).await;
    let app = spawn(db, false).await;
    let viewer = app.user(db, "vera", "viewer").await;
    let editor = app.user(db, "eddie", "editor").await;
    async fn new_key(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
        app.send(reqwest::Method::POST, "/api/v1/api-keys", token, Some(&body))
            .await
    }
    assert_eq!(
        error_code(new_key(&app, &viewer, json!({ "name": "ci", "scopes": ["write"] })).await)
            .await
            .0,
        403
    );
    let (status, _, body) = error_code(new_key(&app, &viewer, json!({ "name": "", "scopes": ["fly"] })).await).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"].as_array().unwrap().len()),
        (400, 2)
    );

    let r = new_key(&app, &editor, json!({ "name": "dashboards", "scopes": ["read"] })).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let read_key = body["data"]["key"].as_str().unwrap().to_string();
    assert!(read_key.starts_with("mdl_") && read_key.len() == 68);
    let read_id = body["data"]["api_key"]["key_id"].as_str().unwrap().to_string();
    let body: Value = new_key(&app, &editor, json!({ "name": "ci", "scopes": ["read", "write"] }))
        .await
        .json()
        .await
        .unwrap();
    let write_key = body["data"]["key"].as_str().unwrap().to_string();

    // Accepted as a bearer token or in X-API-Key; the scope caps the owner's role.
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", &read_key).await.status(), 200);
    let r = app
        .client
        .get(app.url("/api/v1/metrics/METRIC-CSAT"))
        .header("x-api-key", &read_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut doc = sample_metrics()[1].clone();
    doc["metric_id"] = json!("NEW-METRIC");
    assert_eq!(
        error_code(app.send(Method::POST, "/api/v1/metrics", &read_key, Some(&doc)).await)
            .await
            .0,
        403
    );
    assert_eq!(
        app.send(Method::POST, "/api/v1/metrics", &write_key, Some(&doc))
            .await
            .status(),
        201
    );

    let list: Value = app.get("/api/v1/api-keys", &editor).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&read_key), "secrets are never listed");
    assert_eq!(
        app.send(Method::DELETE, &format!("/api/v1/api-keys/{read_id}"), &viewer, None)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.send(Method::DELETE, &format!("/api/v1/api-keys/{read_id}"), &editor, None)
            .await
            .status(),
        204
    );
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", &read_key).await.status(), 401);
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", "mdl_0000").await.status(), 401);

    // An expired key is refused.
    let (owner, _) = db.store.find_user("eddie").await.unwrap().unwrap();
    let secret = "mdl_expired0000000000000000000000000000000000000000000000000000000000";
    let expired = mdl::store::ApiKey {
        key_id: "k-expired".into(),
        user_id: owner.user_id,
        name: "old".into(),
        prefix: secret[..12].into(),
        scopes: vec!["read".into()],
        created_at: 0,
        expires_at: Some(1),
        revoked_at: None,
    };
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    db.store.create_api_key(&expired, &hash).await.unwrap();
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", secret).await.status(), 401);
}

backend_tests!(api_keys_are_scoped_revocable_and_really_accepted,);
