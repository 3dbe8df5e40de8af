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

#[utoipa::path(get, path = "/api/v1/stats/cache", tag = "catalog", summary = "Cache hits, misses and hit rate per tier and route, entries, bytes, evictions, Redis status, last warm (admin)", responses((status = 200, description = "Success, in the JSON envelope"), (status = "4XX", description = "Error envelope: success false, error code, message, details")))]
pub async fn cache(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    state.cache.settle().await;
    Ok(no_store(
        StatusCode::OK,
        json!({ "success": true, "data": state.cache.stats() }),
    ))
}
