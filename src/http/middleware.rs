//! The one layer every request crosses, outermost: request id, tracing span, timeout, panic
//! capture, the `x-no-compression` opt-out, the headers every response carries, timing and the
//! per-route figures. One hand-written service with one boxed future per request: as separate
//! `from_fn` layers each of these boxed its own future and cost, together, about as much as the
//! whole of a do-nothing request.

use super::error::ApiError;
use crate::observability::Observability;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::cell::Cell;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_RESPONSE_TIME: HeaderName = HeaderName::from_static("x-response-time");
const X_NO_COMPRESSION: HeaderName = HeaderName::from_static("x-no-compression");

/// The API serves data, never pages, except the vendored Swagger UI, which loads its own
/// scripts and styles (and inline styles) from this server.
const CSP_API: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
const CSP_DOCS: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
);

/// A client's id is kept when it is a sane token (1-128 of `[A-Za-z0-9._-]`), else replaced.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&X_REQUEST_ID)
        .filter(|v| {
            let v = v.as_bytes();
            !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
        })
        .cloned()
        .unwrap_or_else(|| {
            let mut text = [0u8; uuid::fmt::Simple::LENGTH];
            let id = uuid::Uuid::new_v4().simple().encode_lower(&mut text);
            HeaderValue::from_str(id).expect("a uuid is a valid header value")
        })
}

/// What the outer layer knows of the request being answered, for code far from it: the id
/// (error bodies carry it) and the route template that answered (the route layer sets it: this
/// layer runs before routing). A task-local rather than extensions, which allocate a map on
/// the first insert.
struct RequestScope {
    id: HeaderValue,
    template: Cell<Option<MatchedPath>>,
}

tokio::task_local! {
    static REQUEST: RequestScope;
}

/// The id of the request being answered on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST
        .try_with(|r| r.id.to_str().ok().map(str::to_owned))
        .ok()
        .flatten()
}

/// Tells the outer layer which route template answered this task's request.
pub fn note_route(template: Option<MatchedPath>) {
    if template.is_some() {
        let _ = REQUEST.try_with(|r| r.template.set(template));
    }
}

/// Every response may differ by `Accept-Encoding`, so every response says so.
fn vary_accept_encoding(headers: &mut HeaderMap) {
    let present = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding") || t.trim() == "*")
        });
    if !present {
        const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");
        headers.append(header::VARY, ACCEPT_ENCODING);
    }
}

/// A re-encoded body is another byte sequence: its validator can only be weak.
fn weaken_reencoded_etag(headers: &mut HeaderMap) {
    if !headers.contains_key(header::CONTENT_ENCODING) {
        return;
    }
    let weak = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|e| !e.starts_with("W/"))
        .and_then(|e| HeaderValue::from_str(&format!("W/{e}")).ok());
    if let Some(w) = weak {
        headers.insert(header::ETAG, w);
    }
}

/// `12.345ms`, written without the formatting machinery (every response carries it).
fn milliseconds(elapsed: Duration) -> String {
    let micros = elapsed.as_micros();
    let mut digits = itoa::Buffer::new();
    let mut text = String::with_capacity(16);
    text.push_str(digits.format(micros / 1000));
    text.push('.');
    let fraction = (micros % 1000) as u16;
    text.push(char::from(b'0' + (fraction / 100) as u8));
    text.push(char::from(b'0' + (fraction / 10 % 10) as u8));
    text.push(char::from(b'0' + (fraction % 10) as u8));
    text.push_str("ms");
    text
}

/// The security headers of every API answer. The response cache bakes them, with `Vary`, into
/// the answers it stores ([`crate::cache::CachedResponse::bake`]); finding the first of them
/// tells [`finish_headers`] that all are there, so a cache hit only gains its id and time.
pub fn fixed_api_headers() -> [(HeaderName, HeaderValue); 4] {
    // Constants: `from_static` checks its bytes each time it runs.
    const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    const DENY: HeaderValue = HeaderValue::from_static("DENY");
    const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
    [
        (header::X_CONTENT_TYPE_OPTIONS, NOSNIFF),
        (header::X_FRAME_OPTIONS, DENY),
        (header::REFERRER_POLICY, NO_REFERRER),
        (header::CONTENT_SECURITY_POLICY, CSP_API),
    ]
}

fn finish_headers(headers: &mut HeaderMap, id: HeaderValue, elapsed: Duration, docs: bool) {
    let baked = headers.contains_key(header::X_CONTENT_TYPE_OPTIONS);
    // What is added below at once, rather than regrowing the map as it arrives.
    headers.reserve(if baked { 2 } else { 8 });
    headers.insert(X_REQUEST_ID, id);
    if let Ok(v) = HeaderValue::from_str(&milliseconds(elapsed)) {
        headers.insert(X_RESPONSE_TIME, v);
    }
    if !baked {
        for (name, value) in fixed_api_headers() {
            if name == header::CONTENT_SECURITY_POLICY {
                // Pages (`crate::http::web`) set their own policy.
                headers.entry(name).or_insert(if docs { CSP_DOCS } else { value });
            } else {
                headers.insert(name, value);
            }
        }
        vary_accept_encoding(headers);
    }
    weaken_reencoded_etag(headers);
}

/// Installs [`Observe`].
#[derive(Clone)]
pub struct ObserveLayer {
    observability: Arc<Observability>,
    timeout: Duration,
}

impl ObserveLayer {
    pub fn new(observability: Arc<Observability>, timeout: Duration) -> ObserveLayer {
        ObserveLayer { observability, timeout }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    layer: ObserveLayer,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let id = request_id(req.headers());
        if req.headers().contains_key(&X_NO_COMPRESSION) {
            req.headers_mut().remove(header::ACCEPT_ENCODING);
        }
        let method = req.method().clone();
        // Set when this layer wraps a single route (`with_common_layers`); otherwise the route
        // layer names it through the request scope.
        let matched = req.extensions().get::<MatchedPath>().cloned();
        let docs = req.uri().path().starts_with("/api-docs");
        let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or_default(), method = %method, path = %req.uri().path());
        let layer = self.layer.clone();
        // The service that was polled ready answers this request; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let scope = RequestScope {
            id,
            template: Cell::new(None),
        };
        Box::pin(REQUEST.scope(scope, async move {
            let handled = tracing::Instrument::instrument(AssertUnwindSafe(inner.call(req)).catch_unwind(), span);
            let mut response = match tokio::time::timeout(layer.timeout, handled).await {
                Ok(Ok(Ok(response))) => response,
                Ok(Ok(Err(never))) => match never {},
                // A panicking handler answers 500 for its request only.
                Ok(Err(_panic)) => ApiError::Internal("handler panicked".into()).into_response(),
                Err(_elapsed) => {
                    ApiError::Unavailable("the request took longer than the server's time limit".into()).into_response()
                }
            };
            let elapsed = started.elapsed();
            let (id, template) = REQUEST.with(|r| (r.id.clone(), r.template.take()));
            finish_headers(response.headers_mut(), id, elapsed, docs);
            let status = response.status().as_u16();
            let size = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .or_else(|| http_body::Body::size_hint(response.body()).exact());
            let template = template.or(matched);
            let route = layer
                .observability
                .requests
                .route(&method, template.as_ref().map(MatchedPath::as_str));
            route.record(status, elapsed, size);
            if elapsed >= layer.observability.requests.slow_after() {
                let id = response
                    .headers()
                    .get(&X_REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::warn!(
                    request_id = id,
                    route = route.label(),
                    status,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "slow request"
                );
            }
            Ok(response)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::milliseconds;
    use std::time::Duration;

    #[test]
    fn response_time_has_three_decimals() {
        assert_eq!(milliseconds(Duration::from_micros(0)), "0.000ms");
        assert_eq!(milliseconds(Duration::from_micros(7)), "0.007ms");
        assert_eq!(milliseconds(Duration::from_micros(12_345)), "12.345ms");
        assert_eq!(milliseconds(Duration::from_micros(1_000_050)), "1000.050ms");
    }
}
