//! Importing a catalog, for editors: `GET /import` (the form), `POST /import/preview` (the
//! API's import as a dry run: what would be created, updated or left alone, or the errors by
//! field path) and `POST /import` (the same document, applied all or nothing). Both POSTs run
//! the API's own handler, so its limits hold: `MDL_MAX_IMPORT_BYTES` and the import queue.

use super::admin::{data_of, field_errors};
use super::edit::{checked_form, require};
use super::error::WebError;
use super::pages::{Chrome, html};
use super::session::{Reader, Visitor};
use crate::domain::FieldError;
use crate::domain::user::Role;
use crate::http::AppState;
use crate::http::caller::{Caller, Via};
use crate::http::query::Params;
use crate::http::routes::write_invalidates;
use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

/// One collection's line of the preview.
pub struct Counts {
    pub collection: &'static str,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Template)]
#[template(path = "web/import.html")]
pub struct ImportPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub format: &'static str,
    pub document: String,
    pub limit_bytes: usize,
    /// Why the document was refused as a whole (too large, unreadable).
    pub refused: Option<String>,
    pub errors: Vec<FieldError>,
    /// After a dry run: what the import would do, with the confirm form.
    pub preview: Option<Vec<Counts>>,
    pub warnings: Vec<String>,
    /// After an applied import (the redirect's query): what it did.
    pub done: Option<String>,
}

fn page(visitor: &Visitor, state: &AppState) -> ImportPage {
    ImportPage {
        chrome: Chrome::new("Import", visitor),
        csrf: visitor.csrf().unwrap_or_default(),
        format: "json",
        document: String::new(),
        limit_bytes: state.config.max_import_bytes,
        refused: None,
        errors: Vec::new(),
        preview: None,
        warnings: Vec::new(),
        done: None,
    }
}

pub async fn form(State(state): State<AppState>, Reader(visitor): Reader, uri: Uri) -> Result<Response, WebError> {
    require(&visitor, Role::Editor, &uri)?;
    let params = Params::parse(uri.query(), &["created", "updated", "unchanged"])?;
    let mut page = page(&visitor, &state);
    let count = |name| params.one(name).ok().flatten().and_then(|v| v.parse::<u64>().ok());
    if let (Some(c), Some(u), Some(n)) = (count("created"), count("updated"), count("unchanged")) {
        page.done = Some(format!(
            "The import was applied: {c} created, {u} updated, {n} unchanged."
        ));
    }
    Ok(html(StatusCode::OK, &page))
}

/// A posted import form: the document and its format, within the import limit.
struct Sent {
    format: &'static str,
    document: String,
}

/// Reads the form within a bound the document's limit allows once URL-encoded (each byte
/// may take three), then holds the document itself to `MDL_MAX_IMPORT_BYTES`.
async fn read_form(
    state: &AppState,
    visitor: &Visitor,
    headers: &HeaderMap,
    body: Body,
) -> Result<Result<Sent, ImportPage>, WebError> {
    let limit = state.config.max_import_bytes;
    let too_large = |size: Option<usize>| {
        let mut p = page(visitor, state);
        p.refused = Some(match size {
            Some(n) => format!(
                "The document is {n} bytes; an import may be at most {limit} bytes. Split it, or import it through the API."
            ),
            None => format!(
                "The form was too large to read; an import may be at most {limit} bytes. Split it, or import it through the API."
            ),
        });
        p
    };
    let bound = limit.saturating_mul(3).saturating_add(64 * 1024);
    let Ok(bytes) = axum::body::to_bytes(body, bound).await else {
        return Ok(Err(too_large(None)));
    };
    let form = checked_form(visitor, headers, &bytes)?;
    let format = match form.get("format").map(String::as_str) {
        None | Some("json") => "json",
        Some("yaml") => "yaml",
        Some(_) => return Err(WebError::BadRequest("format must be json or yaml".into())),
    };
    let document = form.get("document").cloned().unwrap_or_default();
    if document.len() > limit {
        return Ok(Err(too_large(Some(document.len()))));
    }
    Ok(Ok(Sent { format, document }))
}

/// The API's `POST /api/v1/import` for this document, as the signed-in user.
async fn run(
    state: &AppState,
    visitor: &Visitor,
    sent: &Sent,
    dry_run: bool,
) -> Result<Result<Value, Vec<FieldError>>, WebError> {
    let user = visitor
        .user
        .clone()
        .ok_or_else(|| WebError::Forbidden("Sign in to import.".into()))?;
    let mut headers = HeaderMap::new();
    let media = if sent.format == "yaml" {
        "application/yaml"
    } else {
        "application/json"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    let query = dry_run.then(|| "dry_run=true".to_string());
    let body = Bytes::from(sent.document.clone());
    let caller = Caller(user.as_ref().clone(), Via::Session);
    match crate::http::catalog::import(State(state.clone()), caller, RawQuery(query), headers, body).await {
        Ok(response) => Ok(Ok(data_of(response).await?)),
        Err(e) => Ok(Err(field_errors(e)?)),
    }
}

fn counts(report: &Value) -> Vec<Counts> {
    ["metrics", "domains", "objectives"]
        .into_iter()
        .map(|collection| {
            let n = |k: &str| report[collection][k].as_u64().unwrap_or(0);
            Counts {
                collection,
                created: n("created"),
                updated: n("updated"),
                unchanged: n("unchanged"),
            }
        })
        .collect()
}

fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn with_errors(mut p: ImportPage, sent: Sent, errors: Vec<FieldError>) -> Response {
    p.format = sent.format;
    p.document = sent.document;
    p.errors = errors;
    html(StatusCode::BAD_REQUEST, &p)
}

pub async fn preview(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebError> {
    require(&visitor, Role::Editor, &uri)?;
    let sent = match read_form(&state, &visitor, &headers, body).await? {
        Ok(sent) => sent,
        Err(refused) => return Ok(html(StatusCode::PAYLOAD_TOO_LARGE, &refused)),
    };
    let p = page(&visitor, &state);
    match run(&state, &visitor, &sent, true).await? {
        Ok(report) => {
            let p = ImportPage {
                format: sent.format,
                document: sent.document,
                preview: Some(counts(&report)),
                warnings: warnings(&report),
                ..p
            };
            Ok(html(StatusCode::OK, &p))
        }
        Err(errors) => Ok(with_errors(p, sent, errors)),
    }
}

pub async fn apply(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebError> {
    require(&visitor, Role::Editor, &uri)?;
    let sent = match read_form(&state, &visitor, &headers, body).await? {
        Ok(sent) => sent,
        Err(refused) => return Ok(html(StatusCode::PAYLOAD_TOO_LARGE, &refused)),
    };
    match run(&state, &visitor, &sent, false).await? {
        Ok(report) => {
            // What the API's write path turns over after an import, on every instance.
            state.cache.invalidate(&write_invalidates("/api/v1/import")).await;
            let total = counts(&report).iter().fold((0, 0, 0), |(c, u, n), k| {
                (c + k.created, u + k.updated, n + k.unchanged)
            });
            let to = format!("/import?created={}&updated={}&unchanged={}", total.0, total.1, total.2);
            Ok(Redirect::to(&to).into_response())
        }
        Err(errors) => Ok(with_errors(page(&visitor, &state), sent, errors)),
    }
}
