//! `/api/v1/auth`: log in and ask who you are.

use super::AppState;
use super::caller::Caller;
use super::error::ApiError;
use crate::auth::password::verify_password;
use crate::domain::user::UserStatus;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Identity-dependent answers must never be stored by a cache.
fn no_store(body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let refused = || ApiError::Authentication("invalid username or password".into());
    let Some((user, hash)) = state.store.find_user(&req.username).await? else {
        return Err(refused());
    };
    if !verify_password(req.password, hash).await {
        return Err(refused());
    }
    if user.status != UserStatus::Active {
        return Err(ApiError::Authentication(format!("user is {}", user.status.as_str())));
    }
    let access = state.tokens.issue(&user).map_err(ApiError::Internal)?;
    Ok(no_store(json!({
        "success": true,
        "data": {
            "user": user,
            "tokens": {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": state.tokens.access_ttl_s,
            }
        }
    })))
}

pub async fn me(caller: Caller) -> Response {
    no_store(json!({ "success": true, "data": caller.0 }))
}
