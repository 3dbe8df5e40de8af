//! Store-call figures per operation, and the most recent slow calls.

use super::Summary;
use super::histogram::{Histogram, LATENCY_NS};
use crate::store::guard::CallObserver;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Slow calls kept for the slow-query list.
const SLOW_KEPT: usize = 200;

#[derive(Debug)]
struct Operation {
    latency: Histogram,
    errors: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct SlowCall {
    pub at: chrono::DateTime<chrono::Utc>,
    pub operation: &'static str,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct CallStats {
    /// Operation names are the store's method names, a fixed set: after the first call of
    /// each, every call takes only the read side of this lock.
    operations: RwLock<HashMap<&'static str, Arc<Operation>>>,
    slow: Mutex<VecDeque<SlowCall>>,
    slow_after: Duration,
}

impl CallStats {
    pub fn new(slow_after: Duration) -> CallStats {
        CallStats {
            operations: RwLock::new(HashMap::new()),
            slow: Mutex::new(VecDeque::new()),
            slow_after,
        }
    }

    pub fn slow_after(&self) -> Duration {
        self.slow_after
    }

    fn operation(&self, name: &'static str) -> Option<Arc<Operation>> {
        if let Some(op) = self.operations.read().ok()?.get(name) {
            return Some(op.clone());
        }
        let mut all = self.operations.write().ok()?;
        Some(
            all.entry(name)
                .or_insert_with(|| {
                    Arc::new(Operation {
                        latency: Histogram::new(LATENCY_NS),
                        errors: AtomicU64::new(0),
                    })
                })
                .clone(),
        )
    }

    pub fn record(&self, name: &'static str, elapsed: Duration, ok: bool) {
        if let Some(op) = self.operation(name) {
            op.latency.record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
            if !ok {
                op.errors.fetch_add(1, Relaxed);
            }
        }
        if elapsed >= self.slow_after {
            let ms = elapsed.as_secs_f64() * 1000.0;
            tracing::warn!(operation = name, elapsed_ms = ms, "slow store call");
            if let Ok(mut slow) = self.slow.lock() {
                if slow.len() == SLOW_KEPT {
                    slow.pop_back();
                }
                slow.push_front(SlowCall {
                    at: chrono::Utc::now(),
                    operation: name,
                    elapsed,
                });
            }
        }
    }

    pub fn summaries(&self) -> BTreeMap<&'static str, Summary> {
        let Ok(all) = self.operations.read() else {
            return BTreeMap::new();
        };
        all.iter()
            .map(|(name, op)| (*name, Summary::of(&op.latency, op.errors.load(Relaxed))))
            .collect()
    }

    /// The most recent slow calls, newest first.
    pub fn slow(&self, limit: usize) -> Vec<SlowCall> {
        self.slow
            .lock()
            .map(|s| s.iter().take(limit).cloned().collect())
            .unwrap_or_default()
    }

    pub fn render(&self, out: &mut String) {
        let Ok(all) = self.operations.read() else { return };
        let mut names: Vec<&&'static str> = all.keys().collect();
        names.sort();
        out.push_str("# TYPE mdl_db_query_duration_seconds histogram\n");
        for name in &names {
            let labels = format!("operation=\"{name}\"");
            all[**name]
                .latency
                .render(out, "mdl_db_query_duration_seconds", &labels, 9);
        }
        out.push_str("# TYPE mdl_db_query_errors_total counter\n");
        for name in &names {
            let errors = all[**name].errors.load(Relaxed);
            if errors > 0 {
                let _ = writeln!(out, "mdl_db_query_errors_total{{operation=\"{name}\"}} {errors}");
            }
        }
    }
}

impl CallObserver for CallStats {
    fn observe(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        self.record(operation, elapsed, ok);
    }
}
