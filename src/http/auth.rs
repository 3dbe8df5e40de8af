//! `/api/v1/auth`: log in and ask who you are.

use super::AppState;
use super::caller::{Caller, SessionCaller};
use super::client::ClientAddr;
use super::error::ApiError;
use super::respond::no_store;
use crate::auth::password::random_hex;
use crate::domain::user::{MAX_PASSWORD_LEN, User, UserStatus, check_password, normalise_username};
use crate::store::{RefreshUse, UserChange};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

fn token_hash(token: &str) -> String {
    crate::store::query::hex(&Sha256::digest(token.as_bytes()))
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fresh access token and the next refresh token of `family` (a new family per login).
async fn session(state: &AppState, user: &User, family: Option<String>) -> Result<Response, ApiError> {
    let access = state.tokens.issue(user).map_err(ApiError::Internal)?;
    let refresh = random_hex(32).map_err(ApiError::Internal)?;
    let family = family.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let expires_at = now_s() + state.config.refresh_token_ttl_s as i64;
    state
        .store
        .insert_refresh_token(&token_hash(&refresh), &family, &user.user_id, expires_at)
        .await?;
    Ok(no_store(
        StatusCode::OK,
        json!({
            "success": true,
            "data": {
                "user": user,
                "tokens": {
                    "access_token": access,
                    "refresh_token": refresh,
                    "token_type": "Bearer",
                    "expires_in": state.tokens.access_ttl_s,
                    "refresh_expires_in": state.config.refresh_token_ttl_s,
                }
            }
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    operation_id = "login",
    summary = "Log in with username and password",
    request_body(content = LoginRequest, description = "Credentials", content_type = "application/json"),
    responses(
        (status = 200, description = "A new session", body = super::schemas::SessionResponse),
        (status = 401, description = "Wrong username or password, or the user is not active", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
        (status = 429, description = "Too many attempts (`Retry-After`)", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let refused = || ApiError::Authentication("invalid username or password".into());
    // Checked before the name touches any table: no account can have a name outside the
    // username alphabet, and no password is longer than the maximum.
    let Ok(username) = normalise_username(&req.username) else {
        return Err(refused());
    };
    if req.password.len() > 4 * MAX_PASSWORD_LEN {
        return Err(refused());
    }
    state.login_limiter.check_login(client.ip, &username)?;
    let found = state.store.find_user(&username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matches = state.passwords.verify(req.password, hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        state.login_limiter.record_failure(&username);
        return Err(refused());
    };
    if user.status != UserStatus::Active {
        return Err(ApiError::Authentication(format!("user is {}", user.status.as_str())));
    }
    state.login_limiter.record_success(client.ip, &username);
    session(&state, &user, None).await
}

/// Rotates a refresh token. Presenting one that was already rotated revokes its whole family:
/// either the client or a thief holds a copy, and we cannot tell which.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    operation_id = "refreshSession",
    summary = "Rotate a refresh token",
    request_body(content = RefreshRequest, description = "The refresh token", content_type = "application/json"),
    responses(
        (status = 200, description = "The session, with a new refresh token", body = super::schemas::SessionResponse),
        (status = 401, description = "Invalid, expired or reused refresh token", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    match state
        .store
        .use_refresh_token(&token_hash(&req.refresh_token), now_s())
        .await?
    {
        RefreshUse::Rotated { user_id, family_id } => {
            let user = state
                .store
                .get_user(&user_id)
                .await?
                .filter(|u| u.status == UserStatus::Active)
                .ok_or_else(|| ApiError::Authentication("user is not active".into()))?;
            session(&state, &user, Some(family_id)).await
        }
        RefreshUse::Reused { user_id } => {
            // The store bumped the user's token version: every instance drops the cached
            // record, so the access tokens of the stolen session end now, not at expiry.
            forget_user(&state, &user_id).await;
            Err(ApiError::Authentication(
                "refresh token was already used: the session has been revoked, log in again".into(),
            ))
        }
        RefreshUse::Invalid => Err(ApiError::Authentication("invalid or expired refresh token".into())),
    }
}

/// Ends the session the refresh token belongs to. Idempotent.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    operation_id = "logout",
    summary = "End the session of a refresh token (idempotent)",
    request_body(content = RefreshRequest, description = "The refresh token", content_type = "application/json"),
    responses(
        (status = 204, description = "Ended"),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    state
        .store
        .revoke_refresh_family(&token_hash(&req.refresh_token), now_s())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password and ends all their sessions.
#[utoipa::path(
    post,
    path = "/api/v1/auth/change-password",
    tag = "auth",
    operation_id = "changePassword",
    summary = "Change your password (ends all your sessions)",
    request_body(content = PasswordChange, description = "Current and new password", content_type = "application/json"),
    responses(
        (status = 204, description = "Changed; log in again"),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
        (status = 429, description = "Too many attempts (`Retry-After`)", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: SessionCaller,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    state.login_limiter.check_password_change(&caller.0.user_id)?;
    if req.current_password.len() > 4 * MAX_PASSWORD_LEN {
        return Err(ApiError::field("current_password", "is not correct"));
    }
    check_password(&req.new_password).map_err(|m| ApiError::field("new_password", m))?;
    let (_, hash) = state
        .store
        .find_user(&caller.0.username)
        .await?
        .ok_or_else(|| ApiError::Authentication("user no longer exists".into()))?;
    if !state.passwords.verify(req.current_password, Some(hash)).await? {
        return Err(ApiError::field("current_password", "is not correct"));
    }
    let change = UserChange {
        password_hash: Some(state.passwords.hash(req.new_password).await?),
        ..Default::default()
    };
    end_sessions(&state, &caller.0.user_id, change).await
}

/// Ends every session of the caller, on every device: refresh tokens are revoked and access
/// tokens stop working at once.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    operation_id = "logoutAll",
    summary = "End all your sessions everywhere",
    responses(
        (status = 204, description = "Ended"),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn logout_all(State(state): State<AppState>, caller: SessionCaller) -> Result<StatusCode, ApiError> {
    let change = UserChange {
        revoke_sessions: true,
        ..Default::default()
    };
    end_sessions(&state, &caller.0.user_id, change).await
}

/// Applies a change that ends the user's sessions (the store bumps the token version in the
/// same statement), revokes every refresh token, and tells every instance.
async fn end_sessions(state: &AppState, user_id: &str, change: UserChange) -> Result<StatusCode, ApiError> {
    state.store.update_user(user_id, &change).await?;
    state.store.revoke_user_refresh_tokens(user_id, now_s()).await?;
    forget_user(state, user_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Drops the user's cached record here and, through Redis, on every other instance.
async fn forget_user(state: &AppState, user_id: &str) {
    state.users.forget(user_id).await;
    state.cache.announce_user(user_id).await;
}

#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    operation_id = "getCurrentUser",
    summary = "Who the token or key belongs to",
    responses(
        (status = 200, description = "The caller", body = super::schemas::UserResponse),
    )
)]
pub async fn me(caller: Caller) -> Response {
    no_store(StatusCode::OK, json!({ "success": true, "data": caller.0 }))
}
