//! The traffic: weighted read transactions for goose users, and writes paced by the reads (a
//! share of them) or by the clock.

use goose::prelude::*;
use rand::seq::IndexedRandom;
use rand_distr::{Distribution, Zipf};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What every goose user shares: the token (logged in once, so the login limit is never hit),
/// ids and filter values that exist in the data, and the latency samples.
pub struct Shared {
    pub token: String,
    /// Ids from across the catalog in random order; `popularity` picks among them.
    pub ids: Vec<String>,
    /// Rank of the id (and of the page past the first) a read asks for: Zipf with the `--skew`
    /// exponent, as dashboards read a few definitions far more than the rest; uniform at 0.
    pub popularity: Popularity,
    pub categories: Vec<String>,
    pub tiers: Vec<String>,
    pub domains: Vec<String>,
    pub words: Vec<String>,
    /// Business domain ids (may be empty: the synthetic catalog need not have any).
    pub domain_ids: Vec<String>,
    pub pages: u64,
    pub started: Instant,
    /// (milliseconds since start, latency in microseconds, success).
    pub samples: Mutex<Vec<(u32, u32, bool)>>,
    /// Reads answered in the current attack: what a share-paced writer follows.
    pub reads: AtomicU64,
}

static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();

pub fn install(shared: Arc<Shared>) {
    let _ = SHARED.set(shared);
}

fn shared() -> &'static Arc<Shared> {
    SHARED.get().expect("scenario data installed before the attack")
}

/// Zipf-distributed ranks over the id pool and over the pages past the first.
pub struct Popularity {
    ids: Option<Zipf<f64>>,
    pages: Option<Zipf<f64>>,
}

impl Popularity {
    pub fn new(skew: f64, ids: usize, pages: u64) -> Popularity {
        let zipf = |n: f64| (skew > 0.0 && n >= 1.0).then(|| Zipf::new(n, skew).ok()).flatten();
        Popularity {
            ids: zipf(ids as f64),
            pages: zipf(pages.saturating_sub(1) as f64),
        }
    }

    /// An index below `n`.
    fn rank(zipf: Option<&Zipf<f64>>, n: usize) -> usize {
        match zipf {
            Some(z) => (z.sample(&mut rand::rng()) as usize)
                .saturating_sub(1)
                .min(n.saturating_sub(1)),
            None => rand::random_range(0..n.max(1)),
        }
    }
}

fn pick_id() -> String {
    let s = shared();
    let i = Popularity::rank(s.popularity.ids.as_ref(), s.ids.len());
    s.ids.get(i).cloned().unwrap_or_default()
}

fn pick(values: &[String]) -> String {
    values.choose(&mut rand::rng()).cloned().unwrap_or_default()
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn get(user: &mut GooseUser, name: &str, path: &str) -> TransactionResult {
    let s = shared();
    let builder = user
        .get_request_builder(&GooseMethod::Get, path)?
        .bearer_auth(&s.token)
        .header("accept-encoding", "gzip");
    let request = GooseRequest::builder().set_request_builder(builder).name(name).build();
    let started = Instant::now();
    let response = user.request(request).await?;
    let ok = response.response.as_ref().is_ok_and(|r| r.status().is_success());
    let sample = (
        s.started.elapsed().as_millis() as u32,
        started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32,
        ok,
    );
    if let Ok(mut samples) = s.samples.lock() {
        samples.push(sample);
    }
    s.reads.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

async fn list_first(user: &mut GooseUser) -> TransactionResult {
    get(user, "list page 1", "/api/v1/metrics?page=1&limit=50").await
}

async fn list_other(user: &mut GooseUser) -> TransactionResult {
    let s = shared();
    let others = s.pages.saturating_sub(1).max(1) as usize;
    let page = 2 + Popularity::rank(s.popularity.pages.as_ref(), others);
    get(
        user,
        "list other page",
        &format!("/api/v1/metrics?page={page}&limit=50"),
    )
    .await
}

async fn list_filtered(user: &mut GooseUser) -> TransactionResult {
    let s = shared();
    let (key, values) = match rand::random_range(0..3) {
        0 => ("category", &s.categories),
        1 => ("tier", &s.tiers),
        _ => ("business_domain", &s.domains),
    };
    let path = format!("/api/v1/metrics?{key}={}&limit=50", encode(&pick(values)));
    get(user, "list filtered", &path).await
}

async fn search(user: &mut GooseUser) -> TransactionResult {
    let path = format!("/api/v1/metrics?q={}&limit=20", encode(&pick(&shared().words)));
    get(user, "search", &path).await
}

async fn one_metric(user: &mut GooseUser) -> TransactionResult {
    let path = format!("/api/v1/metrics/{}", pick_id());
    get(user, "single metric", &path).await
}

async fn stats(user: &mut GooseUser) -> TransactionResult {
    get(user, "stats", "/api/v1/stats").await
}

async fn policy(user: &mut GooseUser) -> TransactionResult {
    let path = format!("/api/v1/metrics/{}/policy", pick_id());
    get(user, "policy", &path).await
}

async fn domains(user: &mut GooseUser) -> TransactionResult {
    get(user, "domains", "/api/v1/domains?limit=50").await
}

async fn domain(user: &mut GooseUser) -> TransactionResult {
    // The id is picked before any await: the thread's generator must not live across one.
    let path = shared()
        .domain_ids
        .choose(&mut rand::rng())
        .map(|id| format!("/api/v1/domains/{}", encode(id)));
    match path {
        Some(path) => get(user, "domain", &path).await,
        None => domains(user).await,
    }
}

/// People at their desks: each user reads one page, thinks 1-5 s, reads the next. Mostly
/// filtered catalog lists and single definitions, some searches and domain pages.
pub fn people() -> Result<Scenario, GooseError> {
    Ok(scenario!("people")
        .set_wait_time(Duration::from_secs(1), Duration::from_secs(5))?
        .register_transaction(transaction!(list_first).set_name("list page 1").set_weight(15)?)
        .register_transaction(transaction!(list_other).set_name("list other page").set_weight(5)?)
        .register_transaction(transaction!(list_filtered).set_name("list filtered").set_weight(30)?)
        .register_transaction(transaction!(one_metric).set_name("single metric").set_weight(25)?)
        .register_transaction(transaction!(search).set_name("search").set_weight(10)?)
        .register_transaction(transaction!(domains).set_name("domains").set_weight(8)?)
        .register_transaction(transaction!(domain).set_name("domain").set_weight(7)?))
}

/// Read traffic weighted like a dashboard fleet: mostly first pages, filters and single
/// definitions.
pub fn readers() -> Result<Scenario, GooseError> {
    Ok(scenario!("readers")
        .register_transaction(transaction!(list_first).set_name("list page 1").set_weight(30)?)
        .register_transaction(transaction!(list_other).set_name("list other page").set_weight(10)?)
        .register_transaction(transaction!(list_filtered).set_name("list filtered").set_weight(25)?)
        .register_transaction(transaction!(search).set_name("search").set_weight(8)?)
        .register_transaction(transaction!(one_metric).set_name("single metric").set_weight(20)?)
        .register_transaction(transaction!(stats).set_name("stats").set_weight(4)?)
        .register_transaction(transaction!(policy).set_name("policy").set_weight(3)?))
}

/// How the writer keeps pace.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Writes per read: the same invalidation pressure per request on any machine, so hit
    /// rates compare across machine speeds.
    Share(f64),
    /// Writes per second, whatever the read load.
    PerSecond(f64),
}

/// Creates and updates for `duration` at `pace`, so the cache is invalidated under load.
/// Returns (acknowledged writes, failed writes).
pub async fn writer(base: String, token: String, pace: Pace, duration: Duration) -> (u64, u64) {
    let client = reqwest::Client::new();
    let run = format!("{:x}", std::process::id());
    let deadline = Instant::now() + duration;
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut n = 0u64;
    let (mut tick, share) = match pace {
        Pace::PerSecond(rate) if rate > 0.0 => (Some(tokio::time::interval(Duration::from_secs_f64(1.0 / rate))), 0.0),
        Pace::Share(share) if share > 0.0 => (None, share),
        _ => return (0, 0),
    };
    while Instant::now() < deadline {
        if let Some(tick) = &mut tick {
            tick.tick().await;
        } else if n >= (shared().reads.load(Ordering::Relaxed) as f64 * share) as u64 {
            // Polled: at thousands of reads per second this is well under one write's worth
            // of reads late.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        match write(&client, &base, &token, &run, n).await {
            true => ok += 1,
            false => failed += 1,
        }
        n += 1;
    }
    (ok, failed)
}

/// The `n`th write: even ones create a metric, odd ones update the one just created.
async fn write(client: &reqwest::Client, base: &str, token: &str, run: &str, n: u64) -> bool {
    let id = format!("LOADTEST-{run}-{}", n / 2);
    let (method, url, body) = if n.is_multiple_of(2) {
        let doc = json!({
            "metric_id": id, "name": format!("Load test metric {n}"),
            "description": "Written by mdl-loadtest to invalidate caches under load.",
            "category": "Load Test", "tier": "Tier-3", "business_domain": "Load Test",
            "metric_type": "operational", "tags": ["loadtest"],
        });
        (reqwest::Method::POST, format!("{base}/api/v1/metrics"), doc)
    } else {
        let patch = json!({ "description": format!("Updated by mdl-loadtest ({n})") });
        (reqwest::Method::PATCH, format!("{base}/api/v1/metrics/{id}"), patch)
    };
    let response = client.request(method, url).bearer_auth(token).json(&body).send().await;
    response.is_ok_and(|r| r.status().is_success())
}
