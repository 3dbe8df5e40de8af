//! Counters for the cache statistics route: lock-free on the request path.

use super::keys::{MAX_READ_ROUTES, ReadRoute};
use crate::counters::Counter;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

#[derive(Debug, Default)]
pub struct RouteCounters {
    /// Set by the first request counted: the route table lives in the HTTP layer.
    template: OnceLock<&'static str>,
    pub hits: Counter,
    pub misses: Counter,
    pub bypasses: Counter,
}

#[derive(Debug)]
pub struct Stats {
    pub l1_hits: Counter,
    pub l2_hits: Counter,
    pub l2_misses: Counter,
    pub misses: Counter,
    pub bypasses: Counter,
    pub evictions: Counter,
    pub invalidations: Counter,
    pub routes: Vec<RouteCounters>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            l1_hits: Counter::default(),
            l2_hits: Counter::default(),
            l2_misses: Counter::default(),
            misses: Counter::default(),
            bypasses: Counter::default(),
            evictions: Counter::default(),
            invalidations: Counter::default(),
            routes: (0..MAX_READ_ROUTES).map(|_| RouteCounters::default()).collect(),
        }
    }
}

pub fn bump(counter: &Counter) {
    counter.add(1);
}

fn get(counter: &Counter) -> u64 {
    counter.get()
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
