//! Page content through the API's response cache. What is cached is a page's `<main>` and
//! title, keyed like the API's reads (route, canonical path and query, the generations of the
//! collections it shows) plus the visitor's role; the frame around it (who is signed in, the
//! sign-out form's token) is rendered per request. So a write through the API, the CLI or
//! another instance turns cached pages over exactly as it does API answers.

use super::error::WebError;
use super::session::Visitor;
use crate::cache::keys::canonical_query;
use crate::cache::{CachedResponse, Outcome};
use crate::http::AppState;
use crate::http::routes::read_route;
use axum::http::{HeaderMap, StatusCode, Uri};
use bytes::Bytes;
use std::sync::Mutex;

/// A page's cacheable part.
pub struct Fragment {
    pub title: String,
    pub main: String,
}

/// Separates title and content in a stored fragment (stored documents hold no NUL).
const SEP: char = '\0';

fn encode(f: &Fragment) -> Bytes {
    Bytes::from(format!("{}{SEP}{}", f.title, f.main))
}

fn decode(entry: &CachedResponse) -> Result<Fragment, WebError> {
    let text = entry
        .identity_body()
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .ok_or_else(|| WebError::Internal("unreadable cached page".into()))?;
    let (title, main) = text
        .split_once(SEP)
        .ok_or_else(|| WebError::Internal("cached page without a title".into()))?;
    Ok(Fragment {
        title: title.to_string(),
        main: main.to_string(),
    })
}

/// The role a cached page is keyed by (pages may show role-dependent controls).
pub fn variant(visitor: &Visitor) -> &'static str {
    visitor.user.as_ref().map_or("anonymous", |u| u.role.as_str())
}

/// The fragment of the page at `uri` (route `template`), from the cache or from `render`.
/// Failures are not stored; requests that waited on a failing render get its error.
pub async fn fragment(
    state: &AppState,
    template: &'static str,
    uri: &Uri,
    variant: &str,
    render: impl Future<Output = Result<Fragment, WebError>>,
) -> Result<(Fragment, Outcome), WebError> {
    let Some(route) = read_route(template).filter(|_| state.cache.enabled()) else {
        return Ok((render.await?, Outcome::Bypass));
    };
    let query = canonical_query(uri.query(), &route);
    let Some((key, generations)) = state.cache.key(&route, uri.path(), &query, variant) else {
        state.cache.count_bypass(Some(&route));
        return Ok((render.await?, Outcome::Bypass));
    };
    if let Some(entry) = state.cache.hit(&route, &key).await {
        return Ok((decode(&entry)?, Outcome::HitL1));
    }
    let failed: Mutex<Option<WebError>> = Mutex::new(None);
    let load = async {
        match render.await {
            // Stored as rendered: a hit then costs no inflating before the page is framed.
            Ok(f) => Ok(CachedResponse::capture(
                StatusCode::OK,
                &HeaderMap::new(),
                encode(&f),
                usize::MAX,
                generations,
            )),
            Err(e) => {
                let shared = CachedResponse::verbatim(e.status(), &HeaderMap::new(), Bytes::from(e.to_string()));
                if let Ok(mut slot) = failed.lock() {
                    *slot = Some(e);
                }
                Err(shared)
            }
        }
    };
    let (entry, outcome) = Box::pin(state.cache.lookup(&route, key, load)).await;
    if let Some(e) = failed.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    if entry.status != StatusCode::OK {
        let message = String::from_utf8_lossy(&entry.body).into_owned();
        return Err(WebError::from_status(entry.status, message));
    }
    Ok((decode(&entry)?, outcome))
}
