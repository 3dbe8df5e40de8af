//! The web module's one error type and its one mapping to HTTP: an HTML page (or, for a
//! visitor who must sign in first, a redirect to the sign-in page).

use super::links;
use super::pages::{Chrome, ErrorPage, html};
use crate::http::error::ApiError;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    BadRequest(String),
    /// Not signed in on a page that needs it: back here after signing in.
    #[error("sign-in required")]
    SignIn { next: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many attempts")]
    RateLimited { retry_after_s: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// Logged with the request id, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::SignIn { .. } => StatusCode::SEE_OTHER,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error another request's failed render answered (shared by the cache's
    /// single-flight loading), from its status and message.
    pub fn from_status(status: StatusCode, message: String) -> WebError {
        match status {
            StatusCode::BAD_REQUEST => WebError::BadRequest(message),
            StatusCode::FORBIDDEN => WebError::Forbidden(message),
            StatusCode::NOT_FOUND => WebError::NotFound(message),
            StatusCode::SERVICE_UNAVAILABLE => WebError::Unavailable(message),
            _ => WebError::Internal(message),
        }
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Validation { message, .. } => WebError::BadRequest(message),
            ApiError::Authentication(m) | ApiError::Authorization(m) => WebError::Forbidden(m),
            ApiError::NotFound(m) => WebError::NotFound(m),
            ApiError::RateLimited { retry_after_s } => WebError::RateLimited { retry_after_s },
            ApiError::Unavailable(m) => WebError::Unavailable(m),
            ApiError::Internal(m) => WebError::Internal(m),
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            WebError::SignIn { next } => {
                return Redirect::to(&format!("/login?next={}", links::encode(links::local_path(next))))
                    .into_response();
            }
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "That request could not be read", m.clone()),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m.clone()),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.clone()),
            WebError::RateLimited { retry_after_s } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Please wait {retry_after_s} seconds before trying again."),
            ),
            WebError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The catalog cannot be reached right now. Please try again in a moment.".to_string(),
            ),
            WebError::Internal(cause) => {
                tracing::error!(%cause, "internal error on a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "An internal error occurred; the request id in the response headers identifies it in the logs."
                        .to_string(),
                )
            }
        };
        let page = ErrorPage {
            chrome: Chrome::anonymous(heading),
            heading,
            message,
        };
        let mut response = html(status, &page);
        match self {
            WebError::RateLimited { retry_after_s } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            WebError::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}
