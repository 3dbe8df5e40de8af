//! Deleting a metric, for admins: a confirm page, then a POST (with its token and the version
//! the page showed, so a metric changed meanwhile is not deleted unseen).

use super::edit::{checked_form, invalidate, require};
use super::error::WebError;
use super::links;
use super::pages::{Chrome, html};
use super::session::Reader;
use crate::domain::user::Role;
use crate::http::AppState;
use crate::store::StoreError;
use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Template)]
#[template(path = "web/delete.html")]
pub struct DeletePage {
    pub chrome: Chrome,
    pub id: String,
    pub name: String,
    pub version: i64,
    pub metric_href: String,
    pub csrf: String,
    /// Set when the metric changed after the confirm page was opened.
    pub changed: Option<String>,
}

fn id_of(id: Result<Path<String>, PathRejection>) -> Result<String, WebError> {
    let Path(id) = id.map_err(|r| WebError::BadRequest(r.body_text()))?;
    Ok(crate::http::path_id::checked(id)?)
}

async fn confirm_page(
    state: &AppState,
    visitor: &super::session::Visitor,
    id: &str,
    changed: Option<String>,
) -> Result<DeletePage, WebError> {
    let stored = state
        .store
        .get_metric(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("There is no metric with the id “{id}”.")))?;
    Ok(DeletePage {
        chrome: Chrome::new(format!("Delete {id}"), visitor),
        name: stored
            .doc
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        version: stored.version,
        metric_href: links::metric(id),
        csrf: visitor.csrf().unwrap_or_default(),
        id: stored.id,
        changed,
    })
}

pub async fn confirm(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, WebError> {
    require(&visitor, Role::Admin, &uri)?;
    let id = id_of(id)?;
    Ok(html(StatusCode::OK, &confirm_page(&state, &visitor, &id, None).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let user = require(&visitor, Role::Admin, &uri)?;
    let form = checked_form(&visitor, &headers, &body)?;
    let id = id_of(id)?;
    let version = form
        .get("version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| WebError::BadRequest("the form did not say which version it confirmed".into()))?;
    // The document deleted is the one at that version: read it for the cache's narrow
    // invalidation; the delete itself is made against the version.
    let before = state.store.get_metric(&id).await?;
    match state.store.delete_metric(&id, &user.username, Some(version)).await {
        Ok(()) => {
            let doc = before.filter(|b| b.version == version).map(|b| b.doc);
            invalidate(&state, &id, doc.as_ref(), None).await;
            Ok(Redirect::to("/").into_response())
        }
        Err(StoreError::PreconditionFailed { current, .. }) => {
            let note = format!(
                "Nothing was deleted: the metric changed after you opened this page (you confirmed version {version}; it is now version {current}). Check the page, then confirm again."
            );
            let page = confirm_page(&state, &visitor, &id, Some(note)).await?;
            Ok(html(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(e.into()),
    }
}
