//! Cache warming: on start and every `CACHE_WARM_INTERVAL` minutes, one instance at a time
//! requests the URLs real clients use most, through the real router, so the keys and bytes are
//! exactly those a client request would produce.

use super::AppState;
use super::caller::InternalRead;
use crate::cache::WarmReport;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Metrics read most often on this instance that warming re-fills.
const HOT_METRICS: usize = 50;

pub async fn run(router: Router, state: AppState) {
    let interval = Duration::from_secs(state.cache.config().warm_interval_min * 60);
    let owner = uuid::Uuid::new_v4().to_string();
    // With Redis, warm once the shared tier is usable, so the work benefits every instance.
    state.cache.wait_for_shared_tier(Duration::from_secs(5)).await;
    loop {
        // Held for most of an interval: the other instances skip this round.
        if state.cache.warm_lock(&owner, interval.mul_f64(0.9)).await {
            warm_once(&router, &state).await;
        }
        tokio::time::sleep(interval).await;
    }
}

/// The URLs to fill: first pages, one page per category, tier and domain, the statistics, the
/// other collections, and the hottest single metrics.
async fn urls(state: &AppState) -> Vec<String> {
    let mut urls: Vec<String> = [
        "/api/v1/metrics",
        "/api/v1/stats",
        "/api/v1/domains",
        "/api/v1/objectives",
        "/api/v1/policies",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    match state.store.stats().await {
        Ok(stats) => {
            let filters = [
                ("category", &stats.by_category),
                ("tier", &stats.by_tier),
                ("business_domain", &stats.by_business_domain),
            ];
            for (param, values) in filters {
                for value in values.keys() {
                    let query = form_urlencoded::Serializer::new(String::new())
                        .append_pair(param, value)
                        .finish();
                    urls.push(format!("/api/v1/metrics?{query}"));
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cache warming: could not read the catalog statistics"),
    }
    urls.extend(state.cache.hot_paths(HOT_METRICS));
    urls
}

pub async fn warm_once(router: &Router, state: &AppState) -> usize {
    let started = Instant::now();
    let urls = urls(state).await;
    let mut warmed = 0;
    for url in &urls {
        let Ok(mut request) = Request::get(url.as_str())
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
        else {
            continue;
        };
        request.extensions_mut().insert(InternalRead);
        match router.clone().oneshot(request).await {
            Ok(response) if response.status().is_success() => warmed += 1,
            Ok(response) => tracing::debug!(%url, status = response.status().as_u16(), "cache warming: not cached"),
            Err(never) => match never {},
        }
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(urls = warmed, duration_ms, "cache warmed");
    state.cache.record_warm(WarmReport {
        at: chrono::Utc::now(),
        urls: warmed,
        duration_ms,
    });
    warmed
}
