//! A metric's past versions as first-class reads: one version's document, and the JSON Patch
//! between two versions (`catalog::versions`). Both come from the history snapshots, so they
//! stay readable after the metric is deleted, like the history itself.

use super::AppState;
use super::caller::Reader;
use super::conditional;
use super::error::ApiError;
use super::path_id::PathId;
use super::query::{self, Params};
use crate::catalog::versions::{self, VersionError};
use crate::domain::ValidationErrors;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

/// A version number from the path or the query: a whole number of at least 1.
fn parse_version(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|n| *n >= 1)
}

impl From<VersionError> for ApiError {
    fn from(e: VersionError) -> Self {
        match e {
            VersionError::Missing(message) => ApiError::NotFound(message),
            VersionError::Store(e) => e.into(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/metrics/{id}/versions/{version}",
    operation_id = "getMetricVersion",
    tag = "metrics",
    summary = "A metric definition as it was at one version (ETag v<version>); readable after deletion",
    params(
        ("id" = String, Path, description = "The metric id"),
        ("version" = i64, Path, description = "The version, from 1", minimum = 1)
    ),
    responses(
        (status = 200, description = "The document stored at that version, with its server fields", body = super::schemas::MetricResponse),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "The version is not a whole number of at least 1", body = super::schemas::ErrorEnvelope),
        (status = 401, description = "Not authenticated", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such metric version, or the version is a deletion", body = super::schemas::ErrorEnvelope)
    )
)]
pub async fn get_version(
    State(state): State<AppState>,
    _reader: Reader,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((id, version)) = path.map_err(|r| ApiError::field("path", r.body_text()))?;
    let id = super::path_id::checked(id)?;
    let version =
        parse_version(&version).ok_or_else(|| ApiError::field("version", "must be a whole number of at least 1"))?;
    let doc = versions::document_at(&*state.store, &id, version).await?;
    let body = json!({ "success": true, "data": doc });
    Ok(conditional::entity_response(&headers, version, &body))
}

/// The same checks `PathId` makes, for a route with two path parameters.
/// `from` and `to`, both required; every problem reported at once.
fn diff_range(params: &Params) -> Result<(i64, i64), ApiError> {
    let mut invalid = ValidationErrors::new();
    let mut read = |key: &str| -> Result<Option<i64>, ApiError> {
        match params.one(key)? {
            None => invalid.add(key, "is required"),
            Some(v) => match parse_version(v) {
                Some(n) => return Ok(Some(n)),
                None => invalid.add(key, "must be a whole number of at least 1"),
            },
        }
        Ok(None)
    };
    let (from, to) = (read("from")?, read("to")?);
    invalid.into_result(())?;
    match (from, to) {
        (Some(from), Some(to)) => Ok((from, to)),
        _ => Err(ApiError::field("from", "is required")),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/metrics/{id}/diff",
    operation_id = "diffMetricVersions",
    tag = "metrics",
    summary = "Value-level changes between two versions of a metric, as JSON Patch (RFC 6902)",
    params(
        ("id" = String, Path, description = "The metric id"),
        super::params::DiffQuery
    ),
    responses(
        (status = 200, description = "`metric_id`, `from`, `to` and `operations`", body = super::schemas::MetricDiffResponse),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "`from` or `to` missing or not a whole number of at least 1", body = super::schemas::ErrorEnvelope),
        (status = 401, description = "Not authenticated", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such metric version, or a version is a deletion", body = super::schemas::ErrorEnvelope)
    )
)]
pub async fn diff(
    State(state): State<AppState>,
    _reader: Reader,
    PathId(id): PathId,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), query::DIFF_PARAMS)?;
    let (from, to) = diff_range(&params)?;
    let data = versions::diff(&*state.store, &id, from, to).await?;
    let body = json!({ "success": true, "data": data });
    // Versions never change, but the ETag hashes the answer so a changed diff rule cannot
    // leave clients with an old one.
    Ok(conditional::list_response(&headers, HeaderMap::new(), &body))
}
