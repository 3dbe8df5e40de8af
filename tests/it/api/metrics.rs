//! Reading one metric: version ETags, 304s, 404s.

use crate::support::{TestDb, backend_tests, error_code, load, spawn};
use serde_json::Value;

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

backend_tests!(single_metrics_carry_version_etags,);
