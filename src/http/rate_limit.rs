//! Login and password-change throttling with bounded memory.
//!
//! Three limits apply to a login, cheapest first:
//! - per client address (IPv6 by /64): stops one machine from trying many usernames;
//! - per (address, username): the design's `MDL_LOGIN_RATE_PER_MIN`;
//! - per username across all addresses: after `MDL_LOGIN_BACKOFF_AFTER` failures within 15
//!   minutes, each further failure doubles a wait (up to a minute) that applies to addresses
//!   the user has not logged in from before, so a botnet is slowed to a trickle while the real
//!   user, from a device that succeeded before, is never locked out.
//!
//! Keys are salted SHA-256 digests of fixed size, computed after the username was validated,
//! so a client cannot make the tables hold its input; every table has a hard entry bound.

use super::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Key = [u8; 16];

/// Keys a rate table may hold before new keys are refused (old ones still count down).
const MAX_KEYS: usize = 200_000;
/// Failure windows and familiar (address, username) pairs remembered.
const MAX_TRACKED: u64 = 100_000;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const FAMILIAR_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug)]
struct Failures {
    count: u32,
    since: Instant,
    not_before: Instant,
}

pub struct LoginLimiter {
    salt: [u8; 16],
    per_ip: DefaultKeyedRateLimiter<Key>,
    per_pair: DefaultKeyedRateLimiter<Key>,
    per_user_change: DefaultKeyedRateLimiter<Key>,
    failures: Cache<Key, Arc<Mutex<Failures>>>,
    familiar: Cache<Key, ()>,
    backoff_after: u32,
    checks: AtomicU64,
}

fn quota(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

fn refused(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

impl LoginLimiter {
    pub fn new(per_minute: u32, backoff_after: u32) -> Self {
        let mut salt = [0u8; 16];
        // Without OS randomness the keys are still fixed-size; only collision resistance
        // against a chosen input weakens.
        let _ = getrandom::fill(&mut salt);
        LoginLimiter {
            salt,
            per_ip: RateLimiter::keyed(quota(per_minute.saturating_mul(10))),
            per_pair: RateLimiter::keyed(quota(per_minute)),
            per_user_change: RateLimiter::keyed(quota(per_minute)),
            failures: Cache::builder()
                .max_capacity(MAX_TRACKED)
                .time_to_idle(FAILURE_WINDOW)
                .build(),
            familiar: Cache::builder()
                .max_capacity(MAX_TRACKED)
                .time_to_live(FAMILIAR_FOR)
                .build(),
            backoff_after: backoff_after.max(1),
            checks: AtomicU64::new(0),
        }
    }

    fn key(&self, parts: &[&[u8]]) -> Key {
        let mut h = Sha256::new();
        h.update(self.salt);
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        let digest = h.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }

    fn ip_key(&self, ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => self.key(&[b"ip", &v4.octets()]),
            // One IPv6 host usually owns a whole /64.
            IpAddr::V6(v6) => self.key(&[b"ip6", &v6.octets()[..8]]),
        }
    }

    fn pair_key(&self, ip: IpAddr, username: &str) -> Key {
        let ip = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
        };
        self.key(&[b"pair", &ip, username.as_bytes()])
    }

    fn user_key(&self, username: &str) -> Key {
        self.key(&[b"user", username.as_bytes()])
    }

    fn limit(&self, limiter: &DefaultKeyedRateLimiter<Key>, key: &Key) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.per_ip.retain_recent();
            self.per_pair.retain_recent();
            self.per_user_change.retain_recent();
        }
        if limiter.len() >= MAX_KEYS {
            limiter.retain_recent();
            if limiter.len() >= MAX_KEYS {
                // Under a flood of distinct keys, new keys wait rather than grow the table.
                return Err(refused(Duration::from_secs(60)));
            }
        }
        limiter
            .check_key(key)
            .map_err(|not_until| refused(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// May `ip` try to log in as `username` (already validated and normalised) now?
    pub fn check_login(&self, ip: IpAddr, username: &str) -> Result<(), ApiError> {
        let pair = self.pair_key(ip, username);
        if !self.familiar.contains_key(&pair)
            && let Some(f) = self.failures.get(&self.user_key(username))
            && let Ok(f) = f.lock()
        {
            let now = Instant::now();
            if f.not_before > now {
                return Err(refused(f.not_before - now));
            }
        }
        self.limit(&self.per_ip, &self.ip_key(ip))?;
        self.limit(&self.per_pair, &pair)
    }

    pub fn record_failure(&self, username: &str) {
        let now = Instant::now();
        let entry = self.failures.get_with(self.user_key(username), || {
            Arc::new(Mutex::new(Failures {
                count: 0,
                since: now,
                not_before: now,
            }))
        });
        let Ok(mut f) = entry.lock() else { return };
        if now.duration_since(f.since) > FAILURE_WINDOW {
            f.count = 0;
            f.since = now;
        }
        f.count = f.count.saturating_add(1);
        if f.count >= self.backoff_after {
            let doublings = (f.count - self.backoff_after).min(16);
            let wait = Duration::from_secs(2u64 << doublings).min(MAX_BACKOFF);
            f.not_before = now + wait;
        }
    }

    /// Remembers the address as familiar for the user. The username's failure count stays:
    /// clearing it would hand an attacker a fresh budget every time the real user logs in.
    pub fn record_success(&self, ip: IpAddr, username: &str) {
        self.familiar.insert(self.pair_key(ip, username), ());
    }

    /// Password changes per user: each attempt verifies the current password, which is
    /// both a guessing oracle and an Argon2 computation.
    pub fn check_password_change(&self, user_id: &str) -> Result<(), ApiError> {
        let key = self.key(&[b"change", user_id.as_bytes()]);
        self.limit(&self.per_user_change, &key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_familiar_address_passes_the_username_backoff() {
        let limiter = LoginLimiter::new(1000, 3);
        let home: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let botnet: IpAddr = "198.51.100.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        limiter.record_success(home, "alice");
        for _ in 0..5 {
            limiter.record_failure("alice");
        }
        assert!(limiter.check_login(botnet, "alice").is_err());
        assert!(limiter.check_login(home, "alice").is_ok());
    }
}
