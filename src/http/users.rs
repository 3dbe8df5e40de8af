//! `/api/v1/users`: administration by admins; users may read and edit their own profile.

use super::AppState;
use super::caller::IdentityCaller as Caller;
use super::error::ApiError;
use super::pagination;
use super::path_id::PathId;
use super::query::Params;
use super::respond::no_store;
use crate::domain::ValidationErrors;
use crate::domain::user::{NewUser, Role, User, UserStatus, check_password, normalise_email};
use crate::store::UserChange;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub full_name: Option<String>,
    #[serde(default = "viewer")]
    pub role: String,
}

fn viewer() -> String {
    "viewer".into()
}

/// Fields a `PUT`/`PATCH` may change; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub full_name: Option<Option<String>>,
    pub role: Option<String>,
    pub status: Option<String>,
    /// An admin setting another user's password; everyone changes their own through
    /// `POST /api/v1/auth/change-password`, which asks for the current one.
    pub password: Option<String>,
}

fn self_or_admin(caller: &Caller, id: &str) -> Result<(), ApiError> {
    if caller.0.user_id == id || caller.0.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Authorization(
            "only admins can see or change other users".into(),
        ))
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "listUsers",
    summary = "List users (admin)",
    params(super::params::PageQuery),
    responses(
        (status = 200, description = "A page of users", body = super::schemas::UserList, headers(("Link" = String, description = "RFC 8288 first/prev/next/last links"))),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let params = Params::parse(raw.as_deref(), super::query::PAGE_PARAMS)?;
    let page_req = params.page()?;
    let page = state.store.list_users(&page_req).await?;
    let data = page
        .items
        .iter()
        .map(|u| serde_json::to_value(u).unwrap_or_default())
        .collect();
    let (headers, body) = pagination::envelope("/api/v1/users", &params, &page_req, &page, data);
    let mut response = no_store(StatusCode::OK, body);
    response.headers_mut().extend(headers);
    Ok(response)
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "createUser",
    summary = "Create a user (admin)",
    request_body(content = CreateUser, description = "The new user", content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = super::schemas::UserResponse, headers(("Location" = String, description = "The new entity's URL"))),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let Json(req) = body?;
    let new = NewUser::parse(
        &req.username,
        &req.email,
        req.full_name.as_deref(),
        &req.role,
        &req.password,
    )?;
    let hash = state.passwords.hash(new.password.clone()).await?;
    let user = state.store.create_user(&new, &hash).await?;
    let mut response = no_store(StatusCode::CREATED, json!({ "success": true, "data": user }));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/users/{}", user.user_id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

async fn load(state: &AppState, id: &str) -> Result<User, ApiError> {
    state
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user `{id}` not found")))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "getUser",
    summary = "One user (admin or self)",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user", body = super::schemas::UserResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such user", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn get_one(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> Result<Response, ApiError> {
    self_or_admin(&caller, &id)?;
    let user = load(&state, &id).await?;
    Ok(no_store(StatusCode::OK, json!({ "success": true, "data": user })))
}

/// `PUT` and `PATCH` (both partial): admins change anything of anyone except their own role and
/// status (no locking oneself out); users change their own email, name and password.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "updateUser",
    summary = "Change a user (admin or self); PUT behaves the same",
    params(("id" = String, Path, description = "The user id")),
    request_body(content = UpdateUser, description = "Fields to change", content_type = "application/json"),
    responses(
        (status = 200, description = "The changed user", body = super::schemas::UserResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such user", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: Result<Json<UpdateUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    self_or_admin(&caller, &id)?;
    let Json(req) = body?;
    let is_admin = caller.0.role == Role::Admin;
    let is_self = caller.0.user_id == id;
    load(&state, &id).await?;
    let mut errors = ValidationErrors::new();
    let mut change = UserChange::default();
    if let Some(email) = &req.email {
        match normalise_email(email) {
            Ok(e) => change.email = Some(e),
            Err(m) => errors.add("email", m),
        }
    }
    if let Some(name) = req.full_name {
        change.full_name = Some(name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()));
    }
    for (field, value) in [("role", &req.role), ("status", &req.status)] {
        if value.is_some() && (!is_admin || is_self) {
            return Err(ApiError::Authorization(format!(
                "{field} can only be changed by an admin, for another user"
            )));
        }
    }
    if let Some(role) = &req.role {
        match Role::parse(role) {
            Some(r) => change.role = Some(r),
            None => errors.add("role", format!("must be one of {}", Role::ALL.join(", "))),
        }
    }
    if let Some(status) = &req.status {
        match UserStatus::parse(status) {
            Some(s) => change.status = Some(s),
            None => errors.add("status", format!("must be one of {}", UserStatus::ALL.join(", "))),
        }
    }
    if let Some(password) = &req.password {
        // Even an admin changes their own password through change-password, which asks for the
        // current one: a stolen access token alone must not be enough to take the account over.
        if is_self {
            return Err(ApiError::Authorization(
                "use /api/v1/auth/change-password to change your own password".into(),
            ));
        }
        if let Err(m) = check_password(password) {
            errors.add("password", m);
        }
    }
    errors.into_result(())?;
    if let Some(password) = req.password {
        change.password_hash = Some(state.passwords.hash(password).await?);
    }
    let user = state.store.update_user(&id, &change).await?;
    state.users.forget(&id).await;
    if change.status.is_some_and(|s| s != UserStatus::Active) || change.password_hash.is_some() {
        state
            .store
            .revoke_user_refresh_tokens(&id, chrono::Utc::now().timestamp())
            .await?;
    }
    Ok(no_store(StatusCode::OK, json!({ "success": true, "data": user })))
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "deleteUser",
    summary = "Delete a user (admin)",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such user", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Admins cannot delete themselves", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    if caller.0.user_id == id {
        return Err(ApiError::Conflict("admins cannot delete themselves".into()));
    }
    state.store.delete_user(&id).await?;
    state.users.forget(&id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "replaceUser",
    summary = "Change a user (admin or self); same as PATCH",
    params(("id" = String, Path, description = "The user id")),
    request_body(content = UpdateUser, description = "Fields to change", content_type = "application/json"),
    responses(
        (status = 200, description = "The changed user", body = super::schemas::UserResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such user", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn replace(
    state: State<AppState>,
    caller: Caller,
    id: PathId,
    body: Result<Json<UpdateUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    update(state, caller, id, body).await
}
