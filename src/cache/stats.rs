//! Counters for the cache statistics route: lock-free on the request path.

use super::keys::{MAX_READ_ROUTES, ReadRoute};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct RouteCounters {
    /// Set by the first request counted: the route table lives in the HTTP layer.
    template: OnceLock<&'static str>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub bypasses: AtomicU64,
}

#[derive(Debug)]
pub struct Stats {
    pub l1_hits: AtomicU64,
    pub l2_hits: AtomicU64,
    pub l2_misses: AtomicU64,
    pub misses: AtomicU64,
    pub bypasses: AtomicU64,
    pub evictions: AtomicU64,
    pub invalidations: AtomicU64,
    pub routes: Vec<RouteCounters>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            l1_hits: AtomicU64::new(0),
            l2_hits: AtomicU64::new(0),
            l2_misses: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypasses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            routes: (0..MAX_READ_ROUTES).map(|_| RouteCounters::default()).collect(),
        }
    }
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn rate(hits: u64, total: u64) -> Value {
    if total == 0 {
        Value::Null
    } else {
        json!((hits as f64 / total as f64 * 10_000.0).round() / 10_000.0)
    }
}

impl Stats {
    /// The counters of `route`; routes past the table's room share the last slot's.
    pub fn route(&self, route: &ReadRoute) -> &RouteCounters {
        let counters = &self.routes[route.index.min(MAX_READ_ROUTES - 1)];
        counters.template.get_or_init(|| route.template);
        counters
    }

    pub fn to_json(&self) -> Value {
        let (l1, l2, misses) = (get(&self.l1_hits), get(&self.l2_hits), get(&self.misses));
        let lookups = l1 + l2 + misses;
        let mut routes = Map::new();
        for c in &self.routes {
            let Some(template) = c.template.get() else { continue };
            let (h, m, b) = (get(&c.hits), get(&c.misses), get(&c.bypasses));
            if h + m + b > 0 {
                routes.insert(
                    (*template).into(),
                    json!({ "hits": h, "misses": m, "bypasses": b, "hit_rate": rate(h, h + m) }),
                );
            }
        }
        json!({
            "lookups": lookups,
            "hits": l1 + l2,
            "misses": misses,
            "bypasses": get(&self.bypasses),
            "hit_rate": rate(l1 + l2, lookups),
            "l1": { "hits": l1, "hit_rate": rate(l1, lookups), "evictions": get(&self.evictions) },
            "l2": {
                "hits": l2,
                "misses": get(&self.l2_misses),
                "hit_rate": rate(l2, l2 + get(&self.l2_misses)),
            },
            "invalidations": get(&self.invalidations),
            "routes": routes,
        })
    }
}
