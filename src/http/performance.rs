//! The routes that show `observability`'s figures: Prometheus text for scrapers, JSON
//! summaries for admins.

use super::AppState;
use super::caller::{Caller, Reader};
use super::error::ApiError;
use super::query::{self, Params};
use super::respond::no_store;
use crate::domain::user::Role;
use crate::observability::{Scrape, process};
use crate::store::CatalogStats;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Catalog gauges come from the grouped counts query, at most this often.
const CATALOG_REFRESH: Duration = Duration::from_secs(30);

/// Marks requests that arrived on the `MDL_METRICS_BIND` listener.
#[derive(Debug, Clone, Copy)]
pub struct MetricsListener;

async fn catalog_counts(state: &AppState) -> Option<Arc<CatalogStats>> {
    if let Ok(cached) = state.catalog_gauges.lock()
        && let Some((at, stats)) = cached.as_ref()
        && at.elapsed() < CATALOG_REFRESH
    {
        return Some(stats.clone());
    }
    let stats = Arc::new(state.store.stats().await.ok()?);
    if let Ok(mut cached) = state.catalog_gauges.lock() {
        *cached = Some((Instant::now(), stats.clone()));
    }
    Some(stats)
}

/// Prometheus text format. With `MDL_METRICS_BIND` set, served only on that listener.
///
/// The catalog gauges describe the catalog, which only readers may see: on the main listener
/// they are left out for a caller that could not read `/api/v1/stats` (no valid token or key
/// while `MDL_PUBLIC_READ` is off). The dedicated listener is the operator's and shows all.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    operation_id = "getPrometheusMetrics",
    summary = "Prometheus metrics (text format; on MDL_METRICS_BIND when set)",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 404, description = "Served on MDL_METRICS_BIND instead", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn prometheus(
    State(state): State<AppState>,
    listener: Option<axum::Extension<MetricsListener>>,
    reader: Result<Reader, ApiError>,
) -> Response {
    if state.config.metrics_bind.is_some() && listener.is_none() {
        return ApiError::NotFound("metrics are served on MDL_METRICS_BIND".into()).into_response();
    }
    let catalog = if listener.is_some() || reader.is_ok() {
        catalog_counts(&state).await
    } else {
        None
    };
    let text = state.observability.render(&Scrape {
        cache: &state.cache.stats(),
        pool: state.store.pool_status(),
        breaker: state.breaker.status(),
        uptime: state.started.elapsed(),
        catalog: catalog.as_deref(),
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

fn process() -> serde_json::Value {
    json!({ "rss_bytes": process::rss_bytes() })
}

#[utoipa::path(
    get,
    path = "/api/performance/stats",
    tag = "health",
    operation_id = "getRequestStats",
    summary = "Requests, error rate, per-route p50/p95/p99, RSS and uptime (admin)",
    responses(
        (status = 200, description = "Request figures", body = super::schemas::FreeFormResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn requests(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    Ok(no_store(
        StatusCode::OK,
        json!({ "success": true, "data": {
            "uptime_s": state.started.elapsed().as_secs(),
            "process": process(),
            "requests": state.observability.request_summary(),
        }}),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/stats/performance",
    tag = "catalog",
    operation_id = "getQueryStats",
    summary = "Store call timings per operation, pool and circuit breaker (admin)",
    responses(
        (status = 200, description = "Store call figures", body = super::schemas::FreeFormResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn queries(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    Ok(no_store(
        StatusCode::OK,
        json!({ "success": true, "data": {
            "queries": state.observability.call_summary(),
            "pool": state.store.pool_status(),
            "circuit": state.breaker.status(),
            "uptime_s": state.started.elapsed().as_secs(),
            "process": process(),
        }}),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/stats/performance/slow-queries",
    tag = "catalog",
    operation_id = "listSlowQueries",
    summary = "The most recent slow store calls, newest first (admin; limit=N)",
    params(super::params::SlowQueryQuery),
    responses(
        (status = 200, description = "Slow calls: at, pattern, elapsed_ms", body = super::schemas::FreeFormListResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn slow_queries(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let params = Params::parse(raw.as_deref(), query::SLOW_QUERY_PARAMS)?;
    let limit = match params.one("limit")? {
        None => 50,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::field("limit", "must be an integer from 1 to 200"))?,
    };
    Ok(no_store(
        StatusCode::OK,
        json!({ "success": true, "data": state.observability.slow_calls(limit) }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/stats/performance/patterns",
    tag = "catalog",
    operation_id = "listQueryPatterns",
    summary = "Store operations ordered by the total time they took (admin)",
    responses(
        (status = 200, description = "Per-operation figures with their pattern", body = super::schemas::FreeFormListResponse),
        (status = 403, description = "The caller's role or key scope does not allow this", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn patterns(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    Ok(no_store(
        StatusCode::OK,
        json!({ "success": true, "data": state.observability.patterns() }),
    ))
}
