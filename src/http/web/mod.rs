//! The web catalog: server-rendered pages for people, beside the API and on the same store,
//! users, limits and cache invalidation rules. Every page works without JavaScript; the one
//! script only adds a copy button. Editors change metrics through `edit` (the API's parse and
//! save path, then the API's invalidation), admins delete through `delete`, administer users and API keys through `admin` and `admin_keys`, and editors import through `import` (all three call the API's own handlers). Sessions and CSRF: `session`, `csrf`; see docs/design.md.

mod admin;
mod admin_keys;
mod assets;
mod catalog;
mod catalog_view;
mod conflict;
mod csrf;
mod delete;
mod diff;
mod domain_view;
mod domains;
mod edit;
mod edit_view;
mod error;
mod import;
mod links;
mod login;
mod metric_page;
mod metric_view;
mod objective_view;
mod objectives;
mod page_cache;
mod pages;
mod referrers;
mod scale;
mod session;
mod stats;
mod stats_view;

use crate::config::ServeConfig;
use crate::http::AppState;
use axum::Router;
use std::time::Duration;

/// What the pages keep in memory beside the response cache: live sessions, and whole pages
/// framed for a session.
pub struct WebState {
    sessions: session::SessionMemo,
    pages: page_cache::FramedPages,
}

impl WebState {
    pub fn new(config: &ServeConfig) -> WebState {
        WebState {
            sessions: session::SessionMemo::new(Duration::from_secs(config.user_cache_ttl_s)),
            pages: page_cache::FramedPages::new(&config.cache),
        }
    }

    /// A user changed (role, status, sessions) here or on another instance.
    pub fn forget_sessions(&self) {
        self.sessions.forget_all();
    }
}
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

/// The pages' route templates, registered with the per-route figures like the API's.
pub const ROUTES: [&str; 24] = [
    "/",
    "/domains",
    "/domains/{id}",
    "/objectives",
    "/objectives/{id}",
    "/objectives/{id}/report.docx",
    "/stats",
    "/login",
    "/logout",
    "/metrics/new",
    "/metrics/{id}",
    "/metrics/{id}/download",
    "/metrics/{id}/diff",
    "/metrics/{id}/edit",
    "/metrics/{id}/delete",
    "/assets/{file}",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/{id}/role",
    "/admin/users/{id}/status",
    "/admin/api-keys",
    "/admin/api-keys/{id}/revoke",
    "/import",
    "/import/preview",
];

/// The pages, to be merged into the application's router. `auth_max_body` bounds the sign-in
/// forms as it bounds the API's credential routes; `import_max` (`MDL_MAX_IMPORT_BYTES`) sets
/// the import forms' bound, which may be above the general body limit as the API's import is.
pub fn router(auth_max_body: usize, import_max: usize) -> Router<AppState> {
    let forms = Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .layer(DefaultBodyLimit::max(auth_max_body));
    let imports = Router::new()
        .route("/import", get(import::form).post(import::apply))
        .route("/import/preview", post(import::preview))
        .layer(DefaultBodyLimit::max(import::form_bound(import_max)));
    Router::new()
        .route("/", get(catalog::page))
        .route("/metrics/{id}", get(metric_page::page))
        .route("/metrics/{id}/download", get(metric_page::download))
        .route("/domains", get(domains::list))
        .route("/domains/{id}", get(domains::page))
        .route("/objectives", get(objectives::list))
        .route("/objectives/{id}", get(objectives::page))
        .route("/objectives/{id}/report.docx", get(objectives::docx))
        .route("/stats", get(stats::page))
        .route("/metrics/{id}/diff", get(diff::page))
        .route("/metrics/new", get(edit::new_form).post(edit::create))
        .route("/metrics/{id}/edit", get(edit::edit_form).post(edit::update))
        .route("/metrics/{id}/delete", get(delete::confirm).post(delete::delete))
        .route("/assets/{file}", get(assets::serve))
        .route("/admin/users", get(admin::list))
        .route("/admin/users/new", get(admin::new_form).post(admin::create))
        .route("/admin/users/{id}/role", post(admin::set_role))
        .route("/admin/users/{id}/status", post(admin::set_status))
        .route("/admin/api-keys", get(admin_keys::list).post(admin_keys::create))
        .route("/admin/api-keys/{id}/revoke", post(admin_keys::revoke))
        .merge(forms)
        .merge(imports)
        .route_layer(axum::middleware::from_fn(crate::http::route_layer::tag_only))
        .layer(axum::middleware::map_response(page_policy))
}

/// Pages load their own stylesheet and script and nothing else: no inline code, no other
/// origin, forms only to this site. (The outer layer keeps a policy a route has set.)
const CSP_PAGES: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'",
);

async fn page_policy(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, CSP_PAGES);
    response
}
