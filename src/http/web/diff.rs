//! `GET /metrics/{id}/diff?from=A&to=B`: the value-level changes between two versions, field
//! by field, from the same `catalog::versions::diff` the API's diff route answers with.

use super::edit_view::{self, DiffRow};
use super::error::WebError;
use super::links;
use super::pages::{Chrome, html};
use super::session::Reader;
use crate::catalog::versions::{self, VersionError};
use crate::domain::Action;
use crate::http::AppState;
use crate::http::query::Params;
use crate::store::{HistoryEntry, PageRequest};
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

/// Versions offered in the selects (the newest); the query may name any.
pub const VERSIONS_OFFERED: u32 = 100;

/// One choice in a version select.
pub struct VersionOption {
    pub version: i64,
    pub label: String,
}

#[derive(Template)]
#[template(path = "web/diff.html")]
pub struct DiffPage {
    pub chrome: Chrome,
    pub id: String,
    pub metric_href: String,
    pub diff_href: String,
    pub from: i64,
    pub to: i64,
    pub versions: Vec<VersionOption>,
    pub changes: Vec<DiffRow>,
}

/// The versions that have a document (a deletion has none), newest first.
pub fn options(history: &[HistoryEntry]) -> Vec<VersionOption> {
    history
        .iter()
        .filter(|h| h.action != Action::Delete)
        .map(|h| VersionOption {
            version: h.version,
            label: format!(
                "Version {} ({}, {} by {})",
                h.version,
                h.change_type.as_str(),
                h.changed_at,
                h.changed_by
            ),
        })
        .collect()
}

fn version(params: &Params, key: &str) -> Result<i64, WebError> {
    let text = params
        .one(key)?
        .ok_or_else(|| WebError::BadRequest(format!("Choose two versions to compare ({key} is missing).")))?;
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| WebError::BadRequest(format!("{key} must be a version number of at least 1.")))
}

impl From<VersionError> for WebError {
    fn from(e: VersionError) -> Self {
        match e {
            VersionError::Missing(m) => WebError::NotFound(m),
            VersionError::Store(e) => e.into(),
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, WebError> {
    let Path(id) = id.map_err(|r| WebError::BadRequest(r.body_text()))?;
    let id = crate::http::path_id::checked(id)?;
    let params = Params::parse(uri.query(), &["from", "to"])?;
    let (from, to) = (version(&params, "from")?, version(&params, "to")?);
    let diff = versions::diff(&*state.store, &id, from, to).await?;
    let old = versions::document_at(&*state.store, &id, from).await?;
    let history = state
        .store
        .metric_history(&id, &PageRequest::offset(1, VERSIONS_OFFERED))
        .await?;
    let page = DiffPage {
        chrome: Chrome::new(format!("{id}: version {from} to {to}"), &visitor),
        metric_href: links::metric(&id),
        diff_href: format!("{}/diff", links::metric(&id)),
        id,
        from,
        to,
        versions: options(&history.items),
        changes: edit_view::rows(&old, &diff.operations),
    };
    Ok(html(StatusCode::OK, &page))
}
