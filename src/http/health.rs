//! Liveness and readiness, for load balancers and orchestrators. No authentication.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Instant;

/// The process is up and answering.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    operation_id = "getLiveness",
    summary = "The process is up",
    responses(
        (status = 200, description = "Up", body = super::schemas::Health),
    )
)]
pub async fn live() -> axum::response::Response {
    // Fixed bytes: liveness is probed often and must cost nothing beyond the HTTP stack.
    const LIVE: &str = r#"{"status":"ok"}"#;
    axum::response::IntoResponse::into_response((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        LIVE,
    ))
}

/// Ready to serve: the database answers. 503 when it does not, and while shutting down.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    operation_id = "getReadiness",
    summary = "Ready when the database answers (503 when it does not)",
    responses(
        (status = 200, description = "Ready (status ok, or degraded when Redis is down)", body = super::schemas::Health),
        (status = 503, description = "The database does not answer, or the instance is shutting down", body = super::schemas::Health),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "shutting down" })),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => match state.cache.redis_status() {
            Some((redis, reason)) if redis != "up" => Json(
                json!({ "status": "degraded", "reason": format!("redis {redis}: {}", reason.unwrap_or_default()) }),
            )
            .into_response(),
            _ => Json(json!({ "status": "ok" })).into_response(),
        },
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": format!("database: {e}") })),
        )
            .into_response(),
    }
}

/// Summary with per-component status; always 200 so dashboards can read it.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    operation_id = "getHealth",
    summary = "Per-component status (always 200)",
    responses(
        (status = 200, description = "Component status", body = super::schemas::HealthSummary),
    )
)]
pub async fn summary(State(state): State<AppState>) -> Json<serde_json::Value> {
    let started = Instant::now();
    let db = state.store.ping().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let pool = state.store.pool_status();
    let circuit = state.breaker.status().state;
    let database = match &db {
        Ok(()) => json!({
            "status": "ok", "backend": state.store.backend(), "latency_ms": latency_ms,
            "pool": pool, "circuit": circuit,
        }),
        Err(e) => json!({
            "status": "down", "backend": state.store.backend(), "reason": e.to_string(),
            "pool": pool, "circuit": circuit,
        }),
    };
    let redis = state.cache.redis_status();
    let cache = match &redis {
        None => json!({ "status": if state.cache.enabled() { "ok" } else { "disabled" }, "l2": "disabled" }),
        Some((status, reason)) => json!({
            "status": if *status == "up" { "ok" } else { "degraded" },
            "l2": status,
            "reason": reason.as_ref().map(|r| format!("redis {status}: {r}")),
        }),
    };
    // Its own component: Redis is what an operator pages about, not "the L2 tier".
    let redis_component = match &redis {
        None if state.cache.config().redis_url.is_some() => {
            json!({ "status": "disabled", "reason": "the response cache is off (ENABLE_CACHE=false)" })
        }
        None => json!({ "status": "disabled", "reason": "REDIS_URL is not set" }),
        Some((status, reason)) => json!({
            "status": if *status == "up" { "ok" } else { *status },
            "reason": reason,
        }),
    };
    let status = match (&db, &redis) {
        (Err(_), _) => "down",
        (Ok(()), Some((r, _))) if *r != "up" => "degraded",
        _ => "ok",
    };
    Json(json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "components": { "database": database, "redis": redis_component, "cache": cache },
    }))
}
