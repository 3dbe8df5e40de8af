//! What the server knows about its own work: request figures per route, store-call figures per
//! operation, the slow calls, and the Prometheus exposition of all of it with the cache, pool,
//! breaker, catalog and process figures read at scrape time.
//!
//! One measurement per thing: the histograms here feed both `/metrics` and the JSON summaries
//! (`/api/performance/stats`, `/api/v1/stats/performance`). Figures only: no parameter values,
//! no raw paths, nothing a client sent. This module sits below `http` (which records into it
//! and serves it) and above `store` and `cache` (whose figures it reads).

mod calls;
mod exposition;
pub mod histogram;
pub mod process;
mod requests;

pub use calls::{CallStats, SlowCall};
pub use exposition::Scrape;
pub use requests::{RequestStats, RouteStats, UNMATCHED};

use histogram::Histogram;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Shared by the HTTP layer (requests), the guarded store (calls) and the handlers that show
/// the figures.
#[derive(Debug)]
pub struct Observability {
    pub requests: RequestStats,
    pub calls: Arc<CallStats>,
    /// Imports that asked for a turn, and those refused after waiting.
    pub imports_queued: AtomicU64,
    pub imports_refused: AtomicU64,
}

impl Observability {
    /// `templates` are the route templates the router serves (each gets its figures at start).
    pub fn new<'a>(
        templates: impl IntoIterator<Item = &'a str>,
        slow_request: Duration,
        slow_call: Duration,
    ) -> Observability {
        Observability {
            requests: RequestStats::new(templates, slow_request),
            calls: Arc::new(CallStats::new(slow_call)),
            imports_queued: AtomicU64::new(0),
            imports_refused: AtomicU64::new(0),
        }
    }

    /// Totals and per-route figures, keyed by `METHOD /template`.
    pub fn request_summary(&self) -> Value {
        family(
            self.requests.summaries().into_iter().map(|(k, s)| (k.to_owned(), s)),
            self.requests.slow_after(),
        )
    }

    /// Totals and per-operation store-call figures.
    pub fn call_summary(&self) -> Value {
        family(
            self.calls.summaries().into_iter().map(|(k, s)| (k.to_owned(), s)),
            self.calls.slow_after(),
        )
    }

    /// Store operations ordered by the total time they took (where the time goes).
    pub fn patterns(&self) -> Value {
        let mut all: Vec<(&str, Summary)> = self.calls.summaries().into_iter().collect();
        all.sort_by(|a, b| b.1.total_ms.total_cmp(&a.1.total_ms));
        Value::Array(
            all.into_iter()
                .map(|(name, s)| {
                    let mut v = s.to_json();
                    v["pattern"] = json!(name);
                    v
                })
                .collect(),
        )
    }

    /// The most recent slow store calls, newest first.
    pub fn slow_calls(&self, limit: usize) -> Value {
        Value::Array(
            self.calls
                .slow(limit)
                .into_iter()
                .map(|s| {
                    json!({
                        "at": s.at.to_rfc3339(),
                        "pattern": s.operation,
                        "elapsed_ms": round(s.elapsed.as_secs_f64() * 1000.0),
                    })
                })
                .collect(),
        )
    }

    /// The Prometheus text exposition.
    pub fn render(&self, scrape: &Scrape<'_>) -> String {
        exposition::render(self, scrape)
    }

    fn imports(&self) -> (u64, u64) {
        (self.imports_queued.load(Relaxed), self.imports_refused.load(Relaxed))
    }
}

/// One key's figures, from its histogram.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub count: u64,
    pub errors: u64,
    pub total_ms: f64,
    pub max_ms: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

const NS_PER_MS: f64 = 1e6;

impl Summary {
    fn of(h: &Histogram, errors: u64) -> Summary {
        let ms = |q: f64| h.quantile(q).map(|ns| round(ns / NS_PER_MS));
        Summary {
            count: h.count(),
            errors,
            total_ms: round(h.sum() as f64 / NS_PER_MS),
            max_ms: round(h.max() as f64 / NS_PER_MS),
            p50_ms: ms(0.50),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
        }
    }

    fn to_json(self) -> Value {
        let avg = (self.count > 0).then(|| round(self.total_ms / self.count as f64));
        json!({
            "count": self.count,
            "errors": self.errors,
            "avg_ms": avg,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "total_ms": self.total_ms,
        })
    }
}

fn family(keys: impl Iterator<Item = (String, Summary)>, slow_after: Duration) -> Value {
    let mut by_key = serde_json::Map::new();
    let (mut count, mut errors) = (0u64, 0u64);
    for (key, s) in keys {
        count += s.count;
        errors += s.errors;
        by_key.insert(key, s.to_json());
    }
    json!({
        "count": count,
        "errors": errors,
        "error_rate": (count > 0).then(|| round(errors as f64 / count as f64)),
        "slow_threshold_ms": slow_after.as_millis() as u64,
        "by_key": by_key,
    })
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Escapes a label value as the text format requires (`\\`, `\"`, `\n`).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
