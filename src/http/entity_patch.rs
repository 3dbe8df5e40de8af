//! `PATCH /api/v1/domains/{id}` and `PATCH /api/v1/objectives/{id}`: JSON merge patch
//! (RFC 7396), as for metrics. The merged document is validated whole, like a `PUT`.

use super::AppState;
use super::caller::Caller;
use super::conditional::if_match;
use super::entities::Kind;
use super::error::ApiError;
use super::metric_writes::merge_patch;
use super::path_id::PathId;
use super::respond;
use crate::domain::metric::SERVER_FIELDS;
use crate::domain::user::Role;
use crate::store::Expect;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

async fn patch(
    kind: Kind,
    state: AppState,
    caller: Caller,
    id: String,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Editor)?;
    let Json(mut patch) = body?;
    let Value::Object(fields) = &mut patch else {
        return Err(ApiError::field("body", "a merge patch must be a JSON object"));
    };
    let id_field = kind.id_field();
    if fields.get(id_field).is_some_and(|v| v.as_str() != Some(id.as_str())) {
        return Err(ApiError::field(id_field, "cannot be changed"));
    }
    for field in SERVER_FIELDS {
        fields.remove(*field);
    }
    let current = kind
        .get(&state, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} `{id}` not found", kind.noun())))?;
    let expected = if_match(&headers)?;
    if let Some(expected) = expected.filter(|v| *v != current.version) {
        return Err(ApiError::PreconditionFailed(format!(
            "version mismatch: expected {expected}, current is {}",
            current.version
        )));
    }
    let mut doc = Value::Object(current.doc);
    merge_patch(&mut doc, patch);
    // Saved against the version read, so a write landing in between is a 412, not lost.
    let (saved, warnings) = kind
        .save(&state, doc, &user.username, Expect::Present(Some(current.version)))
        .await?;
    Ok(respond::saved(kind.path(), StatusCode::OK, &saved, warnings))
}

#[utoipa::path(
    patch,
    path = "/api/v1/domains/{id}",
    operation_id = "patchDomain",
    tag = "domains",
    summary = "JSON merge patch (RFC 7396) of a business domain (editor; If-Match)",
    params(("id" = String, Path, description = "The domain id")),
    request_body(content = super::schemas::MergePatch, description = "A merge patch: objects merge key by key, `null` removes a field", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The stored domain (ETag v<version>)", body = super::schemas::DomainWritten),
        (status = 400, description = "Not an object, the id changed, or the merged domain is invalid", body = super::schemas::ErrorEnvelope),
        (status = 401, description = "Not authenticated", body = super::schemas::ErrorEnvelope),
        (status = 403, description = "Not an editor", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such domain", body = super::schemas::ErrorEnvelope),
        (status = 412, description = "If-Match names another version", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Not JSON", body = super::schemas::ErrorEnvelope)
    )
)]
pub async fn patch_domain(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId,
    h: HeaderMap,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    patch(Kind::Domain, s, c, id, h, b).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/objectives/{id}",
    operation_id = "patchObjective",
    tag = "objectives",
    summary = "JSON merge patch (RFC 7396) of an objective (editor; If-Match); key-result progress is recomputed",
    params(("id" = String, Path, description = "The objective id")),
    request_body(content = super::schemas::MergePatch, description = "A merge patch: objects merge key by key, `null` removes a field, arrays (key_results) are replaced whole", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The stored objective (ETag v<version>)", body = super::schemas::ObjectiveWritten),
        (status = 400, description = "Not an object, the id changed, or the merged objective is invalid", body = super::schemas::ErrorEnvelope),
        (status = 401, description = "Not authenticated", body = super::schemas::ErrorEnvelope),
        (status = 403, description = "Not an editor", body = super::schemas::ErrorEnvelope),
        (status = 404, description = "No such objective", body = super::schemas::ErrorEnvelope),
        (status = 412, description = "If-Match names another version", body = super::schemas::ErrorEnvelope),
        (status = 415, description = "Not JSON", body = super::schemas::ErrorEnvelope)
    )
)]
pub async fn patch_objective(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId,
    h: HeaderMap,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    patch(Kind::Objective, s, c, id, h, b).await
}
