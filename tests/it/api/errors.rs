//! One error envelope for everything that goes wrong: unknown routes and methods, bad bodies,
//! oversized bodies, panicking handlers.

use crate::support::{TestDb, backend_tests, error_code, spawn};
use serde_json::json;

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

#[tokio::test]
async fn a_handler_past_the_time_limit_answers_503_with_the_envelope_and_its_request_id() {
    async fn slow() -> &'static str {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        "late"
    }
    let app = axum::Router::new().route("/slow", axum::routing::get(slow));
    let app = mdl::http::with_common_layers(app, 1024, std::time::Duration::from_millis(200));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let started = std::time::Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{base}/slow"))
        .header("x-request-id", "slow-1")
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(r.headers()["x-request-id"], "slow-1");
    assert!(r.headers().contains_key("x-response-time"));
    let (status, code, body) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (503, "SERVICE_UNAVAILABLE"));
    assert_eq!(body["request_id"], "slow-1");
}

backend_tests!(unknown_routes_methods_and_bodies_get_the_envelope,);
