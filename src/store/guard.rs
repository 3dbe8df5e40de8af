//! A circuit breaker around the store, and timing of every store call.
//!
//! After five consecutive "unreachable" failures, calls fail at once (503 with `Retry-After`)
//! instead of each waiting for a connection that will not come; two seconds later one call
//! probes, and its success closes the breaker. Idempotent reads are retried once, and
//! only after a connection failure. Writes are never retried: a write that failed may have
//! reached the database, and the client, told it failed, decides.

use super::*;
use futures_util::future::BoxFuture;
use std::time::{Duration, Instant};

pub use crate::breaker::BreakerStatus;

/// After 5 consecutive "unreachable" failures, refuse calls for 2 s.
pub type Breaker = crate::breaker::Breaker<5, 2000>;

/// Observes each store call: operation name, duration, outcome.
pub trait CallObserver: Send + Sync {
    fn observe(&self, operation: &'static str, elapsed: Duration, ok: bool);
}

/// The operation name for one kind (metric, domain, objective): the names the calls had
/// before domains and objectives shared methods, so timings keep their labels.
fn by_kind(kind: EntityKind, names: [&'static str; 3]) -> &'static str {
    match kind {
        EntityKind::Metric => names[0],
        EntityKind::Domain => names[1],
        EntityKind::Objective => names[2],
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Idempotent: retried once after a lost connection.
    Read,
    /// Never retried: it may have reached the database before the connection failed.
    Write,
}
use Call::{Read, Write};

pub struct GuardedStore {
    inner: DynStore,
    breaker: Arc<Breaker>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl GuardedStore {
    pub fn new(inner: DynStore, breaker: Arc<Breaker>, observer: Option<Arc<dyn CallObserver>>) -> GuardedStore {
        GuardedStore {
            inner,
            breaker,
            observer,
        }
    }

    async fn once<T>(&self, operation: &'static str, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        if !self.breaker.allow() {
            return Err(StoreError::Unreachable("database unreachable (circuit open)".into()));
        }
        let started = Instant::now();
        let result = call.await;
        match &result {
            Err(StoreError::Unreachable(e)) => {
                if self.breaker.failure(e) {
                    tracing::error!(error = %e, "database unreachable: circuit open, failing fast");
                }
            }
            // Any answer from the database, even a refusal, proves it is reachable.
            _ => {
                if self.breaker.success() {
                    tracing::warn!("database reachable again: circuit closed");
                }
            }
        }
        if let Some(o) = &self.observer {
            o.observe(operation, started.elapsed(), result.is_ok());
        }
        result
    }

    /// One store call under the breaker, timed and observed. `f` starts the call on the inner
    /// store; an idempotent read is started again once after a lost connection (a pooled
    /// connection that died, which a fresh one replaces), but not after waiting out the pool
    /// timeout.
    async fn call<'a, T>(
        &'a self,
        operation: &'static str,
        kind: Call,
        f: impl Fn(&'a dyn Store) -> BoxFuture<'a, StoreResult<T>>,
    ) -> StoreResult<T> {
        match self.once(operation, f(&*self.inner)).await {
            Err(StoreError::Unreachable(e)) if kind == Call::Read && !e.contains("timed out") => {
                self.once(operation, f(&*self.inner)).await
            }
            other => other,
        }
    }
}

#[async_trait]
impl Store for GuardedStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn migrate(&self) -> StoreResult<()> {
        self.call("migrate", Write, |s| s.migrate()).await
    }
    async fn ping(&self) -> StoreResult<()> {
        // Health checks see the database itself, not the breaker's opinion of it.
        self.inner.ping().await
    }
    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }
    async fn close(&self) {
        self.inner.close().await;
    }
    async fn get_metric(&self, id: &str) -> StoreResult<Option<Stored>> {
        self.call("get_metric", Read, |s| s.get_metric(id)).await
    }
    async fn list_metrics(&self, query: &MetricQuery) -> StoreResult<Page<Stored>> {
        self.call("list_metrics", Read, |s| s.list_metrics(query)).await
    }
    async fn list_metrics_raw(&self, query: &MetricQuery) -> StoreResult<Page<RawStored>> {
        self.call("list_metrics", Read, |s| s.list_metrics_raw(query)).await
    }
    async fn save_metric(&self, metric: &Metric, actor: &str, expect: Expect) -> StoreResult<Saved> {
        self.call("save_metric", Write, |s| s.save_metric(metric, actor, expect))
            .await
    }
    async fn delete_metric(&self, id: &str, actor: &str, version: Option<i64>) -> StoreResult<()> {
        self.call("delete_metric", Write, |s| s.delete_metric(id, actor, version))
            .await
    }
    async fn metric_history(&self, id: &str, page: &PageRequest) -> StoreResult<Page<HistoryEntry>> {
        self.call("metric_history", Read, |s| s.metric_history(id, page)).await
    }
    async fn metric_version(&self, id: &str, version: i64) -> StoreResult<Option<HistoryEntry>> {
        self.call("metric_version", Read, |s| s.metric_version(id, version))
            .await
    }
    async fn get_entity(&self, kind: EntityKind, id: &str) -> StoreResult<Option<Stored>> {
        let op = by_kind(kind, ["get_metric", "get_domain", "get_objective"]);
        self.call(op, Read, |s| s.get_entity(kind, id)).await
    }
    async fn list_entities(&self, kind: EntityKind, page: &PageRequest) -> StoreResult<Page<Stored>> {
        let op = by_kind(kind, ["list_entities", "list_domains", "list_objectives"]);
        self.call(op, Read, |s| s.list_entities(kind, page)).await
    }
    async fn save_entity(&self, entity: &Entity, actor: &str, expect: Expect) -> StoreResult<Saved> {
        let op = by_kind(entity.kind(), ["save_entity", "save_domain", "save_objective"]);
        self.call(op, Write, |s| s.save_entity(entity, actor, expect)).await
    }
    async fn delete_entity(&self, kind: EntityKind, id: &str, version: Option<i64>) -> StoreResult<()> {
        let op = by_kind(kind, ["delete_entity", "delete_domain", "delete_objective"]);
        self.call(op, Write, |s| s.delete_entity(kind, id, version)).await
    }
    async fn import(&self, batch: &ImportBatch, actor: &str) -> StoreResult<ImportOutcome> {
        self.call("import", Write, |s| s.import(batch, actor)).await
    }
    async fn compact_search(&self) -> StoreResult<()> {
        self.call("compact_search", Write, |s| s.compact_search()).await
    }
    async fn build_search_blocks(&self, wait: bool) -> StoreResult<Option<BlockBuild>> {
        self.call("build_search_blocks", Write, |s| s.build_search_blocks(wait))
            .await
    }
    async fn catalog_info(&self) -> StoreResult<Map<String, Value>> {
        self.call("catalog_info", Read, |s| s.catalog_info()).await
    }
    async fn read_catalog(&self) -> StoreResult<Box<dyn CatalogReader>> {
        // Only opening the snapshot is guarded: the reader's batches run on its own connection.
        self.call("read_catalog", Read, |s| s.read_catalog()).await
    }
    async fn setting_or_init(&self, key: &str, candidate: &str) -> StoreResult<String> {
        self.call("setting_or_init", Write, |s| s.setting_or_init(key, candidate))
            .await
    }
    async fn count_users(&self) -> StoreResult<u64> {
        self.call("count_users", Read, |s| s.count_users()).await
    }
    async fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<User> {
        self.call("create_user", Write, |s| s.create_user(user, password_hash))
            .await
    }
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        self.call("get_user", Read, |s| s.get_user(user_id)).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        self.call("find_user", Read, |s| s.find_user(username)).await
    }
    async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
        self.call("list_users", Read, |s| s.list_users(page)).await
    }
    async fn update_user(&self, user_id: &str, change: &UserChange) -> StoreResult<User> {
        self.call("update_user", Write, |s| s.update_user(user_id, change))
            .await
    }
    async fn delete_user(&self, user_id: &str) -> StoreResult<()> {
        self.call("delete_user", Write, |s| s.delete_user(user_id)).await
    }
    async fn create_api_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()> {
        self.call("create_api_key", Write, |s| s.create_api_key(key, key_hash))
            .await
    }
    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        self.call("list_api_keys", Read, |s| s.list_api_keys(user_id)).await
    }
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.call("find_api_key", Read, |s| s.find_api_key(key_hash)).await
    }
    async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKey>> {
        self.call("get_api_key", Read, |s| s.get_api_key(key_id)).await
    }
    async fn revoke_api_key(&self, key_id: &str, now: i64) -> StoreResult<()> {
        self.call("revoke_api_key", Write, |s| s.revoke_api_key(key_id, now))
            .await
    }
    async fn insert_refresh_token(
        &self,
        token_hash: &str,
        family_id: &str,
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.call("insert_refresh_token", Write, |s| {
            s.insert_refresh_token(token_hash, family_id, user_id, expires_at)
        })
        .await
    }
    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<RefreshUse> {
        self.call("use_refresh_token", Write, |s| s.use_refresh_token(token_hash, now))
            .await
    }
    async fn refresh_token_user(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        self.call("refresh_token_user", Read, |s| s.refresh_token_user(token_hash, now))
            .await
    }
    async fn revoke_refresh_family(&self, token_hash: &str, now: i64) -> StoreResult<()> {
        self.call("revoke_refresh_family", Write, |s| {
            s.revoke_refresh_family(token_hash, now)
        })
        .await
    }
    async fn revoke_user_refresh_tokens(&self, user_id: &str, now: i64) -> StoreResult<()> {
        self.call("revoke_user_refresh_tokens", Write, |s| {
            s.revoke_user_refresh_tokens(user_id, now)
        })
        .await
    }
    async fn stats(&self) -> StoreResult<CatalogStats> {
        self.call("stats", Read, |s| s.stats()).await
    }
    async fn metric_facets(&self, filter: &MetricFilter, limit: u32) -> StoreResult<Vec<FacetCounts>> {
        self.call("metric_facets", Read, |s| s.metric_facets(filter, limit))
            .await
    }
}
