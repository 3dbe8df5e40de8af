//! Pictures of the main pages in headless Chromium, with the example catalog loaded: the
//! README's screenshots are these (`MDL_SCREENSHOTS=docs/img cargo test --test it screens`).
//! Run on SQLite only, so one run writes each picture once.

use super::browser::browser;
use super::entity_pages::seed;
use crate::support::{ADMIN_PASSWORD, load, spawn, sqlite};

/// A PNG of a real page: the signature, and more than a blank window's few bytes.
fn assert_picture(png: &[u8], page: &str) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{page}: not a PNG");
    assert!(png.len() > 20_000, "{page}: {} bytes, a blank page?", png.len());
}

#[tokio::test]
async fn the_main_pages_are_pictured() {
    let db = sqlite().await;
    load(&db).await;
    let app = spawn(&db, false).await;
    seed(&app).await;
    let Some(b) = browser().await else { return };
    b.sign_in(&app.base, "admin", ADMIN_PASSWORD).await;

    b.goto(&app.url("/")).await;
    b.text("#results-h").await;
    assert_picture(&b.screenshot("catalog").await, "catalog");

    let first = b
        .run("return document.querySelector('#results a[href^=\"/metrics/\"]').getAttribute('href')")
        .await;
    b.goto(&app.url(first.as_str().expect("a metric link"))).await;
    b.text("h1").await;
    assert_picture(&b.screenshot("metric").await, "metric");

    b.goto(&app.url("/objectives/OBJ-RETURN")).await;
    b.text("#overall").await;
    assert_picture(&b.screenshot("objective").await, "objective");

    b.goto(&app.url("/stats")).await;
    b.text("h1").await;
    assert_picture(&b.screenshot("stats").await, "stats");
    b.close().await;
    db.cleanup().await;
}
