//! `mdl-loadtest`: goose load profiles against a running MDL server on loopback, with writes as
//! a share of reads, thresholds checked at the end (exit code 1 when broken), goose's HTML report
//! and a summary JSON.

mod report;
mod scenarios;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use goose::config::GooseConfiguration;
use goose::prelude::*;
use rand::seq::SliceRandom;
use report::{Figures, Thresholds};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profile {
    /// 30 s at a few users: does everything answer?
    Smoke,
    /// Ramp up, hold, ramp down.
    Steady,
    /// A sudden jump to many users and back.
    Spike,
    /// Steps of doubling users until a threshold breaks; reports the knee.
    Stress,
    /// A long hold; reports RSS and latency drift between the first and last tenth.
    Soak,
    /// 1,000 people (by default) browsing with 1-5 s of think time between pages; the floor of
    /// the scale-out plan as thresholds (p95 200 ms, p99 500 ms, errors 0.1 %, hit rate 0.8).
    Users,
}

#[derive(Debug, Parser)]
#[command(name = "mdl-loadtest", about = "Load profiles against a running MDL server")]
struct Args {
    /// Base URL of the server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    host: String,
    #[arg(long, value_enum, default_value = "smoke")]
    profile: Profile,
    /// Users at the plateau (stress: the first step).
    #[arg(long)]
    users: Option<usize>,
    /// Length of the whole run, seconds (stress: of each step).
    #[arg(long)]
    duration: Option<u64>,
    /// Creates and updates by an editor per read (0.001: one write per 1,000 reads).
    #[arg(long, default_value_t = 0.001)]
    write_share: f64,
    /// Writes per second instead, whatever the read load (how runs before `--write-share`
    /// were paced).
    #[arg(long)]
    writes_per_sec: Option<f64>,
    /// Zipf exponent of which metric and which list page is read (0: uniform).
    #[arg(long, default_value_t = 1.0)]
    skew: f64,
    /// Seconds at the start whose samples are left out of the figures, tenths and RSS drift
    /// (caches filling, allocator growing); default 60 for soak, 0 otherwise.
    #[arg(long)]
    warmup: Option<u64>,
    /// Distinct metric ids single reads choose from, sampled across the whole catalog.
    #[arg(long, default_value_t = 1000)]
    id_pool: usize,
    #[arg(long, env = "MDL_LOADTEST_USER", default_value = "admin")]
    username: String,
    #[arg(long, env = "MDL_LOADTEST_PASSWORD")]
    password: String,
    /// Servers whose cache counters are summed for the hit rate (comma-separated base URLs;
    /// behind a balancer: every instance). Default: `--host`.
    #[arg(long, value_delimiter = ',')]
    stats_hosts: Vec<String>,
    /// Where the HTML report and summary JSON go.
    #[arg(long, default_value = "loadtest-results")]
    out: PathBuf,
    // Defaults from measured runs on 2 shared cores (docs/benchmarks.md) with headroom: steady
    // p95 32-42 ms, p99 63-71 ms, spike p99 97 ms, no errors, hit rates 0.88-0.92 at 4 writes/s
    // (0.91 smoke, 0.93 steady at one write per 1,000 reads with per-filter list invalidation).
    // All stricter than the older plan's floor (p95 200, p99 500, errors 1 %, hit rate 0.8),
    // which is what the users profile checks by default.
    /// p95 threshold, ms (default 75; users 200).
    #[arg(long)]
    p95_ms: Option<f64>,
    /// p99 threshold, ms (default 150; users 500).
    #[arg(long)]
    p99_ms: Option<f64>,
    #[arg(long, default_value_t = 0.001)]
    max_error_rate: f64,
    /// Minimum cache hit rate over the run, from the server's `/api/v1/stats/cache` (default
    /// 0.85; users 0.8). Behind a balancer, list every instance in `--stats-hosts`.
    #[arg(long)]
    min_hit_rate: Option<f64>,
}

impl Args {
    fn pace(&self) -> scenarios::Pace {
        match self.writes_per_sec {
            Some(rate) => scenarios::Pace::PerSecond(rate),
            None => scenarios::Pace::Share(self.write_share),
        }
    }

    fn defaults(&self) -> (usize, u64) {
        let (users, secs) = match self.profile {
            Profile::Smoke => (5, 30),
            Profile::Steady => (50, 120),
            Profile::Spike => (20, 90),
            Profile::Stress => (8, 20),
            Profile::Soak => (30, 600),
            Profile::Users => (1000, 180),
        };
        (self.users.unwrap_or(users), self.duration.unwrap_or(secs))
    }

    fn stats_hosts(&self) -> Vec<String> {
        if self.stats_hosts.is_empty() {
            vec![self.host.clone()]
        } else {
            self.stats_hosts.clone()
        }
    }

    /// Seconds over which the users profile starts its users (goose starts them evenly).
    fn ramp_s(&self) -> u64 {
        let (_, d) = self.defaults();
        (d / 4).clamp(1, 60)
    }

    fn thresholds(&self) -> Thresholds {
        let users = self.profile == Profile::Users;
        Thresholds {
            p95_ms: self.p95_ms.unwrap_or(if users { 200.0 } else { 75.0 }),
            p99_ms: self.p99_ms.unwrap_or(if users { 500.0 } else { 150.0 }),
            max_error_rate: self.max_error_rate,
            min_hit_rate: Some(self.min_hit_rate.unwrap_or(if users { 0.8 } else { 0.85 })),
        }
    }

    fn warmup_ms(&self) -> u64 {
        let default = match self.profile {
            Profile::Soak => 60,
            // Measured at the plateau: every user started.
            Profile::Users => self.ramp_s(),
            _ => 0,
        };
        let (_, seconds) = self.defaults();
        // At least half the run stays measured.
        self.warmup.unwrap_or(default).min(seconds / 2) * 1000
    }

    /// Goose test plan: `users,time;users,time;...` (each step ramps to its user count).
    fn plan(&self) -> String {
        let (u, d) = self.defaults();
        match self.profile {
            Profile::Smoke => format!("{u},2s;{u},{}s;0,1s", d.saturating_sub(3).max(1)),
            Profile::Steady => {
                let ramp = (d / 6).max(1);
                format!("{u},{ramp}s;{u},{}s;0,{ramp}s", d.saturating_sub(2 * ramp).max(1))
            }
            Profile::Spike => {
                let part = (d / 4).max(1);
                let high = u * 5;
                format!("{u},5s;{u},{part}s;{high},2s;{high},{part}s;{u},2s;{u},{part}s;0,2s")
            }
            Profile::Soak => format!("{u},10s;{u},{}s;0,2s", d.saturating_sub(12).max(1)),
            Profile::Stress => format!("{u},2s;{u},{d}s;0,1s"),
            Profile::Users => {
                let ramp = self.ramp_s();
                format!("{u},{ramp}s;{u},{}s;0,2s", d.saturating_sub(ramp + 2).max(1))
            }
        }
    }
}

fn loopback(host: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| host.starts_with(p))
}

async fn login(client: &reqwest::Client, args: &Args) -> anyhow::Result<String> {
    let body: Value = client
        .post(format!("{}/api/v1/auth/login", args.host))
        .json(&json!({ "username": args.username, "password": args.password }))
        .send()
        .await?
        .json()
        .await?;
    body["data"]["tokens"]["access_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("login failed: {body}"))
}

async fn get_json(client: &reqwest::Client, host: &str, token: &str, path: &str) -> anyhow::Result<Value> {
    Ok(client
        .get(format!("{host}{path}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?)
}

/// Ids, filter values and search words that exist in the data.
async fn prepare(client: &reqwest::Client, args: &Args, token: String) -> anyhow::Result<scenarios::Shared> {
    let stats = get_json(client, &args.host, &token, "/api/v1/stats").await?;
    let keys = |k: &str| -> Vec<String> {
        stats["data"][k]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let total = stats["data"]["total_metrics"].as_u64().unwrap_or(0);
    if total == 0 {
        bail!("the catalog is empty: seed it first (mdl seed --synthetic N)");
    }
    // Evenly spaced pages of 100, so the pool spans the catalog rather than its first names.
    let catalog_pages = total.div_ceil(100);
    let wanted = (args.id_pool as u64).div_ceil(100).clamp(1, catalog_pages);
    let mut items = Vec::new();
    for k in 0..wanted {
        let page = 1 + k * catalog_pages / wanted;
        let body = get_json(
            client,
            &args.host,
            &token,
            &format!("/api/v1/metrics?limit=100&page={page}&fields=metric_id,name"),
        )
        .await?;
        items.extend(body["data"].as_array().cloned().unwrap_or_default());
    }
    let mut ids: Vec<String> = items
        .iter()
        .filter_map(|m| m["metric_id"].as_str().map(str::to_owned))
        .take(args.id_pool.max(1))
        .collect();
    // Popularity must not follow alphabetical order.
    ids.shuffle(&mut rand::rng());
    let pages = total.div_ceil(50);
    // Search terms: the words of the first page's names (a bounded, repeating vocabulary).
    let mut words: Vec<String> = items
        .iter()
        .take(100)
        .filter_map(|m| m["name"].as_str())
        .flat_map(|n| n.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
        .filter(|w| w.len() > 3 && w.chars().all(char::is_alphabetic))
        .collect();
    words.sort();
    words.dedup();
    let domains = get_json(client, &args.host, &token, "/api/v1/domains?limit=100").await?;
    let domain_ids = domains["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["domain_id"].as_str().or_else(|| d["id"].as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(scenarios::Shared {
        token,
        popularity: scenarios::Popularity::new(args.skew, ids.len(), pages),
        ids,
        categories: keys("by_category"),
        tiers: keys("by_tier"),
        domains: keys("by_business_domain"),
        words,
        domain_ids,
        pages,
        started: Instant::now(),
        samples: Mutex::new(Vec::new()),
        reads: std::sync::atomic::AtomicU64::new(0),
    })
}

/// Hits and misses so far, from the server (admin): overall and per route template.
#[derive(Debug, Clone, Default)]
struct CacheCounts {
    hits: u64,
    misses: u64,
    routes: Vec<(String, u64, u64)>,
}

/// Summed over `hosts`: behind a balancer each instance counts only what it served.
async fn cache_counts(client: &reqwest::Client, hosts: &[String], token: &str) -> Option<CacheCounts> {
    let mut sum = CacheCounts::default();
    for host in hosts {
        let c = instance_cache_counts(client, host, token).await?;
        sum.hits += c.hits;
        sum.misses += c.misses;
        for (t, h, m) in c.routes {
            match sum.routes.iter_mut().find(|r| r.0 == t) {
                Some(r) => {
                    r.1 += h;
                    r.2 += m;
                }
                None => sum.routes.push((t, h, m)),
            }
        }
    }
    Some(sum)
}

async fn instance_cache_counts(client: &reqwest::Client, host: &str, token: &str) -> Option<CacheCounts> {
    let stats = get_json(client, host, token, "/api/v1/stats/cache").await.ok()?;
    let d = &stats["data"];
    if d["enabled"] != json!(true) {
        return None;
    }
    let routes = d["routes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(t, c)| {
                    let n = |k: &str| c[k].as_u64().unwrap_or(0);
                    (t.clone(), n("hits"), n("misses"))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CacheCounts {
        hits: d["hits"].as_u64()?,
        misses: d["misses"].as_u64()?,
        routes,
    })
}

async fn server_rss(client: &reqwest::Client, host: &str, token: &str) -> Option<u64> {
    let stats = get_json(client, host, token, "/api/performance/stats").await.ok()?;
    stats["data"]["process"]["rss_bytes"].as_u64()
}

/// One goose attack with `plan`, plus the writer and (optionally) RSS sampling alongside.
async fn attack(
    args: &Args,
    shared: &Arc<scenarios::Shared>,
    plan: &str,
    seconds: u64,
    warmup_ms: u64,
    report_file: &str,
) -> anyhow::Result<(Figures, Vec<(u64, u64)>, (u64, u64))> {
    if let Ok(mut s) = shared.samples.lock() {
        s.clear();
    }
    shared.reads.store(0, std::sync::atomic::Ordering::Relaxed);
    let writer = tokio::spawn(scenarios::writer(
        args.host.clone(),
        shared.token.clone(),
        args.pace(),
        Duration::from_secs(seconds),
    ));
    let sampler = {
        let (client, host, token) = (reqwest::Client::new(), args.host.clone(), shared.token.clone());
        tokio::spawn(async move {
            let mut rss = Vec::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(seconds) {
                if let Some(bytes) = server_rss(&client, &host, &token).await {
                    rss.push((started.elapsed().as_millis() as u64, bytes));
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            rss
        })
    };
    let started = Instant::now();
    let offset = shared.started.elapsed().as_millis() as u32;
    GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(match args.profile {
            Profile::Users => scenarios::people()?,
            _ => scenarios::readers()?,
        })
        .set_default(GooseDefault::Host, args.host.as_str())?
        .set_default(GooseDefault::TestPlan, plan)?
        .set_default(GooseDefault::ReportFile, report_file)?
        .set_default(GooseDefault::Quiet, 1)?
        .set_default(GooseDefault::NoTelnet, true)?
        .execute()
        .await?;
    let elapsed = (started.elapsed().as_secs_f64() - warmup_ms as f64 / 1000.0).max(0.001);
    // Times relative to the end of the warm-up; earlier samples are dropped.
    let warmup = u32::try_from(warmup_ms).unwrap_or(u32::MAX);
    let samples: Vec<(u32, u32, bool)> = shared
        .samples
        .lock()
        .map(|s| {
            s.iter()
                .map(|(t, l, ok)| (t.saturating_sub(offset), *l, *ok))
                .filter(|(t, ..)| *t >= warmup)
                .map(|(t, l, ok)| (t - warmup, l, ok))
                .collect()
        })
        .unwrap_or_default();
    let writes = writer.await.unwrap_or((0, 0));
    let rss: Vec<(u64, u64)> = sampler
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(t, _)| *t >= warmup_ms)
        .collect();
    let figures = report::figures(&samples, elapsed);
    if let Ok(mut s) = shared.samples.lock() {
        *s = samples;
    }
    Ok((figures, rss, writes))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(h) = std::iter::once(&args.host)
        .chain(&args.stats_hosts)
        .find(|h| !loopback(h))
    {
        bail!("load is only ever sent to loopback targets (got {h})");
    }
    std::fs::create_dir_all(&args.out)?;
    let client = reqwest::Client::new();
    let token = login(&client, &args).await?;
    let shared = Arc::new(prepare(&client, &args, token.clone()).await?);
    scenarios::install(shared.clone());
    let thresholds = args.thresholds();
    let (users, seconds) = args.defaults();
    let name = format!("{:?}", args.profile).to_lowercase();
    let report_file = args.out.join(format!("{name}.html"));
    let report_file = report_file.to_string_lossy().into_owned();
    let before = cache_counts(&client, &args.stats_hosts(), &token).await;

    let mut summary = json!({
        "profile": name, "host": args.host, "users": users, "write_share": args.write_share, "writes_per_sec": args.writes_per_sec,
        "skew": args.skew, "id_pool": args.id_pool, "warmup_s": args.warmup_ms() / 1000,
        "thresholds": { "p95_ms": thresholds.p95_ms, "p99_ms": thresholds.p99_ms, "max_error_rate": thresholds.max_error_rate, "min_hit_rate": thresholds.min_hit_rate },
    });
    let overall = if args.profile == Profile::Stress {
        // Double the users each step until a threshold breaks (or 8 steps): the knee is the
        // last step that held.
        let mut steps = Vec::new();
        let mut knee = None;
        let mut last = None;
        for step in 0..8 {
            let step_users = users << step;
            let plan = format!("{step_users},2s;{step_users},{seconds}s;0,1s");
            let step_before = cache_counts(&client, &args.stats_hosts(), &token).await;
            let (f, _, _) = attack(&args, &shared, &plan, seconds + 3, 0, &report_file).await?;
            let hit = hit_rate(
                step_before.as_ref(),
                cache_counts(&client, &args.stats_hosts(), &token).await.as_ref(),
            );
            // The knee is where latency or errors give way; the hit rate is reported, not judged.
            let latency_only = Thresholds {
                min_hit_rate: None,
                ..thresholds
            };
            let broken = report::verdict(&f, hit, &latency_only);
            println!(
                "stress step {step}: {step_users} users, {:.0} req/s, p95 {:.2} ms, p99 {:.2} ms, errors {:.4}{}",
                f.rps(),
                f.p95_ms,
                f.p99_ms,
                f.error_rate(),
                if broken.is_empty() {
                    String::new()
                } else {
                    format!(" -> broken: {}", broken.join("; "))
                }
            );
            let mut row = f.to_json();
            row["users"] = json!(step_users);
            row["cache_hit_rate"] = json!(hit);
            steps.push(row);
            if !broken.is_empty() {
                break;
            }
            knee = Some(step_users);
            last = Some(f);
        }
        summary["steps"] = json!(steps);
        summary["knee_users"] = json!(knee);
        // The verdict of a stress run is that it found a knee; its thresholds end it.
        summary["passed"] = json!(true);
        last
    } else {
        let started_epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (f, rss, writes) = attack(&args, &shared, &args.plan(), seconds, args.warmup_ms(), &report_file).await?;
        let after = cache_counts(&client, &args.stats_hosts(), &token).await;
        let hit = hit_rate(before.as_ref(), after.as_ref());
        summary["cache_routes"] = route_hit_rates(before.as_ref(), after.as_ref());
        let broken = report::verdict(&f, hit, &thresholds);
        summary["result"] = f.to_json();
        summary["cache_hit_rate"] = json!(hit);
        summary["writes"] = json!({ "acknowledged": writes.0, "failed": writes.1 });
        summary["broken"] = json!(broken);
        summary["passed"] = json!(broken.is_empty());
        let samples = shared.samples.lock().map(|s| s.clone()).unwrap_or_default();
        // Every sample, for plots and for comparing parts of a run: milliseconds since the
        // end of the warm-up (its epoch is in the summary), latency in microseconds, success.
        let samples_file = args.out.join(format!("{name}-samples.csv"));
        let mut csv = String::from("t_ms,latency_us,ok\n");
        for (t, l, ok) in &samples {
            csv.push_str(&format!("{t},{l},{}\n", u8::from(*ok)));
        }
        std::fs::write(&samples_file, csv)?;
        summary["samples_file"] = json!(samples_file);
        summary["measured_from_epoch_ms"] = json!(started_epoch_ms + args.warmup_ms());
        let tenths = report::tenths(&samples, f.seconds);
        summary["tenths"] = json!(tenths.iter().map(Figures::to_json).collect::<Vec<_>>());
        if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
            summary["rss_bytes"] =
                json!({ "first": first.1, "last": last.1, "drift": report::drift(first.1 as f64, last.1 as f64) });
        }
        if let (Some(first), Some(last)) = (tenths.first(), tenths.last()) {
            summary["p99_drift"] = json!(report::drift(first.p99_ms, last.p99_ms));
        }
        Some(f)
    };
    let summary_file = args.out.join(format!("{name}.json"));
    std::fs::write(&summary_file, serde_json::to_string_pretty(&summary)?)?;
    if let Some(f) = overall {
        println!(
            "{name}: {} requests, {:.0} req/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, errors {:.4}",
            f.requests,
            f.rps(),
            f.p50_ms,
            f.p95_ms,
            f.p99_ms,
            f.error_rate()
        );
    }
    println!("summary: {}  report: {report_file}", summary_file.display());
    if summary["passed"] != json!(true) {
        eprintln!("thresholds broken: {}", summary["broken"]);
        std::process::exit(1);
    }
    Ok(())
}

fn hit_rate(before: Option<&CacheCounts>, after: Option<&CacheCounts>) -> Option<f64> {
    let (b, a) = (before?, after?);
    let (h, m) = (a.hits.saturating_sub(b.hits), a.misses.saturating_sub(b.misses));
    (h + m > 0).then(|| report::round(h as f64 / (h + m) as f64))
}

/// Per route template: hits, misses and hit rate over the run.
fn route_hit_rates(before: Option<&CacheCounts>, after: Option<&CacheCounts>) -> Value {
    let (Some(b), Some(a)) = (before, after) else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    for (template, h1, m1) in &a.routes {
        let (h0, m0) = b
            .routes
            .iter()
            .find(|(t, ..)| t == template)
            .map_or((0, 0), |(_, h, m)| (*h, *m));
        let (h, m) = (h1.saturating_sub(h0), m1.saturating_sub(m0));
        if h + m > 0 {
            out.insert(
                template.clone(),
                json!({ "hits": h, "misses": m, "hit_rate": report::round(h as f64 / (h + m) as f64) }),
            );
        }
    }
    Value::Object(out)
}
