//! The layer of matched routes: the strict query check, then the response cache. One layer so
//! that a request pays for one boxed future here, not one per concern. It also tells the outer
//! layers which route template answered (they run before routing and cannot see it).

use super::AppState;
use super::middleware::RouteTemplate;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

pub async fn per_route(state: State<AppState>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let response = match super::query::refuse_unknown_params(&req) {
        Some(refused) => refused,
        None => super::cache_layer::layer(state, req, next).await,
    };
    tagged(response, matched)
}

/// Only the template, for routes the query check and the cache do not concern (Swagger UI).
pub async fn tag_only(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    tagged(next.run(req).await, matched)
}

pub fn tagged(mut response: Response, matched: Option<MatchedPath>) -> Response {
    if let Some(m) = matched {
        response.extensions_mut().insert(RouteTemplate(m));
    }
    response
}
