//! Headers every response carries: request ids, timing, security headers, CORS.

use crate::support::{TestDb, backend_tests, spawn};
use serde_json::Value;

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

backend_tests!(health_and_common_headers, cors_only_for_configured_origins,);
