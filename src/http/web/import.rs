//! Importing a catalog, for editors: `GET /import` (the form), `POST /import/preview` (the
//! API's import as a dry run: what would be created, updated or left alone, or the errors by
//! field path) and `POST /import` (the same document, applied all or nothing). The preview
//! takes the document pasted or as an uploaded file (multipart; the file wins when both are
//! sent); the confirmation carries it back in a hidden field either way. Both POSTs run the
//! API's own handler, so its limits hold: `MDL_MAX_IMPORT_BYTES` and the import queue.

use super::admin::{data_of, field_errors};
use super::csrf;
use super::edit::{check_token, checked_form, require};
use super::error::WebError;
use super::pages::{Chrome, html};
use super::session::{Reader, Visitor};
use crate::catalog::Format;
use crate::domain::FieldError;
use crate::domain::user::Role;
use crate::http::AppState;
use crate::http::caller::{Caller, Via};
use crate::http::query::Params;
use crate::http::routes::write_invalidates;
use askama::Template;
use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use std::path::Path;

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
        format: "detect",
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
    format: Format,
    document: String,
}

/// A form's fields as posted, before the document and its format are settled.
#[derive(Default)]
struct Posted {
    csrf: Option<String>,
    format: Option<String>,
    document: String,
    /// The picked file's name and contents.
    file: Option<(String, Vec<u8>)>,
}

/// Why a posted form goes no further.
enum Refused {
    /// Over the import limit: which part was (the form, the document, the file), and its
    /// size when it was read whole.
    TooLarge { what: String, size: Option<usize> },
    /// A picked file that is not UTF-8 text, so neither JSON nor YAML.
    NotText(String),
    /// Anything else, on the error page.
    Error(WebError),
}

impl From<WebError> for Refused {
    fn from(e: WebError) -> Self {
        Refused::Error(e)
    }
}

impl From<MultipartError> for Refused {
    /// The body limit (the route's `DefaultBodyLimit`) shows as the import form's refusal.
    fn from(e: MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large("The form", None)
        } else {
            Refused::Error(WebError::BadRequest(e.body_text()))
        }
    }
}

fn too_large(what: &str, size: Option<usize>) -> Refused {
    Refused::TooLarge {
        what: what.to_string(),
        size,
    }
}

/// The page for a refused form: the import form with the reason, or the error page.
fn refusal(visitor: &Visitor, state: &AppState, refused: Refused) -> Result<Response, WebError> {
    let limit = state.config.max_import_bytes;
    let mut p = page(visitor, state);
    let status = match refused {
        Refused::TooLarge { what, size } => {
            let is = size.map_or_else(|| "is too large:".to_string(), |n| format!("is {n} bytes;"));
            p.refused = Some(format!(
                "{what} {is} an import may be at most {limit} bytes. Split it, or import it through the API."
            ));
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Refused::NotText(name) => {
            p.refused = Some(format!(
                "The file “{name}” is not text: pick a catalog exported as JSON or YAML."
            ));
            StatusCode::BAD_REQUEST
        }
        Refused::Error(e) => return Err(e),
    };
    Ok(html(status, &p))
}

/// The largest body an import form may send: the document URL-encoded (each byte may take
/// three), or a file beside a pasted document, with room for the other fields. The import
/// routes' `DefaultBodyLimit`, so the multipart reader is held to it too.
pub fn form_bound(limit: usize) -> usize {
    limit.saturating_mul(3).saturating_add(64 * 1024)
}

/// Reads the form, URL-encoded or multipart (a file upload), after the origin check and with
/// the session's token, then holds the document itself to `MDL_MAX_IMPORT_BYTES`.
async fn read_form(state: &AppState, visitor: &Visitor, request: Request) -> Result<Sent, Refused> {
    let limit = state.config.max_import_bytes;
    let posted = if is_multipart(request.headers()) {
        // Before reading a byte of the body, as for the URL-encoded form.
        csrf::check_origin(request.headers())?;
        let posted = read_multipart(request, limit).await?;
        check_token(visitor, posted.csrf.as_deref())?;
        posted
    } else {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, form_bound(limit)).await else {
            return Err(too_large("The form", None));
        };
        let mut form = checked_form(visitor, &parts.headers, &bytes)?;
        Posted {
            format: form.remove("format"),
            document: form.remove("document").unwrap_or_default(),
            ..Posted::default()
        }
    };
    settle(posted, limit)
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// The most a field other than the document or the file may hold (the token, the format).
const SMALL_FIELD: usize = 1024;

/// Reads a multipart form a field at a time and each field a chunk at a time, so nothing past
/// the limit is held: the document and the file stop at the import limit, the other known
/// fields at [`SMALL_FIELD`]; unknown fields are skipped unread.
async fn read_multipart(request: Request, limit: usize) -> Result<Posted, Refused> {
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|r| WebError::BadRequest(r.body_text()))?;
    let mut posted = Posted::default();
    while let Some(mut field) = form.next_field().await? {
        match field.name().unwrap_or_default() {
            "csrf" => posted.csrf = Some(small_text(&mut field).await?),
            "format" => posted.format = Some(small_text(&mut field).await?),
            "document" => {
                let bytes = within(&mut field, limit)
                    .await?
                    .ok_or_else(|| too_large("The pasted document", None))?;
                posted.document = String::from_utf8(bytes)
                    .map_err(|_| WebError::BadRequest("The pasted document is not UTF-8 text.".into()))?;
            }
            "file" => {
                let name = field.file_name().unwrap_or_default().to_string();
                let bytes = within(&mut field, limit)
                    .await?
                    .ok_or_else(|| too_large(&format!("The file “{name}”"), None))?;
                // With no file picked, browsers still send the part, nameless and empty.
                if !name.is_empty() || !bytes.is_empty() {
                    posted.file = Some((name, bytes));
                }
            }
            _ => {}
        }
    }
    Ok(posted)
}

/// The field's bytes, or `None` as soon as they pass `max` (the rest is left unread).
async fn within(field: &mut Field<'_>, max: usize) -> Result<Option<Vec<u8>>, MultipartError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if bytes.len() + chunk.len() > max {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

async fn small_text(field: &mut Field<'_>) -> Result<String, Refused> {
    let unreadable = || WebError::BadRequest("A form field was too long or not text.".into());
    let bytes = within(field, SMALL_FIELD).await?.ok_or_else(unreadable)?;
    Ok(String::from_utf8(bytes).map_err(|_| unreadable())?)
}

/// The document, a picked file winning over the text area, and its format: the one chosen,
/// else the file's extension, else a guess from the text.
fn settle(posted: Posted, limit: usize) -> Result<Sent, Refused> {
    let chosen = match posted.format.as_deref() {
        None | Some("detect") => None,
        Some("json") => Some(Format::Json),
        Some("yaml") => Some(Format::Yaml),
        Some(_) => return Err(WebError::BadRequest("format must be detect, json or yaml".into()).into()),
    };
    let (document, named) = match posted.file {
        Some((name, bytes)) => {
            let named = Format::from_extension(Path::new(&name));
            (String::from_utf8(bytes).map_err(|_| Refused::NotText(name))?, named)
        }
        None => (posted.document, None),
    };
    if document.len() > limit {
        return Err(too_large("The document", Some(document.len())));
    }
    let format = chosen.or(named).unwrap_or_else(|| Format::sniff(document.as_bytes()));
    Ok(Sent { format, document })
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Yaml => "yaml",
    }
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
    let media = match sent.format {
        Format::Yaml => "application/yaml",
        Format::Json => "application/json",
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
    p.format = format_name(sent.format);
    p.document = sent.document;
    p.errors = errors;
    html(StatusCode::BAD_REQUEST, &p)
}

pub async fn preview(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    request: Request,
) -> Result<Response, WebError> {
    require(&visitor, Role::Editor, &uri)?;
    let sent = match read_form(&state, &visitor, request).await {
        Ok(sent) => sent,
        Err(refused) => return refusal(&visitor, &state, refused),
    };
    let p = page(&visitor, &state);
    match run(&state, &visitor, &sent, true).await? {
        Ok(report) => {
            let p = ImportPage {
                format: format_name(sent.format),
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
    request: Request,
) -> Result<Response, WebError> {
    require(&visitor, Role::Editor, &uri)?;
    let sent = match read_form(&state, &visitor, request).await {
        Ok(sent) => sent,
        Err(refused) => return refusal(&visitor, &state, refused),
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
