//! The rest of the catalog over HTTP: import, stats, domains, objectives, and an export that
//! re-imports unchanged.

use crate::support::{Roles, TestApp, TestDb, backend_tests, error_code, examples_dir, rendered_at_once, spawn};
use mdl::catalog::Format;
use reqwest::Method;
use serde_json::{Value, json};

async fn domains_objectives_stats_import_export(db: &TestDb) {
    let app = spawn(db, false).await;
    let roles = app.roles(db).await;

    imports_need_an_editor_and_a_known_format(&app, &roles).await;
    stats_count_what_was_imported(&app, &roles.viewer).await;
    domains_list_create_replace_and_delete(&app, &roles).await;
    objectives_get_their_progress_from_the_server(&app, &roles).await;
    export_reimports_into_another_database_unchanged(&app, db, &roles.viewer).await;
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(examples_dir().join(name)).unwrap()
}

async fn import(app: &TestApp, token: &str, body: Vec<u8>, media: &str, query: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/import{query}")))
        .bearer_auth(token)
        .header("content-type", media)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Leaves the sample metrics and domains imported.
async fn imports_need_an_editor_and_a_known_format(app: &TestApp, roles: &Roles) {
    let (viewer, editor) = (roles.viewer.as_str(), roles.editor.as_str());
    let (status, _, _) =
        error_code(import(app, viewer, file("sample-metrics.json"), "application/json", "").await).await;
    assert_eq!(status, 403);
    let r = import(
        app,
        editor,
        file("sample-metrics.yaml"),
        "application/yaml",
        "?dry_run=true",
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (
            body["data"]["dry_run"].as_bool(),
            body["data"]["metrics"]["created"].as_u64()
        ),
        (Some(true), Some(5))
    );
    let r = import(app, editor, file("sample-metrics.json"), "application/json", "").await;
    assert_eq!(r.status(), 201);
    let r = import(
        app,
        editor,
        file("sample-domains.json"),
        "application/json; charset=utf-8",
        "",
    )
    .await;
    assert_eq!(r.status(), 201);
    let (status, code, body) =
        error_code(import(app, editor, file("template-metric.yaml"), "text/yaml", "").await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"));
    assert!(
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["field"] == "metric_id")
    );
    let (status, _, _) = error_code(import(app, editor, b"x".to_vec(), "text/csv", "").await).await;
    assert_eq!(status, 415);
    let (status, _, _) =
        error_code(import(app, editor, b"{}".to_vec(), "application/json", "?dry_run=maybe").await).await;
    assert_eq!(status, 400);
}

async fn stats_count_what_was_imported(app: &TestApp, viewer: &str) {
    let stats: Value = app.get("/api/v1/stats", viewer).await.json().await.unwrap();
    assert_eq!(
        (
            stats["data"]["total_metrics"].as_u64(),
            stats["data"]["total_domains"].as_u64()
        ),
        (Some(12), Some(6))
    );
}

/// A second domain with a taken name conflicts; deleting takes an admin.
async fn domains_list_create_replace_and_delete(app: &TestApp, roles: &Roles) {
    let list: Value = app
        .get("/api/v1/domains?limit=4", &roles.viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            list["pagination"]["total"].as_u64(),
            list["data"].as_array().unwrap().len()
        ),
        (Some(6), 4)
    );
    let new = json!({ "domain_id": "DOM-X", "name": "Experiments", "color": "#aabbcc" });
    let r = app
        .send(Method::POST, "/api/v1/domains", &roles.editor, Some(&new))
        .await;
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (201, "/api/v1/domains/DOM-X")
    );
    let clash = json!({ "domain_id": "DOM-Y", "name": "Experiments" });
    assert_eq!(
        app.send(Method::POST, "/api/v1/domains", &roles.editor, Some(&clash))
            .await
            .status(),
        409
    );
    let renamed = json!({ "name": "Experimentation" });
    let r = app
        .client
        .put(app.url("/api/v1/domains/DOM-X"))
        .bearer_auth(&roles.editor)
        .header("if-match", "\"v1\"")
        .json(&renamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.send(Method::DELETE, "/api/v1/domains/DOM-X", &roles.editor, None)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.send(Method::DELETE, "/api/v1/domains/DOM-X", &roles.admin, None)
            .await
            .status(),
        204
    );
    assert_eq!(app.get("/api/v1/domains/DOM-X", &roles.viewer).await.status(), 404);
}

async fn objectives_get_their_progress_from_the_server(app: &TestApp, roles: &Roles) {
    let objective = json!({
        "objective_id": "OBJ-9", "name": "Faster pages", "status": "active",
        "key_results": [{ "kr_id": "KR-1", "baseline_value": 900, "target_value": 300, "current_value": 600, "direction": "decrease" }]
    });
    let r = app
        .send(Method::POST, "/api/v1/objectives", &roles.editor, Some(&objective))
        .await;
    assert_eq!(r.status(), 201);
    let got: Value = app
        .get("/api/v1/objectives/OBJ-9", &roles.viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["key_results"][0]["progress_percentage"], 50.0);
    let bad = json!({ "objective_id": "OBJ-10", "name": "x", "status": "dreaming" });
    let (status, _, body) = error_code(
        app.send(Method::POST, "/api/v1/objectives", &roles.editor, Some(&bad))
            .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"][0]["field"].as_str()),
        (400, Some("status"))
    );
}

/// The YAML export, imported into an empty sibling database, exports byte for byte the same.
async fn export_reimports_into_another_database_unchanged(app: &TestApp, db: &TestDb, viewer: &str) {
    // Streamed, and still the text of the whole document rendered at once.
    let r = app.get("/api/v1/export", viewer).await;
    assert_eq!(r.headers()["content-type"], "application/json");
    let json = r.text().await.unwrap();
    assert_eq!(json, rendered_at_once(&*db.store, Format::Json).await);
    let r = app.get("/api/v1/export?format=yaml", viewer).await;
    assert_eq!(r.headers()["content-type"], "application/yaml");
    let yaml = r.bytes().await.unwrap().to_vec();
    assert_eq!(
        String::from_utf8(yaml.clone()).unwrap(),
        rendered_at_once(&*db.store, Format::Yaml).await
    );
    let other = db.sibling().await;
    let second = spawn(&other, false).await;
    let token2 = second.token().await;
    let r = import(&second, &token2, yaml.clone(), "application/yaml", "").await;
    assert_eq!(r.status(), 201);
    let again = second
        .get("/api/v1/export?format=yaml", &token2)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8(yaml).unwrap());
    drop(second);
    other.cleanup().await;
}

backend_tests!(domains_objectives_stats_import_export);
