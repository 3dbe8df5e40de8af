//! What every suite builds on: an isolated store (`db`), a running server (`app`), Redis
//! (`redis`) and the example catalogs (`examples`). Suites import from here, not from the
//! submodules, so a helper can move between them without touching the tests.

mod app;
mod db;
mod examples;
mod export;
mod redis;

pub use app::{ADMIN_PASSWORD, Roles, TestApp, error_code, load, spawn, spawn_on, spawn_with, test_config};
pub use db::{TestDb, metrics_batch, postgres, postgres_url, sqlite};
pub use examples::{example, example_json, examples_dir, sample_metrics};
pub use export::{export_text, export_value, rendered_at_once, whole_catalog};
pub use redis::{PrivateRedis, RedisCluster, TcpProxy, redis_prefix, redis_url};

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
