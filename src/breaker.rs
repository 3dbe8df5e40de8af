//! A circuit breaker, shared by the store and the Redis tier.
//!
//! After `THRESHOLD` consecutive failures the breaker opens: calls are refused for `OPEN_MS`
//! instead of each waiting for a dependency that is not answering. Then exactly one caller
//! probes; its success closes the breaker, its failure keeps it open for another `OPEN_MS`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// What the breaker is doing, for health, metrics and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BreakerStatus {
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// Times it opened since start.
    pub opened: u64,
    /// Calls refused without touching the dependency.
    pub short_circuited: u64,
    pub last_error: Option<String>,
}

pub struct Breaker<const THRESHOLD: u32, const OPEN_MS: u64> {
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which calls are refused; 0 when closed.
    open_until_ms: AtomicU64,
    opened: AtomicU64,
    short_circuited: AtomicU64,
    last_error: Mutex<Option<String>>,
    epoch: Instant,
}

impl<const THRESHOLD: u32, const OPEN_MS: u64> Default for Breaker<THRESHOLD, OPEN_MS> {
    fn default() -> Self {
        Breaker {
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            short_circuited: AtomicU64::new(0),
            last_error: Mutex::new(None),
            epoch: Instant::now(),
        }
    }
}

impl<const THRESHOLD: u32, const OPEN_MS: u64> Breaker<THRESHOLD, OPEN_MS> {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a call may go ahead now.
    pub fn allow(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        // Half-open: exactly one caller probes; the others keep failing fast until it reports.
        if now >= until
            && self
                .open_until_ms
                .compare_exchange(until, now + OPEN_MS, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return true;
        }
        self.short_circuited.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Records an answer; true when this closed an open breaker.
    pub fn success(&self) -> bool {
        self.failures.store(0, Ordering::Release);
        self.open_until_ms.swap(0, Ordering::AcqRel) != 0
    }

    /// Records a failure; true when this opened a closed breaker.
    pub fn failure(&self, error: &str) -> bool {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.to_owned());
        }
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures < THRESHOLD {
            return false;
        }
        // Never 0, which means closed, even at the epoch's first millisecond.
        let until = (self.now_ms() + OPEN_MS).max(1);
        let opened = self.open_until_ms.swap(until, Ordering::AcqRel) == 0;
        if opened {
            self.opened.fetch_add(1, Ordering::Relaxed);
        }
        opened
    }

    /// Open and still refusing calls (not yet due for a probe).
    pub fn is_open(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|l| l.clone())
    }

    pub fn status(&self) -> BreakerStatus {
        let state = match self.open_until_ms.load(Ordering::Acquire) {
            0 => "closed",
            u if self.now_ms() < u => "open",
            _ => "half_open",
        };
        BreakerStatus {
            state,
            consecutive_failures: self.failures.load(Ordering::Acquire),
            opened: self.opened.load(Ordering::Relaxed),
            short_circuited: self.short_circuited.load(Ordering::Relaxed),
            last_error: self.last_error(),
        }
    }

    /// Seconds a client should wait before retrying.
    pub fn retry_after_s(&self) -> u64 {
        (OPEN_MS / 1000).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_at_the_threshold_and_one_probe_closes_it() {
        let b = Breaker::<2, 1>::default();
        assert!(!b.failure("a"));
        assert!(b.allow());
        assert!(b.failure("b"));
        assert_eq!(b.status().opened, 1);
        assert_eq!(b.last_error().as_deref(), Some("b"));
        // Once the open millisecond has passed, the next caller probes; its success closes it.
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(b.allow());
        assert!(b.success());
        assert_eq!(b.status().state, "closed");
    }

    #[test]
    fn refuses_while_open() {
        let b = Breaker::<1, 60_000>::default();
        assert!(b.failure("down"));
        assert!(b.is_open());
        assert!(!b.allow());
        assert_eq!(b.status().short_circuited, 1);
        assert_eq!(b.status().state, "open");
    }
}
