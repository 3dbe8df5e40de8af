//! Creating, replacing, patching and deleting metrics: roles, validation, `If-Match`, history.

use crate::support::{TestDb, backend_tests, error_code, sample_metrics, spawn};
use serde_json::{Value, json};

async fn metric_writes_follow_roles_versions_and_preconditions(db: &TestDb) {
    use reqwest::Method;
    let app = spawn(db, false).await;
    let viewer = app.user(db, "vera", "viewer").await;
    let editor = app.user(db, "eddie", "editor").await;
    let admin = app.token().await;
    let mut doc = sample_metrics()[0].clone();
    let id = doc["metric_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/metrics/{id}");

    let (status, code, _) = error_code(app.send(Method::POST, "/api/v1/metrics", &viewer, Some(&doc)).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (403, "AUTHORIZATION_ERROR"));
    doc["colour"] = json!("blue");
    let r = app.send(Method::POST, "/api/v1/metrics", &editor, Some(&doc)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], path.as_str());
    assert_eq!(r.headers()["etag"], "\"v1\"");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["created_by"], "eddie");
    assert_eq!(body["data"]["colour"], "blue");
    assert!(body["warnings"][0].as_str().unwrap().contains("colour"));
    let (status, code, _) = error_code(app.send(Method::POST, "/api/v1/metrics", &editor, Some(&doc)).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "CONFLICT"));

    // Invalid input: every problem reported, nothing changed.
    let mut bad = doc.clone();
    bad["tier"] = json!("Tier-9");
    bad["metric_type"] = json!(3);
    let (status, code, body) = error_code(app.send(Method::PUT, &path, &editor, Some(&bad)).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"));
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 2, "{body}");
    let mut other = doc.clone();
    other["metric_id"] = json!("SOMETHING-ELSE");
    let (status, _, _) = error_code(app.send(Method::PUT, &path, &editor, Some(&other)).await).await;
    assert_eq!(status, 400);
    let r = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&editor)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let unchanged: Value = app.get(&path, &viewer).await.json().await.unwrap();
    assert_eq!(
        (unchanged["data"]["version"].as_i64(), &unchanged["data"]["tier"]),
        (Some(1), &doc["tier"]),
        "bad requests change nothing"
    );

    // PUT with a stale If-Match: 412; with the right one: 200 and a new version.
    doc["name"] = json!("Login Success Ratio");
    let r = app
        .client
        .put(app.url(&path))
        .bearer_auth(&editor)
        .header("if-match", "\"v7\"")
        .json(&doc)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (412, "PRECONDITION_FAILED"));
    let r = app
        .client
        .put(app.url(&path))
        .bearer_auth(&editor)
        .header("if-match", "W/\"v1\"")
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"v2\"");

    // Merge patch: one field changed, null removes, server fields ignored.
    let r = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&editor)
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

    let history: Value = app.get(&format!("{path}/history"), &viewer).await.json().await.unwrap();
    let types: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["major", "minor", "major"]);

    // Only admins delete; deletion keeps the history.
    let (status, _, _) = error_code(app.send(Method::DELETE, &path, &editor, None).await).await;
    assert_eq!(status, 403);
    let r = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&admin)
        .header("if-match", "\"v2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(app.send(Method::DELETE, &path, &admin, None).await.status(), 204);
    assert_eq!(app.get(&path, &viewer).await.status(), 404);
    let history: Value = app.get(&format!("{path}/history"), &viewer).await.json().await.unwrap();
    assert_eq!(history["data"][0]["action"], "delete");
    assert_eq!(app.get("/api/v1/metrics/NOPE/history", &viewer).await.status(), 404);
}

backend_tests!(metric_writes_follow_roles_versions_and_preconditions,);
