//! The HTTP server: router, shared state, start-up and graceful shutdown.

pub(crate) mod api_keys;
mod auth;
pub(crate) mod cache_layer;
mod cache_stats;
pub(crate) mod caller;
pub(crate) mod catalog;
pub mod client;
pub(crate) mod compress;
mod conditional;
mod entities;
mod entity_patch;
pub mod error;
mod health;
mod metric_writes;
pub(crate) mod metrics;
mod middleware;
mod openapi;
mod pagination;
mod params;
mod passwords;
pub(crate) mod path_id;
pub mod performance;
mod policies;
pub(crate) mod query;
mod rate_limit;
pub mod reports;
mod respond;
pub(crate) mod route_layer;
pub mod routes;
mod schemas;
pub mod serve;
mod stream;
mod user_cache;
pub(crate) mod users;
mod versions;
mod warm;
pub mod web;

use crate::auth::password::HashCost;
use crate::auth::token::TokenService;
use crate::config::ServeConfig;
use crate::observability::Observability;
use crate::store::DynStore;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use error::ApiError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// Everything handlers share. One pointer: extractors clone it on every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: DynStore,
    pub config: Arc<ServeConfig>,
    pub tokens: TokenService,
    pub hash_cost: HashCost,
    pub login_limiter: Arc<rate_limit::LoginLimiter>,
    pub passwords: passwords::PasswordGate,
    /// Imports parsed and planned at once (see `catalog::import_permit`).
    pub imports: Arc<tokio::sync::Semaphore>,
    pub proxies: client::TrustedProxies,
    pub users: user_cache::UserCache,
    pub web: Arc<crate::http::web::WebState>,
    pub cache: crate::cache::ResponseCache,
    /// The store's circuit breaker (the store above is wrapped by it).
    pub breaker: Arc<crate::store::guard::Breaker>,
    /// Request and store-call figures, shown by the performance routes and `/metrics`.
    pub observability: Arc<Observability>,
    /// Last grouped counts for the catalog gauges, and when they were read.
    pub catalog_gauges: std::sync::Mutex<Option<(Instant, Arc<crate::store::CatalogStats>)>>,
    pub started: Instant,
    /// Set when shutdown starts: `/health/ready` answers 503 through `MDL_DRAIN_GRACE_MS`.
    pub draining: std::sync::atomic::AtomicBool,
}

/// A bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    /// The `MDL_METRICS_BIND` listener, bound with the main one so a taken port fails the start.
    metrics_listener: Option<TcpListener>,
    router: Router,
    addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Binds the listener (port 0 allowed) and builds the router over an opened, migrated
    /// store. The JWT secret comes from the configuration or the database.
    pub async fn build(config: ServeConfig, store: DynStore, hash_cost: HashCost) -> anyhow::Result<Application> {
        let secret = crate::auth::jwt_secret(&*store, config.jwt_secret.as_deref()).await?;
        let tokens = TokenService::new(secret.as_bytes(), config.access_token_ttl_s).map_err(anyhow::Error::msg)?;
        let cache = crate::cache::ResponseCache::new(&config.cache, cache_layer::fixed_headers())
            .map_err(anyhow::Error::msg)?;
        let breaker = Arc::new(crate::store::guard::Breaker::default());
        let spec = openapi();
        let templates = spec
            .paths
            .paths
            .keys()
            .map(String::as_str)
            .chain(SWAGGER_ROUTES)
            .chain(crate::http::web::ROUTES);
        let observability = Arc::new(Observability::new(
            templates,
            Duration::from_millis(config.slow_request_ms),
            Duration::from_millis(config.slow_query_ms),
        ));
        let store: DynStore = Arc::new(crate::store::guard::GuardedStore::new(
            store,
            breaker.clone(),
            Some(observability.calls.clone() as Arc<dyn crate::store::guard::CallObserver>),
        ));
        let listener = serve::listen(&config.bind).await?;
        let addr = listener.local_addr()?;
        let metrics_listener = match &config.metrics_bind {
            Some(bind) => Some(
                serve::listen(bind)
                    .await
                    .map_err(|e| anyhow::anyhow!("MDL_METRICS_BIND: {e}"))?,
            ),
            None => None,
        };
        let proxies = client::TrustedProxies::new(config.limits.trusted_proxy_list().map_err(anyhow::Error::msg)?);
        let passwords = passwords::PasswordGate::new(hash_cost, config.limits.hash_concurrency())
            .await
            .map_err(anyhow::Error::msg)?;
        let state = AppState(Arc::new(Shared {
            cache,
            login_limiter: Arc::new(rate_limit::LoginLimiter::new(
                config.login_rate_per_min,
                config.limits.login_backoff_after,
            )),
            passwords,
            imports: Arc::new(tokio::sync::Semaphore::new(config.limits.import_concurrency.max(1))),
            proxies,
            users: user_cache::UserCache::new(Duration::from_secs(config.user_cache_ttl_s)),
            web: Arc::new(crate::http::web::WebState::new(&config)),
            store,
            config: Arc::new(config),
            tokens,
            hash_cost,
            breaker,
            observability,
            catalog_gauges: std::sync::Mutex::new(None),
            started: Instant::now(),
            draining: std::sync::atomic::AtomicBool::new(false),
        }));
        Ok(Application {
            listener,
            metrics_listener,
            router: router(state.clone()),
            addr,
            state,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served when `MDL_METRICS_BIND` is set (port 0 resolved).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting and drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes (tests stop servers this way). Background work (the
    /// invalidation subscription, user-cache events, cache warming) lives as long as the server.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let state = self.state;
        let mut background = tokio::task::JoinSet::new();
        background.spawn(state.cache.clone().follow_invalidations());
        let mut user_events = state.cache.user_events();
        let (users, web) = (state.users.clone(), state.web.clone());
        background.spawn(async move {
            loop {
                match user_events.recv().await {
                    Ok(user_id) => {
                        users.forget(&user_id).await;
                        web.forget_sessions();
                    }
                    // Missed some: forgetting everyone is always safe.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        users.forget_all();
                        web.forget_sessions();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        if state.config.search_blocks_check_s > 0 {
            let every = Duration::from_secs(state.config.search_blocks_check_s);
            background.spawn(build_search_blocks_when_due(state.store.clone(), every));
        }
        if state.cache.enabled() && state.cache.config().warming {
            background.spawn(warm::run(self.router.clone(), state.clone()));
        }
        if let Some(listener) = self.metrics_listener {
            let metrics = Router::new()
                .route("/metrics", axum::routing::get(performance::prometheus))
                .with_state(state.clone())
                .layer(axum::Extension(performance::MetricsListener));
            background.spawn(async move {
                if let Err(e) = axum::serve(listener, metrics).await {
                    tracing::error!(error = %e, "metrics listener stopped");
                }
            });
        }
        let limits = &state.config.limits;
        let limits = serve::ConnectionLimits {
            max_connections: serve::fit_connection_cap(limits.max_connections),
            header_read_timeout: Duration::from_secs(limits.header_read_timeout_s),
            idle_timeout: Duration::from_secs(limits.idle_timeout_s),
            drain_timeout: Duration::from_secs(state.config.request_timeout_s.max(1) + 5),
        };
        let app = stack(self.router, &state);
        // The grace comes between the signal and the listener closing: requests are still
        // served while readiness fails, so a balancer stops routing here before anything is
        // refused.
        let grace = Duration::from_millis(state.config.drain_grace_ms);
        let draining = state.clone();
        let stop = async move {
            stop.await;
            draining.draining.store(true, std::sync::atomic::Ordering::Relaxed);
            if !grace.is_zero() {
                tracing::info!(grace_ms = grace.as_millis(), "draining: not ready, still serving");
                tokio::time::sleep(grace).await;
            }
        };
        let result = serve::serve(self.listener, app, limits, stop).await;
        background.shutdown().await;
        result
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

/// Every documented route. Routes are registered through `routes!`, so a route cannot exist
/// without its OpenAPI entry.
fn api(import_max: usize, auth_max: usize) -> OpenApiRouter<AppState> {
    let import = OpenApiRouter::new()
        .routes(routes!(catalog::import))
        .layer(DefaultBodyLimit::max(import_max));
    // Credentials are small: a large body on these public routes is only ever an attack.
    let auth = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::logout_all))
        .routes(routes!(auth::change_password))
        .layer(DefaultBodyLimit::max(auth_max));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::summary))
        .routes(routes!(auth::me))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get_one, users::replace, users::update, users::delete))
        .routes(routes!(metrics::list, metric_writes::create))
        .routes(routes!(
            metrics::get_one,
            metric_writes::replace,
            metric_writes::patch,
            metric_writes::delete
        ))
        .routes(routes!(metrics::history))
        .routes(routes!(versions::get_version))
        .routes(routes!(versions::diff))
        .routes(routes!(entity_patch::patch_domain))
        .routes(routes!(entity_patch::patch_objective))
        .routes(routes!(policies::for_metric))
        .routes(routes!(policies::list))
        .routes(routes!(policies::bundle))
        .routes(routes!(entities::domains::list, entities::domains::create))
        .routes(routes!(
            entities::domains::get_one,
            entities::domains::replace,
            entities::domains::delete
        ))
        .routes(routes!(entities::objectives::list, entities::objectives::create))
        .routes(routes!(
            entities::objectives::get_one,
            entities::objectives::replace,
            entities::objectives::delete
        ))
        .routes(routes!(reports::objective_docx))
        .routes(routes!(catalog::stats))
        .routes(routes!(cache_stats::cache))
        .routes(routes!(performance::prometheus))
        .routes(routes!(performance::requests))
        .routes(routes!(performance::queries))
        .routes(routes!(performance::slow_queries))
        .routes(routes!(performance::patterns))
        .routes(routes!(catalog::export))
        .merge(import)
        .merge(auth)
}

/// The OpenAPI document of every route (also served at `/api-docs/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(api(1, 1).split_for_parts().1)
}

/// The query parameters the strict parser accepts on a route (method, route template): the
/// contract test compares them with the documented ones.
pub fn allowed_query_params(method: &axum::http::Method, template: &str) -> &'static [&'static str] {
    query::allowed(method, template)
}

/// The route templates the vendored Swagger UI registers (they are not in the OpenAPI document).
const SWAGGER_ROUTES: [&str; 4] = ["/api-docs", "/api-docs/", "/api-docs/{*rest}", "/api-docs/openapi.json"];

/// The routes with what only matched routes need: [`route_layer::PerRoute`] (query check and
/// response cache, which also tags the response with its route template), the vendored
/// Swagger UI and the fallbacks. The layers every request crosses wrap it in [`stack`].
fn router(state: AppState) -> Router {
    let (routes, spec) = api(state.config.max_import_bytes, state.config.limits.auth_max_body_bytes).split_for_parts();
    let spec = openapi::finish(spec);
    let per_route = route_layer::PerRouteLayer::new(state.clone());
    let docs = Router::from(SwaggerUi::new("/api-docs").url("/api-docs/openapi.json", spec))
        .route_layer(axum::middleware::from_fn(route_layer::tag_only));
    routes
        .route_layer(per_route)
        .merge(docs)
        .merge(crate::http::web::router(
            state.config.limits.auth_max_body_bytes,
            state.config.max_import_bytes,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The layers every request crosses, outermost first: [`middleware::Observe`] (request id,
/// timing, timeout, panic capture, headers, figures), the body limit, compression, CORS when
/// configured. Composed outside the router as one static service: applied with
/// `Router::layer`, each layer boxed every route again and a request cloned and moved the
/// whole nest of boxes (a third of a `/health/live` request's instructions were `memcpy`).
fn stack(
    router: Router,
    state: &AppState,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let timeout = Duration::from_secs(state.config.request_timeout_s.max(1));
    // Without configured origins there is no CORS layer at all (it would still add `Vary`
    // headers to every response).
    let cors = cors(&state.config.cors_origin_list());
    tower::ServiceBuilder::new()
        .layer(middleware::ObserveLayer::new(state.observability.clone(), timeout))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(compression(&state.config))
        .option_layer(cors)
        .service(router)
}

/// br, zstd, gzip and deflate by the client's `Accept-Encoding` (q-values honoured), above the
/// size threshold, never for already-compressed types; cached gzip bodies pass through as they are.
/// With `ENABLE_COMPRESSION=false` the layer stays but never compresses.
fn compression(config: &ServeConfig) -> compress::CompressLayer {
    compress::CompressLayer::new(compress::Settings {
        enabled: config.compression,
        level: compress::Settings::level(&config.compression_level),
        threshold: config.cache.compression_threshold as u64,
    })
}

/// The layers every route runs inside: body limit and, outermost, [`middleware::Observe`]
/// (with figures of its own: for routers built outside [`Application`]).
pub fn with_common_layers(app: Router, max_body: usize, timeout: Duration) -> Router {
    let observability = Arc::new(Observability::new([], Duration::MAX, Duration::MAX));
    app.layer(
        tower::ServiceBuilder::new()
            .layer(middleware::ObserveLayer::new(observability, timeout))
            .layer(DefaultBodyLimit::max(max_body)),
    )
}

/// CORS for the configured origins only; with none, no CORS headers at all.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if allowed.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LINK,
            header::LOCATION,
            HeaderName::from_static("x-total-count"),
            HeaderName::from_static("x-page"),
            HeaderName::from_static("x-per-page"),
            HeaderName::from_static("x-total-pages"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(600));
    Some(layer)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// The path matched, so the answer is counted under its route template.
async fn method_not_allowed(matched: Option<axum::extract::MatchedPath>) -> ApiError {
    middleware::note_route(matched);
    ApiError::MethodNotAllowed
}

/// Builds the search blocks whenever a check finds them due (`Store::build_search_blocks`):
/// after a bulk load left them stale, once the catalog outgrew them, or after many writes.
/// Searches stay right meanwhile, only slower for words whose matches cluster.
async fn build_search_blocks_when_due(store: crate::store::DynStore, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.build_search_blocks(false).await {
            Ok(Some(b)) => tracing::info!(
                blocks = b.blocks,
                metrics = b.metrics,
                millis = b.millis,
                "search blocks built"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "search blocks not built"),
        }
    }
}
