//! The shared tier: Redis entries, generation counters and the invalidation channel.
//!
//! Every command is bounded by `REDIS_TIMEOUT_MS` and goes through a circuit breaker, so a slow
//! or absent Redis costs a request at most one short wait, and nothing while the breaker is open.
//!
//! `REDIS_URL` names one server or, as `redis+cluster://`, a Redis Cluster. The key layout is the
//! same for both: the generation counters share one hash tag, so the scripts that bump several of
//! them run on one node, while entries carry none and spread over the slots.

use super::keys::Collection;
use crate::config::RedisTarget;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, Cmd, ErrorKind, Pipeline, RedisFuture, ServerErrorKind, Value};
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

/// One server's reconnecting connection, or a cluster connection that routes each command to
/// the node owning its key (and follows slot moves and node restarts on its own).
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

pub struct RedisTier {
    /// Where the invalidation subscriber may connect: the server, or every listed cluster node
    /// (a cluster delivers each `PUBLISH` to every node, so any one of them will do).
    nodes: Vec<redis::Client>,
    conn: Connection,
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
        let connect_timeout = timeout.max(Duration::from_millis(250));
        let open = |url: &str| redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"));
        let (nodes, conn) = match RedisTarget::parse(url)? {
            RedisTarget::Single(url) => {
                let client = open(&url)?;
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(timeout))
                    .set_connection_timeout(Some(connect_timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                let conn =
                    ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| e.to_string())?;
                (vec![client], Connection::Single(conn))
            }
            RedisTarget::Cluster(urls) => {
                let nodes = urls.iter().map(|u| open(u)).collect::<Result<Vec<_>, _>>()?;
                let cluster = ClusterClient::builder(urls)
                    .retries(1)
                    .max_retry_wait(1000)
                    .build()
                    .map_err(|e| format!("REDIS_URL: {e}"))?;
                // Pending: like the single server's lazy manager, start does not wait for Redis.
                let config = ClusterConfig::new()
                    .set_connection_timeout(connect_timeout)
                    .set_response_timeout(timeout);
                let conn = cluster.get_pending_async_connection_with_config(config);
                (nodes, Connection::Cluster(conn))
            }
        };
        Ok(RedisTier {
            nodes,
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

    /// No common hash tag, so a cluster spreads entries over its slots. Not `resp:` as before the
    /// counters moved under a hash tag: the new counters start again from 0, and a key built
    /// from them must not find an entry stored under an old counter of the same value.
    pub fn entry_key(&self, key: &str) -> String {
        format!("{}:entry:{key}", self.prefix)
    }

    /// One hash tag for every counter: `BUMP` and `RAISE` touch several in one script, which a
    /// cluster only runs when all its keys live in one slot.
    fn generation_key(&self, c: Collection) -> String {
        format!("{{{}:gen}}:{c}", self.prefix)
    }

    /// The subscriber's candidates, in the order it tries them.
    pub fn nodes(&self) -> &[redis::Client] {
        &self.nodes
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
        let keys = collections.iter().map(|c| self.generation_key(*c)).collect();
        let args = std::iter::once(self.channel())
            .chain(collections.iter().map(Collection::to_string))
            .collect();
        self.run_script("generation bump", &self.bump_script, BUMP, keys, args)
            .await
    }

    /// Moves the shared counters past `locals` (see `RAISE`) and announces them.
    pub async fn raise(&self, locals: &[(Collection, u64)]) -> Option<Vec<u64>> {
        let keys = locals.iter().map(|(c, _)| self.generation_key(*c)).collect();
        let args = std::iter::once(self.channel())
            .chain(locals.iter().map(|(c, v)| format!("{c}={v}")))
            .collect();
        self.run_script("generation raise", &self.raise_script, RAISE, keys, args)
            .await
    }

    /// `EVALSHA`, then `EVAL` if the node does not know the script yet. Not the crate's
    /// `SCRIPT LOAD` fallback: in a cluster that goes to every node and fails while any one is
    /// down, although the script only needs the node owning the counters.
    async fn run_script(
        &self,
        what: &str,
        script: &redis::Script,
        source: &'static str,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Option<Vec<u64>> {
        let mut conn = self.conn.clone();
        let hash = script.get_hash().to_owned();
        self.call(what, async move {
            let mut evalsha = redis::cmd("EVALSHA");
            evalsha.arg(hash).arg(keys.len()).arg(&keys).arg(&args);
            match evalsha.query_async::<Vec<u64>>(&mut conn).await {
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    let mut eval = redis::cmd("EVAL");
                    eval.arg(source).arg(keys.len()).arg(&keys).arg(&args);
                    eval.query_async::<Vec<u64>>(&mut conn).await
                }
                other => other,
            }
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
