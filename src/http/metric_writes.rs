//! Writes to `/api/v1/metrics`: create, replace, merge-patch, delete.

use super::AppState;
use super::caller::Caller;
use super::conditional::if_match;
use super::error::ApiError;
use super::path_id::PathId;
use super::respond;
use super::routes::MetricWrite;
use crate::domain::Metric;
use crate::domain::metric::SERVER_FIELDS;
use crate::domain::user::Role;
use crate::store::{Expect, Saved, StoreError};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

const COLLECTION: &str = "/api/v1/metrics";

/// Reads before a delete made against a version the client did not name; past them, the
/// delete goes ahead unversioned and the cache turns over every filtered list.
const DELETE_ATTEMPTS: usize = 3;

/// A write's answer, carrying for the response cache the documents the write replaced and wrote.
fn written(status: StatusCode, saved: &Saved, metric: &Metric) -> Response {
    let mut response = respond::saved(COLLECTION, status, saved, metric.warnings());
    if let Some(write) = MetricWrite::new(&saved.entity.id, saved.previous.as_ref(), Some(metric)) {
        response.extensions_mut().insert(write);
    }
    response
}
use serde_json::{Map, Value};

#[utoipa::path(
    post,
    path = "/api/v1/metrics",
    tag = "metrics",
    operation_id = "createMetric",
    summary = "Create a metric definition (editor)",
    request_body(content = super::schemas::Metric, description = "The full definition", content_type = "application/json"),
    responses(
        (status = 201, description = "Created; unknown fields are named in `warnings`", body = super::schemas::MetricWritten, headers(("Location" = String, description = "The new entity's URL"), ("ETag" = String, description = "Entity version `\"v<version>\"`"))),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Editor)?;
    let Json(doc) = body?;
    let metric = Metric::parse(doc)?;
    let saved = state.store.save_metric(&metric, &user.username, Expect::Absent).await?;
    Ok(written(StatusCode::CREATED, &saved, &metric))
}

#[utoipa::path(
    put,
    path = "/api/v1/metrics/{id}",
    tag = "metrics",
    operation_id = "replaceMetric",
    summary = "Replace a metric definition (editor; If-Match)",
    params(("id" = String, Path, description = "The metric id"), ("If-Match" = Option<String>, Header, description = "The ETag (`\"v<version>\"`) the change is based on: 412 when the entity has changed since")),
    request_body(content = super::schemas::Metric, description = "The full definition (its metric_id, if given, must match the path)", content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = super::schemas::MetricWritten, headers(("ETag" = String, description = "Entity version `\"v<version>\"`"))),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such metric", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 412, description = "If-Match names an older version", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Editor)?;
    let Json(mut doc) = body?;
    match doc.get("metric_id") {
        Some(Value::String(other)) if *other != id => {
            return Err(ApiError::field("metric_id", format!("does not match the path ({id})")));
        }
        None if doc.is_object() => {
            doc["metric_id"] = Value::String(id.clone());
        }
        _ => {}
    }
    let metric = Metric::parse(doc)?;
    let saved = state
        .store
        .save_metric(&metric, &user.username, Expect::Present(if_match(&headers)?))
        .await?;
    Ok(written(StatusCode::OK, &saved, &metric))
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
pub(super) fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(entries) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(map) = target {
                for (key, value) in entries {
                    if value.is_null() {
                        map.remove(&key);
                    } else {
                        merge_patch(map.entry(key).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other,
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/metrics/{id}",
    tag = "metrics",
    operation_id = "patchMetric",
    summary = "JSON merge patch of a metric definition (editor; If-Match)",
    params(("id" = String, Path, description = "The metric id"), ("If-Match" = Option<String>, Header, description = "The ETag (`\"v<version>\"`) the change is based on: 412 when the entity has changed since")),
    request_body(content((super::schemas::MergePatch = "application/merge-patch+json"), (super::schemas::MergePatch = "application/json")), description = "RFC 7396 merge patch"),
    responses(
        (status = 200, description = "Patched", body = super::schemas::MetricWritten, headers(("ETag" = String, description = "Entity version `\"v<version>\"`"))),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such metric", body = super::schemas::ErrorEnvelope),
        (status = 409, description = "Conflicts with an existing entity", body = super::schemas::ErrorEnvelope),
        (status = 412, description = "If-Match names an older version", body = super::schemas::ErrorEnvelope),
        (status = 413, description = "Request body too large", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Content-Type is not JSON", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Editor)?;
    let Json(patch) = body?;
    if !patch.is_object() {
        return Err(ApiError::field("body", "a merge patch must be a JSON object"));
    }
    if patch.get("metric_id").is_some_and(|v| v.as_str() != Some(id.as_str())) {
        return Err(ApiError::field("metric_id", "cannot be changed"));
    }
    let current = state
        .store
        .get_metric(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("metric `{id}` not found")))?;
    let expected = if_match(&headers)?;
    if expected.is_some_and(|v| v != current.version) {
        return Err(ApiError::PreconditionFailed(format!(
            "version mismatch: expected {}, current is {}",
            expected.unwrap_or_default(),
            current.version
        )));
    }
    let mut doc = Value::Object(current.doc.clone());
    let mut patch = patch;
    if let Value::Object(p) = &mut patch {
        for field in SERVER_FIELDS {
            p.remove(*field);
        }
    }
    merge_patch(&mut doc, patch);
    let metric = Metric::parse(doc)?;
    // Guard against a write that landed between our read and this one.
    let saved = state
        .store
        .save_metric(&metric, &user.username, Expect::Present(Some(current.version)))
        .await?;
    Ok(written(StatusCode::OK, &saved, &metric))
}

#[utoipa::path(
    delete,
    path = "/api/v1/metrics/{id}",
    tag = "metrics",
    operation_id = "deleteMetric",
    summary = "Delete a metric definition (admin; If-Match); its history stays",
    params(("id" = String, Path, description = "The metric id"), ("If-Match" = Option<String>, Header, description = "The ETag (`\"v<version>\"`) the change is based on: 412 when the entity has changed since")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such metric", body = super::schemas::ErrorEnvelope),
        (status = 412, description = "If-Match names an older version", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Admin)?;
    let deleted = delete_known(&state, &id, &user.username, if_match(&headers)?).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(write) = deleted.and_then(|doc| MetricWrite::new(&id, Some(&doc), None)) {
        response.extensions_mut().insert(write);
    }
    Ok(response)
}

/// Deletes the metric; returns the deleted document when it is known for certain. The delete
/// is made against the version just read, so the document read is the one deleted (a read
/// alone would race with a concurrent write moving the metric to other lists).
async fn delete_known(
    state: &AppState,
    id: &str,
    actor: &str,
    expected: Option<i64>,
) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    for _ in 0..DELETE_ATTEMPTS {
        let current = state.store.get_metric(id).await?;
        let version = expected.or(current.as_ref().map(|c| c.version));
        match state.store.delete_metric(id, actor, version).await {
            Ok(()) => return Ok(current.filter(|c| Some(c.version) == version).map(|c| c.doc)),
            // Changed since the read, and the client named no version: read again.
            Err(StoreError::PreconditionFailed { .. }) if expected.is_none() => {}
            Err(e) => return Err(e.into()),
        }
    }
    state.store.delete_metric(id, actor, None).await?;
    Ok(None)
}
