//! API keys: creation, scopes capping the owner's role, revocation, expiry.

use crate::support::{TestApp, TestDb, backend_tests, error_code, load, sample_metrics, spawn};
use reqwest::Method;
use serde_json::{Value, json};

async fn api_keys_are_scoped_revocable_and_really_accepted(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let viewer = app.user(db, "vera", "viewer").await;
    let editor = app.user(db, "eddie", "editor").await;

    keys_beyond_the_role_or_malformed_are_refused(&app, &viewer).await;
    let keys = an_editor_creates_a_read_key_and_a_write_key(&app, &editor).await;
    keys_are_accepted_within_their_scope(&app, &keys).await;
    keys_are_listed_without_secrets_and_revoked_by_their_owner(&app, &viewer, &editor, &keys).await;
    an_expired_key_is_refused(&app, db).await;
}

struct Keys {
    read: String,
    read_id: String,
    write: String,
}

async fn new_key(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, "/api/v1/api-keys", token, Some(&body)).await
}

async fn keys_beyond_the_role_or_malformed_are_refused(app: &TestApp, viewer: &str) {
    assert_eq!(
        error_code(new_key(app, viewer, json!({ "name": "ci", "scopes": ["write"] })).await)
            .await
            .0,
        403
    );
    let (status, _, body) = error_code(new_key(app, viewer, json!({ "name": "", "scopes": ["fly"] })).await).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"].as_array().unwrap().len()),
        (400, 2)
    );
}

async fn an_editor_creates_a_read_key_and_a_write_key(app: &TestApp, editor: &str) -> Keys {
    let r = new_key(app, editor, json!({ "name": "dashboards", "scopes": ["read"] })).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let read = body["data"]["key"].as_str().unwrap().to_string();
    assert!(read.starts_with("mdl_") && read.len() == 68);
    let read_id = body["data"]["api_key"]["key_id"].as_str().unwrap().to_string();
    let body: Value = new_key(app, editor, json!({ "name": "ci", "scopes": ["read", "write"] }))
        .await
        .json()
        .await
        .unwrap();
    let write = body["data"]["key"].as_str().unwrap().to_string();
    Keys { read, read_id, write }
}

/// Accepted as a bearer token or in `X-API-Key`; the scope caps the owner's role.
async fn keys_are_accepted_within_their_scope(app: &TestApp, keys: &Keys) {
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", &keys.read).await.status(), 200);
    let r = app
        .client
        .get(app.url("/api/v1/metrics/METRIC-CSAT"))
        .header("x-api-key", &keys.read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut doc = sample_metrics()[1].clone();
    doc["metric_id"] = json!("NEW-METRIC");
    assert_eq!(
        error_code(app.send(Method::POST, "/api/v1/metrics", &keys.read, Some(&doc)).await)
            .await
            .0,
        403
    );
    assert_eq!(
        app.send(Method::POST, "/api/v1/metrics", &keys.write, Some(&doc))
            .await
            .status(),
        201
    );
}

/// Someone else's key is not found rather than forbidden.
async fn keys_are_listed_without_secrets_and_revoked_by_their_owner(
    app: &TestApp,
    viewer: &str,
    editor: &str,
    keys: &Keys,
) {
    let list: Value = app.get("/api/v1/api-keys", editor).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&keys.read), "secrets are never listed");
    let path = format!("/api/v1/api-keys/{}", keys.read_id);
    assert_eq!(app.send(Method::DELETE, &path, viewer, None).await.status(), 404);
    assert_eq!(app.send(Method::DELETE, &path, editor, None).await.status(), 204);
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", &keys.read).await.status(), 401);
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", "mdl_0000").await.status(), 401);
}

/// The API cannot create a key that is already expired, so this one goes into the store.
async fn an_expired_key_is_refused(app: &TestApp, db: &TestDb) {
    use sha2::Digest;
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
    let hash: String = sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    db.store.create_api_key(&expired, &hash).await.unwrap();
    assert_eq!(app.get("/api/v1/metrics/METRIC-CSAT", secret).await.status(), 401);
}

backend_tests!(api_keys_are_scoped_revocable_and_really_accepted);
