//! Success responses shared by the resource modules.

use super::conditional::entity_etag;
use crate::store::Saved;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Identity-dependent answers (tokens, users, keys): never stored by any cache.
pub fn no_store(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The answer to a write: the stored entity, its ETag, the warnings, and `Location` on create.
pub fn saved(collection: &str, status: StatusCode, saved: &Saved, warnings: Vec<String>) -> Response {
    let body = json!({ "success": true, "data": saved.entity.to_json(), "warnings": warnings });
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&entity_etag(saved.entity.version)) {
        headers.insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&format!("{collection}/{}", saved.entity.id))
    {
        headers.insert(header::LOCATION, v);
    }
    response
}
