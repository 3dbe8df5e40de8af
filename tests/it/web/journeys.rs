//! Journeys in headless Chromium: sign in, search and filter, read a metric, sign out.

use super::browser::browser;
use super::forms::{client, get_with_session};
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, load, spawn};

async fn sign_in_with_a_wrong_then_the_right_password(db: &TestDb) {
    let app = spawn(db, false).await;
    let Some(b) = browser().await else { return };

    b.goto(&app.url("/")).await;
    let at = b.wait_for_url(|u| u.contains("/login?next=")).await;
    assert!(at.ends_with("/login?next=%2F"), "{at}");
    b.fill("#username", "admin").await;
    b.fill("#password", "wrong-password").await;
    b.click("form.stack button[type=submit]").await;
    let error = b.text("#login-error").await;
    assert!(error.contains("Wrong username or password"), "{error}");
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("form.stack button[type=submit]").await;

    assert_eq!(b.text(".who strong").await, "Administrator");
    let at = b.wait_for_url(|u| !u.contains("/login")).await;
    assert_eq!(at, app.url("/"));
    b.close().await;
}

async fn searching_narrows_the_catalog_and_a_facet_filters_it(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;
    b.goto(&app.url("/")).await;
    let everything = b.text("#results-h").await;

    b.fill("#q", "login").await;
    b.click("form.search button[type=submit]").await;
    b.wait_for_url(|u| u.contains("q=login")).await;
    let searched = b.text("#results-h").await;
    assert_ne!(searched, everything, "search narrows: {searched} vs {everything}");
    assert!(b.text("#results").await.contains("Login Success Rate"));

    b.goto(&app.url("/")).await;
    let tier_link = b.client.find(fantoccini::Locator::Css("#facet-tier a")).await.unwrap();
    let label = tier_link.text().await.unwrap();
    let tier = label.split(" (").next().unwrap().to_string();
    tier_link.click().await.unwrap();

    let at = b.wait_for_url(|u| u.contains("tier=")).await;
    assert!(at.contains(&format!("tier={tier}")), "{at}");
    let tiers = b
        .run("return [...document.querySelectorAll('#results .tier')].map(e => e.textContent)")
        .await;
    let tiers = tiers.as_array().unwrap();
    assert!(!tiers.is_empty());
    assert!(tiers.iter().all(|t| t.as_str() == Some(tier.as_str())), "{tiers:?}");
    assert!(b.text("#facet-tier a[aria-current]").await.starts_with(&tier));
    b.close().await;
}

async fn a_metric_page_shows_formula_history_and_policy(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let Some(b) = browser().await else { return };
    // Asked for before signing in: the sign-in page brings the visitor back.
    b.goto(&app.url("/metrics/METRIC-LOGIN-SUCCESS-RATE")).await;
    b.wait_for_url(|u| u.contains("/login?next=")).await;
    b.fill("#username", "admin").await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_for_url(|u| u.ends_with("/metrics/METRIC-LOGIN-SUCCESS-RATE"))
        .await;

    assert_eq!(b.text("h1").await, "Login Success Rate");
    assert!(
        b.text("#formula")
            .await
            .contains("successful_logins / total_login_attempts")
    );
    assert!(b.text(".timeline").await.contains("Version 1"));
    assert!(b.text("#policy-text").await.contains("package mdl.metrics"));
    // The script loaded under the page's policy and revealed the copy button.
    let copy = b.client.find(fantoccini::Locator::Css("button.copy")).await.unwrap();
    assert!(copy.is_displayed().await.unwrap());
    copy.click().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while b.text(".copy-status").await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the copy button said nothing");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    b.click("a[href='/metrics/METRIC-SESSION_SUCCESS_RATE']").await;
    b.wait_for_url(|u| u.ends_with("/metrics/METRIC-SESSION_SUCCESS_RATE"))
        .await;
    b.close().await;
}

async fn signing_out_ends_the_session_for_good(db: &TestDb) {
    let app = spawn(db, false).await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;
    let cookie = b.client.get_named_cookie("mdl_session").await.unwrap();
    let session = cookie.value().to_string();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(get_with_session(&app, "/", &session).await.status(), 200);

    b.click(".who button").await;

    b.wait_for_url(|u| u.ends_with("/login")).await;
    b.goto(&app.url("/")).await;
    b.wait_for_url(|u| u.contains("/login?next=")).await;
    // The old cookie, replayed by another client, is dead too.
    let r = get_with_session(&app, "/", &session).await;
    assert_eq!(r.status(), 303);
    assert_eq!(client().get(app.url("/")).send().await.unwrap().status(), 303);
    b.close().await;
}

backend_tests!(
    sign_in_with_a_wrong_then_the_right_password,
    searching_narrows_the_catalog_and_a_facet_filters_it,
    a_metric_page_shows_formula_history_and_policy,
    signing_out_ends_the_session_for_good,
);
