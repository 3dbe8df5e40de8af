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
    tracing::debug!(
        status = response.status().as_u16(),
        elapsed_ms = elapsed.as_millis() as u64,
        "answered"
    );
    response
}
