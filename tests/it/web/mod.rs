//! The web catalog: pages, sign-in, sessions and CSRF over plain HTTP (`http`, `sessions`),
//! editing and the metric page in depth (`editing`, `metric_depth`), the admin and import pages
//! (`admin`, `import`), and journeys in headless Chromium driven through WebDriver (`journeys`,
//! `edit_journeys`, `admin_journeys`, `accessibility`).
//! Browser tests print a SKIPPED line when `chromedriver` is not on `PATH`, and fail instead
//! under `MDL_REQUIRE_SERVICES=1` or `MDL_REQUIRE_BROWSER=1`.

mod accessibility;
mod admin;
mod admin_journeys;
mod browser;
mod edit_journeys;
mod editing;
mod entity_journeys;
mod entity_pages;
mod forms;
mod http;
mod import;
mod journeys;
mod metric_depth;
mod screens;
mod sessions;
