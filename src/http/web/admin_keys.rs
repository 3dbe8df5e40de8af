//! `/admin/api-keys`: the signed-in admin's API keys (the API lists only the caller's own),
//! created and revoked through the API's handlers. The secret appears once, on the answer to
//! the creating POST, which no cache keeps.

use super::admin::{admin_user, data_of, error_for, field_errors, other_errors};
use super::edit::checked_form;
use super::error::WebError;
use super::pages::{Chrome, html};
use super::session::{Reader, Visitor};
use crate::domain::FieldError;
use crate::http::AppState;
use crate::http::api_keys::{self, CreateKey, SCOPES};
use crate::http::path_id::PathId;
use crate::store::ApiKey;
use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

pub struct KeyRow {
    pub key_id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created: String,
    pub expires: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "web/admin_keys.html")]
pub struct KeysPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub rows: Vec<KeyRow>,
    pub scopes: &'static [&'static str],
    pub name: String,
    pub scope: String,
    pub expires_in_days: String,
    pub errors: Vec<FieldError>,
    /// The new key's secret, on the creating POST's answer only.
    pub secret: Option<String>,
}

impl KeysPage {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }

    pub fn other_errors(&self) -> Vec<&FieldError> {
        other_errors(&self.errors, &["name", "scopes[0]", "expires_in_days"])
    }
}

fn day(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
}

fn row(k: &ApiKey) -> KeyRow {
    KeyRow {
        key_id: k.key_id.clone(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        scopes: k.scopes.join(", "),
        created: day(k.created_at),
        expires: k.expires_at.map_or_else(|| "never".to_string(), day),
        revoked: k.revoked_at.is_some(),
    }
}

async fn keys_page(state: &AppState, visitor: &Visitor, user_id: &str) -> Result<KeysPage, WebError> {
    let keys = state.store.list_api_keys(user_id).await?;
    Ok(KeysPage {
        chrome: Chrome::new("API keys", visitor),
        csrf: visitor.csrf().unwrap_or_default(),
        rows: keys.iter().map(row).collect(),
        scopes: SCOPES,
        name: String::new(),
        scope: "read".into(),
        expires_in_days: String::new(),
        errors: Vec::new(),
        secret: None,
    })
}

pub async fn list(State(state): State<AppState>, Reader(visitor): Reader, uri: Uri) -> Result<Response, WebError> {
    let caller = admin_user(&visitor, &uri)?;
    let page = keys_page(&state, &visitor, &caller.0.user_id).await?;
    Ok(html(StatusCode::OK, &page))
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
    let field = |name: &str| form.get(name).map(|v| v.trim().to_string()).unwrap_or_default();
    let user_id = caller.0.user_id.clone();
    let (name, scope, days) = (field("name"), field("scope"), field("expires_in_days"));
    let expires_in_days = match days.as_str() {
        "" => Ok(None),
        d => d.parse::<u32>().map(Some),
    };
    let result = match expires_in_days {
        Ok(expires_in_days) => {
            let req = CreateKey {
                name: name.clone(),
                scopes: vec![scope.clone()],
                expires_in_days,
            };
            api_keys::create(State(state.clone()), caller, Ok(Json(req)))
                .await
                .map_err(field_errors)
        }
        Err(_) => Err(Ok(vec![FieldError {
            field: "expires_in_days".into(),
            message: "must be a whole number of days".into(),
        }])),
    };
    let mut page = keys_page(&state, &visitor, &user_id).await?;
    match result {
        Ok(response) => {
            let data = data_of(response).await?;
            page.secret = data["key"].as_str().map(str::to_string);
            // `html` marks every page `no-store`: the secret stays in no cache.
            Ok(html(StatusCode::CREATED, &page))
        }
        Err(errors) => {
            page.errors = errors?;
            page.name = name;
            page.scope = scope;
            page.expires_in_days = days;
            Ok(html(StatusCode::BAD_REQUEST, &page))
        }
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let caller = admin_user(&visitor, &uri)?;
    checked_form(&visitor, &headers, &body)?;
    let Path(id) = id.map_err(|r| WebError::BadRequest(r.body_text()))?;
    let id = crate::http::path_id::checked(id)?;
    api_keys::revoke(State(state.clone()), caller, PathId(id)).await?;
    Ok(Redirect::to("/admin/api-keys").into_response())
}
