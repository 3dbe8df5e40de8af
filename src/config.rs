//! Typed configuration from flags and environment (`.env` is read first if present).

use clap::Args;
use std::fmt;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./mdl-data/mdl.db";

/// sqlx retries a refused connection until the acquire deadline, so with the database down the
/// first request waits this long; the design allows 1 s. A healthy pool hands out a connection
/// in microseconds, and one busy for 500 ms is overloaded: failing beats queueing.
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 500;

/// The help heading of the database flags, wherever they are shown.
pub const DB_HEADING: &str = "Database";

/// Database settings, shared by every subcommand.
#[derive(Clone, Args)]
pub struct DbConfig {
    // Ids of their own: global arguments do not reach a subcommand with an argument of the same
    // id, and `serve` has an `idle_timeout_s` of its own.
    /// `sqlite://PATH` (created on first use) or `postgres://USER@HOST/DB`.
    #[arg(id = "db_url", long = "database-url", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true, help_heading = DB_HEADING)]
    pub url: String,
    /// Connections kept open even when idle.
    #[arg(id = "db_pool_min", long = "db-pool-min", env = "DB_POOL_MIN", default_value_t = 0, global = true, help_heading = DB_HEADING)]
    pub pool_min: u32,
    /// Most connections open at once.
    #[arg(id = "db_pool_max", long = "db-pool-max", env = "DB_POOL_MAX", default_value_t = 10, global = true, help_heading = DB_HEADING)]
    pub pool_max: u32,
    /// A statement running longer is cancelled (PostgreSQL `statement_timeout`; SQLite busy wait).
    #[arg(
        id = "db_statement_timeout_ms", long = "db-statement-timeout-ms",
        env = "DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true,
        help_heading = DB_HEADING
    )]
    pub statement_timeout_ms: u64,
    /// How long start-up waits for the database before giving up.
    #[arg(
        id = "db_connect_timeout_s", long = "db-connect-timeout-s",
        env = "DB_CONNECT_TIMEOUT_S",
        default_value_t = 30,
        global = true,
        help_heading = DB_HEADING
    )]
    pub connect_timeout_s: u64,
    /// Longest wait for a pooled PostgreSQL connection before the request fails with 503.
    #[arg(
        id = "db_acquire_timeout_ms", long = "db-acquire-timeout-ms",
        env = "DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = DEFAULT_ACQUIRE_TIMEOUT_MS,
        global = true,
        help_heading = DB_HEADING
    )]
    pub acquire_timeout_ms: u64,
    /// Idle connections above `DB_POOL_MIN` are closed after this many seconds.
    #[arg(
        id = "db_idle_timeout_s", long = "db-idle-timeout-s",
        env = "DB_IDLE_TIMEOUT_S",
        default_value_t = 600,
        global = true,
        help_heading = DB_HEADING
    )]
    pub idle_timeout_s: u64,
    /// Most matches a search counts when asked (`count=true`); past it the answer says
    /// "at least this many" (`total_capped`).
    #[arg(
        id = "db_search_count_cap", long = "search-count-cap",
        env = "MDL_SEARCH_COUNT_CAP",
        default_value_t = DEFAULT_SEARCH_COUNT_CAP,
        global = true,
        help_heading = DB_HEADING
    )]
    pub search_count_cap: u64,
    /// Matches a search tier must have for a page near the start to walk the name order,
    /// testing each row, instead of reading the matches (SQLite counts up to it per search,
    /// unless the search blocks show the words in every block from the first; see
    /// docs/design.md, "Full-text search"). Also the most matches, by the counters, that a
    /// list filtered by an owner or tags reads and sorts instead of walking (docs/design.md,
    /// "Pagination").
    #[arg(
        id = "db_search_dense_at", long = "search-dense-at",
        env = "MDL_SEARCH_DENSE_AT",
        default_value_t = DEFAULT_SEARCH_DENSE_AT,
        global = true,
        help_heading = DB_HEADING
    )]
    pub search_dense_at: u32,
    /// Metrics per search block (which words occur in which stretch of the name order; see
    /// docs/design.md, "Search blocks"); by default 64 on SQLite and 256 on PostgreSQL. 0
    /// switches the blocks off for this process: its searches and builds leave them alone
    /// (its writes still keep them).
    #[arg(
        id = "db_search_block_rows", long = "search-block-rows",
        env = "MDL_SEARCH_BLOCK_ROWS",
        global = true,
        help_heading = DB_HEADING
    )]
    pub search_block_rows: Option<u32>,
}

pub const DEFAULT_SEARCH_COUNT_CAP: u64 = 10_000;
pub const DEFAULT_SEARCH_DENSE_AT: u32 = 10_000;

impl DbConfig {
    pub fn new(url: impl Into<String>) -> Self {
        DbConfig {
            url: url.into(),
            pool_min: 0,
            pool_max: 10,
            statement_timeout_ms: 5_000,
            connect_timeout_s: 30,
            acquire_timeout_ms: DEFAULT_ACQUIRE_TIMEOUT_MS,
            idle_timeout_s: 600,
            search_count_cap: DEFAULT_SEARCH_COUNT_CAP,
            search_dense_at: DEFAULT_SEARCH_DENSE_AT,
            search_block_rows: None,
        }
    }

    /// Checks values that flags alone cannot constrain; every problem is reported.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("sqlite:")
            || self.url.starts_with("postgres:")
            || self.url.starts_with("postgresql:"))
        {
            problems.push(format!(
                "DATABASE_URL must start with sqlite: or postgres: (got `{}`)",
                redact_url(&self.url)
            ));
        }
        if self.pool_max == 0 {
            problems.push("DB_POOL_MAX must be at least 1".into());
        }
        if self.pool_min > self.pool_max {
            problems.push(format!(
                "DB_POOL_MIN ({}) must not exceed DB_POOL_MAX ({})",
                self.pool_min, self.pool_max
            ));
        }
        if self.statement_timeout_ms == 0 {
            problems.push("DB_STATEMENT_TIMEOUT_MS must be at least 1".into());
        }
        if self.acquire_timeout_ms == 0 {
            problems.push("DB_ACQUIRE_TIMEOUT_MS must be at least 1".into());
        }
        if self.search_dense_at == 0 {
            problems.push("MDL_SEARCH_DENSE_AT must be at least 1".into());
        }
        if self.search_count_cap == 0 {
            problems.push("MDL_SEARCH_COUNT_CAP must be at least 1".into());
        }
        if let Some(rows) = self.search_block_rows.filter(|r| *r != 0 && !(2..=65_536).contains(r)) {
            problems.push(format!(
                "MDL_SEARCH_BLOCK_ROWS must be 0 (off) or 2 to 65536 (got {rows})"
            ));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_min", &self.pool_min)
            .field("pool_max", &self.pool_max)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("connect_timeout_s", &self.connect_timeout_s)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("idle_timeout_s", &self.idle_timeout_s)
            .field("search_count_cap", &self.search_count_cap)
            .field("search_dense_at", &self.search_dense_at)
            .field("search_block_rows", &self.search_block_rows)
            .finish()
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// What `REDIS_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: `redis://`, `rediss://` or `unix://`, as the redis crate reads them.
    Single(String),
    /// A Redis Cluster, from `redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]`: one
    /// `redis://` URL per listed node, each carrying the shared credentials.
    Cluster(Vec<String>),
}

impl RedisTarget {
    pub const CLUSTER_SCHEME: &str = "redis+cluster://";

    pub fn parse(url: &str) -> Result<RedisTarget, String> {
        let Some(rest) = url.strip_prefix(Self::CLUSTER_SCHEME) else {
            if ["redis://", "rediss://", "unix://"].iter().any(|s| url.starts_with(s)) {
                return Ok(RedisTarget::Single(url.to_owned()));
            }
            return Err(format!(
                "REDIS_URL must start with redis:// or redis+cluster:// (got `{}`)",
                redact_url(url)
            ));
        };
        let (userinfo, hosts) = match rest.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, rest),
        };
        let hosts = hosts.strip_suffix('/').unwrap_or(hosts);
        // A cluster has only database 0, and per-URL options would have no one node to apply to.
        if hosts.contains(['/', '?', '#']) {
            return Err(format!(
                "REDIS_URL: a redis+cluster:// URL lists nodes only, HOST:PORT separated by commas (got `{}`)",
                redact_url(url)
            ));
        }
        let nodes: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .map(|host| match userinfo {
                Some(userinfo) => format!("redis://{userinfo}@{host}"),
                None => format!("redis://{host}"),
            })
            .collect();
        if hosts.split(',').any(|h| h.trim().is_empty()) {
            return Err(format!(
                "REDIS_URL: an empty node in `{}` (HOST:PORT separated by commas)",
                redact_url(url)
            ));
        }
        Ok(RedisTarget::Cluster(nodes))
    }
}

/// Loads `.env` from the working directory if there is one; real environment variables win.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

/// Settings of `mdl serve`.
#[derive(Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long = "bind", env = "MDL_BIND", default_value = "127.0.0.1:3000")]
    pub bind: String,
    /// HS256 signing secret for access tokens (at least 32 bytes). Unset: generated once and
    /// stored in the database, so every instance sharing it agrees.
    #[arg(long = "jwt-secret", env = "MDL_JWT_SECRET")]
    pub jwt_secret: Option<String>,
    /// Access token lifetime, seconds.
    #[arg(
        long = "jwt-access-token-expiry",
        env = "JWT_ACCESS_TOKEN_EXPIRY",
        default_value_t = 900
    )]
    pub access_token_ttl_s: u64,
    /// Refresh token lifetime, seconds.
    #[arg(
        long = "jwt-refresh-token-expiry",
        env = "JWT_REFRESH_TOKEN_EXPIRY",
        default_value_t = 604_800
    )]
    pub refresh_token_ttl_s: u64,
    /// Password of the `admin` user created on first start (unset: random, printed once).
    #[arg(long = "admin-password", env = "MDL_ADMIN_PASSWORD")]
    pub admin_password: Option<String>,
    /// Let anonymous clients read the catalog.
    #[arg(long = "public-read", env = "MDL_PUBLIC_READ", default_value_t = false)]
    pub public_read: bool,
    /// Largest accepted request body, bytes.
    #[arg(long = "max-body-bytes", env = "MDL_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,
    /// Largest accepted catalog upload on `POST /api/v1/import`, bytes.
    #[arg(long = "max-import-bytes", env = "MDL_MAX_IMPORT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_import_bytes: usize,
    /// Login attempts per (client IP, username) per minute.
    #[arg(long = "login-rate-per-min", env = "MDL_LOGIN_RATE_PER_MIN", default_value_t = 10)]
    pub login_rate_per_min: u32,
    /// Browser origins allowed to call the API (comma-separated, e.g.
    /// `https://dash.example.com`); unset: CORS off.
    #[arg(long = "cors-origins", env = "MDL_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// How long a user record checked by authentication may be reused from memory, seconds.
    /// Changes made through this instance apply at once; others within this time.
    #[arg(long = "user-cache-ttl", env = "MDL_USER_CACHE_TTL", default_value_t = 5)]
    pub user_cache_ttl_s: u64,
    /// A request taking longer is answered 503.
    #[arg(long = "request-timeout-s", env = "MDL_REQUEST_TIMEOUT_S", default_value_t = 30)]
    pub request_timeout_s: u64,
    /// After SIGTERM, keep serving this long with `/health/ready` answering 503 before the
    /// listener closes, so a load balancer's checks take the instance out first, milliseconds.
    #[arg(long = "drain-grace-ms", env = "MDL_DRAIN_GRACE_MS", default_value_t = 0)]
    pub drain_grace_ms: u64,
    /// How often the server checks whether the search blocks need building again (stale
    /// after a bulk load, outgrown, or many writes since the last build), seconds; 0: never.
    /// Instances sharing a database take turns: one builds, the others skip.
    #[arg(
        long = "search-blocks-check-s",
        env = "MDL_SEARCH_BLOCKS_CHECK_S",
        default_value_t = 60
    )]
    pub search_blocks_check_s: u64,
    /// Compress responses (br, zstd, gzip, deflate by the client's preference).
    #[arg(long = "enable-compression", env = "ENABLE_COMPRESSION", default_value_t = true, action = clap::ArgAction::Set)]
    pub compression: bool,
    /// `fastest`, `default` or `best`, or a number (algorithm-specific scale).
    #[arg(long = "compression-level", env = "COMPRESSION_LEVEL", default_value = "fastest")]
    pub compression_level: String,
    /// Requests slower than this are logged with their route and timing, milliseconds.
    #[arg(
        long = "slow-request-threshold-ms",
        env = "SLOW_REQUEST_THRESHOLD_MS",
        default_value_t = 1000
    )]
    pub slow_request_ms: u64,
    /// Store calls slower than this are logged and listed, milliseconds.
    #[arg(
        long = "slow-query-threshold-ms",
        env = "SLOW_QUERY_THRESHOLD_MS",
        default_value_t = 100
    )]
    pub slow_query_ms: u64,
    /// Serve Prometheus `/metrics` on this address only (unset: on the main listener).
    #[arg(long = "metrics-bind", env = "MDL_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    #[command(flatten)]
    pub cache: CacheConfig,
    #[command(flatten)]
    pub limits: LimitsConfig,
}

/// Bounds on what clients can make the server hold: connections, time, login attempts and
/// password hashing. Each is named in the README's threat model.
#[derive(Clone, Debug, Args)]
pub struct LimitsConfig {
    /// Load balancers whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed (CIDRs,
    /// comma-separated); from anyone else those headers are ignored.
    #[arg(long = "trusted-proxies", env = "MDL_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Connections served at once; past it new ones wait in the listen backlog.
    #[arg(long = "max-connections", env = "MDL_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, counted from the connection being
    /// ready for one (so also the keep-alive idle limit).
    #[arg(
        long = "header-read-timeout",
        env = "MDL_HEADER_READ_TIMEOUT_S",
        default_value_t = 10
    )]
    pub header_read_timeout_s: u64,
    /// Seconds a connection may make no progress at all (nothing read, nothing written).
    #[arg(long = "idle-timeout", env = "MDL_IDLE_TIMEOUT_S", default_value_t = 60)]
    pub idle_timeout_s: u64,
    /// Body limit of the authentication routes (login, refresh, logout, password change).
    #[arg(long = "auth-max-body-bytes", env = "MDL_AUTH_MAX_BODY_BYTES", default_value_t = 8 * 1024)]
    pub auth_max_body_bytes: usize,
    /// Password hashes computed at once (Argon2id takes 19 MiB and tens of ms each); 0 = one
    /// per core.
    #[arg(
        long = "password-hash-concurrency",
        env = "MDL_PASSWORD_HASH_CONCURRENCY",
        default_value_t = 0
    )]
    pub password_hash_concurrency: usize,
    /// Failed logins of one username (from every address together) within 15 minutes before
    /// each further attempt from an unfamiliar address waits an exponential backoff.
    #[arg(long = "login-backoff-after", env = "MDL_LOGIN_BACKOFF_AFTER", default_value_t = 20)]
    pub login_backoff_after: u32,
    /// Imports parsed and planned at once; more wait up to 10 s, then 503. Each holds its body
    /// and the parsed catalog (several times the body) in memory.
    #[arg(long = "import-concurrency", env = "MDL_IMPORT_CONCURRENCY", default_value_t = 1)]
    pub import_concurrency: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            trusted_proxies: None,
            max_connections: 10_000,
            header_read_timeout_s: 10,
            idle_timeout_s: 60,
            auth_max_body_bytes: 8 * 1024,
            password_hash_concurrency: 0,
            login_backoff_after: 20,
            import_concurrency: 1,
        }
    }
}

impl LimitsConfig {
    /// The trusted proxy networks; `Err` names the first entry that is not a CIDR or address.
    pub fn trusted_proxy_list(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("MDL_TRUSTED_PROXIES: `{s}` is not an address or CIDR"))
            })
            .collect()
    }

    pub fn hash_concurrency(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if let Err(e) = self.trusted_proxy_list() {
            problems.push(e);
        }
        if self.max_connections == 0 {
            problems.push("MDL_MAX_CONNECTIONS must be at least 1".into());
        }
        if self.header_read_timeout_s == 0 || self.idle_timeout_s == 0 {
            problems.push("MDL_HEADER_READ_TIMEOUT_S and MDL_IDLE_TIMEOUT_S must be positive".into());
        }
        if self.auth_max_body_bytes < 256 {
            problems.push("MDL_AUTH_MAX_BODY_BYTES must be at least 256".into());
        }
        if self.import_concurrency == 0 {
            problems.push("MDL_IMPORT_CONCURRENCY must be at least 1".into());
        }
        if self.login_backoff_after == 0 {
            problems.push("MDL_LOGIN_BACKOFF_AFTER must be at least 1".into());
        }
    }
}

/// The response cache: in-process tier always, Redis tier when `REDIS_URL` is set.
#[derive(Clone, Args)]
pub struct CacheConfig {
    /// Cache read responses at all (off: every read goes to the database, `X-Cache: BYPASS`).
    #[arg(long = "enable-cache", env = "ENABLE_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// `redis://HOST:PORT[/DB]` of the shared tier, or `redis+cluster://HOST:PORT,HOST:PORT...`
    /// for a Redis Cluster; unset: in-process tier only.
    #[arg(long = "redis-url", env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(long = "redis-prefix", env = "MDL_REDIS_PREFIX", default_value = "mdl")]
    pub redis_prefix: String,
    /// Longest wait for any Redis command before the request goes on without it, milliseconds.
    #[arg(long = "redis-timeout-ms", env = "REDIS_TIMEOUT_MS", default_value_t = 50)]
    pub redis_timeout_ms: u64,
    /// Lifetime of a Redis entry, seconds (capped by `CACHE_MAX_TTL`, with up to 10 % jitter).
    #[arg(long = "cache-ttl", env = "CACHE_TTL", default_value_t = 300)]
    pub ttl_s: u64,
    /// Upper bound for `CACHE_TTL`, seconds.
    #[arg(long = "cache-max-ttl", env = "CACHE_MAX_TTL", default_value_t = 3600)]
    pub max_ttl_s: u64,
    /// Size bound of the in-process tier, MiB of stored response bytes.
    #[arg(long = "l1-capacity-mb", env = "MDL_L1_CAPACITY_MB", default_value_t = 64)]
    pub l1_capacity_mb: u64,
    /// Size bound of the web pages kept framed and compressed for each session (the pages'
    /// shared content is in the in-process tier above), MiB.
    #[arg(long = "page-capacity-mb", env = "MDL_PAGE_CAPACITY_MB", default_value_t = 32)]
    pub page_capacity_mb: u64,
    /// Lifetime of an in-process entry, seconds: the staleness bound across instances when
    /// Redis cannot deliver invalidations.
    #[arg(long = "l1-ttl", env = "MDL_L1_TTL", default_value_t = 60)]
    pub l1_ttl_s: u64,
    /// Pre-fill the cache on start and every `CACHE_WARM_INTERVAL` minutes.
    #[arg(long = "enable-cache-warming", env = "ENABLE_CACHE_WARMING", default_value_t = true, action = clap::ArgAction::Set)]
    pub warming: bool,
    /// Minutes between warming runs.
    #[arg(long = "cache-warm-interval", env = "CACHE_WARM_INTERVAL", default_value_t = 30)]
    pub warm_interval_min: u64,
    /// Bodies from this size (bytes) are stored gzip-compressed and served so to clients that
    /// accept gzip.
    #[arg(
        long = "compression-threshold",
        env = "COMPRESSION_THRESHOLD",
        default_value_t = 1024
    )]
    pub compression_threshold: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            redis_url: None,
            redis_prefix: "mdl".into(),
            redis_timeout_ms: 50,
            ttl_s: 300,
            max_ttl_s: 3600,
            l1_capacity_mb: 64,
            page_capacity_mb: 32,
            l1_ttl_s: 60,
            warming: true,
            warm_interval_min: 30,
            compression_threshold: 1024,
        }
    }
}

impl CacheConfig {
    pub fn validate(&self, problems: &mut Vec<String>) {
        if let Some(url) = &self.redis_url
            && let Err(problem) = RedisTarget::parse(url)
        {
            problems.push(problem);
        }
        if self.redis_timeout_ms == 0 {
            problems.push("REDIS_TIMEOUT_MS must be at least 1".into());
        }
        if self.ttl_s == 0 || self.max_ttl_s == 0 || self.l1_ttl_s == 0 {
            problems.push("CACHE_TTL, CACHE_MAX_TTL and MDL_L1_TTL must be positive".into());
        }
        if self.l1_capacity_mb == 0 || self.page_capacity_mb == 0 {
            problems.push("MDL_L1_CAPACITY_MB and MDL_PAGE_CAPACITY_MB must be at least 1".into());
        }
        if self.warm_interval_min == 0 {
            problems.push("CACHE_WARM_INTERVAL must be at least 1 minute".into());
        }
        // Braces would change which part of a key Redis Cluster hashes (its hash tags).
        if self.redis_prefix.is_empty()
            || self
                .redis_prefix
                .contains(|c: char| c.is_whitespace() || c == '{' || c == '}')
        {
            problems.push("MDL_REDIS_PREFIX must be non-empty, without spaces or braces".into());
        }
    }

    /// Redis entry lifetime: `CACHE_TTL` capped by `CACHE_MAX_TTL`.
    pub fn l2_ttl_s(&self) -> u64 {
        self.ttl_s.min(self.max_ttl_s)
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("enabled", &self.enabled)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("ttl_s", &self.ttl_s)
            .field("max_ttl_s", &self.max_ttl_s)
            .field("l1_capacity_mb", &self.l1_capacity_mb)
            .field("page_capacity_mb", &self.page_capacity_mb)
            .field("l1_ttl_s", &self.l1_ttl_s)
            .field("warming", &self.warming)
            .field("warm_interval_min", &self.warm_interval_min)
            .field("compression_threshold", &self.compression_threshold)
            .finish()
    }
}

impl ServeConfig {
    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Err(m) = check_bind(&self.bind) {
            problems.push(format!("MDL_BIND {m}"));
        }
        if let Some(secret) = &self.jwt_secret
            && let Err(m) = check_jwt_secret(secret)
        {
            problems.push(format!("MDL_JWT_SECRET {m}"));
        }
        if self.access_token_ttl_s == 0 || self.refresh_token_ttl_s == 0 {
            problems.push("JWT_ACCESS_TOKEN_EXPIRY and JWT_REFRESH_TOKEN_EXPIRY must be positive".into());
        }
        if self.access_token_ttl_s > self.refresh_token_ttl_s {
            problems.push("JWT_ACCESS_TOKEN_EXPIRY must not exceed JWT_REFRESH_TOKEN_EXPIRY".into());
        }
        if let Some(p) = &self.admin_password
            && let Err(m) = crate::domain::user::check_password(p)
        {
            problems.push(format!("MDL_ADMIN_PASSWORD {m}"));
        }
        if self.max_body_bytes < 1024 {
            problems.push("MDL_MAX_BODY_BYTES must be at least 1024".into());
        }
        if self.max_import_bytes < self.max_body_bytes {
            problems.push("MDL_MAX_IMPORT_BYTES must be at least MDL_MAX_BODY_BYTES".into());
        }
        for origin in self.cors_origin_list() {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
                problems.push(format!(
                    "MDL_CORS_ORIGINS: `{origin}` is not an origin like https://host[:port]"
                ));
            }
        }
        if self.login_rate_per_min == 0 {
            problems.push("MDL_LOGIN_RATE_PER_MIN must be at least 1".into());
        }
        self.cache.validate(&mut problems);
        self.limits.validate(&mut problems);
        if !matches!(self.compression_level.as_str(), "fastest" | "default" | "best")
            && self.compression_level.parse::<i32>().is_err()
        {
            problems.push("COMPRESSION_LEVEL must be fastest, default, best or a number".into());
        }
        if let Some(bind) = &self.metrics_bind
            && let Err(m) = check_bind(bind)
        {
            problems.push(format!("MDL_METRICS_BIND {m}"));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

/// A listen address: `IP:PORT` (`[::1]:3000` for IPv6) or `HOST:PORT` with a host name that
/// resolves (`localhost:3000`). The listener binds the first resolved address it can.
pub fn check_bind(bind: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    if bind.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let shape = "must be HOST:PORT, e.g. 127.0.0.1:3000, [::1]:3000 or localhost:3000";
    let Some((host, port)) = bind.rsplit_once(':') else {
        return Err(format!("{shape} (got `{bind}`)"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{shape} (got `{bind}`)"));
    }
    match bind.to_socket_addrs().map(|mut addrs| addrs.next()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("`{bind}`: host `{host}` has no address")),
        Err(e) => Err(format!("`{bind}`: cannot resolve host `{host}` ({e})")),
    }
}

/// Length alone lets `aaaa...` through. A secret must also vary: at least 8 distinct bytes and
/// about 96 bits by a per-byte Shannon estimate (`openssl rand -hex 32` scores about 240).
pub fn check_jwt_secret(secret: &str) -> Result<(), String> {
    let bytes = secret.as_bytes();
    if bytes.len() < 32 {
        return Err("must be at least 32 bytes (e.g. `openssl rand -hex 32`)".into());
    }
    let mut counts = [0usize; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let distinct = counts.iter().filter(|c| **c > 0).count();
    let n = bytes.len() as f64;
    let bits: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2() * n
        })
        .sum();
    if distinct < 8 || bits < 96.0 {
        return Err(format!(
            "is too predictable ({distinct} distinct bytes, about {bits:.0} bits): use at least 32 random bytes, e.g. `openssl rand -hex 32`"
        ));
    }
    Ok(())
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("ServeConfig")
            .field("bind", &self.bind)
            .field("jwt_secret", &secret(&self.jwt_secret))
            .field("access_token_ttl_s", &self.access_token_ttl_s)
            .field("refresh_token_ttl_s", &self.refresh_token_ttl_s)
            .field("admin_password", &secret(&self.admin_password))
            .field("public_read", &self.public_read)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_import_bytes", &self.max_import_bytes)
            .field("login_rate_per_min", &self.login_rate_per_min)
            .field("cors_origins", &self.cors_origins)
            .field("user_cache_ttl_s", &self.user_cache_ttl_s)
            .field("request_timeout_s", &self.request_timeout_s)
            .field("drain_grace_ms", &self.drain_grace_ms)
            .field("search_blocks_check_s", &self.search_blocks_check_s)
            .field("compression", &self.compression)
            .field("compression_level", &self.compression_level)
            .field("slow_request_ms", &self.slow_request_ms)
            .field("slow_query_ms", &self.slow_query_ms)
            .field("metrics_bind", &self.metrics_bind)
            .field("cache", &self.cache)
            .field("limits", &self.limits)
            .finish()
    }
}
