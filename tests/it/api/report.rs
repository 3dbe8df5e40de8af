//! The objective report as a Word file: `GET /api/v1/objectives/{id}/report.docx`.

use crate::support::{TestApp, TestDb, backend_tests, error_code, spawn};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

fn metric(id: &str, name: &str, formula: &str, owner_team: &str) -> Value {
    json!({
        "metric_id": id, "name": name, "description": "For the report test.", "category": "Engagement",
        "tier": "Tier-2", "business_domain": "Digital", "metric_type": "leading",
        "definition": {"formula": formula, "unit": "ratio"},
        "governance": {"owner_team": owner_team, "status": "active"}
    })
}

fn objective() -> Value {
    json!({
        "objective_id": "OBJ-REPORT", "name": "Delight returning customers",
        "description": "Make coming back worth it.", "timeframe": {"start": "2026-01-01", "end": "2026-06-30"},
        "owner_team": "Growth Squad", "status": "active", "priority": "high", "strategic_pillar": "Retention",
        "key_results": [
            {"kr_id": "KR-UP", "name": "Lift weekly return rate", "baseline_value": 20, "target_value": 40,
             "current_value": 35, "unit": "percent", "direction": "increase", "metric_ids": ["M-RETURN", "M-CHURN"]},
            {"kr_id": "KR-DOWN", "name": "Cut churned accounts", "baseline_value": 0.1, "target_value": 0.05,
             "current_value": 0.09, "unit": "ratio", "direction": "decrease", "metric_ids": ["M-CHURN", "M-GHOST"]}
        ]
    })
}

/// `word/document.xml` of a `.docx`.
fn document_xml(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .expect("word/document.xml")
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

async fn create(app: &TestApp, token: &str, path: &str, body: &Value) {
    let r = app.send(Method::POST, path, token, Some(body)).await;
    assert_eq!(r.status(), 201, "{path}: {}", r.text().await.unwrap());
}

async fn objective_report_as_docx(db: &TestDb) {
    let app = spawn(db, false).await;
    let roles = app.roles(db).await;
    for m in [
        metric(
            "M-RETURN",
            "Weekly return rate",
            "returning_users / active_users",
            "Growth Squad",
        ),
        metric(
            "M-CHURN",
            "Account churn",
            "churned_accounts / accounts_at_start",
            "Billing",
        ),
    ] {
        create(&app, &roles.editor, "/api/v1/metrics", &m).await;
    }
    create(&app, &roles.editor, "/api/v1/objectives", &objective()).await;

    let r = app
        .client
        .get(app.url("/api/v1/objectives/OBJ-REPORT/report.docx"))
        .bearer_auth(&roles.viewer)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();

    assert_eq!(r.status(), 200);
    let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("content-type").as_deref(), Some(DOCX));
    assert_eq!(header("content-encoding"), None, "a .docx is already compressed");
    assert_eq!(header("x-cache").as_deref(), Some("BYPASS"), "not cached");
    assert_eq!(
        header("content-disposition").as_deref(),
        Some("attachment; filename=\"OBJ-REPORT-report.docx\"")
    );
    let etag = header("etag").expect("an ETag");
    let xml = document_xml(&r.bytes().await.unwrap());
    for expected in [
        "Delight returning customers",
        "OBJ-REPORT",
        "2026-01-01 to 2026-06-30",
        "Growth Squad",
        "Retention",
        "Lift weekly return rate",
        "75%",
        "Cut churned accounts",
        "20%",
        "decrease",
        "Weekly return rate",
        "returning_users / active_users",
        "churned_accounts / accounts_at_start",
        "Billing",
        "M-GHOST",
        "(not in the catalog)",
        "1 of 2 key results are on track (mean progress 47.5%). Overall: at risk.",
        "Metrics not in the catalog: M-GHOST.",
    ] {
        assert!(xml.contains(expected), "document.xml lacks {expected:?}");
    }

    // The ETag names the contents: the same report is a 304, a changed metric is not.
    let r = app
        .client
        .get(app.url("/api/v1/objectives/OBJ-REPORT/report.docx"))
        .bearer_auth(&roles.viewer)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let patch = json!({"definition": {"formula": "churned / accounts"}});
    let r = app
        .send(Method::PATCH, "/api/v1/metrics/M-CHURN", &roles.editor, Some(&patch))
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.url("/api/v1/objectives/OBJ-REPORT/report.docx"))
        .bearer_auth(&roles.viewer)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(document_xml(&r.bytes().await.unwrap()).contains("churned / accounts"));
}

async fn unknown_objectives_anonymous_callers_and_query_parameters_are_refused(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = app.token().await;

    let (status, code, _) = error_code(app.get("/api/v1/objectives/NOPE/report.docx", &token).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "NOT_FOUND"));

    let anonymous = app
        .client
        .get(app.url("/api/v1/objectives/NOPE/report.docx"))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(anonymous).await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "AUTHENTICATION_ERROR"));

    let (status, _, _) = error_code(app.get("/api/v1/objectives/NOPE/report.docx?format=pdf", &token).await).await;
    assert_eq!(status, 400);
}

backend_tests!(
    objective_report_as_docx,
    unknown_objectives_anonymous_callers_and_query_parameters_are_refused
);
