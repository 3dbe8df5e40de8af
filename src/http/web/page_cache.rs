//! Pages through the API's response cache, in two levels.
//!
//! - A page's content (its `<main>` and title) is cached like the API's reads: keyed by route,
//!   canonical path and query, the generations of the collections it shows, and the visitor's
//!   role. So a write through the API, the CLI or another instance turns cached pages over
//!   exactly as it does API answers, and the shared tier carries content between instances.
//! - The whole page, framed for one session (who is signed in, the sign-out form's token) and
//!   compressed, is kept in this instance only ([`FramedPages`]), with the serials of the
//!   content entries it was built from. It is used only while those are still the entries the
//!   cache returns, so it can never outlive them; a repeated view then costs no rendering and
//!   no compression.

use super::error::WebError;
use super::pages::{Chrome, Framed, html, page_headers};
use super::session::Visitor;
use crate::cache::keys::canonical_query;
use crate::cache::{CachedResponse, Outcome};
use crate::config::CacheConfig;
use crate::http::AppState;
use crate::http::cache_layer::{answer, mark, prefers_gzip};
use crate::http::routes::read_route;
use askama::Template;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use moka::sync::Cache;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// A page's content as the cache holds it (or as just rendered, when it could not be cached).
pub struct Content {
    /// The cache key, `None` when the cache was bypassed: such a page is never kept framed.
    key: Option<String>,
    entry: Arc<CachedResponse>,
    pub outcome: Outcome,
}

impl Content {
    fn text(&self) -> Result<&str, WebError> {
        std::str::from_utf8(&self.entry.body).map_err(|_| WebError::Internal("unreadable cached page".into()))
    }

    pub fn title(&self) -> Result<&str, WebError> {
        Ok(self.text()?.split_once(SEP).map_or("", |(t, _)| t))
    }

    pub fn main(&self) -> Result<&str, WebError> {
        self.text()?
            .split_once(SEP)
            .map(|(_, m)| m)
            .ok_or_else(|| WebError::Internal("cached page without a title".into()))
    }

    fn uncached(f: &Fragment) -> Content {
        Content {
            key: None,
            entry: Arc::new(CachedResponse::verbatim(StatusCode::OK, &HeaderMap::new(), encode(f))),
            outcome: Outcome::Bypass,
        }
    }
}

/// The role a cached page is keyed by (pages may show role-dependent controls).
pub fn variant(visitor: &Visitor) -> &'static str {
    visitor.user.as_ref().map_or("anonymous", |u| u.role.as_str())
}

/// The content of the page at `uri` (route `template`), from the cache or from `render`.
/// Failures are not stored; requests that waited on a failing render get its error.
pub async fn fragment(
    state: &AppState,
    template: &'static str,
    uri: &Uri,
    variant: &str,
    render: impl Future<Output = Result<Fragment, WebError>>,
) -> Result<Content, WebError> {
    let Some(route) = read_route(template).filter(|_| state.cache.enabled()) else {
        return Ok(Content::uncached(&render.await?));
    };
    let query = canonical_query(uri.query(), &route);
    let Some((key, generations)) = state.cache.key(&route, uri.path(), &query, variant) else {
        state.cache.count_bypass(Some(&route));
        return Ok(Content::uncached(&render.await?));
    };
    if let Some(entry) = state.cache.hit(&route, &key).await {
        return Ok(Content {
            key: Some(key),
            entry,
            outcome: Outcome::HitL1,
        });
    }
    let failed: Mutex<Option<WebError>> = Mutex::new(None);
    let load = async {
        match render.await {
            // Stored as rendered: framing a hit inflates nothing.
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
    let (entry, outcome) = Box::pin(state.cache.lookup(&route, key.clone(), load)).await;
    if let Some(e) = failed.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    if entry.status != StatusCode::OK {
        let message = String::from_utf8_lossy(&entry.body).into_owned();
        return Err(WebError::from_status(entry.status, message));
    }
    // Only what the cache stored may be kept framed: a bypass was rendered for this request.
    let key = (outcome != Outcome::Bypass).then_some(key);
    Ok(Content { key, entry, outcome })
}

/// A page framed for one session, with the serials of the content entries it was built from.
struct FramedPage {
    from: Vec<u64>,
    page: Arc<CachedResponse>,
}

/// Whole pages, framed per session and compressed, bounded by `MDL_PAGE_CAPACITY_MB`.
pub struct FramedPages {
    pages: Cache<String, Arc<FramedPage>, foldhash::fast::RandomState>,
    compression_threshold: usize,
}

impl FramedPages {
    pub fn new(config: &CacheConfig) -> FramedPages {
        let pages = Cache::builder()
            .max_capacity(config.page_capacity_mb.saturating_mul(1024 * 1024))
            .weigher(|key: &String, p: &Arc<FramedPage>| u32::try_from(key.len() + p.page.weight()).unwrap_or(u32::MAX))
            // Entries are checked against their content on every use; this only lets the
            // pages of sessions that went quiet make room.
            .time_to_idle(Duration::from_secs(config.l1_ttl_s.max(1)))
            .build_with_hasher(foldhash::fast::RandomState::default());
        FramedPages {
            pages,
            compression_threshold: config.compression_threshold,
        }
    }
}

/// What a framed page is kept under: the content keys plus everything the frame shows of the
/// visitor. `None` when some content was not cached.
fn framed_key(contents: &[&Content], visitor: &Visitor) -> Option<String> {
    let mut key = String::with_capacity(256);
    for c in contents {
        key.push_str(c.key.as_deref()?);
        key.push('\n');
    }
    match (&visitor.user, &visitor.session_hash) {
        (Some(user), Some(session)) => {
            key.push_str(session);
            key.push('\n');
            key.push_str(user.role.as_str());
            key.push('\n');
            key.push_str(user.full_name.as_deref().unwrap_or(&user.username));
        }
        _ => key.push_str("anonymous"),
    }
    Some(key)
}

/// The page for `contents` framed for this visitor: kept framed and compressed after the
/// first view, so that repeated views of cached content are answered from memory. `assemble`
/// turns the contents into the page's title and main (called only when framing).
pub fn respond(
    state: &AppState,
    visitor: &Visitor,
    Gzip(gzip): Gzip,
    contents: &[&Content],
    assemble: impl FnOnce() -> Result<(String, String), WebError>,
) -> Result<Response, WebError> {
    let outcome = contents.first().map_or(Outcome::Bypass, |c| c.outcome);
    let key = framed_key(contents, visitor);
    let pages = &state.web.pages;
    if let Some(key) = &key
        && let Some(kept) = pages.pages.get(key)
        && kept.from.len() == contents.len()
        && kept
            .from
            .iter()
            .zip(contents)
            .all(|(serial, c)| *serial == c.entry.serial)
    {
        return Ok(mark(answer(&kept.page, &HeaderMap::new(), gzip), outcome));
    }
    let (title, main) = assemble()?;
    let page = Framed {
        chrome: Chrome::new(title, visitor),
        main: &main,
    };
    let Some(key) = key else {
        return Ok(mark(html(StatusCode::OK, &page), outcome));
    };
    let body = page.render()?;
    let headers: HeaderMap = page_headers().into_iter().collect();
    let framed = Arc::new(CachedResponse::capture(
        StatusCode::OK,
        &headers,
        Bytes::from(body),
        pages.compression_threshold,
        Vec::new(),
    ));
    let kept = FramedPage {
        from: contents.iter().map(|c| c.entry.serial).collect(),
        page: framed.clone(),
    };
    pages.pages.insert(key, Arc::new(kept));
    Ok(mark(answer(&framed, &HeaderMap::new(), gzip), outcome))
}

/// Whether the client takes the stored gzip bytes as they are (read once per page view).
pub struct Gzip(bool);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Gzip {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Gzip(prefers_gzip(&parts.headers)))
    }
}

/// A page made of one content entry.
pub fn whole(state: &AppState, visitor: &Visitor, gzip: Gzip, content: &Content) -> Result<Response, WebError> {
    respond(state, visitor, gzip, &[content], || {
        Ok((content.title()?.to_string(), content.main()?.to_string()))
    })
}
