//! The `{id}` of an entity route, checked before a handler or the store sees it.

use super::error::ApiError;
use crate::domain::parse::MAX_ID_LEN;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

/// A percent-decoded path id. Not UTF-8 once decoded: 400 in the error envelope. An id no
/// entity can have (a control character, or longer than any id the server hands out or
/// accepts) is a 404 decided here, so both backends answer alike: PostgreSQL refuses a NUL in
/// text with an error where SQLite merely finds nothing.
#[derive(Debug, Clone)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                if rejection.status().is_client_error() {
                    ApiError::field("id", rejection.body_text())
                } else {
                    // A route whose template does not fit the extractor: our mistake.
                    ApiError::Internal(format!("path id: {}", rejection.body_text()))
                }
            })?;
        checked(id).map(PathId)
    }
}

/// The id if an entity could have it, else the 404 (routes with more than one path parameter
/// decode their own path and call this).
pub fn checked(id: String) -> Result<String, ApiError> {
    if id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        // Not echoed: it may be long or unprintable.
        return Err(ApiError::NotFound(format!(
            "not found: ids have at most {MAX_ID_LEN} characters and no control characters"
        )));
    }
    Ok(id)
}
