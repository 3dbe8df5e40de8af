//! The layer of matched routes: the strict query check, then the response cache. One
//! hand-written service, so that a request pays for one boxed future here (an
//! `axum::middleware::from_fn` layer also boxes a clone of the route's service per request and
//! costed a tenth of a `/health/live` request). It also tells the outer layers which route
//! template answered (they run before routing and cannot see it).

use super::AppState;
use super::middleware::note_route;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::future::BoxFuture;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt};

/// The matched route's own service, for one request.
pub struct RouteService<S>(S);

impl<S> RouteService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    pub async fn run(self, req: Request) -> Response {
        match self.0.oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// Installs [`PerRoute`] on every route of a router.
#[derive(Clone)]
pub struct PerRouteLayer {
    state: AppState,
}

impl PerRouteLayer {
    pub fn new(state: AppState) -> PerRouteLayer {
        PerRouteLayer { state }
    }
}

impl<S> Layer<S> for PerRouteLayer {
    type Service = PerRoute<S>;

    fn layer(&self, inner: S) -> PerRoute<S> {
        PerRoute {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct PerRoute<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for PerRoute<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let matched = req.extensions().get::<MatchedPath>().cloned();
        if let Some(refused) = super::query::refuse_unknown_params(&req) {
            return Box::pin(async move {
                note_route(matched);
                Ok(refused)
            });
        }
        // The service that was polled ready answers this request; its clone waits for the next.
        let clone = self.inner.clone();
        let inner = RouteService(std::mem::replace(&mut self.inner, clone));
        let state = self.state.clone();
        Box::pin(async move {
            note_route(matched);
            Ok(super::cache_layer::layer(state, req, inner).await)
        })
    }
}

/// Only the template, for routes the query check and the cache do not concern (Swagger UI).
pub async fn tag_only(req: Request, next: Next) -> Response {
    note_route(req.extensions().get::<MatchedPath>().cloned());
    next.run(req).await
}
