//! The rest of the catalog over HTTP: import, stats, domains, objectives, and an export that
//! re-imports unchanged.

use crate::support::{TestDb, backend_tests, error_code, spawn};
use serde_json::{Value, json};

async fn domains_objectives_stats_import_export(db: &TestDb) {
    use reqwest::Method;
    let app = spawn(db, false).await;
    let viewer = app.user(db, "vera", "viewer").await;
    let editor = app.user(db, "eddie", "editor").await;
    let admin = app.token().await;
    let examples = crate::support::examples_dir();
    let file = |name: &str| std::fs::read(examples.join(name)).unwrap();
    let import = |token: &str, body: Vec<u8>, media: &str, query: &str| {
        app.client
            .post(app.url(&format!("/api/v1/import{query}")))
            .bearer_auth(token.to_string())
            .header("content-type", media.to_string())
            .body(body)
            .send()
    };

    let (status, _, _) = error_code(
        import(&viewer, file("sample-metrics.json"), "application/json", "")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    let r = import(
        &editor,
        file("sample-metrics.yaml"),
        "application/yaml",
        "?dry_run=true",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (
            body["data"]["dry_run"].as_bool(),
            body["data"]["metrics"]["created"].as_u64()
        ),
        (Some(true), Some(5))
    );
    let r = import(&editor, file("sample-metrics.json"), "application/json", "")
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = import(
        &editor,
        file("sample-domains.json"),
        "application/json; charset=utf-8",
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let (status, code, body) = error_code(
        import(&editor, file("template-metric.yaml"), "text/yaml", "")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"));
    assert!(
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["field"] == "metric_id")
    );
    let (status, _, _) = error_code(import(&editor, b"x".to_vec(), "text/csv", "").await.unwrap()).await;
    assert_eq!(status, 415);
    let (status, _, _) = error_code(
        import(&editor, b"{}".to_vec(), "application/json", "?dry_run=maybe")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);

    let stats: Value = app.get("/api/v1/stats", &viewer).await.json().await.unwrap();
    assert_eq!(
        (
            stats["data"]["total_metrics"].as_u64(),
            stats["data"]["total_domains"].as_u64()
        ),
        (Some(12), Some(6))
    );

    // Domains: list, create, replace with If-Match, delete (admin only).
    let list: Value = app.get("/api/v1/domains?limit=4", &viewer).await.json().await.unwrap();
    assert_eq!(
        (
            list["pagination"]["total"].as_u64(),
            list["data"].as_array().unwrap().len()
        ),
        (Some(6), 4)
    );
    let new = json!({ "domain_id": "DOM-X", "name": "Experiments", "color": "#aabbcc" });
    let r = app.send(Method::POST, "/api/v1/domains", &editor, Some(&new)).await;
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (201, "/api/v1/domains/DOM-X")
    );
    let clash = json!({ "domain_id": "DOM-Y", "name": "Experiments" });
    assert_eq!(
        app.send(Method::POST, "/api/v1/domains", &editor, Some(&clash))
            .await
            .status(),
        409
    );
    let renamed = json!({ "name": "Experimentation" });
    let r = app
        .client
        .put(app.url("/api/v1/domains/DOM-X"))
        .bearer_auth(&editor)
        .header("if-match", "\"v1\"")
        .json(&renamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.send(Method::DELETE, "/api/v1/domains/DOM-X", &editor, None)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.send(Method::DELETE, "/api/v1/domains/DOM-X", &admin, None)
            .await
            .status(),
        204
    );
    assert_eq!(app.get("/api/v1/domains/DOM-X", &viewer).await.status(), 404);

    // Objectives: progress computed by the server.
    let objective = json!({
        "objective_id": "OBJ-9", "name": "Faster pages", "status": "active",
        "key_results": [{ "kr_id": "KR-1", "baseline_value": 900, "target_value": 300, "current_value": 600, "direction": "decrease" }]
    });
    let r = app
        .send(Method::POST, "/api/v1/objectives", &editor, Some(&objective))
        .await;
    assert_eq!(r.status(), 201);
    let got: Value = app.get("/api/v1/objectives/OBJ-9", &viewer).await.json().await.unwrap();
    assert_eq!(got["data"]["key_results"][0]["progress_percentage"], 50.0);
    let bad = json!({ "objective_id": "OBJ-10", "name": "x", "status": "dreaming" });
    let (status, _, body) = error_code(app.send(Method::POST, "/api/v1/objectives", &editor, Some(&bad)).await).await;
    assert_eq!(
        (status.as_u16(), body["error"]["details"][0]["field"].as_str()),
        (400, Some("status"))
    );

    // Export over HTTP re-imports into another database unchanged.
    let r = app.get("/api/v1/export?format=yaml", &viewer).await;
    assert_eq!(r.headers()["content-type"], "application/yaml");
    let yaml = r.bytes().await.unwrap().to_vec();
    let other = db.sibling().await;
    let second = spawn(&other, false).await;
    let token2 = second.token().await;
    let r = second
        .client
        .post(second.url("/api/v1/import"))
        .bearer_auth(&token2)
        .header("content-type", "application/yaml")
        .body(yaml.clone())
        .send()
        .await
        .unwrap();
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

backend_tests!(domains_objectives_stats_import_export,);
