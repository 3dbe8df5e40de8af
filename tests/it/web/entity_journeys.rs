//! Domain, objective and stats pages in headless Chromium: the site links lead to an
//! objective's progress, and axe-core finds no serious or critical violation on them.

use super::accessibility::serious_violations;
use super::browser::browser;
use super::entity_pages::seed;
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, spawn};

async fn the_site_links_lead_to_an_objectives_progress(db: &TestDb) {
    let app = spawn(db, false).await;
    seed(&app).await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;
    b.goto(&app.url("/")).await;

    b.click(".site-links a[href='/objectives']").await;
    b.wait_for_url(|u| u.ends_with("/objectives")).await;
    assert_eq!(b.text("h1").await, "Objectives");
    b.click("a[href='/objectives/OBJ-RETURN']").await;
    b.wait_for_url(|u| u.ends_with("/objectives/OBJ-RETURN")).await;

    assert_eq!(b.text("h1").await, "Delight returning customers");
    assert_eq!(b.text("#overall").await, "At risk");
    let bars = b
        .run("return [...document.querySelectorAll('table.krs progress')].map(p => [String(p.value), document.getElementById(p.getAttribute('aria-labelledby')).textContent])")
        .await;
    assert_eq!(
        bars,
        serde_json::json!([["75", "Lift weekly return rate"], ["20", "Cut churned accounts"]]),
        "progress bars and their labels"
    );
    let standings = b.text("table.krs tbody").await;
    assert!(
        standings.contains("On track") && standings.contains("At risk"),
        "{standings}"
    );
    let docx = b.text(".downloads a").await;
    assert!(docx.contains(".docx"), "{docx}");
    b.click("a[href='/metrics/M-RETURN']").await;
    b.wait_for_url(|u| u.ends_with("/metrics/M-RETURN")).await;
    b.close().await;
}

async fn domain_objective_and_stats_pages_have_no_serious_violations(db: &TestDb) {
    let app = spawn(db, false).await;
    seed(&app).await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;

    let mut found = Vec::new();
    for path in [
        "/domains",
        "/domains/DOM-GROWTH",
        "/objectives",
        "/objectives/OBJ-RETURN",
        "/stats",
        "/objectives/NOPE",
    ] {
        b.goto(&app.url(path)).await;
        found.push((path, serious_violations(&b).await));
    }

    for (path, violations) in found {
        assert!(violations.is_empty(), "{path}: {violations:#?}");
    }
    b.close().await;
}

backend_tests!(
    the_site_links_lead_to_an_objectives_progress,
    domain_objective_and_stats_pages_have_no_serious_violations,
);
