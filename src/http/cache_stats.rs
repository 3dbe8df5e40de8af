//! `GET /api/v1/stats/cache`: what the response cache is doing (admin).

use super::AppState;
use super::caller::Caller;
use super::error::ApiError;
use super::respond::no_store;
use crate::domain::user::Role;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

#[utoipa::path(
    get,
    path = "/api/v1/stats/cache",
    tag = "catalog",
    operation_id = "getCacheStats",
    summary = "Cache hits, misses and hit rate per tier and route, entries, bytes, evictions, Redis status, last warm (admin)",
    responses(
        (status = 200, description = "Cache figures", body = super::schemas::FreeFormResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn cache(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    state.cache.settle().await;
    Ok(no_store(
        StatusCode::OK,
        json!({ "success": true, "data": state.cache.stats() }),
    ))
}
