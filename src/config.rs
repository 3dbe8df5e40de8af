//! Typed configuration from flags and environment (`.env` is read first if present).

use clap::Args;
use std::fmt;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./mdl-data/mdl.db";

/// Database settings, shared by every subcommand.
#[derive(Clone, Args)]
pub struct DbConfig {
    /// `sqlite://PATH` (created on first use) or `postgres://USER@HOST/DB`.
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub url: String,
    /// Connections kept open even when idle.
    #[arg(long = "db-pool-min", env = "DB_POOL_MIN", default_value_t = 0, global = true)]
    pub pool_min: u32,
    /// Most connections open at once.
    #[arg(long = "db-pool-max", env = "DB_POOL_MAX", default_value_t = 10, global = true)]
    pub pool_max: u32,
    /// A statement running longer is cancelled (PostgreSQL `statement_timeout`; SQLite busy wait).
    #[arg(
        long = "db-statement-timeout-ms",
        env = "DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub statement_timeout_ms: u64,
    /// How long start-up waits for the database before giving up.
    #[arg(
        long = "db-connect-timeout-s",
        env = "DB_CONNECT_TIMEOUT_S",
        default_value_t = 30,
        global = true
    )]
    pub connect_timeout_s: u64,
}

impl DbConfig {
    pub fn new(url: impl Into<String>) -> Self {
        DbConfig {
            url: url.into(),
            pool_min: 0,
            pool_max: 10,
            statement_timeout_ms: 5_000,
            connect_timeout_s: 30,
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

/// Loads `.env` from the working directory if there is one; real environment variables win.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}
