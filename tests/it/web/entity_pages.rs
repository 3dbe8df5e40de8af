//! Domain, objective and stats pages over plain HTTP, for data created through the API: what
//! each page shows, 404s, the objective's `.docx` for a session, sign-in redirects, and pages
//! turned over by writes.

use super::forms::{client, get_with_session, sign_in};
use crate::support::{ADMIN_PASSWORD, TestApp, TestDb, backend_tests, spawn};
use reqwest::Method;
use serde_json::{Value, json};

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

fn metric(id: &str, name: &str, domain: &str, category: &str) -> Value {
    json!({
        "metric_id": id, "name": name, "description": "For the page tests.", "category": category,
        "tier": "Tier-2", "business_domain": domain, "metric_type": "leading",
        "definition": {"formula": format!("{}_numerator / {}_denominator", id.to_lowercase(), id.to_lowercase()), "unit": "ratio"},
        "governance": {"owner_team": "Growth Squad", "status": "active"}
    })
}

fn domain() -> Value {
    json!({
        "domain_id": "DOM-GROWTH", "name": "Growth", "description": "Getting and keeping customers.",
        "owner_team": "Growth Squad", "contact_email": "growth@example.com",
        "tier_focus": ["Tier-1", "Tier-2"], "key_areas": ["Acquisition", "Retention"]
    })
}

fn objective() -> Value {
    json!({
        "objective_id": "OBJ-RETURN", "name": "Delight returning customers",
        "description": "Make coming back worth it.", "timeframe": {"start": "2026-01-01", "end": "2026-06-30"},
        "owner_team": "Growth Squad", "status": "active", "priority": "high",
        "key_results": [
            {"kr_id": "KR-UP", "name": "Lift weekly return rate", "baseline_value": 20, "target_value": 40,
             "current_value": 35, "unit": "percent", "direction": "increase", "metric_ids": ["M-RETURN"]},
            {"kr_id": "KR-DOWN", "name": "Cut churned accounts", "baseline_value": 0.1, "target_value": 0.05,
             "current_value": 0.09, "unit": "ratio", "direction": "decrease", "metric_ids": ["M-CHURN", "M-GHOST"]}
        ]
    })
}

async fn create(app: &TestApp, token: &str, path: &str, body: &Value) {
    let r = app.send(Method::POST, path, token, Some(body)).await;
    assert_eq!(r.status(), 201, "{path}: {}", r.text().await.unwrap());
}

/// Two metrics in "Growth", one elsewhere, the domain and the objective; returns an admin token.
pub async fn seed(app: &TestApp) -> String {
    let token = app.token().await;
    create(
        app,
        &token,
        "/api/v1/metrics",
        &metric("M-RETURN", "Weekly return rate", "Growth", "Engagement"),
    )
    .await;
    create(
        app,
        &token,
        "/api/v1/metrics",
        &metric("M-CHURN", "Churned accounts", "Growth", "Retention"),
    )
    .await;
    create(
        app,
        &token,
        "/api/v1/metrics",
        &metric("M-UPTIME", "Service uptime", "Platform", "Reliability"),
    )
    .await;
    create(app, &token, "/api/v1/domains", &domain()).await;
    create(app, &token, "/api/v1/objectives", &objective()).await;
    token
}

async fn text(app: &TestApp, path: &str, session: &str) -> (u16, String) {
    let r = get_with_session(app, path, session).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn x_cache(app: &TestApp, path: &str, session: &str) -> String {
    let r = get_with_session(app, path, session).await;
    r.headers()["x-cache"].to_str().unwrap().to_string()
}

fn assert_contains(html: &str, expected: &[&str]) {
    for e in expected {
        assert!(html.contains(e), "missing {e:?} in {html}");
    }
}

async fn domain_pages_list_a_domains_metrics_and_unknown_ones_are_404(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = seed(&app).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;

    let (status, list) = text(&app, "/domains", &session).await;
    assert_eq!(status, 200);
    assert_contains(&list, &["href=\"/domains/DOM-GROWTH\"", ">Growth<", "Growth Squad"]);

    let (status, page) = text(&app, "/domains/DOM-GROWTH", &session).await;
    assert_eq!(status, 200);
    assert_contains(
        &page,
        &[
            "<h1>Growth</h1>",
            "growth@example.com",
            "Acquisition",
            "2 metrics",
            "href=\"/metrics/M-RETURN\"",
            "href=\"/metrics/M-CHURN\"",
            "href=\"/?business_domain=Growth\"",
        ],
    );
    assert!(!page.contains("M-UPTIME"), "a metric of another domain is not listed");
    assert_eq!(x_cache(&app, "/domains/DOM-GROWTH", &session).await, "HIT");

    // A metric filed under the domain later shows at once (the cached page is turned over).
    create(
        &app,
        &token,
        "/api/v1/metrics",
        &metric("M-SIGNUP", "Sign-ups", "Growth", "Acquisition"),
    )
    .await;
    assert_eq!(x_cache(&app, "/domains/DOM-GROWTH", &session).await, "MISS");
    let (_, page) = text(&app, "/domains/DOM-GROWTH", &session).await;
    assert_contains(&page, &["3 metrics", "href=\"/metrics/M-SIGNUP\""]);

    let (status, missing) = text(&app, "/domains/NOPE", &session).await;
    assert_eq!(status, 404);
    assert_contains(&missing, &["Not found", "There is no business domain"]);
    assert_eq!(text(&app, "/domains?bogus=1", &session).await.0, 400);
}

async fn objective_pages_show_progress_and_standing(db: &TestDb) {
    let app = spawn(db, false).await;
    let token = seed(&app).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;

    let (status, list) = text(&app, "/objectives", &session).await;
    assert_eq!(status, 200);
    assert_contains(
        &list,
        &[
            "href=\"/objectives/OBJ-RETURN\"",
            "Delight returning customers",
            "Growth Squad",
            "2026-01-01 to 2026-06-30",
            // (75 + 20) / 2: one of two key results on track.
            "value=\"47.5\"",
            "At risk",
        ],
    );

    let (status, page) = text(&app, "/objectives/OBJ-RETURN", &session).await;
    assert_eq!(status, 200);
    assert_contains(
        &page,
        &[
            "<h1>Delight returning customers</h1>",
            "Lift weekly return rate",
            "value=\"75\"",
            "value=\"20\"",
            "On track",
            "At risk",
            "1 of 2 key results are on track",
            "href=\"/metrics/M-RETURN\"",
            "Weekly return rate",
            "m-churn_numerator / m-churn_denominator",
            "not in the catalog",
            "href=\"/objectives/OBJ-RETURN/report.docx\"",
        ],
    );
    assert!(!page.contains("style="), "no inline styles");
    assert_eq!(x_cache(&app, "/objectives/OBJ-RETURN", &session).await, "HIT");

    // A key result moved through the API moves the page.
    let patch = json!({"key_results": [
        {"kr_id": "KR-UP", "name": "Lift weekly return rate", "baseline_value": 20, "target_value": 40,
         "current_value": 40, "unit": "percent", "direction": "increase", "metric_ids": ["M-RETURN"]}
    ]});
    let r = app
        .send(Method::PATCH, "/api/v1/objectives/OBJ-RETURN", &token, Some(&patch))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (_, page) = text(&app, "/objectives/OBJ-RETURN", &session).await;
    assert_contains(&page, &["value=\"100\"", "Achieved"]);
    let (_, list) = text(&app, "/objectives", &session).await;
    assert_contains(&list, &["value=\"100\"", "Achieved"]);

    let (status, missing) = text(&app, "/objectives/NOPE", &session).await;
    assert_eq!(status, 404);
    assert_contains(&missing, &["Not found", "There is no objective"]);
}

async fn the_report_downloads_with_a_session_only(db: &TestDb) {
    let app = spawn(db, false).await;
    seed(&app).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;

    let r = get_with_session(&app, "/objectives/OBJ-RETURN/report.docx", &session).await;

    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], DOCX);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"OBJ-RETURN-report.docx\""
    );
    assert!(r.bytes().await.unwrap().starts_with(b"PK"), "a zip archive");
    let anonymous = client()
        .get(app.url("/objectives/OBJ-RETURN/report.docx"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        anonymous.headers()["location"],
        "/login?next=%2Fobjectives%2FOBJ-RETURN%2Freport.docx"
    );
    let r = get_with_session(&app, "/objectives/NOPE/report.docx", &session).await;
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

async fn under_public_read_anyone_reads_the_pages_and_the_report(db: &TestDb) {
    let app = spawn(db, true).await;
    seed(&app).await;

    for path in [
        "/domains",
        "/domains/DOM-GROWTH",
        "/objectives",
        "/objectives/OBJ-RETURN",
        "/stats",
    ] {
        let r = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = client()
        .get(app.url("/objectives/OBJ-RETURN/report.docx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], DOCX);
}

async fn anonymous_visitors_are_sent_to_sign_in(db: &TestDb) {
    let app = spawn(db, false).await;

    for (path, next) in [
        ("/domains", "%2Fdomains"),
        ("/domains/DOM-GROWTH", "%2Fdomains%2FDOM-GROWTH"),
        ("/objectives", "%2Fobjectives"),
        ("/objectives/OBJ-RETURN", "%2Fobjectives%2FOBJ-RETURN"),
        ("/stats", "%2Fstats"),
    ] {
        let r = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], format!("/login?next={next}").as_str());
    }
}

async fn the_stats_page_draws_each_breakdown_with_its_numbers(db: &TestDb) {
    let app = spawn(db, false).await;
    seed(&app).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;

    let (status, page) = text(&app, "/stats", &session).await;

    assert_eq!(status, 200);
    for title in [
        "Metrics by category",
        "Metrics by tier",
        "Metrics by business domain",
        "Metrics by status",
        "Metrics by owner team",
    ] {
        assert!(page.contains(&format!("<caption>{title}</caption>")), "table {title}");
        assert!(page.contains(&format!(">{title}</title>")), "chart {title}");
    }
    assert_eq!(page.matches("role=\"img\"").count(), 6);
    assert_eq!(page.matches("<desc id=").count(), 6);
    assert_contains(
        &page,
        &[
            "<dd id=\"total-metrics\">3</dd>",
            "<th scope=\"row\">Growth</th><td>2</td>",
            "<th scope=\"row\">Platform</th><td>1</td>",
            "<th scope=\"row\">Growth Squad</th><td>3</td>",
        ],
    );
    assert!(!page.contains("style="), "no inline styles");
}

async fn the_site_links_reach_the_new_pages(db: &TestDb) {
    let app = spawn(db, true).await;

    let (_, page) = text(&app, "/", "").await;

    for href in ["/domains", "/objectives", "/stats"] {
        assert!(page.contains(&format!("<a href=\"{href}\">")), "{href}");
    }
}

backend_tests!(
    domain_pages_list_a_domains_metrics_and_unknown_ones_are_404,
    objective_pages_show_progress_and_standing,
    the_report_downloads_with_a_session_only,
    under_public_read_anyone_reads_the_pages_and_the_report,
    anonymous_visitors_are_sent_to_sign_in,
    the_stats_page_draws_each_breakdown_with_its_numbers,
    the_site_links_reach_the_new_pages,
);
