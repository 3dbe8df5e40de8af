//! Prometheus metrics. Request and store-call figures are recorded as they happen; cache,
//! pool, breaker, catalog and process figures are read when Prometheus scrapes. Labels come
//! from route templates and operation names only, never from raw paths or values.

use axum::http::{Method, header};
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// The process-wide recorder: the one global this program has (a recorder is per process).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
];

/// Installs the recorder once; later calls return the same handle.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), SIZE_BUCKETS));
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Prometheus recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// Histogram samples wait in the recorder until they are folded into their buckets, which
/// otherwise happens only when `/metrics` is scraped: with no scraper, memory grew with every
/// request (RSS 95 -> 310 MB over a 120 s load run at 5,200 requests/s).
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread not started: histograms drain only when scraped");
    }
}

const UPKEEP_EVERY: Duration = Duration::from_secs(5);

pub fn record_request(method: &Method, route: &str, status: u16, elapsed: Duration, response: &Response) {
    let status_class = status.to_string();
    metrics::counter!("mdl_http_requests_total", "method" => method.to_string(), "route" => route.to_owned(), "status" => status_class)
        .increment(1);
    metrics::histogram!("mdl_http_request_duration_seconds", "method" => method.to_string(), "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
    // Bodies of known length (all but streamed, compressed-on-the-fly ones).
    let known = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(len) = known.or_else(|| http_body::Body::size_hint(response.body()).exact()) {
        metrics::histogram!("mdl_http_response_size_bytes", "route" => route.to_owned()).record(len as f64);
    }
}

pub fn record_store_call(operation: &'static str, elapsed: Duration, ok: bool) {
    metrics::histogram!("mdl_db_query_duration_seconds", "operation" => operation).record(elapsed.as_secs_f64());
    if !ok {
        metrics::counter!("mdl_db_query_errors_total", "operation" => operation).increment(1);
    }
}

/// Figures read at scrape time.
pub struct Snapshot<'a> {
    pub cache: &'a serde_json::Value,
    pub pool: Option<crate::store::PoolStatus>,
    pub breaker: crate::store::guard::BreakerStatus,
    pub uptime: Duration,
}

pub fn publish(s: &Snapshot<'_>) {
    let c = s.cache;
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    metrics::counter!("mdl_cache_hits_total", "tier" => "l1").absolute(n(&c["l1"]["hits"]));
    metrics::counter!("mdl_cache_hits_total", "tier" => "l2").absolute(n(&c["l2"]["hits"]));
    metrics::counter!("mdl_cache_misses_total", "tier" => "l2").absolute(n(&c["l2"]["misses"]));
    metrics::counter!("mdl_cache_misses_total", "tier" => "all").absolute(n(&c["misses"]));
    metrics::counter!("mdl_cache_bypasses_total").absolute(n(&c["bypasses"]));
    metrics::counter!("mdl_cache_evictions_total", "tier" => "l1").absolute(n(&c["l1"]["evictions"]));
    metrics::counter!("mdl_cache_invalidations_total").absolute(n(&c["invalidations"]));
    metrics::gauge!("mdl_cache_entries", "tier" => "l1").set(n(&c["l1"]["entries"]) as f64);
    metrics::gauge!("mdl_cache_bytes", "tier" => "l1").set(n(&c["l1"]["bytes"]) as f64);
    let redis_up = match c["l2"]["status"].as_str() {
        Some("up") => 1.0,
        Some("disabled") => -1.0,
        _ => 0.0,
    };
    metrics::gauge!("mdl_redis_up").set(redis_up);

    if let Some(p) = s.pool {
        metrics::gauge!("mdl_db_pool_connections", "state" => "open").set(f64::from(p.size));
        metrics::gauge!("mdl_db_pool_connections", "state" => "idle").set(f64::from(p.idle));
        metrics::gauge!("mdl_db_pool_connections", "state" => "in_use").set(f64::from(p.in_use));
        metrics::gauge!("mdl_db_pool_max_connections").set(f64::from(p.max));
    }
    let open = if s.breaker.state == "closed" { 0.0 } else { 1.0 };
    metrics::gauge!("mdl_db_circuit_open").set(open);
    metrics::counter!("mdl_db_circuit_opened_total").absolute(s.breaker.opened);
    metrics::counter!("mdl_db_short_circuited_total").absolute(s.breaker.short_circuited);

    metrics::gauge!("mdl_uptime_seconds").set(s.uptime.as_secs_f64());
    if let Some(rss) = crate::monitor::rss_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    if let Some(cpu) = cpu_seconds() {
        metrics::counter!("process_cpu_seconds_total").absolute(cpu as u64);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
}

/// The catalog gauges as exposition text. Kept out of the recorder, whose output every
/// scraper sees, so that they can be shown only to callers allowed to read the catalog (and a
/// category that disappears takes its series with it).
pub fn catalog_text(stats: &crate::store::CatalogStats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (name, value) in [
        ("mdl_catalog_metrics_total", stats.total_metrics),
        ("mdl_catalog_domains_total", stats.total_domains),
        ("mdl_catalog_objectives_total", stats.total_objectives),
    ] {
        let _ = writeln!(out, "# TYPE {name} gauge\n{name} {value}");
    }
    if !stats.by_category.is_empty() {
        out.push_str("# TYPE mdl_catalog_metrics gauge\n");
        for (category, count) in &stats.by_category {
            let _ = writeln!(
                out,
                "mdl_catalog_metrics{{category=\"{}\"}} {count}",
                label_value(category)
            );
        }
    }
    out
}

/// Escapes a label value as the text format requires (`\\`, `\"`, `\n`).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// User + system CPU time of this process (Linux), whole seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
