//! A real server for a test: `TestApp` listens on 127.0.0.1:0 over the test's own store and
//! stops when dropped. Also the request helpers every HTTP suite shares.

use crate::support::{TestDb, sample_metrics};
use mdl::auth::password::HashCost;
use mdl::config::ServeConfig;
use mdl::domain::Metric;
use mdl::http::Application;
use mdl::store::Expect;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The `MDL_METRICS_BIND` listener's address, when configured.
    pub metrics_addr: Option<std::net::SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn config(public_read: bool) -> ServeConfig {
    ServeConfig {
        bind: "127.0.0.1:0".into(),
        jwt_secret: None,
        access_token_ttl_s: 900,
        refresh_token_ttl_s: 3600,
        admin_password: Some(ADMIN_PASSWORD.into()),
        public_read,
        max_body_bytes: 64 * 1024,
        max_import_bytes: 4 * 1024 * 1024,
        login_rate_per_min: 10,
        cors_origins: Some("https://dash.example.com".into()),
        user_cache_ttl_s: 5,
        request_timeout_s: 30,
        drain_grace_ms: 0,
        search_blocks_check_s: 0,
        compression: true,
        compression_level: "fastest".into(),
        slow_request_ms: 1000,
        slow_query_ms: 100,
        metrics_bind: None,
        cache: mdl::config::CacheConfig {
            warming: false,
            ..Default::default()
        },
        limits: Default::default(),
    }
}

/// Access tokens by role, from [`TestApp::roles`].
pub struct Roles {
    pub viewer: String,
    pub editor: String,
    pub admin: String,
}

pub async fn spawn(db: &TestDb, public_read: bool) -> TestApp {
    spawn_with(db, config(public_read)).await
}

/// Tests' defaults: cache on without warming (a warm run would race the test's own requests).
pub fn test_config() -> ServeConfig {
    config(false)
}

pub async fn spawn_with(db: &TestDb, config: ServeConfig) -> TestApp {
    spawn_on(db.store.clone(), config).await
}

pub async fn spawn_on(store: mdl::store::DynStore, config: ServeConfig) -> TestApp {
    mdl::auth::ensure_admin(&*store, Some(ADMIN_PASSWORD), HashCost::cheap())
        .await
        .unwrap();
    let app = Application::build(config, store, HashCost::cheap()).await.unwrap();
    let base = format!("http://{}", app.addr());
    let metrics_addr = app.metrics_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        metrics_addr,
        stop: Some(tx),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the access token; panics if the login fails.
    pub async fn access_token(&self, username: &str, password: &str) -> String {
        let body: Value = self.login(username, password).await.json().await.unwrap();
        body["data"]["tokens"]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login as {username} failed: {body}"))
            .to_string()
    }

    /// An access token for the built-in admin.
    pub async fn token(&self) -> String {
        self.access_token("admin", ADMIN_PASSWORD).await
    }

    /// Creates a user with `role` and returns a token for it.
    pub async fn user(&self, db: &TestDb, name: &str, role: &str) -> String {
        let password = format!("{name}-password-123");
        let new =
            mdl::domain::user::NewUser::parse(name, &format!("{name}@example.com"), None, role, &password).unwrap();
        let hash = mdl::auth::password::hash_password(password.clone(), HashCost::cheap())
            .await
            .unwrap();
        db.store.create_user(&new, &hash).await.unwrap();
        self.access_token(name, &password).await
    }

    /// The `user_id` of `username`, read through the API with an admin's token.
    pub async fn user_id(&self, admin_token: &str, username: &str) -> String {
        let users: Value = self
            .get("/api/v1/users?limit=100", admin_token)
            .await
            .json()
            .await
            .unwrap();
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == username)
            .unwrap_or_else(|| panic!("no user {username}: {users}"))["user_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Tokens for one user of each role: `vera` (viewer), `eddie` (editor) and the admin.
    pub async fn roles(&self, db: &TestDb) -> Roles {
        Roles {
            viewer: self.user(db, "vera", "viewer").await,
            editor: self.user(db, "eddie", "editor").await,
            admin: self.token().await,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    /// `GET /health` as JSON.
    pub async fn health(&self) -> Value {
        self.client
            .get(self.url("/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }
}

/// Checks the error envelope and returns its status, `error.code` and the whole body.
pub async fn error_code(r: reqwest::Response) -> (StatusCode, String, Value) {
    let status = r.status();
    let body: Value = r.json().await.expect("JSON error body");
    assert_eq!(body["success"], false);
    assert!(body["request_id"].is_string(), "{body}");
    (
        status,
        body["error"]["code"].as_str().unwrap_or_default().to_string(),
        body,
    )
}

/// Seeds the store with `examples/sample-metrics.json`.
pub async fn load(db: &TestDb) {
    for doc in sample_metrics() {
        db.store
            .save_metric(&Metric::parse(doc).unwrap(), "seed", Expect::Absent)
            .await
            .unwrap();
    }
}
