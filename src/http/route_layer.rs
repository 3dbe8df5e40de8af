//! The layer of matched routes: the strict query check, then the response cache. One layer so
//! that a request pays for one boxed future here, not one per concern.

use super::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

pub async fn per_route(state: State<AppState>, req: Request, next: Next) -> Response {
    match super::query::refuse_unknown_params(&req) {
        Some(refused) => refused,
        None => super::cache_layer::layer(state, req, next).await,
    }
}
