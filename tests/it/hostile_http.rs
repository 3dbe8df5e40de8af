//! Hostile input over real sockets: path ids no entity can have, query strings built to grow the
//! response cache, spellings of one id that must share one cache entry, and content negotiation
//! on cache hits.

use crate::http::{error_code, load, spawn};
use crate::support::{TestDb, backend_tests};
use reqwest::Method;
use serde_json::json;

async fn status_and_code(r: reqwest::Response) -> (u16, String) {
    let (status, code, _) = error_code(r).await;
    (status.as_u16(), code)
}

async fn path_ids_that_cannot_exist_are_404_and_undecodable_ones_400(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let long = "A".repeat(101);
    let cannot_exist = [
        (Method::GET, "/api/v1/metrics/%00".to_string()),
        (Method::GET, "/api/v1/metrics/METRIC%00CSAT/history".to_string()),
        (Method::GET, "/api/v1/metrics/%0A/policy".to_string()),
        (Method::PATCH, "/api/v1/metrics/%00".to_string()),
        (Method::PUT, "/api/v1/metrics/%1B".to_string()),
        (Method::DELETE, "/api/v1/metrics/%00".to_string()),
        (Method::GET, format!("/api/v1/metrics/{long}")),
        (Method::GET, "/api/v1/domains/%00".to_string()),
        (Method::DELETE, "/api/v1/objectives/%7F".to_string()),
        (Method::GET, "/api/v1/users/%00".to_string()),
        (Method::DELETE, "/api/v1/api-keys/%00".to_string()),
    ];
    for (method, path) in cannot_exist {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let r = app.send(method.clone(), &path, &token, body.as_ref()).await;
        assert_eq!(status_and_code(r).await, (404, "NOT_FOUND".into()), "{method} {path}");
    }
    for path in [
        "/api/v1/metrics/%ff",
        "/api/v1/metrics/%C3%28/history",
        "/api/v1/domains/%ff",
        "/api/v1/users/%ff",
    ] {
        let r = app.get(path, &token).await;
        assert!(
            r.headers()["content-type"].to_str().unwrap().starts_with("application/json"),
            "{path}"
        );
        let (status, code, body) = error_code(r).await;
        assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"), "{path}");
        assert_eq!(body["error"]["details"][0]["field"], "id", "{path}: {body}");
    }
    // A percent-encoded spelling of a real id is that id.
    let r = app.get("/api/v1/metrics/METRIC%2DCSAT", &token).await;
    assert_eq!(r.status(), 200);
}

backend_tests!(path_ids_that_cannot_exist_are_404_and_undecodable_ones_400);
