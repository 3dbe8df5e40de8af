//! The OpenAPI contract: what clients are generated from and what the server enforces must be
//! the same thing.

use crate::support::spawn;
use axum::http::Method;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const METHODS: &[&str] = &["get", "put", "post", "patch", "delete", "head"];

/// Routes anyone may call (no security requirement).
const PUBLIC: &[&str] = &[
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
];

fn spec() -> Value {
    serde_json::to_value(mdl::http::openapi()).unwrap()
}

/// (method, path, operation) for every operation.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// A schema that says something: a `$ref`, a type, or a combination.
fn is_typed(schema: &Value) -> bool {
    ["$ref", "type", "oneOf", "anyOf", "allOf"]
        .iter()
        .any(|k| schema.get(*k).is_some())
}

#[test]
fn operation_ids_are_unique_and_present() {
    let spec = spec();
    let mut seen = BTreeMap::new();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
            panic!("operationId {id} is used by {other} and {method} {path}");
        }
    }
    assert!(seen.len() >= 47, "{} operations", seen.len());
}

#[test]
fn every_operation_documents_typed_responses_and_bodies() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success response"
        );
        for code in ["400", "503"] {
            assert!(responses.contains_key(code), "{method} {path}: {code} not documented");
        }
        for (status, response) in responses {
            if ["204", "304"].contains(&status.as_str()) {
                assert!(response.get("content").is_none(), "{method} {path} {status} has a body");
                continue;
            }
            let content = response["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
            for (media, body) in content {
                assert!(
                    is_typed(&body["schema"]),
                    "{method} {path} {status} {media}: untyped schema {}",
                    body["schema"]
                );
            }
            if status.starts_with('4') || status.starts_with('5') && path != "/health/ready" {
                assert_eq!(
                    content["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope",
                    "{method} {path} {status}"
                );
            }
        }
        if let Some(body) = op.get("requestBody") {
            for (media, content) in body["content"].as_object().unwrap() {
                assert!(is_typed(&content["schema"]), "{method} {path} request {media}: untyped");
            }
        }
        match method.as_str() {
            "delete" => assert!(responses.contains_key("204"), "{method} {path}: not 204"),
            "post" if op["operationId"].as_str().unwrap().starts_with("create") => {
                assert!(responses.contains_key("201"), "{method} {path}: not 201")
            }
            _ => {}
        }
    }
}

#[test]
fn protected_operations_take_a_bearer_token_or_an_api_key() {
    let spec = spec();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["X-API-Key"]["type"], "apiKey");
    assert_eq!(schemes["X-API-Key"]["in"], "header");
    assert_eq!(schemes["X-API-Key"]["name"], "X-API-Key");
    for (method, path, op) in operations(&spec) {
        let security = op.get("security");
        if PUBLIC.contains(&path.as_str()) {
            assert!(security.is_none(), "{method} {path} is public");
            continue;
        }
        let named: BTreeSet<&str> = security
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{method} {path} has no security"))
            .iter()
            .flat_map(|req| req.as_object().unwrap().keys().map(String::as_str))
            .collect();
        assert_eq!(named, BTreeSet::from(["bearer", "X-API-Key"]), "{method} {path}");
        assert!(
            op["responses"].get("401").is_some(),
            "{method} {path}: 401 not documented"
        );
    }
}

/// The strict parser refuses exactly what the document does not name.
#[test]
fn query_allow_lists_are_the_documented_parameters() {
    let spec = spec();
    let mut checked = 0;
    for (method, path, op) in operations(&spec) {
        let documented: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let allowed: BTreeSet<&str> = mdl::http::allowed_query_params(&method, &path)
            .iter()
            .copied()
            .collect();
        assert_eq!(allowed, documented, "{method} {path}");
        checked += usize::from(!allowed.is_empty());
    }
    assert!(checked >= 9, "only {checked} operations take query parameters");
}

#[test]
fn enum_filters_list_their_values() {
    let spec = spec();
    let params = spec["paths"]["/api/v1/metrics"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let values = |name: &str| -> Vec<String> {
        let p = params.iter().find(|p| p["name"] == name).unwrap();
        let schema = &p["schema"];
        let list = schema["enum"]
            .as_array()
            .or_else(|| schema["oneOf"].as_array()?.iter().find_map(|s| s["enum"].as_array()))
            .unwrap_or_else(|| panic!("{name}: no enum in {schema}"));
        list.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
    };
    assert_eq!(values("tier"), ["Tier-1", "Tier-2", "Tier-3"]);
    assert_eq!(values("metric_type"), ["leading", "lagging", "operational"]);
    assert_eq!(values("status"), ["draft", "active", "deprecated", "retired"]);
    assert!(values("sort").contains(&"-updated_at".to_string()));
    let export = &spec["paths"]["/api/v1/export"]["get"];
    assert!(export["responses"]["200"]["content"]["application/yaml"].is_object());
}

#[tokio::test]
async fn the_served_document_carries_the_security_schemes() {
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
    assert_eq!(served, spec());
}
