//! `GET /objectives`, `GET /objectives/{id}` and the objective's Word report. Progress and
//! standing come from the same report the API's `.docx` is built from (`domain::report`).

use super::error::WebError;
use super::objective_view::{self, ObjectiveMain, ObjectivesMain};
use super::page_cache::{self, Fragment};
use super::session::Reader;
use crate::catalog::report::objective_report;
use crate::domain::report::ObjectiveReport;
use crate::http::AppState;
use crate::http::query::Params;
use crate::store::{EntityKind, PageRequest, Store, Stored};
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

/// Pages of 100 read for a list page; lists longer than this are cut (and say so).
const LIST_PAGES: u32 = 20;

/// Every entity of a kind, in the store's order, up to `LIST_PAGES` pages; `true` when cut.
pub async fn all_entities(store: &dyn Store, kind: EntityKind) -> Result<(Vec<Stored>, bool), WebError> {
    let mut items = Vec::new();
    for page in 1..=LIST_PAGES {
        let mut found = store.list_entities(kind, &PageRequest::offset(page, 100)).await?;
        items.append(&mut found.items);
        if !found.has_next {
            return Ok((items, false));
        }
    }
    Ok((items, true))
}

/// The checked `{id}` of a page route.
pub fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, WebError> {
    let Path(id) = id.map_err(|r| WebError::BadRequest(r.body_text()))?;
    Ok(crate::http::path_id::checked(id)?)
}

pub async fn list(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    gzip: page_cache::Gzip,
    uri: Uri,
) -> Result<Response, WebError> {
    Params::parse(uri.query(), &[])?;
    let render = async {
        let (objectives, cut) = all_entities(&*state.store, EntityKind::Objective).await?;
        // The list needs no metric: key results' progress comes from their own values.
        let rows = objectives
            .iter()
            .map(|o| objective_view::row(&ObjectiveReport::build(&o.doc, |_| None)))
            .collect();
        Ok(Fragment {
            title: "Objectives".to_string(),
            main: ObjectivesMain { rows, cut }.render()?,
        })
    };
    let variant = page_cache::variant(&visitor);
    let content = page_cache::fragment(&state, "/objectives", &uri, variant, render).await?;
    page_cache::whole(&state, &visitor, gzip, &content)
}

pub async fn page(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    gzip: page_cache::Gzip,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, WebError> {
    Params::parse(uri.query(), &[])?;
    let render = async {
        let id = path_id(id)?;
        let report = objective_report(&*state.store, &id)
            .await?
            .ok_or_else(|| WebError::NotFound(format!("There is no objective with the id “{id}”.")))?;
        let o = objective_view::build(&report);
        Ok(Fragment {
            title: o.name.clone(),
            main: ObjectiveMain { o }.render()?,
        })
    };
    let variant = page_cache::variant(&visitor);
    let content = page_cache::fragment(&state, "/objectives/{id}", &uri, variant, render).await?;
    page_cache::whole(&state, &visitor, gzip, &content)
}

/// The report as a Word file, as the API serves it, for a browser session.
pub async fn docx(
    State(state): State<AppState>,
    _reader: Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    Params::parse(uri.query(), &[])?;
    let id = path_id(id)?;
    Ok(crate::http::reports::docx_response(&state, &id, &headers).await?)
}
