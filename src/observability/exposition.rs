//! The Prometheus text format (version 0.0.4) of every figure. Series appear once they have
//! something to say: a route nobody called has no lines.

use super::{Observability, escape, process};
use crate::store::guard::BreakerStatus;
use crate::store::{CatalogStats, PoolStatus};
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// Figures read when Prometheus scrapes.
pub struct Scrape<'a> {
    pub cache: &'a Value,
    pub pool: Option<PoolStatus>,
    pub breaker: BreakerStatus,
    pub uptime: Duration,
    /// The catalog gauges, only for callers allowed to read the catalog.
    pub catalog: Option<&'a CatalogStats>,
}

/// One sample line per `(labels, value)`, under one `# TYPE` line.
fn family(out: &mut String, name: &str, kind: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        match labels.is_empty() {
            true => {
                let _ = writeln!(out, "{name} {value}");
            }
            false => {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    }
}

pub fn render(obs: &Observability, s: &Scrape<'_>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    obs.requests.render(&mut out);
    obs.calls.render(&mut out);
    let (queued, refused) = obs.imports();
    family(&mut out, "mdl_imports_queued_total", "counter", &[("", queued as f64)]);
    family(
        &mut out,
        "mdl_imports_refused_total",
        "counter",
        &[("", refused as f64)],
    );
    cache(&mut out, s.cache);
    if let Some(p) = s.pool {
        family(
            &mut out,
            "mdl_db_pool_connections",
            "gauge",
            &[
                ("state=\"open\"", f64::from(p.size)),
                ("state=\"idle\"", f64::from(p.idle)),
                ("state=\"in_use\"", f64::from(p.in_use)),
            ],
        );
        family(
            &mut out,
            "mdl_db_pool_max_connections",
            "gauge",
            &[("", f64::from(p.max))],
        );
    }
    let open = if s.breaker.state == "closed" { 0.0 } else { 1.0 };
    family(&mut out, "mdl_db_circuit_open", "gauge", &[("", open)]);
    family(
        &mut out,
        "mdl_db_circuit_opened_total",
        "counter",
        &[("", s.breaker.opened as f64)],
    );
    family(
        &mut out,
        "mdl_db_short_circuited_total",
        "counter",
        &[("", s.breaker.short_circuited as f64)],
    );
    family(&mut out, "mdl_uptime_seconds", "gauge", &[("", s.uptime.as_secs_f64())]);
    if let Some(rss) = process::rss_bytes() {
        family(&mut out, "process_resident_memory_bytes", "gauge", &[("", rss as f64)]);
    }
    if let Some(cpu) = process::cpu_seconds() {
        family(&mut out, "process_cpu_seconds_total", "counter", &[("", cpu)]);
    }
    if let Some(fds) = process::open_fds() {
        family(&mut out, "process_open_fds", "gauge", &[("", fds as f64)]);
    }
    if let Some(stats) = s.catalog {
        catalog(&mut out, stats);
    }
    out
}

fn cache(out: &mut String, c: &Value) {
    let n = |v: &Value| v.as_u64().unwrap_or(0) as f64;
    family(
        out,
        "mdl_cache_hits_total",
        "counter",
        &[
            ("tier=\"l1\"", n(&c["l1"]["hits"])),
            ("tier=\"l2\"", n(&c["l2"]["hits"])),
        ],
    );
    family(
        out,
        "mdl_cache_misses_total",
        "counter",
        &[
            ("tier=\"l2\"", n(&c["l2"]["misses"])),
            ("tier=\"all\"", n(&c["misses"])),
        ],
    );
    family(out, "mdl_cache_bypasses_total", "counter", &[("", n(&c["bypasses"]))]);
    family(
        out,
        "mdl_cache_evictions_total",
        "counter",
        &[("tier=\"l1\"", n(&c["l1"]["evictions"]))],
    );
    family(
        out,
        "mdl_cache_invalidations_total",
        "counter",
        &[("", n(&c["invalidations"]))],
    );
    family(
        out,
        "mdl_cache_entries",
        "gauge",
        &[("tier=\"l1\"", n(&c["l1"]["entries"]))],
    );
    family(
        out,
        "mdl_cache_bytes",
        "gauge",
        &[("tier=\"l1\"", n(&c["l1"]["bytes"]))],
    );
    let redis_up = match c["l2"]["status"].as_str() {
        Some("up") => 1.0,
        Some("disabled") => -1.0,
        _ => 0.0,
    };
    family(out, "mdl_redis_up", "gauge", &[("", redis_up)]);
}

/// Kept apart from the rest so that only callers allowed to read the catalog see them (and a
/// category that disappears takes its series with it).
fn catalog(out: &mut String, stats: &CatalogStats) {
    for (name, value) in [
        ("mdl_catalog_metrics_total", stats.total_metrics),
        ("mdl_catalog_domains_total", stats.total_domains),
        ("mdl_catalog_objectives_total", stats.total_objectives),
    ] {
        family(out, name, "gauge", &[("", value as f64)]);
    }
    if !stats.by_category.is_empty() {
        out.push_str("# TYPE mdl_catalog_metrics gauge\n");
        for (category, count) in &stats.by_category {
            let _ = writeln!(out, "mdl_catalog_metrics{{category=\"{}\"}} {count}", escape(category));
        }
    }
}
