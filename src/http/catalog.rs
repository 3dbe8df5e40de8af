//! Catalog-wide routes: stats, import and export.

use super::AppState;
use super::caller::{Caller, Reader};
use super::error::ApiError;
use super::query::{self, Params};
use crate::catalog::import::ImportOptions;
use crate::catalog::{self, Format, ImportError};
use crate::domain::user::Role;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "catalog",
    operation_id = "getStats",
    summary = "Counts by category, tier, type, domain, owner and status",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "Catalog counts", body = super::schemas::StatsResponse),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
    )
)]
pub async fn stats(State(state): State<AppState>, _reader: Reader) -> Result<Response, ApiError> {
    let stats = state.store.stats().await?;
    Ok(Json(json!({ "success": true, "data": stats })).into_response())
}

/// How long an import waits for a turn before 503: enough for a burst of normal imports to
/// pass one after the other, short enough that waiting bodies do not pile up.
const IMPORT_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// A turn to parse and plan an import. Each holds its body, the parsed document and the
/// planned batch (several times the body) until it is written, so a burst must not take every
/// blocking thread's memory.
async fn import_permit(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    if let Ok(permit) = state.imports.clone().try_acquire_owned() {
        return Ok(permit);
    }
    state
        .observability
        .imports_queued
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match tokio::time::timeout(IMPORT_QUEUE_WAIT, state.imports.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            state
                .observability
                .imports_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(ApiError::Unavailable("other imports are running; retry shortly".into()))
        }
    }
}

/// `POST /api/v1/import`: a catalog as JSON or YAML, all or nothing; `?dry_run=true` validates
/// and counts without writing. An admin's import into an empty database is a restore: it
/// keeps the file's versions and authors.
#[utoipa::path(
    post,
    path = "/api/v1/import",
    tag = "catalog",
    operation_id = "importCatalog",
    summary = "Import a catalog (JSON or YAML; editor; all or nothing; dry_run)",
    params(super::params::ImportQuery),
    request_body(content((super::schemas::Catalog = "application/json"), (super::schemas::Catalog = "application/yaml")), description = "A catalog, as exported"),
    responses(
        (status = 200, description = "Validated (dry run) or nothing new created", body = super::schemas::ImportResponse),
        (status = 201, description = "Imported; something was created", body = super::schemas::ImportResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Not JSON or YAML", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Editor)?;
    let params = Params::parse(raw.as_deref(), query::IMPORT_PARAMS)?;
    let dry_run = match params.one("dry_run")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("dry_run", "must be true or false")),
    };
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = Format::from_media_type(media).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "send the catalog as application/json or YAML (application/yaml, application/x-yaml, text/yaml)".into(),
        )
    })?;
    let permit = import_permit(&state).await?;
    // The permit travels with the work: a client that hangs up does not free it while the
    // blocking thread still holds the document.
    let (_permit, plan) = tokio::task::spawn_blocking(move || {
        let plan = catalog::format::parse(&body, format).and_then(|doc| catalog::import::plan(doc, dry_run));
        (permit, plan)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("import planning failed: {e}")))?;
    let plan = plan?;
    let opts = ImportOptions {
        actor: &user.username,
        dry_run,
        restore: user.role == Role::Admin,
    };
    let report = catalog::import::apply(&*state.store, plan, opts)
        .await
        .map_err(|e| match e {
            ImportError::Invalid(errors) => ApiError::validation(errors),
            ImportError::Store(e) => e.into(),
        })?;
    let status = if dry_run
        || (report.outcome.metrics.created + report.outcome.domains.created + report.outcome.objectives.created) == 0
    {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(json!({ "success": true, "data": report }))).into_response())
}

/// `GET /api/v1/export?format=json|yaml`: the whole catalog, importable as it is.
#[utoipa::path(
    get,
    path = "/api/v1/export",
    tag = "catalog",
    operation_id = "exportCatalog",
    summary = "Export the whole catalog (format=json|yaml)",
    params(super::params::ExportQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "The catalog, importable as it is", content((super::schemas::Catalog = "application/json"), (super::schemas::Catalog = "application/yaml"))),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), query::EXPORT_PARAMS)?;
    let (format, media) = match params.one("format")? {
        None | Some("json") => (Format::Json, "application/json"),
        Some("yaml") => (Format::Yaml, "application/yaml"),
        Some(_) => return Err(ApiError::field("format", "must be json or yaml")),
    };
    // Opened here, so an unreachable database is still an error status rather than a cut body.
    let mut reader = state.store.read_catalog().await?;
    let body = super::stream::written_by(move |out| {
        catalog::export::write(&mut *reader, format, out, &tokio::runtime::Handle::current()).map(drop)
    });
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    Ok(response)
}
