//! Persistence: one `Store` trait, a SQLite and a PostgreSQL implementation.

mod backend;
pub mod error;
pub mod guard;
pub mod model;
pub mod postgres;
pub mod query;
mod sql;
pub mod sqlite;
mod write;

pub use error::StoreError;
pub use model::{
    ApiKey, Backend, BlockBuild, CatalogStats, Entity, EntityKind, FacetCounts, HistoryEntry, ImportBatch,
    ImportOutcome, RawStored, RefreshUse, Saved, Stored, UserChange, WriteKind,
};
/// A transaction writing more metrics than this leaves the search blocks stale (a build follows).
pub const SEARCH_BLOCKS_APPEND_MAX: usize = sql::APPEND_MAX;
pub use query::{Cursor, MetricFilter, MetricQuery, MetricSort, Page, PageRequest};

use crate::config::DbConfig;
use crate::domain::Metric;
use crate::domain::user::{NewUser, User};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::sync::Arc;

pub type StoreResult<T> = Result<T, StoreError>;

/// What a write expects to find. `Any` upserts; the others guard against lost updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Create or replace.
    Any,
    /// Must not exist yet (POST).
    Absent,
    /// Must exist, optionally at this version (PUT/PATCH with or without If-Match).
    Present(Option<i64>),
}

/// The catalog's storage. Every write is one transaction that also appends history.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Applies pending migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;
    /// Connections open, idle and busy (sqlx does not expose how many callers wait).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
    /// Closes the pool after in-flight queries finish.
    async fn close(&self);

    async fn get_metric(&self, id: &str) -> StoreResult<Option<Stored>>;
    async fn list_metrics(&self, query: &MetricQuery) -> StoreResult<Page<Stored>>;
    /// `list_metrics` with each document left as the stored JSON text.
    async fn list_metrics_raw(&self, query: &MetricQuery) -> StoreResult<Page<RawStored>>;
    async fn save_metric(&self, metric: &Metric, actor: &str, expect: Expect) -> StoreResult<Saved>;
    async fn delete_metric(&self, id: &str, actor: &str, version: Option<i64>) -> StoreResult<()>;
    /// Newest first; still readable after the metric is deleted.
    async fn metric_history(&self, id: &str, page: &PageRequest) -> StoreResult<Page<HistoryEntry>>;
    /// One entry of the history, by version (deletions included); still readable after a delete.
    async fn metric_version(&self, id: &str, version: i64) -> StoreResult<Option<HistoryEntry>>;

    /// A domain or objective by id (for `EntityKind::Metric`, the same read as `get_metric`).
    async fn get_entity(&self, kind: EntityKind, id: &str) -> StoreResult<Option<Stored>>;
    /// Domains or objectives by name, then id.
    async fn list_entities(&self, kind: EntityKind, page: &PageRequest) -> StoreResult<Page<Stored>>;
    async fn save_entity(&self, entity: &Entity, actor: &str, expect: Expect) -> StoreResult<Saved>;
    /// Deletes a domain or objective; its id keeps counting versions if re-created. Metrics are
    /// refused here: their deletion is recorded in the history (`delete_metric`).
    async fn delete_entity(&self, kind: EntityKind, id: &str, version: Option<i64>) -> StoreResult<()>;

    /// Upserts everything in one transaction: all of it lands or none of it does.
    async fn import(&self, batch: &ImportBatch, actor: &str) -> StoreResult<ImportOutcome>;
    /// Merges the full-text indexes after a bulk load. SQLite's FTS5 leaves a load in many
    /// segments and a search probes each of them; PostgreSQL's GIN needs nothing. Holds off
    /// other writers while it runs (about 7 s at 1M metrics on SQLite).
    async fn compact_search(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Builds the search blocks anew (which words occur in which stretch of the name order;
    /// see docs/design.md, "Search blocks"). With `wait`, after any build or bulk load in
    /// progress (the CLI, after a bulk load); without, only when one is due and no other
    /// instance is building (the server's periodic check). `None` when nothing was built.
    async fn build_search_blocks(&self, wait: bool) -> StoreResult<Option<BlockBuild>>;
    async fn catalog_info(&self) -> StoreResult<Map<String, Value>>;
    /// The whole catalog from one snapshot, read a batch at a time through the returned reader,
    /// so the parts agree with each other however long the reading takes.
    async fn read_catalog(&self) -> StoreResult<Box<dyn CatalogReader>>;

    /// The stored value of a setting, storing `candidate` first if there is none. Instances
    /// racing on first start all end up with the one value that won.
    async fn setting_or_init(&self, key: &str, candidate: &str) -> StoreResult<String>;
    async fn count_users(&self) -> StoreResult<u64>;

    /// Creates an active user; a taken username or email is a `Conflict`.
    async fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<User>;
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// The user and their password hash, by (case-insensitive) username.
    async fn find_user(&self, username: &str) -> StoreResult<Option<(User, String)>>;
    async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>>;
    async fn update_user(&self, user_id: &str, change: &UserChange) -> StoreResult<User>;
    async fn delete_user(&self, user_id: &str) -> StoreResult<()>;

    async fn create_api_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()>;
    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>>;
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKey>>;
    async fn revoke_api_key(&self, key_id: &str, now: i64) -> StoreResult<()>;

    async fn insert_refresh_token(
        &self,
        token_hash: &str,
        family_id: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Marks a token used (atomically: one presenter wins) or detects its reuse.
    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<RefreshUse>;
    /// The user of a live token (not used, revoked or expired), without using it up: web
    /// sessions present the same token on every request.
    async fn refresh_token_user(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>>;
    /// Revokes the family of this token (logout).
    async fn revoke_refresh_family(&self, token_hash: &str, now: i64) -> StoreResult<()>;
    /// Revokes every refresh token of a user (password change, deactivation).
    async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> StoreResult<()>;
    async fn stats(&self) -> StoreResult<CatalogStats>;
    /// Counts per value of each facet (category, tier, business domain, type, status, owner
    /// team, tag) among the metrics `filter` matches, that facet's own filter left out so the
    /// other values stay reachable; the `limit` most frequent values of each.
    async fn metric_facets(&self, filter: &MetricFilter, limit: u32) -> StoreResult<Vec<FacetCounts>>;
}

pub type DynStore = Arc<dyn Store>;

/// One snapshot of the catalog, held open (a connection in a read transaction) until dropped,
/// so that exports and bundles can go out a batch at a time instead of whole from memory.
#[async_trait]
pub trait CatalogReader: Send {
    async fn catalog_info(&mut self) -> StoreResult<Map<String, Value>>;
    /// Metrics by id, `limit` at a time: `after` is the previous batch's `next_cursor`.
    async fn metrics(&mut self, after: Option<String>, limit: u32) -> StoreResult<Page<Stored>>;
    /// Every domain or objective, by name then id (they are few).
    async fn entities(&mut self, kind: EntityKind) -> StoreResult<Vec<Stored>>;
    /// How many transactions have changed metrics (create, update, delete, import). It moves
    /// with every committed change to the metrics and with nothing else, so it stands for
    /// their content without reading it.
    async fn metric_writes(&mut self) -> StoreResult<i64>;
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PoolStatus {
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

/// Opens the store named by the configuration's URL (`sqlite:` or `postgres:`), waiting for the
/// database up to the configured connect timeout.
pub async fn connect(cfg: &DbConfig) -> StoreResult<DynStore> {
    let url = cfg.url.as_str();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(cfg).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(cfg).await?))
    } else {
        Err(StoreError::invalid(
            "DATABASE_URL",
            "must start with sqlite: or postgres:",
        ))
    }
}
