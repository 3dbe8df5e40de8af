//! Ratio and CPU cost of each compression algorithm and level on the page MDL serves most: 50
//! full synthetic metric definitions in the list envelope.
//!
//! `cargo bench --bench compression` prints a markdown table (median of 30 runs per cell).

use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut() -> usize) -> (usize, Duration) {
    let mut size = 0;
    let samples = (0..runs)
        .map(|_| {
            let started = Instant::now();
            size = f();
            started.elapsed()
        })
        .collect();
    (size, median(samples))
}

fn main() {
    let items: Vec<_> = (0..50).map(mdl::domain::synthetic::synthetic_metric).collect();
    let page = json!({ "success": true, "data": items, "pagination": { "page": 1, "limit": 50 } }).to_string();
    let body = page.as_bytes();
    let runs = 30;
    println!("page: {} bytes of JSON (50 definitions)\n", body.len());
    println!("| algorithm | level | compressed bytes | ratio | median time per page | MB/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, level: i32, (size, t): (usize, Duration)| {
        let mbps = body.len() as f64 / t.as_secs_f64() / 1e6;
        println!(
            "| {name} | {level} | {size} | {:.1} | {:.2} ms | {mbps:.0} |",
            body.len() as f64 / size as f64,
            t.as_secs_f64() * 1000.0
        );
    };
    for level in [1, 6, 9] {
        row(
            "gzip",
            level,
            time(runs, || {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level as u32));
                e.write_all(body).unwrap_or_default();
                e.finish().map(|v| v.len()).unwrap_or_default()
            }),
        );
    }
    for level in [1, 6] {
        row(
            "deflate",
            level,
            time(runs, || {
                let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level as u32));
                e.write_all(body).unwrap_or_default();
                e.finish().map(|v| v.len()).unwrap_or_default()
            }),
        );
    }
    for level in [1, 4, 11] {
        row(
            "br",
            level,
            time(runs, || {
                let mut out = Vec::new();
                let params = brotli::enc::BrotliEncoderParams {
                    quality: level,
                    ..Default::default()
                };
                brotli::BrotliCompress(&mut &body[..], &mut out, &params).unwrap_or_default();
                out.len()
            }),
        );
    }
    for level in [1, 3, 19] {
        row(
            "zstd",
            level,
            time(runs, || {
                zstd::bulk::compress(body, level).map(|v| v.len()).unwrap_or_default()
            }),
        );
    }
    let (_, t) = time(runs, || {
        serde_json::to_vec(&json!({ "data": items }))
            .map(|v| v.len())
            .unwrap_or_default()
    });
    println!("\nserialising the page itself: {:.2} ms", t.as_secs_f64() * 1000.0);
}
