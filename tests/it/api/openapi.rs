//! The OpenAPI document lists every route exactly once, and it and Swagger UI are served.

use crate::support::{spawn, sqlite};
use serde_json::Value;

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
    ("get", "/api/v1/objectives/{id}/report.docx"),
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

    let db = sqlite().await;
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
