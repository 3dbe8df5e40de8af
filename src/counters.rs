//! Figures that every request adds to, spread over cache lines by thread.
//!
//! One shared atomic per figure made each request on one core take the cache line the other
//! core had just written: callgrind does not see that (it counts instructions, not line
//! transfers), but `perf` under load does. Each thread adds to its own shard, a whole line
//! pair apart from the others, and a read sums the shards, which only the stats routes and
//! the Prometheus scrape do.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Threads beyond this many share shards: still a fraction of the contention of one atomic.
const SHARDS: usize = 4;
/// Words per padded line: 128 bytes, because x86 prefetches lines in adjacent pairs.
const LINE_WORDS: usize = 16;

#[repr(align(128))]
struct Line([AtomicU64; LINE_WORDS]);

impl Line {
    fn new() -> Line {
        Line(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// This thread's shard, handed out in turn the first time a thread asks.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// `width` figures, each kept once per shard.
pub struct Cells {
    lines_per_shard: usize,
    lines: Box<[Line]>,
}

impl std::fmt::Debug for Cells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cells").field("width", &self.width()).finish()
    }
}

impl Cells {
    pub fn new(width: usize) -> Cells {
        let lines_per_shard = width.div_ceil(LINE_WORDS).max(1);
        Cells {
            lines_per_shard,
            lines: (0..lines_per_shard * SHARDS).map(|_| Line::new()).collect(),
        }
    }

    fn width(&self) -> usize {
        self.lines_per_shard * LINE_WORDS
    }

    fn cell(&self, shard: usize, i: usize) -> &AtomicU64 {
        &self.lines[shard * self.lines_per_shard + i / LINE_WORDS].0[i % LINE_WORDS]
    }

    pub fn add(&self, i: usize, n: u64) {
        self.cell(shard(), i).fetch_add(n, Relaxed);
    }

    /// Raises figure `i` to at least `n` (this thread's shard; [`Cells::max`] reads them all).
    pub fn raise(&self, i: usize, n: u64) {
        let cell = self.cell(shard(), i);
        // A plain load first: the maximum rarely moves, and a read keeps the line shared.
        if cell.load(Relaxed) < n {
            cell.fetch_max(n, Relaxed);
        }
    }

    pub fn sum(&self, i: usize) -> u64 {
        (0..SHARDS)
            .map(|s| self.cell(s, i).load(Relaxed))
            .fold(0, u64::wrapping_add)
    }

    pub fn max(&self, i: usize) -> u64 {
        (0..SHARDS).map(|s| self.cell(s, i).load(Relaxed)).max().unwrap_or(0)
    }
}

/// One figure, kept once per shard.
#[derive(Debug)]
pub struct Counter(Cells);

impl Default for Counter {
    fn default() -> Counter {
        Counter(Cells::new(1))
    }
}

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.add(0, n);
    }

    pub fn get(&self) -> u64 {
        self.0.sum(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_from_many_threads_sum_exactly() {
        let cells = Cells::new(20);
        let counter = Counter::default();
        std::thread::scope(|s| {
            for t in 0..7u64 {
                let (cells, counter) = (&cells, &counter);
                s.spawn(move || {
                    for _ in 0..1000 {
                        cells.add(19, 2);
                        cells.add(0, 1);
                        counter.add(1);
                    }
                    cells.raise(5, t * 10);
                });
            }
        });
        assert_eq!((cells.sum(0), cells.sum(19), counter.get()), (7000, 14_000, 7000));
        assert_eq!(cells.max(5), 60);
        assert_eq!(cells.sum(7), 0);
    }
}
