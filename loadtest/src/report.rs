//! Figures from the latency samples, the server's own counters, and the threshold verdict.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_error_rate: f64,
    /// `None` when the server does not report cache figures (cache off).
    pub min_hit_rate: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Figures {
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl Figures {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(0.001)
    }

    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests, "errors": self.errors, "seconds": round(self.seconds),
            "requests_per_s": round(self.rps()), "error_rate": round(self.error_rate()),
            "p50_ms": round(self.p50_ms), "p95_ms": round(self.p95_ms), "p99_ms": round(self.p99_ms),
        })
    }
}

pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Exact percentiles over the samples (latency in microseconds).
pub fn figures(samples: &[(u32, u32, bool)], seconds: f64) -> Figures {
    let mut latencies: Vec<u32> = samples.iter().map(|s| s.1).collect();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    Figures {
        requests: samples.len(),
        errors: samples.iter().filter(|s| !s.2).count(),
        seconds,
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
    }
}

/// The run cut into ten equal slices of time: the drift of a soak shows between the first and
/// the last.
pub fn tenths(samples: &[(u32, u32, bool)], seconds: f64) -> Vec<Figures> {
    let total_ms = (seconds * 1000.0).max(1.0);
    (0..10)
        .map(|i| {
            let (from, to) = (total_ms * i as f64 / 10.0, total_ms * (i + 1) as f64 / 10.0);
            let slice: Vec<(u32, u32, bool)> = samples
                .iter()
                .filter(|s| f64::from(s.0) >= from && f64::from(s.0) < to)
                .copied()
                .collect();
            figures(&slice, seconds / 10.0)
        })
        .collect()
}

/// The broken thresholds, described; empty when the run passed.
pub fn verdict(f: &Figures, hit_rate: Option<f64>, t: &Thresholds) -> Vec<String> {
    let mut broken = Vec::new();
    if f.p95_ms > t.p95_ms {
        broken.push(format!("p95 {:.2} ms > {} ms", f.p95_ms, t.p95_ms));
    }
    if f.p99_ms > t.p99_ms {
        broken.push(format!("p99 {:.2} ms > {} ms", f.p99_ms, t.p99_ms));
    }
    if f.error_rate() > t.max_error_rate {
        broken.push(format!("error rate {:.4} > {}", f.error_rate(), t.max_error_rate));
    }
    if let (Some(min), Some(rate)) = (t.min_hit_rate, hit_rate)
        && rate < min
    {
        broken.push(format!("cache hit rate {rate:.4} < {min}"));
    }
    if f.requests == 0 {
        broken.push("no requests completed".into());
    }
    broken
}

/// Relative change from the first tenth to the last, when both have data.
pub fn drift(first: f64, last: f64) -> Option<f64> {
    (first > 0.0).then(|| round((last - first) / first))
}
