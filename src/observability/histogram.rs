//! A fixed-bucket histogram of atomics: recording is a few relaxed atomic adds (no lock, no
//! allocation, and each thread adds to lines of its own: [`crate::counters`]), and the same
//! buckets give both the Prometheus exposition and the percentiles of the JSON summaries, so
//! there is one measurement of each thing, not two.

use crate::counters::Cells;
use std::fmt::Write as _;

/// Request and store-call latencies, nanoseconds. Finer than Prometheus's defaults below
/// 10 ms, where cached answers and indexed queries live, so interpolated percentiles stay
/// within a few tenths of a millisecond there.
pub const LATENCY_NS: &[u64] = &[
    50_000,
    100_000,
    250_000,
    500_000,
    750_000,
    1_000_000,
    1_500_000,
    2_500_000,
    5_000_000,
    7_500_000,
    10_000_000,
    15_000_000,
    25_000_000,
    50_000_000,
    75_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Response sizes, bytes.
pub const SIZE_BYTES: &[u64] = &[256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304];

/// Where each figure sits among the cells: then one bucket per bound and one for `+Inf`.
const COUNT: usize = 0;
const SUM: usize = 1;
const MAX: usize = 2;
const BUCKETS: usize = 3;

#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds (inclusive), ascending; one more bucket past the last for `+Inf`.
    bounds: &'static [u64],
    cells: Cells,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            cells: Cells::new(BUCKETS + bounds.len() + 1),
        }
    }

    pub fn record(&self, value: u64) {
        let i = self.bounds.partition_point(|b| *b < value);
        self.cells.add(BUCKETS + i, 1);
        self.cells.add(COUNT, 1);
        self.cells.add(SUM, value);
        self.cells.raise(MAX, value);
    }

    pub fn count(&self) -> u64 {
        self.cells.sum(COUNT)
    }

    pub fn sum(&self) -> u64 {
        self.cells.sum(SUM)
    }

    pub fn max(&self) -> u64 {
        self.cells.max(MAX)
    }

    fn bucket_counts(&self) -> impl Iterator<Item = u64> + '_ {
        (0..=self.bounds.len()).map(|i| self.cells.sum(BUCKETS + i))
    }

    /// The `q` quantile (0..=1), interpolated linearly inside its bucket as Prometheus's
    /// `histogram_quantile` does, and never above the largest value seen. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self.bucket_counts().collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let max = self.max() as f64;
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut below = 0u64;
        for (i, &n) in counts.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { self.bounds[i - 1] as f64 };
                let upper = self.bounds.get(i).map_or(max, |b| *b as f64).min(max);
                let within = (rank - below as f64) / n as f64;
                return Some(lower.min(upper) + (upper - lower.min(upper)) * within);
            }
            below += n;
        }
        Some(max)
    }

    /// `_bucket`, `_sum` and `_count` lines; `labels` is the inside of the braces (may be
    /// empty); recorded values are exposed divided by 10^`decimals` (9: nanoseconds as seconds).
    pub fn render(&self, out: &mut String, name: &str, labels: &str, decimals: u32) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, n) in self.bucket_counts().enumerate() {
            cumulative += n;
            match self.bounds.get(i) {
                Some(b) => {
                    let le = decimal(*b, decimals);
                    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", decimal(self.sum(), decimals));
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// `value / 10^decimals` written exactly (no binary-float noise such as `5.0000000000000004e-5`).
pub fn decimal(value: u64, decimals: u32) -> String {
    let unit = 10u64.pow(decimals);
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:0width$}", width = decimals as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets_and_stop_at_the_max() {
        let h = Histogram::new(&[10, 20, 40]);
        assert_eq!(h.quantile(0.5), None);
        for v in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] {
            h.record(v);
        }
        // All ten in the first bucket (0, 10]: the median is interpolated to 5.
        assert_eq!(h.quantile(0.5), Some(5.0));
        h.record(35);
        // The one value above 20 is the max: the top quantile cannot exceed it.
        assert_eq!(h.quantile(1.0), Some(35.0));
        h.record(1000);
        assert_eq!(h.quantile(1.0), Some(1000.0));
        assert_eq!(h.count(), 12);
        assert_eq!(h.sum(), 55 + 35 + 1000);
    }

    #[test]
    fn exposition_is_cumulative_with_inf_sum_and_count() {
        let h = Histogram::new(&[1_000, 2_000]);
        h.record(500);
        h.record(1_500);
        h.record(9_000);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "route=\"a\"", 6);
        assert!(out.contains("x_seconds_bucket{route=\"a\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{route=\"a\",le=\"0.002\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{route=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum{route=\"a\"} 0.011\n"), "{out}");
        assert!(out.contains("x_seconds_count{route=\"a\"} 3\n"), "{out}");
        assert_eq!(decimal(50_000, 9), "0.00005");
        assert_eq!(decimal(2_500_000_000, 9), "2.5");
        assert_eq!(decimal(4096, 0), "4096");
    }
}
