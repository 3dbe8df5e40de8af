//! Test fixtures: an isolated store per test (a SQLite file in a temp dir, or a PostgreSQL
//! schema of its own) and the example catalogs.

use mdl::config::DbConfig;
use mdl::store::{self, DynStore};
use serde_json::Value;
use std::path::PathBuf;
use tempfile::TempDir;

pub struct TestDb {
    pub url: String,
    pub store: DynStore,
    _dir: Option<TempDir>,
    schema: Option<(String, String)>,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nested/mdl.db").display());
    let store = store::connect(&DbConfig::new(&url)).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestDb {
        url,
        store,
        _dir: Some(dir),
        schema: None,
    }
}

/// The PostgreSQL URL for tests, or `None` (with a visible message) to skip. With
/// `MDL_REQUIRE_SERVICES=1` a missing URL fails the test instead.
pub fn postgres_url() -> Option<String> {
    match std::env::var("MDL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("MDL_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                panic!("MDL_REQUIRE_SERVICES=1 but MDL_TEST_DATABASE_URL is not set");
            }
            eprintln!("SKIPPED: PostgreSQL test (set MDL_TEST_DATABASE_URL to run it)");
            None
        }
    }
}

/// A fresh schema in the test database; the store's connections use it via `search_path`.
pub async fn postgres() -> Option<TestDb> {
    let base = postgres_url()?;
    let schema = format!("mdl_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to MDL_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let store = store::connect(&DbConfig::new(&url)).await.expect("open postgres");
    store.migrate().await.expect("migrate postgres");
    Some(TestDb {
        url,
        store,
        _dir: None,
        schema: Some((base, schema)),
    })
}

impl TestDb {
    /// Another empty store of the same backend (for export -> re-import checks).
    pub async fn sibling(&self) -> TestDb {
        if self.schema.is_some() {
            postgres().await.expect("postgres configured")
        } else {
            sqlite().await
        }
    }

    /// Closes the store and drops the test's schema. A test that panics skips this and leaves
    /// its schema behind for inspection.
    pub async fn cleanup(mut self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema.take()
            && let Ok(pool) = sqlx::PgPool::connect(&base).await
        {
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
            pool.close().await;
        }
    }
}

pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

pub fn example(name: &str) -> String {
    let path = examples_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn example_json(name: &str) -> Value {
    serde_json::from_str(&example(name)).expect("example is JSON")
}

pub fn sample_metrics() -> Vec<Value> {
    example_json("sample-metrics.json")["metrics"]
        .as_array()
        .expect("metrics array")
        .clone()
}

/// Runs each listed async test function against SQLite and PostgreSQL.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::support::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::support::postgres().await else { return };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}
pub(crate) use backend_tests;

/// The Redis URL for tests, or `None` (with a visible message) to skip; required under
/// `MDL_REQUIRE_SERVICES=1`.
pub fn redis_url() -> Option<String> {
    match std::env::var("MDL_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("MDL_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                panic!("MDL_REQUIRE_SERVICES=1 but MDL_TEST_REDIS_URL is not set");
            }
            eprintln!("SKIPPED: Redis test (set MDL_TEST_REDIS_URL to run it)");
            None
        }
    }
}

/// A key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("mdl-test-{}", uuid::Uuid::new_v4().simple())
}

/// A private `redis-server` on a free port, stopped (and restartable) at will.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Option<PrivateRedis> {
        // A port picked in advance can be taken by a parallel test first: try a few.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let mut redis = PrivateRedis { port, child: None };
            if redis.restart() {
                return Some(redis);
            }
            redis.stop();
        }
        if std::env::var("MDL_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("MDL_REQUIRE_SERVICES=1 but redis-server could not be started");
        }
        eprintln!("SKIPPED: needs redis-server on PATH");
        None
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port and waits until it answers.
    pub fn restart(&mut self) -> bool {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..200 {
            // PING, not just connect: whatever else took the port would also accept.
            if self.answers_ping() {
                return true;
            }
            if let Some(child) = self.child.as_mut()
                && !matches!(child.try_wait(), Ok(None))
            {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy the test controls, in front of a real service: `cut` drops every connection and
/// refuses new ones (the service "goes away"), `restore` lets connections through again.
pub struct TcpProxy {
    pub port: u16,
    upstream: std::net::SocketAddr,
    accept: Option<tokio::task::JoinHandle<()>>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl TcpProxy {
    pub async fn start(upstream: std::net::SocketAddr) -> TcpProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mut proxy = TcpProxy {
            port,
            upstream,
            accept: None,
            connections: Default::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream;
        let connections = self.connections.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().expect("lock").push(task.abort_handle());
            }
        }));
    }

    pub fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for c in self.connections.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    pub async fn restore(&mut self) {
        for _ in 0..100 {
            if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("could not listen on port {} again", self.port);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
