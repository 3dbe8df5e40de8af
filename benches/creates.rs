//! `POST /api/v1/metrics` throughput: C connections each creating distinct metrics for S seconds
//! against a running server (a separate process, like any client).
//!
//! `cargo bench --bench creates -- BASE_URL TOKEN [CONNECTIONS] [SECONDS]`

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let base = args
        .next()
        .expect("usage: creates BASE_URL TOKEN [CONNECTIONS] [SECONDS]");
    let token = args.next().expect("a bearer token");
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let run = format!("{:x}", std::process::id());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let (client, base, token, run) = (client.clone(), base.clone(), token.clone(), run.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let mut doc = mdl::domain::synthetic::synthetic_metric(1_000_000 + w * 1_000_000 + n);
                    doc["metric_id"] = format!("CREATE-{run}-{w}-{n}").into();
                    n += 1;
                    let started = Instant::now();
                    let response = client
                        .post(format!("{base}/api/v1/metrics"))
                        .bearer_auth(&token)
                        .json(&doc)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().as_u16() == 201 => latencies.push(started.elapsed()),
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut failures = 0;
    for w in workers {
        if let Ok((l, f)) = w.await {
            all.extend(l);
            failures += f;
        }
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "creates: {} in {seconds} s = {:.0}/s with {connections} connections; p50 {:.2} ms, p99 {:.2} ms; failures {failures}",
        all.len(),
        all.len() as f64 / seconds as f64,
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
}
