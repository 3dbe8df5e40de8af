//! `/api/v1/api-keys`: keys for scripts and services, shown once, stored hashed.

use super::AppState;
use super::caller::IdentityCaller as Caller;
use super::error::ApiError;
use super::path_id::PathId;
use super::respond::no_store;
use crate::auth::password::random_hex;
use crate::domain::ValidationErrors;
use crate::domain::user::Role;
use crate::store::ApiKey;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

pub const SCOPES: &[&str] = &["read", "write", "admin"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Lifetime in days; absent = no expiry.
    pub expires_in_days: Option<u32>,
}

fn default_scopes() -> Vec<String> {
    vec!["read".into()]
}

pub fn key_hash(key: &str) -> String {
    crate::store::query::hex(&Sha256::digest(key.as_bytes()))
}

/// The role a key acts with: its widest scope, never more than its owner's role.
pub fn effective_role(scopes: &[String], owner: Role) -> Role {
    let widest = if scopes.iter().any(|s| s == "admin") {
        Role::Admin
    } else if scopes.iter().any(|s| s == "write") {
        Role::Editor
    } else {
        Role::Viewer
    };
    widest.min(owner)
}

#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    operation_id = "listApiKeys",
    summary = "Your API keys (never the secrets)",
    responses(
        (status = 200, description = "Your keys", body = super::schemas::ApiKeyList),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let keys = state.store.list_api_keys(&caller.0.user_id).await?;
    Ok(no_store(StatusCode::OK, json!({ "success": true, "data": keys })))
}

#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    operation_id = "createApiKey",
    summary = "Create an API key (the key is shown once)",
    request_body(content = CreateKey, description = "Name, scopes, lifetime", content_type = "application/json"),
    responses(
        (status = 201, description = "Created: `key` is shown this once", body = super::schemas::ApiKeyCreatedResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateKey>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let mut errors = ValidationErrors::new();
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.add("name", "must be 1-100 characters");
    }
    if req.scopes.is_empty() {
        errors.add("scopes", "must name at least one scope");
    }
    for (i, scope) in req.scopes.iter().enumerate() {
        if !SCOPES.contains(&scope.as_str()) {
            errors.add(format!("scopes[{i}]"), format!("must be one of {}", SCOPES.join(", ")));
        }
    }
    if req.expires_in_days == Some(0) {
        errors.add("expires_in_days", "must be at least 1");
    }
    errors.into_result(())?;
    if effective_role(&req.scopes, Role::Admin) > caller.0.role {
        return Err(ApiError::Authorization(
            "a key cannot have more rights than its owner".into(),
        ));
    }
    let secret = format!("mdl_{}", random_hex(32).map_err(ApiError::Internal)?);
    let now = chrono::Utc::now().timestamp();
    let key = ApiKey {
        key_id: uuid::Uuid::new_v4().to_string(),
        user_id: caller.0.user_id.clone(),
        name,
        prefix: secret[..12].to_string(),
        scopes: req.scopes,
        created_at: now,
        expires_at: req.expires_in_days.map(|d| now + i64::from(d) * 86_400),
        revoked_at: None,
    };
    state.store.create_api_key(&key, &key_hash(&secret)).await?;
    Ok(no_store(
        StatusCode::CREATED,
        json!({ "success": true, "data": { "key": secret, "api_key": key } }),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    operation_id = "revokeApiKey",
    summary = "Revoke an API key",
    params(("id" = String, Path, description = "The API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such API key", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn revoke(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    let key = state
        .store
        .get_api_key(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("api key `{id}` not found")))?;
    if key.user_id != caller.0.user_id && caller.0.role != Role::Admin {
        return Err(ApiError::NotFound(format!("api key `{id}` not found")));
    }
    state.store.revoke_api_key(&id, chrono::Utc::now().timestamp()).await?;
    Ok(StatusCode::NO_CONTENT)
}
