//! Who may call what: every protected route refuses anonymous callers and lower roles, and
//! `public_read` opens reads only.

use crate::support::{TestDb, backend_tests, error_code, load, spawn};
use serde_json::json;

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
    ("get", "/api/v1/objectives/NOPE/report.docx", "viewer"),
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

backend_tests!(public_read_opens_reads_only, every_route_checks_credentials_and_roles,);
