//! Administration for admins: `/admin/users` (list, create, role, status). Every change goes
//! through the API's own handler, so the rules (validation, no changing one's own role or
//! status, sessions ended on deactivation) are the API's; then the same cache turnover and
//! user announcement as the API's write path.

use super::edit::{checked_form, require};
use super::error::WebError;
use super::pages::{Chrome, html};
use super::session::{Reader, Visitor};
use crate::domain::FieldError;
use crate::domain::user::{Role, User};
use crate::http::AppState;
use crate::http::caller::IdentityCaller;
use crate::http::error::ApiError;
use crate::http::query::{PAGE_PARAMS, Params};
use crate::http::routes::write_invalidates;
use crate::http::users::{self, CreateUser, UpdateUser};
use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

/// A user as a row of the list, with the forms an admin may use on it.
pub struct UserRow {
    pub user_id: String,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub role: &'static str,
    pub status: &'static str,
    pub created: String,
    /// The signed-in admin's own row: the API refuses changes to one's own role and status.
    pub is_self: bool,
}

#[derive(Template)]
#[template(path = "web/admin_users.html")]
pub struct UsersPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub rows: Vec<UserRow>,
    pub roles: &'static [&'static str],
    pub next_href: Option<String>,
}

#[derive(Template)]
#[template(path = "web/admin_user_new.html")]
pub struct NewUserPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub roles: &'static [&'static str],
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub role: String,
    pub errors: Vec<FieldError>,
}

impl NewUserPage {
    /// The message for `field`, if the API named it.
    pub fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }

    /// The text inputs: name, label, type, value.
    pub fn inputs(&self) -> [(&'static str, &'static str, &'static str, &str, bool); 4] {
        [
            ("username", "Username", "text", &self.username, true),
            ("email", "Email", "email", &self.email, true),
            ("full_name", "Full name (optional)", "text", &self.full_name, false),
            ("password", "Initial password", "password", "", true),
        ]
    }

    /// Errors not tied to one of the form's inputs (a taken username, say).
    pub fn other_errors(&self) -> Vec<&FieldError> {
        other_errors(&self.errors, &["username", "email", "full_name", "role", "password"])
    }
}

/// The API's message for one of a form's fields, shown beside its input.
pub fn error_for<'e>(errors: &'e [FieldError], field: &str) -> Option<&'e str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

/// The errors about none of the fields a form shows, listed above it.
pub fn other_errors<'e>(errors: &'e [FieldError], shown: &[&str]) -> Vec<&'e FieldError> {
    errors.iter().filter(|e| !shown.contains(&e.field.as_str())).collect()
}

/// The API's field errors from its answer, or the error itself when it is not about fields.
pub fn field_errors(e: ApiError) -> Result<Vec<FieldError>, WebError> {
    match e {
        ApiError::Validation { details, message } if details.is_empty() => Ok(vec![FieldError {
            field: String::new(),
            message,
        }]),
        ApiError::Validation { details, .. } => Ok(details),
        ApiError::Conflict(message) => Ok(vec![FieldError {
            field: String::new(),
            message,
        }]),
        other => Err(other.into()),
    }
}

/// The `data` of a successful API answer.
pub async fn data_of(response: Response) -> Result<Value, WebError> {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| WebError::Internal(format!("reading an API answer: {e}")))?;
    let mut body: Value =
        serde_json::from_slice(&bytes).map_err(|e| WebError::Internal(format!("an API answer: {e}")))?;
    Ok(body["data"].take())
}

fn admin(visitor: &Visitor, uri: &Uri) -> Result<std::sync::Arc<User>, WebError> {
    let user = require(visitor, Role::Admin, uri).map_err(|e| match e {
        WebError::Forbidden(_) => WebError::Forbidden("The admin pages are for admins only.".into()),
        other => other,
    })?;
    Ok(user)
}

pub(super) fn admin_user(visitor: &Visitor, uri: &Uri) -> Result<IdentityCaller, WebError> {
    Ok(IdentityCaller(admin(visitor, uri)?.as_ref().clone()))
}

fn row(u: &User, me: &str) -> UserRow {
    UserRow {
        user_id: u.user_id.clone(),
        username: u.username.clone(),
        full_name: u.full_name.clone().unwrap_or_default(),
        email: u.email.clone(),
        role: u.role.as_str(),
        status: u.status.as_str(),
        created: u.created_at.format("%Y-%m-%d").to_string(),
        is_self: u.user_id == me,
    }
}

pub async fn list(State(state): State<AppState>, Reader(visitor): Reader, uri: Uri) -> Result<Response, WebError> {
    let me = admin(&visitor, &uri)?;
    let params = Params::parse(uri.query(), PAGE_PARAMS)?;
    let page = state.store.list_users(&params.page()?).await?;
    let next_href = page
        .next_cursor
        .as_ref()
        .filter(|_| page.has_next)
        .map(|c| format!("/admin/users?cursor={}", super::links::encode(c)));
    let page = UsersPage {
        chrome: Chrome::new("Users", &visitor),
        csrf: visitor.csrf().unwrap_or_default(),
        rows: page.items.iter().map(|u| row(u, &me.user_id)).collect(),
        roles: Role::ALL,
        next_href,
    };
    Ok(html(StatusCode::OK, &page))
}

fn new_user_page(visitor: &Visitor) -> NewUserPage {
    NewUserPage {
        chrome: Chrome::new("New user", visitor),
        csrf: visitor.csrf().unwrap_or_default(),
        roles: Role::ALL,
        username: String::new(),
        email: String::new(),
        full_name: String::new(),
        role: "viewer".into(),
        errors: Vec::new(),
    }
}

pub async fn new_form(Reader(visitor): Reader, uri: Uri) -> Result<Response, WebError> {
    admin(&visitor, &uri)?;
    Ok(html(StatusCode::OK, &new_user_page(&visitor)))
}

pub async fn create(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let caller = admin_user(&visitor, &uri)?;
    let form = checked_form(&visitor, &headers, &body)?;
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let full_name = field("full_name");
    let req = CreateUser {
        username: field("username"),
        email: field("email"),
        password: field("password"),
        full_name: Some(full_name.clone()).filter(|n| !n.trim().is_empty()),
        role: field("role"),
    };
    match users::create(State(state.clone()), caller, Ok(Json(req))).await {
        Ok(_) => {
            state.cache.invalidate(&write_invalidates("/api/v1/users")).await;
            Ok(Redirect::to("/admin/users").into_response())
        }
        Err(e) => {
            let status = match &e {
                ApiError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            let page = NewUserPage {
                username: field("username"),
                email: field("email"),
                full_name,
                role: field("role"),
                errors: field_errors(e)?,
                ..new_user_page(&visitor)
            };
            Ok(html(status, &page))
        }
    }
}

fn user_id(id: Result<Path<String>, PathRejection>) -> Result<String, WebError> {
    let Path(id) = id.map_err(|r| WebError::BadRequest(r.body_text()))?;
    Ok(crate::http::path_id::checked(id)?)
}

/// One change through the API's `PATCH /api/v1/users/{id}`, then its cache turnover and the
/// announcement that makes every instance forget the user.
async fn change(state: &AppState, caller: IdentityCaller, id: String, req: UpdateUser) -> Result<Response, WebError> {
    let path_id = crate::http::path_id::PathId(id.clone());
    users::update(State(state.clone()), caller, path_id, Ok(Json(req)))
        .await
        .map_err(|e| match e {
            ApiError::Validation { message, .. } => WebError::BadRequest(message),
            other => other.into(),
        })?;
    state.cache.invalidate(&write_invalidates("/api/v1/users/{id}")).await;
    state.cache.announce_user(&id).await;
    Ok(Redirect::to("/admin/users").into_response())
}

fn no_change() -> UpdateUser {
    UpdateUser {
        email: None,
        full_name: None,
        role: None,
        status: None,
        password: None,
    }
}

/// Which of a user's fields a row's form changes.
#[derive(Clone, Copy)]
enum UserField {
    Role,
    Status,
}

pub async fn set_role(
    state: State<AppState>,
    reader: Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    set_field(state, reader, uri, id, headers, body, UserField::Role).await
}

pub async fn set_status(
    state: State<AppState>,
    reader: Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    set_field(state, reader, uri, id, headers, body, UserField::Status).await
}

async fn set_field(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
    field: UserField,
) -> Result<Response, WebError> {
    let caller = admin_user(&visitor, &uri)?;
    let form = checked_form(&visitor, &headers, &body)?;
    let value = |name: &str| Some(form.get(name).cloned().unwrap_or_default());
    let req = match field {
        UserField::Role => UpdateUser {
            role: value("role"),
            ..no_change()
        },
        UserField::Status => UpdateUser {
            status: value("status"),
            ..no_change()
        },
    };
    change(&state, caller, user_id(id)?, req).await
}
