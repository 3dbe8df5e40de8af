//! The response cache: an in-process tier (moka, bounded in bytes) and, when `REDIS_URL` is set,
//! a Redis tier shared by every instance.
//!
//! Keys carry a generation number per collection they depend on. A committed write bumps those
//! generations (one Redis script: `INCR`s plus one `PUBLISH`), which makes every older key
//! unreachable at once, here and, as soon as the message arrives, on every other instance. No
//! key is ever searched for or deleted by pattern.

pub mod entry;
pub mod keys;
mod l2;
mod stats;

pub use entry::{CachedResponse, Encoding};
pub use keys::{Collection, ListGrain, ReadRoute};

use crate::config::CacheConfig;
use axum::http::{HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use l2::RedisTier;
use moka::future::Cache;
use moka::notification::RemovalCause;
use serde_json::{Value, json};
use stats::{Stats, bump};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Announces writes made outside any server (the CLI) to the running instances through Redis,
/// so their cached reads of those collections become stale at once rather than after their TTLs.
pub async fn announce_external_write(redis_url: &str, prefix: &str, collections: &[Collection]) -> Result<(), String> {
    let tier = RedisTier::new(redis_url, prefix, Duration::from_secs(2))?;
    tier.bump(collections)
        .await
        .map(|_| ())
        .ok_or_else(|| format!("could not reach Redis at {}", crate::config::redact_url(redis_url)))
}

/// Announces a user change made outside any server (the CLI), so every instance drops the
/// user's cached record and a revocation or lock-out takes effect at once.
pub async fn announce_external_user(redis_url: &str, prefix: &str, user_id: &str) -> Result<(), String> {
    let tier = RedisTier::new(redis_url, prefix, Duration::from_secs(2))?;
    if tier.publish_user(user_id).await {
        Ok(())
    } else {
        Err(format!(
            "could not reach Redis at {}",
            crate::config::redact_url(redis_url)
        ))
    }
}

/// Where a lookup's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    HitL1,
    HitL2,
    /// Computed now and stored.
    Miss,
    /// Computed now and not stored (not cacheable, or caching is off).
    Bypass,
}

impl Outcome {
    pub fn header(self) -> &'static str {
        match self {
            Outcome::HitL1 | Outcome::HitL2 => "HIT",
            Outcome::Miss => "MISS",
            Outcome::Bypass => "BYPASS",
        }
    }
}

/// A loader's verdict: `Ok` is stored, `Err` is answered once and forgotten.
pub type Loaded = Result<CachedResponse, CachedResponse>;

const SOURCE_NONE: u8 = 0;
const SOURCE_L2: u8 = 1;
const SOURCE_LOADED: u8 = 2;

/// The last warming run, for the statistics.
#[derive(Debug, Clone)]
pub struct WarmReport {
    pub at: DateTime<Utc>,
    pub urls: usize,
    pub duration_ms: u64,
}

struct Inner {
    config: CacheConfig,
    l1: Cache<String, Arc<CachedResponse>, foldhash::fast::RandomState>,
    /// The L1 keys filled under each collection, so a bump can remove exactly its entries.
    members: Arc<Members>,
    generations: Box<[AtomicU64]>,
    /// Generations bumped here that Redis may not have seen (it was unreachable, or answered
    /// with a lower value): the only ones a resync must raise.
    unshared: Box<[AtomicBool]>,
    redis: Option<RedisTier>,
    stats: Arc<Stats>,
    user_events: broadcast::Sender<String>,
    last_warm: Mutex<Option<WarmReport>>,
    max_entry_bytes: usize,
    /// Read counts of single-metric paths on this instance, for warming.
    hot: Mutex<HashMap<String, u64>>,
    /// Compressions running at once: a burst of misses must not grow the blocking pool (and
    /// the memory each of its threads keeps) beyond the cores that can do the work.
    compressions: Arc<tokio::sync::Semaphore>,
    /// Headers every answer of the HTTP layer carries, baked into stored answers so that a hit
    /// does not add them one by one (see [`CachedResponse::bake`]).
    fixed_headers: Vec<(HeaderName, HeaderValue)>,
}

/// L1 keys by the collections their entries depend on. Kept in step by the insert path and the
/// eviction listener, so it holds live entries only; a bump takes the collection's set and
/// removes those entries in the background. moka's own `invalidate_entries_if` was the first
/// way, but it tests every pending predicate on reads and keeps predicates until a full scan:
/// under steady writes reads slowed as a soak went on. Without eager removal, stale entries
/// (unreachable, since keys carry generations) filled the tier until evicted, and RSS grew
/// from 70 to 380 MB in a steady run.
#[derive(Default)]
struct Members(Mutex<HashMap<Collection, HashSet<String>>>);

impl Members {
    fn add(&self, key: &str, generations: &[(Collection, u64)]) {
        if let Ok(mut m) = self.0.lock() {
            for (c, _) in generations {
                m.entry(*c).or_default().insert(key.to_owned());
            }
        }
    }

    fn forget(&self, key: &str, generations: &[(Collection, u64)]) {
        if let Ok(mut m) = self.0.lock() {
            for (c, _) in generations {
                if let Some(set) = m.get_mut(c) {
                    set.remove(key);
                }
            }
        }
    }

    fn take(&self, collections: &[Collection]) -> Vec<String> {
        let Ok(mut m) = self.0.lock() else { return Vec::new() };
        collections.iter().filter_map(|c| m.remove(c)).flatten().collect()
    }
}

/// moka's bookkeeping per entry beyond the key and value (entry info, deque nodes, hash-table
/// slot, the key's `Arc`), rounded up: the bound is on memory, so erring high is the safe side.
const L1_ENTRY_OVERHEAD: usize = 512;
/// One key's place in one `Members` set (its `String` and the set's slot, with spare capacity).
const MEMBERSHIP_OVERHEAD: usize = 64;

/// What one L1 entry costs, as the byte bound counts it. The key is held once by moka and once
/// more per collection in `Members`; counting only bodies once let 4,000 entries with 60 KB
/// query strings take 800 MB while the tier reported 7 MB.
fn l1_weight(key: &str, entry: &CachedResponse) -> u32 {
    let memberships = entry.generations.len();
    let key_bytes = key.len() * (1 + memberships) + MEMBERSHIP_OVERHEAD * memberships;
    u32::try_from(entry.weight() + key_bytes + L1_ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// Distinct single-metric paths remembered for warming; past it, counts are halved. Warming
/// takes the 50 most read: ten times that is room enough for ageing to tell steady favourites
/// from one-off reads.
const HOT_CAPACITY: usize = 512;
/// Longer paths are never noted (a metric id has at most 100 characters).
const HOT_PATH_MAX: usize = 160;
/// Hits noted per thread: one in this many (see [`ResponseCache::note_hit`]).
const HIT_SAMPLE: u64 = 16;

/// Cheap to clone; every clone is the same cache.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

impl ResponseCache {
    /// `fixed_headers`: what every answer carries on its way out, whatever it is (empty: none).
    pub fn new(config: &CacheConfig, fixed_headers: Vec<(HeaderName, HeaderValue)>) -> Result<ResponseCache, String> {
        let stats = Arc::new(Stats::default());
        let capacity = config.l1_capacity_mb.saturating_mul(1024 * 1024);
        let evictions = stats.clone();
        let members: Arc<Members> = Arc::default();
        let leaving = members.clone();
        let l1 = Cache::builder()
            .max_capacity(capacity)
            .weigher(|k: &String, v: &Arc<CachedResponse>| l1_weight(k, v))
            .time_to_live(Duration::from_secs(config.l1_ttl_s))
            .eviction_listener(move |k: Arc<String>, v: Arc<CachedResponse>, cause| {
                if cause == RemovalCause::Size {
                    bump(&evictions.evictions);
                }
                leaving.forget(&k, &v.generations);
            })
            .build_with_hasher(foldhash::fast::RandomState::default());
        let redis = match (&config.redis_url, config.enabled) {
            (Some(url), true) => Some(RedisTier::new(
                url,
                &config.redis_prefix,
                Duration::from_millis(config.redis_timeout_ms),
            )?),
            _ => None,
        };
        Ok(ResponseCache {
            inner: Arc::new(Inner {
                config: config.clone(),
                l1,
                members,
                generations: (0..Collection::SLOTS).map(|_| AtomicU64::new(0)).collect(),
                unshared: (0..Collection::SLOTS).map(|_| AtomicBool::new(false)).collect(),
                redis,
                stats,
                user_events: broadcast::channel(1024).0,
                last_warm: Mutex::new(None),
                // One entry may take at most an eighth of the tier.
                max_entry_bytes: usize::try_from(capacity / 8).unwrap_or(usize::MAX),
                hot: Mutex::new(HashMap::new()),
                compressions: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, usize::from),
                )),
                fixed_headers,
            }),
        })
    }

    pub fn enabled(&self) -> bool {
        self.inner.config.enabled
    }

    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The headers to bake into stored answers (see [`CachedResponse::bake`]).
    pub fn fixed_headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.inner.fixed_headers
    }

    /// A permit to compress one body on the blocking pool.
    pub async fn compression_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.compressions.clone().acquire_owned().await.ok()
    }

    pub fn max_entry_bytes(&self) -> usize {
        self.inner.max_entry_bytes
    }

    pub fn has_redis(&self) -> bool {
        self.inner.redis.is_some()
    }

    fn generation(&self, c: Collection) -> u64 {
        self.inner.generations[c.index()].load(Ordering::Acquire)
    }

    /// Raises a local counter to at least `value`; true when it moved.
    fn raise_local(&self, c: Collection, value: u64) -> bool {
        self.inner.generations[c.index()].fetch_max(value, Ordering::AcqRel) < value
    }

    /// The key of one request and the generations it was built with; `None` when it would be
    /// longer than `MAX_KEY_BYTES` (such a request is not cached). `path` may be spelled any way
    /// the router accepts; the key holds its canonical form.
    pub fn key(
        &self,
        route: &ReadRoute,
        path: &str,
        query: &str,
        variant: &str,
    ) -> Option<(String, Vec<(Collection, u64)>)> {
        let path = keys::canonical_path(path);
        if path.len() + query.len() + variant.len() > keys::MAX_KEY_BYTES {
            return None;
        }
        let generations: Vec<(Collection, u64)> = route
            .collections(&path, query)
            .into_iter()
            .map(|c| (c, self.generation(c)))
            .collect();
        let mut key = String::with_capacity(path.len() + query.len() + 40);
        let mut digits = itoa::Buffer::new();
        for (c, g) in &generations {
            c.push_to(&mut key);
            key.push('.');
            key.push_str(digits.format(*g));
            key.push(':');
        }
        key.push_str(&path);
        if !query.is_empty() {
            key.push('?');
            key.push_str(query);
        }
        if !variant.is_empty() {
            key.push('#');
            key.push_str(variant);
        }
        Some((key, generations))
    }

    /// The L1 entry for `key`, counted as a hit; `None` leaves the counting to `lookup`. The
    /// fast path on its own, so that a hit's future does not carry the loading machinery.
    pub async fn hit(&self, route: &ReadRoute, key: &str) -> Option<Arc<CachedResponse>> {
        let hit = self.inner.l1.get(key).await?;
        bump(&self.inner.stats.l1_hits);
        bump(&self.inner.stats.route(route).hits);
        Some(hit)
    }

    /// The cached answer for `key`, or `load`'s, after [`ResponseCache::hit`] found nothing.
    /// Concurrent misses on one key run `load` once; the others wait and share its answer (an
    /// entry stored since the fast path missed is returned as a hit by the entry API).
    pub async fn lookup(
        &self,
        route: &ReadRoute,
        key: String,
        load: impl Future<Output = Loaded>,
    ) -> (Arc<CachedResponse>, Outcome) {
        let counters = self.inner.stats.route(route);
        let source = AtomicU8::new(SOURCE_NONE);
        let l2 = self.inner.redis.as_ref().filter(|r| r.usable());
        let result = self
            .inner
            .l1
            .entry(key.clone())
            .or_try_insert_with(async {
                if let Some(redis) = l2 {
                    match redis
                        .get(&key)
                        .await
                        .as_deref()
                        .and_then(CachedResponse::decode)
                        .map(|e| e.bake(&self.inner.fixed_headers))
                    {
                        Some(found) => {
                            source.store(SOURCE_L2, Ordering::Release);
                            self.inner.members.add(&key, &found.generations);
                            return Ok(Arc::new(found));
                        }
                        None => bump(&self.inner.stats.l2_misses),
                    }
                }
                source.store(SOURCE_LOADED, Ordering::Release);
                let loaded = load.await?;
                if loaded.body.len() > self.inner.max_entry_bytes {
                    return Err(loaded);
                }
                self.inner.members.add(&key, &loaded.generations);
                let loaded = Arc::new(loaded);
                if l2.is_some() {
                    self.store_l2(&key, &loaded);
                }
                Ok(loaded)
            })
            .await;
        match result {
            Ok(entry) if entry.is_fresh() && source.load(Ordering::Acquire) == SOURCE_L2 => {
                bump(&self.inner.stats.l2_hits);
                bump(&counters.hits);
                (entry.into_value(), Outcome::HitL2)
            }
            Ok(entry) if entry.is_fresh() => {
                bump(&self.inner.stats.misses);
                bump(&counters.misses);
                (entry.into_value(), Outcome::Miss)
            }
            // Another request loaded it while this one waited: it was served from the cache.
            Ok(entry) => {
                bump(&self.inner.stats.l1_hits);
                bump(&counters.hits);
                (entry.into_value(), Outcome::HitL1)
            }
            Err(uncacheable) => {
                bump(&self.inner.stats.bypasses);
                bump(&counters.bypasses);
                (uncacheable, Outcome::Bypass)
            }
        }
    }

    /// Counts a request that did not use the cache at all.
    pub fn count_bypass(&self, route: Option<&ReadRoute>) {
        bump(&self.inner.stats.bypasses);
        if let Some(r) = route {
            bump(&self.inner.stats.route(r).bypasses);
        }
    }

    /// Written in the background: the response does not wait for Redis.
    fn store_l2(&self, key: &str, entry: &Arc<CachedResponse>) {
        let this = self.clone();
        let key = key.to_owned();
        let bytes = entry.encode();
        let ttl = self.l2_ttl(&key);
        tokio::spawn(async move {
            if let Some(redis) = &this.inner.redis {
                redis.set(&key, bytes, ttl).await;
            }
        });
    }

    /// `CACHE_TTL` capped by `CACHE_MAX_TTL`, minus up to 10 % jitter derived from the key, so
    /// entries filled together do not all expire together.
    fn l2_ttl(&self, key: &str) -> u64 {
        let ttl = self.inner.config.l2_ttl_s();
        let spread = ttl / 10;
        if spread == 0 {
            return ttl;
        }
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        ttl - h % (spread + 1)
    }

    /// After a committed write: makes every key depending on `collections` stale, here at
    /// once and on other instances when they receive the message.
    pub async fn invalidate(&self, collections: &[Collection]) {
        if collections.is_empty() {
            return;
        }
        bump(&self.inner.stats.invalidations);
        // Read before the bump: this instance's own message may raise the slots while it waits.
        let before: Vec<u64> = collections.iter().map(|c| self.generation(*c)).collect();
        let shared = match &self.inner.redis {
            Some(redis) => redis.bump(collections).await,
            None => None,
        };
        let mut diverged = false;
        for (i, c) in collections.iter().enumerate() {
            let slot = &self.inner.generations[c.index()];
            match shared.as_ref().and_then(|v| v.get(i)) {
                // Redis numbered this write past everything this instance had used.
                Some(&remote) if remote > before[i] => {
                    slot.fetch_max(remote, Ordering::AcqRel);
                }
                // No answer, or Redis is behind (it lost data, or missed bumps made without
                // it): strictly past whatever this instance used, raised in Redis later.
                _ => {
                    diverged = true;
                    self.inner.unshared[c.index()].store(true, Ordering::Release);
                    slot.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        if let Some(redis) = &self.inner.redis
            && diverged
        {
            redis.resync_needed.store(true, Ordering::Release);
        }
        self.drop_stale(collections);
    }

    /// Frees, in the background, the memory of entries no key can reach any more.
    fn drop_stale(&self, collections: &[Collection]) {
        let keys = self.inner.members.take(collections);
        if keys.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            for key in keys {
                this.inner.l1.invalidate(&key).await;
            }
        });
    }

    /// Applies generations learned from Redis (a message or a catch-up read).
    fn apply_remote(&self, values: &[(Collection, u64)]) {
        let moved: Vec<Collection> = values
            .iter()
            .filter(|(c, v)| self.raise_local(*c, *v))
            .map(|(c, _)| *c)
            .collect();
        self.drop_stale(&moved);
    }

    /// A user's status or role changed: every instance drops it from its authentication cache.
    pub async fn announce_user(&self, user_id: &str) {
        let _ = self.inner.user_events.send(user_id.to_owned());
        if let Some(redis) = &self.inner.redis {
            redis.publish_user(user_id).await;
        }
    }

    /// User ids to forget, from this instance and (through Redis) every other one.
    pub fn user_events(&self) -> broadcast::Receiver<String> {
        self.inner.user_events.subscribe()
    }

    /// Takes the warming lock (always granted without Redis: there is one instance to warm).
    pub async fn warm_lock(&self, owner: &str, ttl: Duration) -> bool {
        match &self.inner.redis {
            Some(redis) => redis.try_lock("warm", owner, ttl).await,
            None => true,
        }
    }

    /// Remembers a successful read of one entity path, for warming the most read ones. Only
    /// reads that found their entity should be noted (the caller knows the status); spellings
    /// of one path count as one.
    pub fn note_read(&self, path: &str) {
        self.note(path, 1);
    }

    /// [`ResponseCache::note_read`] for a cache hit: one hit in `HIT_SAMPLE` per thread is
    /// noted, weighted to match, so the ranking is kept and a hit seldom takes the lock (every
    /// cached single-metric read took it, and with it the line the other core had written).
    pub fn note_hit(&self, path: &str) {
        thread_local! {
            static SEEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        }
        let due = SEEN.with(|seen| {
            let n = seen.get().wrapping_add(1);
            seen.set(n);
            n % HIT_SAMPLE == 0
        });
        if due {
            self.note(path, HIT_SAMPLE);
        }
    }

    fn note(&self, path: &str, weight: u64) {
        let path = keys::canonical_path(path);
        if path.len() > HOT_PATH_MAX {
            return;
        }
        let Ok(mut hot) = self.inner.hot.lock() else { return };
        if let Some(n) = hot.get_mut(path.as_ref()) {
            *n += weight;
            return;
        }
        if hot.len() >= HOT_CAPACITY {
            // Ageing: old favourites fade, one-off reads drop out.
            hot.retain(|_, n| {
                *n /= 2;
                *n > 0
            });
        }
        if hot.len() < HOT_CAPACITY {
            hot.insert(path.into_owned(), weight);
        }
    }

    /// The `n` most read paths noted so far.
    pub fn hot_paths(&self, n: usize) -> Vec<String> {
        let Ok(hot) = self.inner.hot.lock() else {
            return Vec::new();
        };
        let mut all: Vec<(&String, &u64)> = hot.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        all.into_iter().take(n).map(|(p, _)| p.clone()).collect()
    }

    /// Waits (bounded) until the Redis tier is usable; returns at once without Redis.
    pub async fn wait_for_shared_tier(&self, limit: Duration) {
        let Some(redis) = &self.inner.redis else { return };
        let deadline = tokio::time::Instant::now() + limit;
        while !redis.usable() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn record_warm(&self, report: WarmReport) {
        if let Ok(mut last) = self.inner.last_warm.lock() {
            *last = Some(report);
        }
    }

    /// `up`, `degraded` or `down` with a reason for health checks; `None` without Redis.
    pub fn redis_status(&self) -> Option<(&'static str, Option<String>)> {
        self.inner.redis.as_ref().map(RedisTier::status)
    }

    pub async fn redis_ping(&self) -> Option<bool> {
        match &self.inner.redis {
            Some(r) => Some(r.ping().await),
            None => None,
        }
    }

    /// Applies moka's pending bookkeeping, so entry counts and sizes read next are current.
    pub async fn settle(&self) {
        self.inner.l1.run_pending_tasks().await;
    }

    pub fn stats(&self) -> Value {
        let mut out = self.inner.stats.to_json();
        let l1 = &self.inner.l1;
        out["enabled"] = json!(self.inner.config.enabled);
        out["l1"]["entries"] = json!(l1.entry_count());
        out["l1"]["bytes"] = json!(l1.weighted_size());
        out["l1"]["capacity_bytes"] = json!(self.inner.config.l1_capacity_mb * 1024 * 1024);
        out["l1"]["ttl_s"] = json!(self.inner.config.l1_ttl_s);
        let (status, reason) = self.redis_status().unwrap_or(("disabled", None));
        out["l2"]["status"] = json!(status);
        out["l2"]["reason"] = json!(reason);
        out["l2"]["breaker"] = json!(match &self.inner.redis {
            Some(r) if r.breaker_open() => "open",
            Some(_) => "closed",
            None => "none",
        });
        out["l2"]["ttl_s"] = json!(self.inner.config.l2_ttl_s());
        out["generations"] = Value::Object(
            Collection::NAMED
                .iter()
                .map(|c| (c.to_string(), json!(self.generation(*c))))
                .collect(),
        );
        let bumps =
            |is: fn(&Collection) -> bool| -> u64 { Collection::every().filter(is).map(|c| self.generation(c)).sum() };
        let metric_bumps = bumps(|c| matches!(c, Collection::MetricShard(_)));
        out["metric_shards"] = json!({ "count": keys::METRIC_SHARDS, "bumps": metric_bumps });
        let list_bumps = bumps(|c| matches!(c, Collection::ListShard(_)));
        out["list_shards"] = json!({ "count": keys::LIST_SHARDS, "bumps": list_bumps });
        let hot = self.inner.hot.lock().map_or(0, |h| h.len());
        out["hot_paths"] = json!({ "count": hot, "capacity": HOT_CAPACITY });
        out["last_warm"] = match self.inner.last_warm.lock().ok().and_then(|l| l.clone()) {
            Some(w) => json!({ "at": w.at.to_rfc3339(), "urls": w.urls, "duration_ms": w.duration_ms }),
            None => Value::Null,
        };
        out
    }

    /// Runs until the process ends: keeps the invalidation subscription alive, catching up on
    /// generations after every (re)connect, and raising them after a local-only bump.
    pub async fn follow_invalidations(self) {
        let Some(redis) = &self.inner.redis else { return };
        let mut backoff = Duration::from_millis(100);
        // A cluster's nodes take turns: when the one followed goes away, the next may be up.
        let mut node = 0;
        loop {
            match self.subscribe_once(redis, &redis.nodes()[node]).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => tracing::warn!(error = %e, node, "invalidation subscription lost"),
            }
            redis.subscribed.store(false, Ordering::Release);
            node = (node + 1) % redis.nodes().len();
            // Straight on to the next node; a pause once every node was tried.
            if node == 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }

    async fn subscribe_once(&self, redis: &RedisTier, node: &redis::Client) -> Result<(), String> {
        let connect = node.get_async_pubsub();
        let mut pubsub = tokio::time::timeout(Duration::from_secs(2), connect)
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        pubsub.subscribe(redis.channel()).await.map_err(|e| e.to_string())?;
        // Subscribed first, then caught up: nothing published in between is missed.
        self.catch_up(redis).await?;
        redis.subscribed.store(true, Ordering::Release);
        tracing::info!("invalidation subscription live");
        let mut messages = pubsub.on_message();
        let mut resync = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return Err("connection closed".into()) };
                    let payload: String = message.get_payload().unwrap_or_default();
                    self.handle_message(&payload);
                }
                _ = resync.tick() => {
                    if redis.resync_needed.load(Ordering::Acquire) {
                        self.catch_up(redis).await?;
                    }
                }
            }
        }
    }

    /// Reads the shared generations; if this instance bumped any without Redis, raises those
    /// shared ones past its own first.
    async fn catch_up(&self, redis: &RedisTier) -> Result<(), String> {
        if redis.resync_needed.swap(false, Ordering::AcqRel) {
            let unshared: Vec<Collection> = Collection::every()
                .filter(|c| self.inner.unshared[c.index()].swap(false, Ordering::AcqRel))
                .collect();
            let locals: Vec<(Collection, u64)> = unshared.iter().map(|c| (*c, self.generation(*c))).collect();
            if !locals.is_empty() {
                let Some(raised) = redis.raise(&locals).await else {
                    for c in &unshared {
                        self.inner.unshared[c.index()].store(true, Ordering::Release);
                    }
                    redis.resync_needed.store(true, Ordering::Release);
                    return Err("could not raise generations".into());
                };
                let values: Vec<(Collection, u64)> = unshared.iter().copied().zip(raised).collect();
                self.apply_remote(&values);
            }
        }
        let values = redis.generations().await.ok_or("could not read generations")?;
        self.apply_remote(&values);
        Ok(())
    }

    fn handle_message(&self, payload: &str) {
        if let Some(rest) = payload.strip_prefix("g ") {
            let values: Vec<(Collection, u64)> = rest
                .split(' ')
                .filter_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    Some((Collection::parse(name)?, value.parse().ok()?))
                })
                .collect();
            self.apply_remote(&values);
        } else if let Some(user) = payload.strip_prefix("u ") {
            let _ = self.inner.user_events.send(user.to_owned());
        }
    }
}
