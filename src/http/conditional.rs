//! ETags and conditional requests. Entities: `"v<version>"`; lists: a hash of the body.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn entity_etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// True when `If-None-Match` names this ETag (weak or strong) or is `*`.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn respond(headers: &HeaderMap, etag: String, extra: HeaderMap, body: &Value) -> Response {
    conditional(headers, etag, extra, || Json(body).into_response())
}

/// JSON already serialised (once: the same bytes were hashed for the ETag).
fn json_bytes(bytes: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        bytes,
    )
        .into_response()
}

/// A strong ETag over representation bytes.
pub fn content_etag(prefix: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{prefix}{}\"", crate::store::query::hex(&digest[..12]))
}

/// Any representation with a precomputed ETag: 304 when the client already has it.
pub fn conditional(
    headers: &HeaderMap,
    etag: String,
    mut extra: HeaderMap,
    body: impl FnOnce() -> Response,
) -> Response {
    // Authenticated reads: caches may keep them but must revalidate (the ETag makes that cheap).
    extra.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        extra.insert(header::ETAG, v);
    }
    if not_modified(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, extra).into_response();
    }
    (extra, body()).into_response()
}

pub fn entity_response(headers: &HeaderMap, version: i64, body: &Value) -> Response {
    respond(headers, entity_etag(version), HeaderMap::new(), body)
}

pub fn list_response(headers: &HeaderMap, extra: HeaderMap, body: &Value) -> Response {
    list_response_bytes(headers, extra, serde_json::to_vec(body).unwrap_or_default())
}

/// `list_response` for a body serialised by the caller.
pub fn list_response_bytes(headers: &HeaderMap, extra: HeaderMap, bytes: Vec<u8>) -> Response {
    let etag = content_etag("l", &bytes);
    conditional(headers, etag, extra, || json_bytes(bytes))
}

/// The version an `If-Match` header asks for: `Ok(None)` without the header, `Ok(Some(v))` for
/// `"v<N>"` (a `W/` prefix is ignored, so compressed representations behave the same), and
/// 412 for anything that cannot match a version.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, super::error::ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .strip_prefix("\"v")
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|n| n.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| super::error::ApiError::PreconditionFailed(format!("If-Match {text} matches no version")))
}
