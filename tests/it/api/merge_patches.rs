//! JSON merge patches (RFC 7396) of domains and objectives: what they change, what they refuse.

use crate::support::{TestApp, TestDb, backend_tests, error_code, spawn};
use reqwest::Method;
use serde_json::{Value, json};

async fn domains_and_objectives_take_merge_patches(db: &TestDb) {
    let app = spawn(db, false).await;
    let viewer = app.user(db, "vera", "viewer").await;
    let editor = app.user(db, "eddie", "editor").await;
    let domain = json!({ "domain_id": "DOM-P", "name": "Payments", "color": "#aabbcc", "key_areas": ["cards"] });
    assert_eq!(
        app.send(Method::POST, "/api/v1/domains", &editor, Some(&domain))
            .await
            .status(),
        201
    );

    a_patch_sets_removes_and_keeps_the_rest(&app, &editor, &viewer).await;
    bad_patches_are_refused_and_store_nothing(&app, &editor, &viewer).await;
    plain_json_and_a_weak_if_match_work_too(&app, &editor).await;
    a_patched_key_result_gets_its_progress_recomputed(&app, &editor).await;
}

async fn merge_patch(
    app: &TestApp,
    path: &str,
    token: &str,
    body: String,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .patch(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/merge-patch+json")
        .body(body);
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    req.send().await.unwrap()
}

/// Server-owned fields in the patch are ignored.
async fn a_patch_sets_removes_and_keeps_the_rest(app: &TestApp, editor: &str, viewer: &str) {
    let body = json!({ "description": "Card and wallet payments", "color": null, "version": 42 }).to_string();
    let r = merge_patch(app, "/api/v1/domains/DOM-P", editor, body, Some("\"v1\"")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"v2\"");
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["data"]["version"], 2);
    assert_eq!(saved["data"]["description"], "Card and wallet payments");
    assert_eq!(saved["data"]["name"], "Payments");
    assert_eq!(saved["data"]["key_areas"], json!(["cards"]));
    assert!(saved["data"].get("color").is_none(), "{saved}");
    let got: Value = app.get("/api/v1/domains/DOM-P", viewer).await.json().await.unwrap();
    assert_eq!(got["data"], saved["data"], "reads see the patched domain");
}

/// A stale `If-Match`, an invalid merged result, a changed id, a non-object, a viewer, an
/// unknown domain.
async fn bad_patches_are_refused_and_store_nothing(app: &TestApp, editor: &str, viewer: &str) {
    let path = "/api/v1/domains/DOM-P";
    let r = merge_patch(app, path, editor, json!({ "name": "X" }).to_string(), Some("\"v1\"")).await;
    let (status, code, _) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (412, "PRECONDITION_FAILED"));
    let r = merge_patch(app, path, editor, json!({ "color": "red" }).to_string(), None).await;
    let (status, _, body) = error_code(r).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"][0]["field"].as_str()),
        (400, Some("color"))
    );
    let r = merge_patch(app, path, editor, json!({ "domain_id": "OTHER" }).to_string(), None).await;
    assert_eq!(r.status(), 400);
    let r = merge_patch(app, path, editor, "[1]".into(), None).await;
    assert_eq!(r.status(), 400);
    let r = merge_patch(app, path, viewer, json!({ "name": "X" }).to_string(), None).await;
    assert_eq!(r.status(), 403);
    let r = merge_patch(
        app,
        "/api/v1/domains/NOPE",
        editor,
        json!({ "name": "X" }).to_string(),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let unchanged: Value = app.get(path, viewer).await.json().await.unwrap();
    assert_eq!(unchanged["data"]["version"], 2);
}

/// A weak `If-Match` compares by version.
async fn plain_json_and_a_weak_if_match_work_too(app: &TestApp, editor: &str) {
    let r = app
        .client
        .patch(app.url("/api/v1/domains/DOM-P"))
        .bearer_auth(editor)
        .header("if-match", "W/\"v2\"")
        .json(&json!({ "owner_team": "Payments Platform" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn a_patched_key_result_gets_its_progress_recomputed(app: &TestApp, editor: &str) {
    let objective = json!({
        "objective_id": "OBJ-P", "name": "Faster checkout", "status": "active",
        "key_results": [{ "kr_id": "KR-1", "baseline_value": 10, "target_value": 20, "current_value": 12, "direction": "increase" }]
    });
    assert_eq!(
        app.send(Method::POST, "/api/v1/objectives", editor, Some(&objective))
            .await
            .status(),
        201
    );
    let body = json!({
        "status": "at_risk",
        "key_results": [{ "kr_id": "KR-1", "baseline_value": 10, "target_value": 20, "current_value": 15, "direction": "increase" }]
    })
    .to_string();
    let r = merge_patch(app, "/api/v1/objectives/OBJ-P", editor, body, Some("\"v1\"")).await;
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["data"]["status"], "at_risk");
    assert_eq!(saved["data"]["name"], "Faster checkout");
    assert_eq!(saved["data"]["key_results"][0]["progress_percentage"], 50.0);
    let r = merge_patch(
        app,
        "/api/v1/objectives/OBJ-P",
        editor,
        json!({ "status": "dreaming" }).to_string(),
        None,
    )
    .await;
    let (status, _, body) = error_code(r).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"][0]["field"].as_str()),
        (400, Some("status"))
    );
}

backend_tests!(domains_and_objectives_take_merge_patches);
