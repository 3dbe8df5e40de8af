//! The metric page in depth over plain HTTP: the version diff page, the "referred to by"
//! section and the threshold scale.

use super::editing::api_metric;
use super::forms::{client, get_with_session, sign_in};
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, load, spawn};
use reqwest::Method;
use serde_json::json;

const ID: &str = "METRIC-CSAT";

async fn the_diff_page_shows_changes_field_by_field(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let patch = json!({ "description": "Second description", "tags": null });
    let before = api_metric(&app, &token).await;
    assert_eq!(
        app.send(Method::PATCH, &format!("/api/v1/metrics/{ID}"), &token, Some(&patch))
            .await
            .status(),
        200
    );

    let r = get_with_session(&app, &format!("/metrics/{ID}/diff?from=1&to=2"), &session).await;

    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<code>description</code>") && html.contains("Second description"));
    assert!(
        html.contains(&format!("<del>{}</del>", before["description"].as_str().unwrap())),
        "the old value"
    );
    assert!(html.contains("<code>tags</code>") && html.contains("removed"));
    assert!(html.contains("<select id=\"diff-from\" name=\"from\">"));
    let page = get_with_session(&app, &format!("/metrics/{ID}"), &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Compare two versions") && page.contains(&format!("action=\"/metrics/{ID}/diff\"")));
    assert_eq!(
        get_with_session(&app, &format!("/metrics/{ID}/diff?from=1&to=9"), &session)
            .await
            .status(),
        404
    );
    assert_eq!(
        get_with_session(&app, &format!("/metrics/{ID}/diff?from=x&to=2"), &session)
            .await
            .status(),
        400
    );
    assert_eq!(
        get_with_session(&app, &format!("/metrics/{ID}/diff?to=2"), &session)
            .await
            .status(),
        400
    );
}

async fn referrers_are_linked_and_thresholds_drawn(db: &TestDb) {
    load(db).await;
    let app = spawn(db, true).await;
    let token = app.token().await;
    let path = "/metrics/METRIC-CUSTOMER-CHURN-RATE";
    let html = client().get(app.url(path)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Referred to by"), "{html}");
    assert!(
        html.contains("<a href=\"/metrics/METRIC-CSAT\">Customer Satisfaction Score (CSAT)</a>"),
        "{html}"
    );
    // An objective naming the metric shows up: its write turns the section over.
    let objective = json!({
        "objective_id": "OBJ-WEB", "name": "Smoother sessions",
        "key_results": [{ "kr_id": "KR-1", "name": "Sessions succeed", "metric_ids": ["METRIC-CUSTOMER-CHURN-RATE"] }]
    });
    assert_eq!(
        app.send(Method::POST, "/api/v1/objectives", &token, Some(&objective))
            .await
            .status(),
        201
    );
    let html = client().get(app.url(path)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("href=\"/objectives/OBJ-WEB\">Smoother sessions</a>"),
        "{html}"
    );

    let html = client()
        .get(app.url("/metrics/METRIC-LOGIN-SUCCESS-RATE"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<svg") && html.contains("role=\"img\""));
    assert!(
        html.contains("Scale: target 0.98, warning 0.95, critical 0.9; higher is better."),
        "{html}"
    );
    assert!(html.contains("class=\"zone critical\""));
    assert!(!html.contains("style="), "no inline styles");
}

backend_tests!(
    the_diff_page_shows_changes_field_by_field,
    referrers_are_linked_and_thresholds_drawn,
);
