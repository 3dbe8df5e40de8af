//! Performance monitoring: request timings per route template and store-call timings per
//! operation, each over a bounded window, plus the slow ones. Figures only: no parameter values,
//! no paths with ids in them, nothing a client sent.

use crate::store::guard::CallObserver;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Durations kept per key for percentiles.
const WINDOW: usize = 2048;
/// Slow events kept for the slow-query list.
const SLOW_KEPT: usize = 200;

#[derive(Debug, Default)]
struct Series {
    count: u64,
    errors: u64,
    total_ms: f64,
    max_ms: f64,
    window: VecDeque<f64>,
}

impl Series {
    fn record(&mut self, ms: f64, ok: bool) {
        self.count += 1;
        if !ok {
            self.errors += 1;
        }
        self.total_ms += ms;
        self.max_ms = self.max_ms.max(ms);
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ms);
    }

    fn summary(&self) -> Value {
        let mut sorted: Vec<f64> = self.window.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| -> Value {
            if sorted.is_empty() {
                return Value::Null;
            }
            let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            json!(round(sorted[i]))
        };
        json!({
            "count": self.count,
            "errors": self.errors,
            "avg_ms": if self.count == 0 { Value::Null } else { json!(round(self.total_ms / self.count as f64)) },
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": round(self.max_ms),
            "total_ms": round(self.total_ms),
        })
    }
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[derive(Debug)]
struct Slow {
    at: chrono::DateTime<chrono::Utc>,
    key: String,
    ms: f64,
}

/// One family of timings (requests or store calls) keyed by a low-cardinality name.
#[derive(Debug)]
pub struct Monitor {
    what: &'static str,
    slow_after: Duration,
    series: Mutex<BTreeMap<String, Series>>,
    slow: Mutex<VecDeque<Slow>>,
}

impl Monitor {
    pub fn new(what: &'static str, slow_after: Duration) -> Monitor {
        Monitor {
            what,
            slow_after,
            series: Mutex::new(BTreeMap::new()),
            slow: Mutex::new(VecDeque::new()),
        }
    }

    pub fn record(&self, key: &str, elapsed: Duration, ok: bool) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if let Ok(mut series) = self.series.lock() {
            match series.get_mut(key) {
                Some(s) => s.record(ms, ok),
                None => series.entry(key.to_owned()).or_default().record(ms, ok),
            }
        }
        if elapsed >= self.slow_after {
            tracing::warn!(kind = self.what, key, elapsed_ms = round(ms), "slow {}", self.what);
            if let Ok(mut slow) = self.slow.lock() {
                if slow.len() == SLOW_KEPT {
                    slow.pop_back();
                }
                slow.push_front(Slow {
                    at: chrono::Utc::now(),
                    key: key.to_owned(),
                    ms,
                });
            }
        }
    }

    /// Totals and per-key figures.
    pub fn summary(&self) -> Value {
        let Ok(series) = self.series.lock() else {
            return Value::Null;
        };
        let (count, errors): (u64, u64) = series.values().fold((0, 0), |(c, e), s| (c + s.count, e + s.errors));
        let keys: serde_json::Map<String, Value> = series.iter().map(|(k, s)| (k.clone(), s.summary())).collect();
        json!({
            "count": count,
            "errors": errors,
            "error_rate": if count == 0 { Value::Null } else { json!(round(errors as f64 / count as f64)) },
            "slow_threshold_ms": self.slow_after.as_millis() as u64,
            "by_key": keys,
        })
    }

    /// Keys ordered by the total time they took (where the time goes).
    pub fn patterns(&self) -> Value {
        let Ok(series) = self.series.lock() else {
            return Value::Null;
        };
        let mut all: Vec<(&String, &Series)> = series.iter().collect();
        all.sort_by(|a, b| b.1.total_ms.total_cmp(&a.1.total_ms));
        Value::Array(
            all.into_iter()
                .map(|(k, s)| {
                    let mut v = s.summary();
                    v["pattern"] = json!(k);
                    v
                })
                .collect(),
        )
    }

    /// The most recent slow events, newest first.
    pub fn slow(&self, limit: usize) -> Value {
        let Ok(slow) = self.slow.lock() else { return Value::Null };
        Value::Array(
            slow.iter()
                .take(limit)
                .map(|s| json!({ "at": s.at.to_rfc3339(), "pattern": s.key, "elapsed_ms": round(s.ms) }))
                .collect(),
        )
    }
}

impl CallObserver for Monitor {
    fn observe(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        self.record(operation, elapsed, ok);
        crate::telemetry::record_store_call(operation, elapsed, ok);
    }
}

/// Resident memory of this process, bytes (Linux; `None` elsewhere).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
