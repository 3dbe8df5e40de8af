//! Per-route request figures. Every (method, route template) pair the router can match gets its
//! figures and label text built once at start, so recording a request is a map lookup and a few
//! atomic adds: no lock, no allocation, no label formatting.

use super::histogram::{Histogram, LATENCY_NS, SIZE_BYTES};
use super::{Summary, escape};
use crate::counters::Cells;
use axum::http::Method;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// The methods that get their own label; any other method is counted as `OTHER`, so a client
/// cannot create series by inventing methods.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Statuses with a counter of their own; anything else goes to a small locked map (only ever
/// touched by unusual answers).
const STATUSES: [u16; 24] = [
    200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 408, 409, 412, 413, 415, 422, 429, 500, 502, 503,
    504,
];

/// The label for requests no route matched (random paths must not create series).
pub const UNMATCHED: &str = "(unmatched)";

#[derive(Debug)]
pub struct RouteStats {
    method: &'static str,
    /// `METHOD /template`, as the JSON summaries and the `route` label show it.
    label: String,
    /// The route label escaped for the exposition format.
    label_text: String,
    latency: Histogram,
    sizes: Histogram,
    /// One per entry of `STATUSES`, then the 5xx count.
    statuses: Cells,
    rare_statuses: Mutex<BTreeMap<u16, u64>>,
}

const ERRORS: usize = STATUSES.len();

impl RouteStats {
    fn new(method: &'static str, template: &str) -> RouteStats {
        let label = format!("{method} {template}");
        RouteStats {
            method,
            label_text: escape(&label),
            label,
            latency: Histogram::new(LATENCY_NS),
            sizes: Histogram::new(SIZE_BYTES),
            statuses: Cells::new(ERRORS + 1),
            rare_statuses: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// One answered request; `size` when the body's length is known.
    pub fn record(&self, status: u16, elapsed: Duration, size: Option<u64>) {
        self.latency
            .record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        if let Some(size) = size {
            self.sizes.record(size);
        }
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => self.statuses.add(i, 1),
            None => {
                if let Ok(mut rare) = self.rare_statuses.lock() {
                    *rare.entry(status).or_default() += 1;
                }
            }
        }
        if status >= 500 {
            self.statuses.add(ERRORS, 1);
        }
    }

    fn summary(&self) -> Summary {
        Summary::of(&self.latency, self.statuses.sum(ERRORS))
    }

    fn render_counts(&self, out: &mut String) {
        let mut line = |status: u16, n: u64| {
            if n > 0 {
                let _ = writeln!(
                    out,
                    "mdl_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    self.method, self.label_text
                );
            }
        };
        for (i, status) in STATUSES.iter().enumerate() {
            line(*status, self.statuses.sum(i));
        }
        if let Ok(rare) = self.rare_statuses.lock() {
            for (status, n) in rare.iter() {
                line(*status, *n);
            }
        }
    }
}

/// The figures of every route, fixed at start.
#[derive(Debug)]
pub struct RequestStats {
    by_template: HashMap<String, [RouteStats; METHODS.len()]>,
    unmatched: [RouteStats; METHODS.len()],
    slow_after: Duration,
}

impl RequestStats {
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>, slow_after: Duration) -> RequestStats {
        let per_method = |template: &str| std::array::from_fn(|i| RouteStats::new(METHODS[i], template));
        RequestStats {
            by_template: templates.into_iter().map(|t| (t.to_owned(), per_method(t))).collect(),
            unmatched: per_method(UNMATCHED),
            slow_after,
        }
    }

    /// The figures for a request; templates not known at start count as unmatched.
    pub fn route(&self, method: &Method, template: Option<&str>) -> &RouteStats {
        let row = template
            .and_then(|t| self.by_template.get(t))
            .unwrap_or(&self.unmatched);
        &row[method_index(method)]
    }

    pub fn slow_after(&self) -> Duration {
        self.slow_after
    }

    fn used(&self) -> impl Iterator<Item = &RouteStats> {
        self.by_template
            .values()
            .chain(std::iter::once(&self.unmatched))
            .flatten()
            .filter(|r| r.latency.count() > 0)
    }

    /// Per-route figures keyed by `METHOD /template`, in label order.
    pub fn summaries(&self) -> BTreeMap<&str, Summary> {
        self.used().map(|r| (r.label(), r.summary())).collect()
    }

    pub fn render(&self, out: &mut String) {
        let mut used: Vec<&RouteStats> = self.used().collect();
        used.sort_by(|a, b| a.label.cmp(&b.label));
        out.push_str("# TYPE mdl_http_requests_total counter\n");
        for r in &used {
            r.render_counts(out);
        }
        out.push_str("# TYPE mdl_http_request_duration_seconds histogram\n");
        for r in &used {
            let labels = format!("method=\"{}\",route=\"{}\"", r.method, r.label_text);
            r.latency.render(out, "mdl_http_request_duration_seconds", &labels, 9);
        }
        out.push_str("# TYPE mdl_http_response_size_bytes histogram\n");
        for r in used.iter().filter(|r| r.sizes.count() > 0) {
            let labels = format!("route=\"{}\"", r.label_text);
            r.sizes.render(out, "mdl_http_response_size_bytes", &labels, 0);
        }
    }
}
