//! Cross-cutting response behaviour: request ids, timing, security headers.

use super::error::REQUEST_ID;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_RESPONSE_TIME: HeaderName = HeaderName::from_static("x-response-time");

/// A client's id is kept when it is a sane token (1-128 of `[A-Za-z0-9._-]`), else replaced.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Every response may differ by `Accept-Encoding`, so every response says so.
fn vary_accept_encoding(headers: &mut axum::http::HeaderMap) {
    let present = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding") || t.trim() == "*")
        });
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// A re-encoded body is another byte sequence: its validator can only be weak.
fn weaken_reencoded_etag(headers: &mut axum::http::HeaderMap) {
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

/// Outermost layer: gives the request an id (visible to error bodies and logs), times it and
/// adds the headers every response carries.
pub async fn envelope(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let docs = req.uri().path().starts_with("/api-docs");
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut response = REQUEST_ID
        .scope(id.clone(), tracing::Instrument::instrument(next.run(req), span))
        .await;
    let elapsed = started.elapsed();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(X_REQUEST_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{:.3}ms", elapsed.as_secs_f64() * 1000.0)) {
        headers.insert(X_RESPONSE_TIME, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The API serves data, never pages, except the vendored Swagger UI, which loads its own
    // scripts and styles (and inline styles) from this server.
    let csp = if docs {
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    vary_accept_encoding(headers);
    weaken_reencoded_etag(headers);
    tracing::debug!(
        status = response.status().as_u16(),
        elapsed_ms = elapsed.as_millis() as u64,
        "answered"
    );
    response
}

/// The route template a response was produced by, for labels that never carry raw paths.
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub axum::extract::MatchedPath);

/// Route layer: tags the response with its route template.
pub async fn tag_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<axum::extract::MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(m) = matched {
        response.extensions_mut().insert(RouteTemplate(m));
    }
    response
}

/// `METHOD /route/{template}`, or a fixed name for requests no route matched (so random paths
/// cannot create new series).
pub fn route_label(method: &axum::http::Method, response: &Response) -> String {
    match response.extensions().get::<RouteTemplate>() {
        Some(t) => format!("{method} {}", t.0.as_str()),
        None => format!("{method} (unmatched)"),
    }
}

/// Outermost: times every request under its route template, and logs the slow ones.
pub async fn record(monitor: std::sync::Arc<crate::monitor::Monitor>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let response = next.run(req).await;
    let label = route_label(&method, &response);
    monitor.record(&label, started.elapsed(), !response.status().is_server_error());
    crate::telemetry::record_request(
        &method,
        &label,
        response.status().as_u16(),
        started.elapsed(),
        &response,
    );
    response
}

/// `x-no-compression: <anything>` opts a request out of compression, cached variants included.
pub async fn compression_opt_out(mut req: Request, next: Next) -> Response {
    if req.headers().contains_key("x-no-compression") {
        req.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    next.run(req).await
}
