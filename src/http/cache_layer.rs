//! The response cache in front of the read routes, and invalidation behind the write routes.
//!
//! Reads: authentication first (a cached answer is only for those allowed to read it), then the
//! cache; a hit does no JSON, database or compression work. Writes: after a successful answer
//! (the change is committed), the collections the route touches get new generations.

use super::AppState;
use super::caller::Reader;
use super::conditional::not_modified;
use super::policies::wants_json;
use super::route_layer::RouteService;
use super::routes::{self, MetricWrite};
use crate::cache::keys;
use crate::cache::{CachedResponse, Encoding, Loaded, Outcome, ResponseCache};
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tower::Service;

pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

pub async fn layer<S>(state: AppState, req: Request, next: RouteService<S>) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let Some(matched) = req.extensions().get::<MatchedPath>().cloned() else {
        return next.run(req).await;
    };
    let template = matched.as_str();
    if !template.starts_with("/api/") {
        return next.run(req).await;
    }
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return read(state, template, req, next).await;
    }
    // Boxed: Redis's bump future is large, and reads should not carry its space.
    Box::pin(write(state, template, req, next)).await
}

/// After a successful write, the collections it touched get new generations.
async fn write<S>(state: AppState, template: &str, req: Request, next: RouteService<S>) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    // Decoded, as the handler received it: other spellings must reach the same entries.
    let user = (template == "/api/v1/users/{id}")
        .then(|| routes::last_segment(req.uri().path()))
        .flatten();
    let response = next.run(req).await;
    if response.status().is_success() {
        let stale = match response.extensions().get::<MetricWrite>() {
            Some(write) => write.invalidates(),
            None => routes::write_invalidates(template),
        };
        state.cache.invalidate(&stale).await;
        if let Some(user) = user {
            state.cache.announce_user(&user).await;
        }
    }
    response
}

/// What every stored answer sends on a hit besides its own headers: the outer layer's fixed
/// ones and `X-Cache: HIT` (a miss's answer overwrites it).
pub fn fixed_headers() -> Vec<(HeaderName, HeaderValue)> {
    let mut fixed = super::middleware::fixed_api_headers().to_vec();
    fixed.push((X_CACHE, HeaderValue::from_static(Outcome::HitL1.header())));
    fixed
}

pub(crate) fn mark(mut response: Response, outcome: Outcome) -> Response {
    response
        .headers_mut()
        .insert(X_CACHE, HeaderValue::from_static(outcome.header()));
    response
}

async fn read<S>(state: AppState, template: &str, req: Request, next: RouteService<S>) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let route = routes::read_route(template);
    let Some(route) = route.filter(|_| state.cache.enabled()) else {
        state.cache.count_bypass(route.as_ref());
        return mark(next.run(req).await, Outcome::Bypass);
    };
    let (mut parts, body) = req.into_parts();
    if let Err(refused) = Reader::from_request_parts(&mut parts, &state).await {
        return mark(refused.into_response(), Outcome::Bypass);
    }
    let query = keys::canonical_query(parts.uri.query(), &route);
    let variant = match route.varies_by_accept {
        false => "",
        true if wants_json(&parts.headers) => "json",
        true => "text",
    };
    let Some((key, generations)) = state.cache.key(&route, parts.uri.path(), &query, variant) else {
        state.cache.count_bypass(Some(&route));
        return mark(next.run(Request::from_parts(parts, body)).await, Outcome::Bypass);
    };
    let gzip_ok = prefers_gzip(&parts.headers);
    let single = route.template == "/api/v1/metrics/{id}";
    if let Some(entry) = state.cache.hit(&route, &key).await {
        if single && entry.status == StatusCode::OK {
            state.cache.note_hit(parts.uri.path());
        }
        return mark(answer(&entry, &parts.headers, gzip_ok), Outcome::HitL1);
    }
    // The loader must produce the full representation; this request's conditions are applied
    // to whatever the cache returns.
    let mut conditions = HeaderMap::new();
    for value in parts.headers.get_all(header::IF_NONE_MATCH) {
        conditions.append(header::IF_NONE_MATCH, value.clone());
    }
    parts.headers.remove(header::IF_NONE_MATCH);
    let path = single.then(|| parts.uri.path().to_owned());
    let req = Request::from_parts(parts, body);
    let threshold = state.cache.config().compression_threshold;
    let max = state.cache.max_entry_bytes();
    let cache = state.cache.clone();
    // Left here, not moved into the load: a request that waited on another's load which turned
    // out too large to share runs its own.
    let pending = Mutex::new(Some((next, req)));
    // The loading request's own answer when it is not stored: too large, or a 304.
    let passed: Mutex<Option<Response>> = Mutex::new(None);
    let load = async {
        let Some((next, req)) = pending.lock().ok().and_then(|mut p| p.take()) else {
            return Err(CachedResponse::verbatim(
                StatusCode::INTERNAL_SERVER_ERROR,
                &HeaderMap::new(),
                bytes::Bytes::new(),
            ));
        };
        let response = next.run(req).await;
        capture(&cache, response, threshold, max, generations, &conditions, &passed).await
    };
    // Boxed: the loading future is large, and hits (answered above) should not carry it.
    let (entry, outcome) = Box::pin(state.cache.lookup(&route, key, load)).await;
    if let Some(response) = passed.lock().ok().and_then(|mut p| p.take()) {
        return mark(response, Outcome::Bypass);
    }
    if entry.passed_through
        && let Some((next, mut req)) = pending.lock().ok().and_then(|mut p| p.take())
    {
        // Uncached, the handler answers the conditions itself.
        req.headers_mut().extend(conditions);
        return mark(next.run(req).await, Outcome::Bypass);
    }
    // Warming candidates: metrics that exist, not every path a client can make up.
    if let Some(path) = path
        && entry.status == StatusCode::OK
    {
        state.cache.note_read(&path);
    }
    mark(answer(&entry, &conditions, gzip_ok), outcome)
}

/// A 304 for a 200 the client holds: the validators and caching headers, no body.
fn not_modified_answer(headers: &HeaderMap) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    for name in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
        for v in headers.get_all(&name) {
            response.headers_mut().append(name.clone(), v.clone());
        }
    }
    response
}

/// A handler's answer as an entry: `Ok` when it may be stored (a 200 that is not `no-store`).
///
/// At most `max` bytes of the body are read. A longer one goes to this client alone, as it
/// comes, into `passed` (and the result says so): the cache never holds a body it will not
/// keep. A streamed 200 whose ETag the client already holds is answered 304 unread, so a
/// conditional poll of a large export or bundle does not produce it.
async fn capture(
    cache: &ResponseCache,
    response: Response,
    threshold: usize,
    max: usize,
    generations: Vec<(crate::cache::Collection, u64)>,
    conditions: &HeaderMap,
    passed: &Mutex<Option<Response>>,
) -> Loaded {
    let (parts, body) = response.into_parts();
    let pass = |response: Response| {
        let status = response.status();
        if let Ok(mut slot) = passed.lock() {
            *slot = Some(response);
        }
        CachedResponse::passed_through(status)
    };
    let streamed = http_body::Body::size_hint(&body).exact().is_none();
    if streamed
        && parts.status == StatusCode::OK
        && let Some(etag) = parts.headers.get(header::ETAG).and_then(|v| v.to_str().ok())
        && not_modified(conditions, etag)
    {
        return Err(pass(not_modified_answer(&parts.headers)));
    }
    let storable = parts.status == StatusCode::OK
        && !parts
            .headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("no-store"));
    let mut stream = body.into_data_stream();
    let mut read: Vec<bytes::Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                len += chunk.len();
                read.push(chunk);
            }
            Err(e) => {
                let failed = super::error::ApiError::Internal(format!("reading a response body: {e}")).into_response();
                return Err(CachedResponse::verbatim(
                    failed.status(),
                    failed.headers(),
                    bytes::Bytes::new(),
                ));
            }
        }
        if len > max {
            let rest = futures_util::stream::iter(read.into_iter().map(Ok)).chain(stream);
            return Err(pass(Response::from_parts(parts, Body::from_stream(rest))));
        }
    }
    let bytes = match read.len() {
        1 => read.pop().unwrap_or_default(),
        _ => {
            let mut all = bytes::BytesMut::with_capacity(len);
            for chunk in read {
                all.extend_from_slice(&chunk);
            }
            all.freeze()
        }
    };
    if !storable {
        return Err(CachedResponse::verbatim(parts.status, &parts.headers, bytes));
    }
    let entry = if bytes.len() >= threshold {
        // Compressing a large page is CPU work: keep it off the async workers.
        let headers = parts.headers.clone();
        let permit = cache.compression_permit().await;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            CachedResponse::capture(parts.status, &headers, bytes, threshold, generations)
        })
        .await
        .map_err(|e| {
            let failed = super::error::ApiError::Internal(format!("compressing: {e}")).into_response();
            CachedResponse::verbatim(failed.status(), failed.headers(), bytes::Bytes::new())
        })?
        .bake(cache.fixed_headers())
    } else {
        CachedResponse::capture(parts.status, &parts.headers, bytes, threshold, generations).bake(cache.fixed_headers())
    };
    Ok(entry)
}

/// True when gzip is among the client's most preferred codings of those the server produces
/// (q-values and `*` read as RFC 9110 says). Only then is a stored gzip body sent as it is;
/// otherwise the identity body goes on to the compression layer, which encodes it the way the
/// client prefers. A tie goes to gzip: it is already compressed, so it costs nothing.
pub(crate) fn prefers_gzip(headers: &HeaderMap) -> bool {
    use super::compress::{Coding, client_q};
    let q = client_q(headers);
    let gzip = q[Coding::Gzip as usize];
    gzip > 0
        && [Coding::Deflate, Coding::Br, Coding::Zstd]
            .iter()
            .all(|c| q[*c as usize] <= gzip)
}

/// The entry as an answer to this client: 304 when its `If-None-Match` matches, gzip bytes as
/// stored when gzip is what it prefers, else the identity body (compressed further out).
pub(crate) fn answer(entry: &Arc<CachedResponse>, conditions: &HeaderMap, gzip_ok: bool) -> Response {
    let gzip = entry.encoding == Encoding::Gzip;
    if (!gzip || gzip_ok) && !(entry.status == StatusCode::OK && conditions.contains_key(header::IF_NONE_MATCH)) {
        // The common case: the body as stored, with the headers built when it was stored.
        let mut response = Response::new(Body::from(entry.body.clone()));
        *response.status_mut() = entry.status;
        *response.headers_mut() = entry.as_stored.clone();
        return response;
    }
    // Room for the headers every response gets on its way out, so the map never regrows.
    let mut headers = HeaderMap::with_capacity(entry.headers.len() + 12);
    for (k, v) in &entry.headers {
        headers.append(k.clone(), v.clone());
    }
    headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if entry.status == StatusCode::OK
        && let Some(etag) = entry.etag()
        && not_modified(conditions, etag)
    {
        return not_modified_answer(&headers);
    }
    let body = if gzip && gzip_ok {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        // Another byte sequence than the identity body: the validator becomes weak.
        if let Some(weak) = &entry.weak_etag {
            headers.insert(header::ETAG, weak.clone());
        }
        entry.body.clone()
    } else {
        match entry.identity_body() {
            Ok(b) => b,
            Err(e) => {
                return super::error::ApiError::Internal(format!("inflating a cached body: {e}")).into_response();
            }
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = entry.status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CacheConfig;

    /// A body that never ends once past the bound: waiting for its end (buffering it whole)
    /// would never return, passing it through returns at once with what was read first.
    #[tokio::test]
    async fn a_body_past_the_bound_is_passed_on_without_waiting_for_its_end() {
        let cache = ResponseCache::new(&CacheConfig::default(), fixed_headers()).expect("cache");
        let first: Vec<Result<bytes::Bytes, std::io::Error>> =
            (0..3).map(|_| Ok(bytes::Bytes::from_static(&[b'x'; 40]))).collect();
        let endless = futures_util::stream::iter(first).chain(futures_util::stream::pending());
        let response = Response::new(Body::from_stream(endless));
        let passed = Mutex::new(None);
        let loaded = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            capture(
                &cache,
                response,
                usize::MAX,
                100,
                Vec::new(),
                &HeaderMap::new(),
                &passed,
            ),
        )
        .await
        .expect("capture returned before the body ended");
        assert!(loaded.is_err_and(|e| e.passed_through));
        let response = passed.lock().expect("slot").take().expect("the response went on");
        let mut body = response.into_body().into_data_stream();
        let mut head = Vec::new();
        while head.len() < 120 {
            head.extend_from_slice(&body.next().await.expect("a chunk").expect("data"));
        }
        assert_eq!(head, vec![b'x'; 120], "what was read comes first, unchanged");
    }

    /// A conditional poll of a streamed answer the client holds costs no body at all.
    #[tokio::test]
    async fn a_streamed_answer_the_client_holds_is_a_304_unread() {
        let cache = ResponseCache::new(&CacheConfig::default(), fixed_headers()).expect("cache");
        let never = futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
        let mut response = Response::new(Body::from_stream(never));
        response
            .headers_mut()
            .insert(header::ETAG, HeaderValue::from_static("\"r1\""));
        let mut conditions = HeaderMap::new();
        conditions.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"r1\""));
        let passed = Mutex::new(None);
        let loaded = capture(&cache, response, usize::MAX, 100, Vec::new(), &conditions, &passed).await;
        assert!(loaded.is_err_and(|e| e.passed_through));
        let response = passed.lock().expect("slot").take().expect("an answer");
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], "\"r1\"");
    }

    #[tokio::test]
    async fn a_body_within_the_bound_is_stored() {
        let cache = ResponseCache::new(&CacheConfig::default(), fixed_headers()).expect("cache");
        let response = Response::new(Body::from("small"));
        let passed = Mutex::new(None);
        let loaded = capture(
            &cache,
            response,
            usize::MAX,
            100,
            Vec::new(),
            &HeaderMap::new(),
            &passed,
        )
        .await;
        assert_eq!(loaded.expect("stored").body, "small");
        assert!(passed.lock().expect("slot").is_none());
    }
}
