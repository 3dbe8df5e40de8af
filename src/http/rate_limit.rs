//! Login throttling per (client IP, username), so one address cannot guess a password quickly
//! and one user cannot be locked out by other addresses.

use super::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct LoginLimiter {
    limiter: DefaultKeyedRateLimiter<(IpAddr, String)>,
    checks: AtomicU64,
}

impl LoginLimiter {
    pub fn per_minute(n: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    pub fn check(&self, ip: IpAddr, username: &str) -> Result<(), ApiError> {
        // Forget idle keys now and then so the table stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&(ip, username.trim().to_ascii_lowercase()))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::RateLimited {
                    retry_after_s: wait.as_secs().max(1),
                }
            })
    }
}
