//! The shared tier: Redis entries, generation counters and the invalidation channel.
//!
//! Every command is bounded by `REDIS_TIMEOUT_MS` and goes through a circuit breaker, so a slow
//! or absent Redis costs a request at most one short wait, and nothing while the breaker is open.

use super::keys::Collection;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Opened by 3 consecutive failures, then skips Redis for 2 s.
type Breaker = crate::breaker::Breaker<3, 2000>;

/// Increments the given generation counters and announces the new values in one round trip.
/// KEYS: counters; ARGV[1]: channel; ARGV[2..]: collection names (same order as KEYS).
const BUMP: &str = r"
local parts = {}
local values = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('INCR', key)
  values[i] = v
  parts[i] = ARGV[i + 1] .. '=' .. v
end
redis.call('PUBLISH', ARGV[1], 'g ' .. table.concat(parts, ' '))
return values
";

/// After this instance bumped generations locally (Redis unreachable), moves every counter past
/// both its value and ours, so no key built during the outage can be reused with other content.
/// KEYS: counters; ARGV[1]: channel; ARGV[2..]: name=local pairs.
const RAISE: &str = r"
local parts = {}
local values = {}
for i, key in ipairs(KEYS) do
  local name, localv = string.match(ARGV[i + 1], '([^=]+)=(%d+)')
  local current = tonumber(redis.call('GET', key) or '0')
  local v = math.max(current, tonumber(localv)) + 1
  redis.call('SET', key, v)
  values[i] = v
  parts[i] = name .. '=' .. v
end
redis.call('PUBLISH', ARGV[1], 'g ' .. table.concat(parts, ' '))
return values
";

pub struct RedisTier {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    breaker: Breaker,
    /// The invalidation subscription is live: other instances' writes reach us.
    pub(super) subscribed: AtomicBool,
    /// We bumped generations without Redis; until they are raised there, L2 is not trusted.
    pub(super) resync_needed: AtomicBool,
    bump_script: redis::Script,
    raise_script: redis::Script,
}

impl RedisTier {
    /// Prepares the connection without waiting for Redis: it may be down at start.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<RedisTier, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(250))))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| e.to_string())?;
        Ok(RedisTier {
            client,
            conn,
            prefix: prefix.to_owned(),
            timeout,
            breaker: Breaker::default(),
            subscribed: AtomicBool::new(false),
            resync_needed: AtomicBool::new(false),
            bump_script: redis::Script::new(BUMP),
            raise_script: redis::Script::new(RAISE),
        })
    }

    pub fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }

    pub fn entry_key(&self, key: &str) -> String {
        format!("{}:resp:{key}", self.prefix)
    }

    fn generation_key(&self, c: Collection) -> String {
        format!("{}:gen:{c}", self.prefix)
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Runs one command under the breaker and the timeout; `None` on any failure.
    async fn call<T>(&self, what: &str, f: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        if !self.breaker.allow() {
            return None;
        }
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => {
                self.breaker.success();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(format!("{what}: {e}"));
                None
            }
            Err(_) => {
                self.failed(format!("{what}: no answer within {} ms", self.timeout.as_millis()));
                None
            }
        }
    }

    fn failed(&self, error: String) {
        tracing::warn!(%error, "redis call failed");
        self.breaker.failure(&error);
    }

    /// Entries are read and written only while invalidations are known to reach this instance.
    pub fn usable(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
            && !self.resync_needed.load(Ordering::Acquire)
            && !self.breaker.is_open()
    }

    pub fn status(&self) -> (&'static str, Option<String>) {
        let last = self.breaker.last_error();
        if self.breaker.is_open() {
            ("down", last.or_else(|| Some("circuit breaker open".into())))
        } else if !self.subscribed.load(Ordering::Acquire) {
            (
                "down",
                Some(last.unwrap_or_else(|| "invalidation subscription not connected".into())),
            )
        } else if self.resync_needed.load(Ordering::Acquire) {
            (
                "degraded",
                Some("generations bumped while Redis was unreachable; resync pending".into()),
            )
        } else {
            ("up", None)
        }
    }

    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut conn = self.conn.clone();
        let key = self.entry_key(key);
        self.call("GET", async move { conn.get::<_, Option<Vec<u8>>>(key).await })
            .await
            .flatten()
    }

    pub async fn set(&self, key: &str, value: Vec<u8>, ttl_s: u64) {
        let mut conn = self.conn.clone();
        let key = self.entry_key(key);
        self.call("SET", async move { conn.set_ex::<_, _, ()>(key, value, ttl_s).await })
            .await;
    }

    /// `INCR` of each counter plus one `PUBLISH`, atomically; the new values in order.
    pub async fn bump(&self, collections: &[Collection]) -> Option<Vec<u64>> {
        let mut script = self.bump_script.prepare_invoke();
        for c in collections {
            script.key(self.generation_key(*c));
        }
        script.arg(self.channel());
        for c in collections {
            script.arg(c.to_string());
        }
        let mut conn = self.conn.clone();
        self.call("generation bump", async move {
            script.invoke_async::<Vec<u64>>(&mut conn).await
        })
        .await
    }

    /// Moves the shared counters past `locals` (see `RAISE`) and announces them.
    pub async fn raise(&self, locals: &[(Collection, u64)]) -> Option<Vec<u64>> {
        let mut script = self.raise_script.prepare_invoke();
        for (c, _) in locals {
            script.key(self.generation_key(*c));
        }
        script.arg(self.channel());
        for (c, v) in locals {
            script.arg(format!("{c}={v}"));
        }
        let mut conn = self.conn.clone();
        self.call("generation raise", async move {
            script.invoke_async::<Vec<u64>>(&mut conn).await
        })
        .await
    }

    /// The shared counters of every collection (0 for those never bumped).
    pub async fn generations(&self) -> Option<Vec<(Collection, u64)>> {
        let keys: Vec<String> = Collection::every().map(|c| self.generation_key(c)).collect();
        let mut conn = self.conn.clone();
        let values = self
            .call("MGET generations", async move {
                conn.mget::<_, Vec<Option<u64>>>(keys).await
            })
            .await?;
        Some(
            Collection::every()
                .zip(values)
                .map(|(c, v)| (c, v.unwrap_or(0)))
                .collect(),
        )
    }

    /// Tells every instance to drop a user from its authentication cache.
    pub async fn publish_user(&self, user_id: &str) -> bool {
        let mut conn = self.conn.clone();
        let channel = self.channel();
        let message = format!("u {user_id}");
        self.call("PUBLISH user", async move {
            conn.publish::<_, _, ()>(channel, message).await
        })
        .await
        .is_some()
    }

    /// `SET NX PX`: true when this instance now holds `name` for `ttl`.
    pub async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> bool {
        let mut conn = self.conn.clone();
        let key = format!("{}:lock:{name}", self.prefix);
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(owner).arg("NX").arg("PX").arg(ttl.as_millis() as u64);
        self.call(
            "lock",
            async move { cmd.query_async::<Option<String>>(&mut conn).await },
        )
        .await
        .flatten()
        .is_some()
    }

    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        self.call("PING", async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await
        .is_some()
    }
}
