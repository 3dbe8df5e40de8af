//! Versions as first-class reads: `/metrics/{id}/versions/{version}` and `/metrics/{id}/diff`.

use crate::support::{Roles, TestApp, TestDb, backend_tests, error_code, sample_metrics, spawn};
use reqwest::Method;
use serde_json::{Map, Value, json};

const SERVER_FIELDS: &[&str] = &["version", "created_at", "created_by", "updated_at", "updated_by"];

/// Applies JSON Patch operations (add, remove, replace) the way RFC 6902 does.
fn apply(doc: &mut Value, ops: &[Value]) {
    for op in ops {
        let path = op["path"].as_str().unwrap();
        let (parent, last) = path.rsplit_once('/').unwrap();
        let last = last.replace("~1", "/").replace("~0", "~");
        let target = if parent.is_empty() {
            &mut *doc
        } else {
            doc.pointer_mut(parent).unwrap()
        };
        match (target, op["op"].as_str().unwrap()) {
            (Value::Object(map), "remove") => {
                map.remove(&last).unwrap();
            }
            (Value::Object(map), _) => {
                map.insert(last, op["value"].clone());
            }
            (Value::Array(items), "add") => items.insert(last.parse().unwrap(), op["value"].clone()),
            (Value::Array(items), "replace") => items[last.parse::<usize>().unwrap()] = op["value"].clone(),
            (Value::Array(items), "remove") => {
                items.remove(last.parse().unwrap());
            }
            (target, op) => panic!("cannot {op} at {path} in {target}"),
        }
    }
}

fn client_fields(doc: &Value) -> Value {
    let map: Map<String, Value> = doc
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !SERVER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(map)
}

async fn versions_are_readable_and_diffable(db: &TestDb) {
    let app = spawn(db, false).await;
    let roles = app.roles(db).await;
    let doc = sample_metrics()[0].clone();
    let id = doc["metric_id"].as_str().unwrap();
    let path = format!("/api/v1/metrics/{id}");
    let current = three_versions(&app, &roles, &doc, &path).await;

    let v1 = one_version_reads_as_it_was(&app, &roles.viewer, &doc, &path).await;
    unknown_versions_are_404_and_malformed_ones_400(&app, &roles.viewer, &path).await;
    a_diff_patches_one_version_into_another(&app, &roles.viewer, id, &v1, &current).await;
    a_backwards_diff_undoes_and_a_same_version_diff_is_empty(&app, &roles.viewer, &path, &doc, &current).await;
    bad_diff_bounds_are_400_naming_each(&app, &roles.viewer, &path).await;
    deleted_versions_stay_readable_and_recreation_continues_the_numbering(&app, &roles, &doc, &path).await;
}

/// Version 1 from `doc`, 2 renames it, 3 changes the unit and drops a tag; returns version 3.
async fn three_versions(app: &TestApp, roles: &Roles, doc: &Value, path: &str) -> Value {
    assert_eq!(
        app.send(Method::POST, "/api/v1/metrics", &roles.editor, Some(doc))
            .await
            .status(),
        201
    );
    let rename = json!({ "name": "Renamed metric" });
    assert_eq!(
        app.send(Method::PATCH, path, &roles.editor, Some(&rename))
            .await
            .status(),
        200
    );
    let unit = json!({ "definition": { "unit": "per fortnight" }, "tags": ["only-one"] });
    assert_eq!(
        app.send(Method::PATCH, path, &roles.editor, Some(&unit)).await.status(),
        200
    );
    let current: Value = app.get(path, &roles.viewer).await.json().await.unwrap();
    assert_eq!(current["data"]["version"], 3);
    current
}

/// The document as it was, with its own ETag; 304 when the client has it. Returns version 1.
async fn one_version_reads_as_it_was(app: &TestApp, viewer: &str, doc: &Value, path: &str) -> Value {
    let r = app.get(&format!("{path}/versions/1"), viewer).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"v1\"");
    let v1: Value = r.json().await.unwrap();
    assert_eq!(v1["data"]["version"], 1);
    assert_eq!(v1["data"]["name"], doc["name"]);
    assert_eq!(client_fields(&v1["data"]), client_fields(doc));
    let r = app
        .client
        .get(app.url(&format!("{path}/versions/1")))
        .bearer_auth(viewer)
        .header("if-none-match", "\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let v2: Value = app
        .get(&format!("{path}/versions/2"), viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v2["data"]["name"], "Renamed metric");
    v1
}

/// Malformed means not a whole number from 1.
async fn unknown_versions_are_404_and_malformed_ones_400(app: &TestApp, viewer: &str, path: &str) {
    for missing in ["4", "99"] {
        let (status, code, _) = error_code(app.get(&format!("{path}/versions/{missing}"), viewer).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (404, "NOT_FOUND"),
            "version {missing}"
        );
    }
    for bad in ["0", "-1", "two", "1.5"] {
        let (status, code, _) = error_code(app.get(&format!("{path}/versions/{bad}"), viewer).await).await;
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "VALIDATION_ERROR"),
            "version {bad}"
        );
    }
    assert_eq!(app.get("/api/v1/metrics/NOPE/versions/1", viewer).await.status(), 404);
}

/// The JSON Patch from 1 to 3 turns version 1 into version 3, server fields left out; the
/// diff's ETag does not depend on the order of the query parameters.
async fn a_diff_patches_one_version_into_another(app: &TestApp, viewer: &str, id: &str, v1: &Value, current: &Value) {
    let path = format!("/api/v1/metrics/{id}");
    let r = app.get(&format!("{path}/diff?from=1&to=3"), viewer).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let diff: Value = r.json().await.unwrap();
    assert_eq!(
        (&diff["data"]["metric_id"], &diff["data"]["from"], &diff["data"]["to"]),
        (&json!(id), &json!(1), &json!(3))
    );
    let ops = diff["data"]["operations"].as_array().unwrap();
    assert!(
        ops.contains(&json!({ "op": "replace", "path": "/name", "value": "Renamed metric" })),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .all(|op| !SERVER_FIELDS.iter().any(|f| op["path"] == format!("/{f}"))),
        "{ops:?}"
    );
    let mut patched = client_fields(&v1["data"]);
    apply(&mut patched, ops);
    assert_eq!(patched, client_fields(&current["data"]));
    let r = app
        .client
        .get(app.url(&format!("{path}/diff?to=3&from=1")))
        .bearer_auth(viewer)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}

async fn a_backwards_diff_undoes_and_a_same_version_diff_is_empty(
    app: &TestApp,
    viewer: &str,
    path: &str,
    doc: &Value,
    current: &Value,
) {
    let back: Value = app
        .get(&format!("{path}/diff?from=3&to=1"), viewer)
        .await
        .json()
        .await
        .unwrap();
    let mut undone = client_fields(&current["data"]);
    apply(&mut undone, back["data"]["operations"].as_array().unwrap());
    assert_eq!(undone, client_fields(doc));
    let same: Value = app
        .get(&format!("{path}/diff?from=2&to=2"), viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same["data"]["operations"], json!([]));
}

/// Unknown versions as bounds are 404.
async fn bad_diff_bounds_are_400_naming_each(app: &TestApp, viewer: &str, path: &str) {
    let (status, _, body) = error_code(app.get(&format!("{path}/diff?from=x"), viewer).await).await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["from", "to"]);
    for query in [
        "from=1",
        "to=2",
        "from=0&to=1",
        "from=1&to=2&from=3",
        "from=1&to=2&extra=1",
        "",
    ] {
        let status = app.get(&format!("{path}/diff?{query}"), viewer).await.status();
        assert_eq!(status, 400, "diff?{query}");
    }
    let (status, code, _) = error_code(app.get(&format!("{path}/diff?from=1&to=40"), viewer).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "NOT_FOUND"));
}

/// The deletion is version 4 but not a document.
async fn deleted_versions_stay_readable_and_recreation_continues_the_numbering(
    app: &TestApp,
    roles: &Roles,
    doc: &Value,
    path: &str,
) {
    let viewer = roles.viewer.as_str();
    assert_eq!(app.send(Method::DELETE, path, &roles.admin, None).await.status(), 204);
    assert_eq!(app.get(&format!("{path}/versions/2"), viewer).await.status(), 200);
    let (status, _, body) = error_code(app.get(&format!("{path}/versions/4"), viewer).await).await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("deletion"),
        "{body}"
    );
    assert_eq!(app.get(&format!("{path}/diff?from=3&to=4"), viewer).await.status(), 404);
    assert_eq!(
        app.send(Method::POST, "/api/v1/metrics", &roles.editor, Some(doc))
            .await
            .status(),
        201
    );
    let v5: Value = app
        .get(&format!("{path}/versions/5"), viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v5["data"]["version"], 5);
    let diff: Value = app
        .get(&format!("{path}/diff?from=1&to=5"), viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(diff["data"]["operations"], json!([]), "re-created as version 1 was");
}

async fn version_reads_are_cached_and_writes_invalidate_them(db: &TestDb) {
    let app = spawn(db, false).await;
    let editor = app.user(db, "eddie", "editor").await;
    let doc = sample_metrics()[1].clone();
    let path = format!("/api/v1/metrics/{}", doc["metric_id"].as_str().unwrap());
    assert_eq!(
        app.send(Method::POST, "/api/v1/metrics", &editor, Some(&doc))
            .await
            .status(),
        201
    );
    let cache = |r: &reqwest::Response| r.headers()["x-cache"].to_str().unwrap().to_string();
    for route in [format!("{path}/versions/1"), format!("{path}/diff?from=1&to=1")] {
        assert_eq!(cache(&app.get(&route, &editor).await), "MISS", "{route}");
        assert_eq!(cache(&app.get(&route, &editor).await), "HIT", "{route}");
    }
    // A write to this metric turns its shard over: the next read is a miss.
    let patch = json!({ "description": "Changed" });
    assert_eq!(
        app.send(Method::PATCH, &path, &editor, Some(&patch)).await.status(),
        200
    );
    assert_eq!(cache(&app.get(&format!("{path}/versions/1"), &editor).await), "MISS");
    let diff = app.get(&format!("{path}/diff?from=1&to=2"), &editor).await;
    assert_eq!(cache(&diff), "MISS");
    let diff: Value = diff.json().await.unwrap();
    assert_eq!(
        diff["data"]["operations"],
        json!([{ "op": "replace", "path": "/description", "value": "Changed" }])
    );
}

backend_tests!(
    versions_are_readable_and_diffable,
    version_reads_are_cached_and_writes_invalidate_them,
);
