//! The HTTP server: router, shared state, start-up and graceful shutdown.

mod api_keys;
mod auth;
mod caller;
mod catalog;
mod conditional;
mod entities;
pub mod error;
mod health;
mod metric_writes;
mod metrics;
mod middleware;
mod pagination;
mod query;
mod rate_limit;
mod users;

use crate::auth::password::HashCost;
use crate::auth::token::TokenService;
use crate::config::ServeConfig;
use crate::store::DynStore;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use error::ApiError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub config: Arc<ServeConfig>,
    pub tokens: TokenService,
    pub hash_cost: HashCost,
    pub login_limiter: Arc<rate_limit::LoginLimiter>,
    pub started: Instant,
}

/// A bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
}

impl Application {
    /// Binds the listener (port 0 allowed) and builds the router over an opened, migrated
    /// store. The JWT secret comes from the configuration or the database.
    pub async fn build(config: ServeConfig, store: DynStore, hash_cost: HashCost) -> anyhow::Result<Application> {
        let secret = crate::auth::jwt_secret(&*store, config.jwt_secret.as_deref()).await?;
        let tokens = TokenService::new(secret.as_bytes(), config.access_token_ttl_s).map_err(anyhow::Error::msg)?;
        let listener = TcpListener::bind(&config.bind).await?;
        let addr = listener.local_addr()?;
        let state = AppState {
            login_limiter: Arc::new(rate_limit::LoginLimiter::per_minute(config.login_rate_per_min)),
            store,
            config: Arc::new(config),
            tokens,
            hash_cost,
            started: Instant::now(),
        };
        Ok(Application {
            listener,
            router: router(state),
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting and drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes (tests stop servers this way).
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(stop).await
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

fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_s.max(1));
    let max_body = state.config.max_body_bytes;
    let import_max = state.config.max_import_bytes;
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health", get(health::summary))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/auth/refresh", post(auth::refresh))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/change-password", post(auth::change_password))
        .route("/api/v1/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api/v1/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{id}",
            get(users::get_one)
                .put(users::update)
                .patch(users::update)
                .delete(users::delete),
        )
        .route("/api/v1/metrics", get(metrics::list).post(metric_writes::create))
        .route(
            "/api/v1/metrics/{id}",
            get(metrics::get_one)
                .put(metric_writes::replace)
                .patch(metric_writes::patch)
                .delete(metric_writes::delete),
        )
        .route("/api/v1/metrics/{id}/history", get(metrics::history))
        .route(
            "/api/v1/domains",
            get(entities::domains::list).post(entities::domains::create),
        )
        .route(
            "/api/v1/domains/{id}",
            get(entities::domains::get_one)
                .put(entities::domains::replace)
                .delete(entities::domains::delete),
        )
        .route(
            "/api/v1/objectives",
            get(entities::objectives::list).post(entities::objectives::create),
        )
        .route(
            "/api/v1/objectives/{id}",
            get(entities::objectives::get_one)
                .put(entities::objectives::replace)
                .delete(entities::objectives::delete),
        )
        .route("/api/v1/stats", get(catalog::stats))
        .route(
            "/api/v1/import",
            post(catalog::import).layer(DefaultBodyLimit::max(import_max)),
        )
        .route("/api/v1/export", get(catalog::export))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            axum::response::IntoResponse::into_response(ApiError::Internal("handler panicked".into()))
        }))
        .layer(axum::middleware::from_fn(middleware::envelope))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
