//! The page templates (checked at compile time by askama, in `templates/web/`) and the frame
//! every page shares.

use super::catalog_view::CatalogView;
use super::metric_view::MetricView;
use super::session::Visitor;
use askama::Template;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The signed-in user as the header shows them, with the token their sign-out form needs.
pub struct SignedIn {
    pub name: String,
    pub role: &'static str,
    pub csrf: String,
}

/// What the shared layout needs: the title, the asset names, who is signed in.
pub struct Chrome {
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub user: Option<SignedIn>,
    /// Show "Sign in" in the header (not on the sign-in page itself).
    pub sign_in_link: bool,
}

impl Chrome {
    pub fn new(title: impl Into<String>, visitor: &Visitor) -> Chrome {
        let user = visitor.user.as_ref().zip(visitor.csrf()).map(|(u, csrf)| SignedIn {
            name: u.full_name.clone().unwrap_or_else(|| u.username.clone()),
            role: u.role.as_str(),
            csrf,
        });
        Chrome {
            title: title.into(),
            css: super::assets::css_href(),
            js: super::assets::js_href(),
            user,
            sign_in_link: true,
        }
    }

    pub fn anonymous(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            css: super::assets::css_href(),
            js: super::assets::js_href(),
            user: None,
            sign_in_link: false,
        }
    }
}

#[derive(Template)]
#[template(path = "web/login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub next: String,
    pub username: String,
    pub error: Option<String>,
}

/// A page whose content was rendered (or taken from the cache) apart from its frame.
#[derive(Template)]
#[template(path = "web/frame.html")]
pub struct Framed<'a> {
    pub chrome: Chrome,
    pub main: &'a str,
}

/// The catalog page's content: the same for every visitor of one role.
#[derive(Template)]
#[template(path = "web/catalog.html")]
pub struct CatalogMain {
    pub view: CatalogView,
}

/// A metric page's content: the same for every visitor of one role.
#[derive(Template)]
#[template(path = "web/metric.html")]
pub struct MetricMain {
    pub m: MetricView,
}

#[derive(Template)]
#[template(path = "web/error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub message: String,
}

/// A rendered page. Each carries who is signed in and a session-bound token, so no shared
/// cache may keep it: `no-store` (the server keeps pages itself, see `page_cache`).
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, page_headers(), body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The headers of every rendered page (see [`html`]).
pub fn page_headers() -> [(HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store, private")),
    ]
}
