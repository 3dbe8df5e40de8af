//! An isolated store per test: a SQLite file in a temp dir, or a PostgreSQL schema of its own.

use mdl::config::DbConfig;
use mdl::store::{self, DynStore};
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

/// An import of these metric documents (each must be valid), as a seed step builds it.
pub fn metrics_batch(docs: impl IntoIterator<Item = serde_json::Value>) -> mdl::store::ImportBatch {
    mdl::store::ImportBatch {
        metrics: docs
            .into_iter()
            .map(|d| {
                let metric = mdl::domain::Metric::parse(d).expect("valid metric");
                (metric, mdl::store::model::Provenance::default())
            })
            .collect(),
        ..Default::default()
    }
}
