//! The HTTP API end to end: a real server on 127.0.0.1:0, a real client.

use crate::support::{ADMIN_PASSWORD, TestApp, TestDb, backend_tests, error_code, load, sample_metrics, spawn};
use mdl::domain::Metric;
use mdl::store::Expect;
use serde_json::{Value, json};

async fn health_and_common_headers(db: &TestDb) {
    let app = spawn(db, false).await;
    let r = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "abc.123-X_y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "abc.123-X_y");
    assert!(r.headers()["x-response-time"].to_str().unwrap().ends_with("ms"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.headers().get("x-powered-by").is_none());
    let r = app
        .client
        .get(app.url("/health/ready"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["x-request-id"], "bad id with spaces");
    let health: Value = app.health().await;
    assert_eq!(health["components"]["database"]["status"], "ok");
}

async fn unknown_routes_methods_and_bodies_get_the_envelope(db: &TestDb) {
    let app = spawn(db, false).await;
    let (status, code, _) = error_code(app.client.get(app.url("/api/v1/nope")).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "NOT_FOUND"));
    let r = app.client.delete(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    let (status, code, _) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (405, "METHOD_NOT_ALLOWED"));
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"));
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (415, "UNSUPPORTED_MEDIA_TYPE"));
    let big = json!({ "username": "a".repeat(100_000), "password": "x" });
    let (status, code, _) = error_code(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (413, "PAYLOAD_TOO_LARGE"));
}

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

async fn metric_lists_paginate_with_headers(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let (status, _, _) = error_code(app.client.get(app.url("/api/v1/metrics")).send().await.unwrap()).await;
    assert_eq!(status, 401, "reads need a token");
    let token = app.token().await;

    let r = app.get("/api/v1/metrics?limit=5&page=2&tier=Tier-1", &token).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(
        (h["x-total-count"].to_str().unwrap(), h["x-page"].to_str().unwrap()),
        ("8", "2")
    );
    assert_eq!(
        (h["x-per-page"].to_str().unwrap(), h["x-total-pages"].to_str().unwrap()),
        ("5", "2")
    );
    let link = h["link"].to_str().unwrap();
    assert!(
        link.contains("</api/v1/metrics?limit=5&tier=Tier-1&page=1>; rel=\"first\""),
        "{link}"
    );
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["pagination"]["has_prev"], true);
    assert_eq!(body["data"].as_array().unwrap().len(), 3);

    // ETag and 304.
    let r = app.get("/api/v1/metrics?limit=5", &token).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = app
        .client
        .get(app.url("/api/v1/metrics?limit=5"))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // Limits, bad values, unknown parameters.
    let body: Value = app
        .get("/api/v1/metrics?limit=1000", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["pagination"]["limit"], 100);
    for bad in [
        "limit=0",
        "limit=abc",
        "page=0",
        "page=1&cursor=x",
        "colour=red",
        "sort=sideways",
        "cursor=garbage",
        "q=rate&cursor=x",
    ] {
        let (status, code, body) = error_code(app.get(&format!("/api/v1/metrics?{bad}"), &token).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "VALIDATION_ERROR"),
            "{bad}: {body}"
        );
        assert!(!body["error"]["details"].as_array().unwrap().is_empty(), "{bad}");
    }
    let body: Value = app.get("/api/v1/metrics?page=99", &token).await.json().await.unwrap();
    assert_eq!(
        (body["data"].as_array().unwrap().len(), &body["pagination"]["has_next"]),
        (0, &json!(false))
    );

    // Cursor walk over everything, and a light projection.
    let mut seen = Vec::new();
    let mut url = "/api/v1/metrics?limit=5&cursor=".to_string();
    let first: Value = app
        .get("/api/v1/metrics?limit=5&fields=name", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"][0].as_object().unwrap().len(), 2, "id and name only");
    seen.extend(first["data"].as_array().unwrap().iter().map(|m| m["metric_id"].clone()));
    let mut cursor = first["pagination"]["next_cursor"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let page: Value = app
            .get(&format!("{url}{c}&fields=name"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert!(page["pagination"]["total"].is_null(), "cursor mode does not count");
        seen.extend(page["data"].as_array().unwrap().iter().map(|m| m["metric_id"].clone()));
        cursor = page["pagination"]["next_cursor"].as_str().map(str::to_string);
    }
    url.clear();
    assert_eq!(seen.len(), 12);

    // `count=false` without page or cursor: the first page of cursor mode, not counted, and
    // the same rows as page 1; `count` beside a page number is refused.
    let uncounted: Value = app
        .get("/api/v1/metrics?limit=5&count=false", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(uncounted["pagination"]["total"].is_null(), "{uncounted}");
    let ids = |v: &Value| -> Vec<Value> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["metric_id"].clone())
            .collect()
    };
    assert_eq!(ids(&uncounted), seen[..5].to_vec());
    assert!(uncounted["pagination"]["next_cursor"].is_string());
    let counted: Value = app
        .get("/api/v1/metrics?limit=5&count=true", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counted["pagination"]["total"], 12);
    let r = app.get("/api/v1/metrics?page=1&count=false", &token).await;
    assert_eq!(r.status(), 400);
}

async fn single_metrics_carry_version_etags(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let r = app.get("/api/v1/metrics/METRIC-CSAT", &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"v1\"");
    assert_eq!(r.headers()["cache-control"], "private, no-cache");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["data"]["metric_id"].as_str(), body["data"]["version"].as_i64()),
        (Some("METRIC-CSAT"), Some(1))
    );
    let r = app
        .client
        .get(app.url("/api/v1/metrics/METRIC-CSAT"))
        .bearer_auth(&token)
        .header("if-none-match", "W/\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let (status, code, _) = error_code(app.get("/api/v1/metrics/NOPE", &token).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "NOT_FOUND"));
}

async fn public_read_opens_reads_only(db: &TestDb) {
    load(db).await;
    let app = spawn(db, true).await;
    let r = app
        .client
        .get(app.url("/api/v1/metrics/METRIC-CSAT"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _, _) = error_code(app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap()).await;
    assert_eq!(status, 401);
}

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

/// (method, path, least role) for every route that needs credentials.
const PROTECTED: &[(&str, &str, &str)] = &[
    ("get", "/api/v1/auth/me", "viewer"),
    ("post", "/api/v1/auth/change-password", "viewer"),
    ("get", "/api/v1/users", "admin"),
    ("post", "/api/v1/users", "admin"),
    ("delete", "/api/v1/users/nobody", "admin"),
    ("get", "/api/v1/api-keys", "viewer"),
    ("post", "/api/v1/api-keys", "viewer"),
    ("get", "/api/v1/metrics", "viewer"),
    ("post", "/api/v1/metrics", "editor"),
    ("get", "/api/v1/metrics/NOPE", "viewer"),
    ("put", "/api/v1/metrics/NOPE", "editor"),
    ("patch", "/api/v1/metrics/NOPE", "editor"),
    ("delete", "/api/v1/metrics/NOPE", "admin"),
    ("get", "/api/v1/metrics/NOPE/history", "viewer"),
    ("get", "/api/v1/metrics/NOPE/policy", "viewer"),
    ("get", "/api/v1/metrics/NOPE/versions/1", "viewer"),
    ("get", "/api/v1/metrics/NOPE/diff?from=1&to=2", "viewer"),
    ("get", "/api/v1/policies", "viewer"),
    ("get", "/api/v1/policies/bundle.tar.gz", "viewer"),
    ("get", "/api/v1/domains", "viewer"),
    ("post", "/api/v1/domains", "editor"),
    ("get", "/api/v1/domains/NOPE", "viewer"),
    ("put", "/api/v1/domains/NOPE", "editor"),
    ("patch", "/api/v1/domains/NOPE", "editor"),
    ("delete", "/api/v1/domains/NOPE", "admin"),
    ("get", "/api/v1/objectives", "viewer"),
    ("post", "/api/v1/objectives", "editor"),
    ("get", "/api/v1/objectives/NOPE", "viewer"),
    ("put", "/api/v1/objectives/NOPE", "editor"),
    ("patch", "/api/v1/objectives/NOPE", "editor"),
    ("delete", "/api/v1/objectives/NOPE", "admin"),
    ("get", "/api/v1/stats", "viewer"),
    ("get", "/api/v1/stats/cache", "admin"),
    ("get", "/api/v1/stats/performance", "admin"),
    ("get", "/api/v1/stats/performance/slow-queries", "admin"),
    ("get", "/api/v1/stats/performance/patterns", "admin"),
    ("get", "/api/performance/stats", "admin"),
    ("post", "/api/v1/import", "editor"),
    ("get", "/api/v1/export", "viewer"),
    // Last: it ends the sessions of every token that passes.
    ("post", "/api/v1/auth/logout-all", "viewer"),
];

async fn every_route_checks_credentials_and_roles(db: &TestDb) {
    let app = spawn(db, false).await;
    let tokens = [
        ("viewer", app.user(db, "vera", "viewer").await),
        ("editor", app.user(db, "eddie", "editor").await),
        ("admin", app.token().await),
    ];
    let rank = |r: &str| ["viewer", "editor", "admin"].iter().position(|x| *x == r).unwrap();
    for (method, path, least) in PROTECTED {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (*method != "get" && *method != "delete").then(|| json!({}));
        let anonymous = {
            let mut req = app.client.request(m.clone(), app.url(path));
            if let Some(b) = &body {
                req = req.json(b);
            }
            req.send().await.unwrap()
        };
        assert_eq!(anonymous.status(), 401, "{method} {path} without credentials");
        for (role, token) in &tokens {
            let status = app.send(m.clone(), path, token, body.as_ref()).await.status();
            if rank(role) < rank(least) {
                assert_eq!(status, 403, "{method} {path} as {role}");
            } else {
                assert!(status != 401 && status != 403, "{method} {path} as {role}: {status}");
            }
        }
    }
}

async fn cors_only_for_configured_origins(db: &TestDb) {
    let app = spawn(db, false).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/metrics"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let r = preflight("https://dash.example.com").await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://dash.example.com");
    let r = preflight("https://evil.example.com").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

backend_tests!(
    cursor_walk_over_http_survives_concurrent_inserts,
    every_route_checks_credentials_and_roles,
    cors_only_for_configured_origins,
    api_keys_are_scoped_revocable_and_really_accepted,
    user_administration_over_http,
    refresh_rotation_reuse_logout_and_password_change,
    logins_are_rate_limited_per_ip_and_username,
    domains_objectives_stats_import_export,
    metric_writes_follow_roles_versions_and_preconditions,
    health_and_common_headers,
    unknown_routes_methods_and_bodies_get_the_envelope,
    login_and_identity,
    metric_lists_paginate_with_headers,
    single_metrics_carry_version_etags,
    public_read_opens_reads_only,
);

/// Every route of the API, as the design lists it; the spec must document each one.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/health"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/change-password"),
    ("post", "/api/v1/auth/logout-all"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("put", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{id}"),
    ("get", "/api/v1/metrics"),
    ("post", "/api/v1/metrics"),
    ("get", "/api/v1/metrics/{id}"),
    ("put", "/api/v1/metrics/{id}"),
    ("patch", "/api/v1/metrics/{id}"),
    ("delete", "/api/v1/metrics/{id}"),
    ("get", "/api/v1/metrics/{id}/history"),
    ("get", "/api/v1/metrics/{id}/policy"),
    ("get", "/api/v1/metrics/{id}/versions/{version}"),
    ("get", "/api/v1/metrics/{id}/diff"),
    ("get", "/api/v1/policies"),
    ("get", "/api/v1/policies/bundle.tar.gz"),
    ("get", "/api/v1/domains"),
    ("post", "/api/v1/domains"),
    ("get", "/api/v1/domains/{id}"),
    ("put", "/api/v1/domains/{id}"),
    ("patch", "/api/v1/domains/{id}"),
    ("delete", "/api/v1/domains/{id}"),
    ("get", "/api/v1/objectives"),
    ("post", "/api/v1/objectives"),
    ("get", "/api/v1/objectives/{id}"),
    ("put", "/api/v1/objectives/{id}"),
    ("patch", "/api/v1/objectives/{id}"),
    ("delete", "/api/v1/objectives/{id}"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/stats/cache"),
    ("get", "/api/v1/stats/performance"),
    ("get", "/api/v1/stats/performance/slow-queries"),
    ("get", "/api/v1/stats/performance/patterns"),
    ("get", "/api/performance/stats"),
    ("get", "/metrics"),
    ("post", "/api/v1/import"),
    ("get", "/api/v1/export"),
];

#[tokio::test]
async fn openapi_documents_every_route_and_is_served() {
    let spec = serde_json::to_value(mdl::http::openapi()).unwrap();
    for (method, path) in ROUTES {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "the spec documents a route the list does not know"
    );

    let db = crate::support::sqlite().await;
    let app = spawn(&db, false).await;
    let served: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        served["paths"].as_object().unwrap().len(),
        spec["paths"].as_object().unwrap().len()
    );
    let r = app.client.get(app.url("/api-docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200, "Swagger UI is vendored and served without a token");
    assert!(r.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn a_panicking_handler_answers_500_for_that_request_only() {
    async fn boom() -> &'static str {
        panic!("handler bug")
    }
    async fn fine() -> &'static str {
        "ok"
    }
    let app = axum::Router::new()
        .route("/boom", axum::routing::get(boom))
        .route("/fine", axum::routing::get(fine));
    let app = mdl::http::with_common_layers(app, 1024, std::time::Duration::from_secs(5));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let r = client.get(format!("{base}/boom")).send().await.unwrap();
    let (status, code, body) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (500, "INTERNAL_ERROR"));
    assert!(
        !body.to_string().contains("handler bug"),
        "causes are logged, never sent"
    );
    assert_eq!(
        client.get(format!("{base}/fine")).send().await.unwrap().status(),
        200,
        "the server keeps serving"
    );
}

async fn cursor_walk_over_http_survives_concurrent_inserts(db: &TestDb) {
    for i in 0..60 {
        let doc = mdl::domain::synthetic::synthetic_metric(i);
        db.store
            .save_metric(&Metric::parse(doc).unwrap(), "seed", Expect::Absent)
            .await
            .unwrap();
    }
    let app = spawn(db, false).await;
    let token = app.token().await;
    let store = db.store.clone();
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            let mut doc = mdl::domain::synthetic::synthetic_metric(1000 + i);
            doc["metric_id"] = json!(format!("{}-{i:03}", if i % 2 == 0 { "AAA" } else { "ZZZ" }));
            store
                .save_metric(&Metric::parse(doc).unwrap(), "writer", Expect::Absent)
                .await
                .unwrap();
            tokio::task::yield_now().await;
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some("/api/v1/metrics?sort=metric_id&limit=7&fields=name".to_string());
    while let Some(path) = next.take() {
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["metric_id"].as_str().unwrap().to_string()),
        );
        if let Some(c) = page["pagination"]["next_cursor"].as_str() {
            next = Some(format!("/api/v1/metrics?sort=metric_id&limit=7&fields=name&cursor={c}"));
        }
    }
    writer.await.unwrap();
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    for i in 0..60 {
        assert!(seen.contains(&format!("SYN-{i:07}")), "no gaps: SYN-{i:07} missing");
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered");
}
