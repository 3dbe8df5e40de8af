//! Creating, replacing, patching and deleting metrics: roles, validation, `If-Match`, history.

use crate::support::{Roles, TestApp, TestDb, backend_tests, error_code, sample_metrics, spawn};
use reqwest::Method;
use serde_json::{Value, json};

async fn metric_writes_follow_roles_versions_and_preconditions(db: &TestDb) {
    let app = spawn(db, false).await;
    let roles = app.roles(db).await;
    let mut doc = sample_metrics()[0].clone();
    let path = format!("/api/v1/metrics/{}", doc["metric_id"].as_str().unwrap());

    doc["colour"] = json!("blue");
    editors_create_and_duplicates_conflict(&app, &roles, &doc, &path).await;
    invalid_writes_change_nothing(&app, &roles, &doc, &path).await;
    doc["name"] = json!("Login Success Ratio");
    put_needs_a_matching_if_match(&app, &roles.editor, &doc, &path).await;
    merge_patch_changes_only_what_it_names(&app, &roles.editor, &path).await;
    history_lists_every_change(&app, &roles.viewer, &path).await;
    only_admins_delete_and_the_history_stays(&app, &roles, &path).await;
}

/// `doc` carries an unknown field, which is kept and warned about.
async fn editors_create_and_duplicates_conflict(app: &TestApp, roles: &Roles, doc: &Value, path: &str) {
    let (status, code, _) = error_code(
        app.send(Method::POST, "/api/v1/metrics", &roles.viewer, Some(doc))
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "AUTHORIZATION_ERROR"));
    let r = app
        .send(Method::POST, "/api/v1/metrics", &roles.editor, Some(doc))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], path);
    assert_eq!(r.headers()["etag"], "\"v1\"");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["created_by"], "eddie");
    assert_eq!(body["data"]["colour"], "blue");
    assert!(body["warnings"][0].as_str().unwrap().contains("colour"));
    let (status, code, _) = error_code(
        app.send(Method::POST, "/api/v1/metrics", &roles.editor, Some(doc))
            .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "CONFLICT"));
}

/// Every problem is reported at once, and nothing is stored.
async fn invalid_writes_change_nothing(app: &TestApp, roles: &Roles, doc: &Value, path: &str) {
    let mut bad = doc.clone();
    bad["tier"] = json!("Tier-9");
    bad["metric_type"] = json!(3);
    let (status, code, body) = error_code(app.send(Method::PUT, path, &roles.editor, Some(&bad)).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"));
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 2, "{body}");
    let mut other = doc.clone();
    other["metric_id"] = json!("SOMETHING-ELSE");
    let (status, _, _) = error_code(app.send(Method::PUT, path, &roles.editor, Some(&other)).await).await;
    assert_eq!(status, 400);
    let r = app
        .client
        .patch(app.url(path))
        .bearer_auth(&roles.editor)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let unchanged: Value = app.get(path, &roles.viewer).await.json().await.unwrap();
    assert_eq!(
        (unchanged["data"]["version"].as_i64(), &unchanged["data"]["tier"]),
        (Some(1), &doc["tier"]),
        "bad requests change nothing"
    );
}

/// A stale `If-Match` gets 412; the current one (weak form accepted) a new version.
async fn put_needs_a_matching_if_match(app: &TestApp, editor: &str, doc: &Value, path: &str) {
    let r = app
        .client
        .put(app.url(path))
        .bearer_auth(editor)
        .header("if-match", "\"v7\"")
        .json(doc)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (412, "PRECONDITION_FAILED"));
    let r = app
        .client
        .put(app.url(path))
        .bearer_auth(editor)
        .header("if-match", "W/\"v1\"")
        .json(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"v2\"");
}

/// One field changed, `null` removes, server-owned fields ignored.
async fn merge_patch_changes_only_what_it_names(app: &TestApp, editor: &str, path: &str) {
    let r = app
        .client
        .patch(app.url(path))
        .bearer_auth(editor)
        .header("content-type", "application/merge-patch+json")
        .body(json!({ "definition": { "unit": "percent" }, "colour": null, "version": 99 }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (
            body["data"]["version"].as_i64(),
            body["data"]["definition"]["unit"].as_str()
        ),
        (Some(3), Some("percent"))
    );
    assert!(body["data"].get("colour").is_none());
    assert_eq!(
        body["data"]["definition"]["formula"],
        sample_metrics()[0]["definition"]["formula"]
    );
}

async fn history_lists_every_change(app: &TestApp, viewer: &str, path: &str) {
    let history: Value = app.get(&format!("{path}/history"), viewer).await.json().await.unwrap();
    let types: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["major", "minor", "major"]);
}

async fn only_admins_delete_and_the_history_stays(app: &TestApp, roles: &Roles, path: &str) {
    let (status, _, _) = error_code(app.send(Method::DELETE, path, &roles.editor, None).await).await;
    assert_eq!(status, 403);
    let r = app
        .client
        .delete(app.url(path))
        .bearer_auth(&roles.admin)
        .header("if-match", "\"v2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(app.send(Method::DELETE, path, &roles.admin, None).await.status(), 204);
    assert_eq!(app.get(path, &roles.viewer).await.status(), 404);
    let history: Value = app
        .get(&format!("{path}/history"), &roles.viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["data"][0]["action"], "delete");
    assert_eq!(
        app.get("/api/v1/metrics/NOPE/history", &roles.viewer).await.status(),
        404
    );
}

backend_tests!(metric_writes_follow_roles_versions_and_preconditions);
