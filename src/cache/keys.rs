//! What is cacheable, what each route depends on, and how a request becomes a cache key.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use std::borrow::Cow;
use std::fmt;

/// A family of data whose generation number is part of every key that depends on it.
///
/// Single-metric answers (`/metrics/{id}`, its history and policy) do not hang on the whole
/// collection: they depend on one of `METRIC_SHARDS` shard counters chosen by a hash of the id,
/// plus `MetricItems`, which only bulk writes (import, seed) bump. So a write to one metric
/// leaves the cached reads of almost every other metric valid, while every list still turns over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    /// Metric lists, search and export: anything that shows more than one metric.
    Metrics,
    Domains,
    Objectives,
    Stats,
    Policies,
    Users,
    /// Every single-metric answer at once (bulk writes).
    MetricItems,
    /// The single-metric answers of the ids hashing to this shard.
    MetricShard(u16),
}

/// Shard counters for single-metric answers. Part of the cache's shared state in Redis, so
/// every instance must use the same number (and `metric_shard`'s hash).
pub const METRIC_SHARDS: u16 = 256;

impl Collection {
    /// The named collections (everything but the shards).
    pub const NAMED: [Collection; 7] = [
        Collection::Metrics,
        Collection::Domains,
        Collection::Objectives,
        Collection::Stats,
        Collection::Policies,
        Collection::Users,
        Collection::MetricItems,
    ];

    /// Generation slots: the named collections, then the shards.
    pub const SLOTS: usize = Collection::NAMED.len() + METRIC_SHARDS as usize;

    /// Every collection, shards included, in slot order.
    pub fn every() -> impl Iterator<Item = Collection> {
        Collection::NAMED
            .into_iter()
            .chain((0..METRIC_SHARDS).map(Collection::MetricShard))
    }

    fn named_str(self) -> Option<&'static str> {
        Some(match self {
            Collection::Metrics => "metrics",
            Collection::Domains => "domains",
            Collection::Objectives => "objectives",
            Collection::Stats => "stats",
            Collection::Policies => "policies",
            Collection::Users => "users",
            Collection::MetricItems => "metric_items",
            Collection::MetricShard(_) => return None,
        })
    }

    pub fn parse(s: &str) -> Option<Collection> {
        if let Some(n) = s.strip_prefix('m').and_then(|n| n.parse::<u16>().ok()) {
            return (n < METRIC_SHARDS).then_some(Collection::MetricShard(n));
        }
        Collection::NAMED.into_iter().find(|c| c.named_str() == Some(s))
    }

    pub fn index(self) -> usize {
        match self {
            Collection::MetricShard(n) => Collection::NAMED.len() + usize::from(n % METRIC_SHARDS),
            Collection::Metrics => 0,
            Collection::Domains => 1,
            Collection::Objectives => 2,
            Collection::Stats => 3,
            Collection::Policies => 4,
            Collection::Users => 5,
            Collection::MetricItems => 6,
        }
    }

    /// The shard of one metric id's single-metric answers: FNV-1a, stable across instances
    /// and releases.
    pub fn metric_shard(id: &str) -> Collection {
        let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Collection::MetricShard((h % u64::from(METRIC_SHARDS)) as u16)
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.named_str(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Collection::MetricShard(n)) => write!(f, "m{n}"),
            (None, _) => Ok(()),
        }
    }
}

/// A cacheable read route.
#[derive(Debug, Clone, Copy)]
pub struct ReadRoute {
    pub template: &'static str,
    /// Position in `READ_ROUTES`, for per-route statistics without a map lookup.
    pub index: usize,
    pub depends_on: &'static [Collection],
    /// Also depends on the shard of the metric id in the path.
    pub per_metric: bool,
    /// `page`/`limit` defaults belong in the key.
    pub paginated: bool,
    /// The representation depends on `Accept` (text or JSON).
    pub varies_by_accept: bool,
}

use Collection::{Domains, MetricItems, Metrics, Objectives, Policies, Stats, Users};

/// The read routes whose answers are the same for every authorised reader: (template, depends
/// on, per metric, paginated, varies by `Accept`). Identity routes (auth, users, API keys) and
/// admin statistics are absent on purpose.
pub const READ_ROUTES: &[(&str, &[Collection], bool, bool, bool)] = &[
    ("/api/v1/metrics", &[Metrics], false, true, false),
    ("/api/v1/metrics/{id}", &[MetricItems], true, false, false),
    ("/api/v1/metrics/{id}/history", &[MetricItems], true, true, false),
    // Versions never change, but a delete and re-create continues the numbering: they hang on
    // the metric's shard like its history.
    (
        "/api/v1/metrics/{id}/versions/{version}",
        &[MetricItems],
        true,
        false,
        false,
    ),
    ("/api/v1/metrics/{id}/diff", &[MetricItems], true, false, false),
    // A metric's policy is generated from that metric's stored definition alone.
    ("/api/v1/metrics/{id}/policy", &[MetricItems], true, false, true),
    ("/api/v1/policies", &[Policies], false, true, false),
    ("/api/v1/policies/bundle.tar.gz", &[Policies], false, false, false),
    ("/api/v1/domains", &[Domains], false, true, false),
    ("/api/v1/domains/{id}", &[Domains], false, false, false),
    ("/api/v1/objectives", &[Objectives], false, true, false),
    ("/api/v1/objectives/{id}", &[Objectives], false, false, false),
    ("/api/v1/stats", &[Stats], false, false, false),
    ("/api/v1/export", &[Metrics, Domains, Objectives], false, false, false),
];

pub fn read_route(template: &str) -> Option<ReadRoute> {
    READ_ROUTES.iter().enumerate().find(|(_, (t, ..))| *t == template).map(
        |(index, &(template, depends_on, per_metric, paginated, varies_by_accept))| ReadRoute {
            template,
            index,
            depends_on,
            per_metric,
            paginated,
            varies_by_accept,
        },
    )
}

/// Bytes a canonical path segment writes as themselves: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The path with every segment percent-decoded and encoded again one way. The router decodes
/// ids before handlers see them, so `METRIC%2DCSAT` and `METRIC-CSAT` are one resource and
/// must be one key; an encoded `/` stays encoded, so segments never merge.
pub fn canonical_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let bytes: Cow<'_, [u8]> = percent_decode_str(segment).into();
        out.extend(percent_encode(&bytes, UNRESERVED));
    }
    out
}

/// The metric id in a `/api/v1/metrics/{id}...` path, decoded as the handler receives it (so
/// its shard, and what a write to it invalidates, do not depend on how the client spelled it).
pub fn metric_id_in_path(path: &str) -> Option<String> {
    let raw = path.strip_prefix("/api/v1/metrics/")?.split('/').next()?;
    let id = percent_decode_str(raw).decode_utf8().ok()?;
    (!id.is_empty()).then(|| id.into_owned())
}

/// The last segment of a path, decoded (the `{id}` of `/users/{id}`).
pub fn last_segment(path: &str) -> Option<String> {
    let raw = path.rsplit('/').next()?;
    let id = percent_decode_str(raw).decode_utf8().ok()?;
    (!id.is_empty()).then(|| id.into_owned())
}

/// Every collection a bulk write of metrics (import, seed) makes stale.
pub const BULK_METRIC_WRITE: &[Collection] = &[Metrics, Stats, Policies, MetricItems];

/// What a successful write to a route makes stale. `metric` is the metric written, when the
/// route names one (from the path, or the `Location` of a create); unknown means all of them.
pub fn write_invalidates(template: &str, metric: Option<&str>) -> Vec<Collection> {
    match template {
        "/api/v1/metrics" | "/api/v1/metrics/{id}" => {
            let item = metric.map_or(MetricItems, Collection::metric_shard);
            vec![Metrics, Stats, Policies, item]
        }
        "/api/v1/domains" | "/api/v1/domains/{id}" => vec![Domains, Stats],
        "/api/v1/objectives" | "/api/v1/objectives/{id}" => vec![Objectives, Stats],
        "/api/v1/import" => vec![Metrics, Domains, Objectives, Stats, Policies, MetricItems],
        "/api/v1/users" | "/api/v1/users/{id}" => vec![Users],
        _ => Vec::new(),
    }
}

/// The longest key (canonical path, query and variant) worth caching. Real requests stay far
/// below (ids have at most 100 characters, filters a few hundred); an answer to anything longer
/// is served but not stored, so long query values cannot buy memory by the request.
pub const MAX_KEY_BYTES: usize = 2048;

const DEFAULT_PAGE_LIMIT: &str = "50";

/// The query as a key: pairs sorted, `page=1`/`limit=50` filled in for page-mode lists and the
/// limit written as the handler reads it (capped, without leading zeros), so requests the handler answers identically share one key.
/// Values stay percent-encoded as canonical `form_urlencoded` output.
pub fn canonical_query(raw: Option<&str>, route: &ReadRoute) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if route.paginated {
        let has = |pairs: &[(String, String)], k: &str| pairs.iter().any(|(key, _)| key == k);
        // `count` without `page` asks for cursor mode: no page number to fill in.
        if !has(&pairs, "cursor") && !has(&pairs, "page") && !has(&pairs, "count") {
            pairs.push(("page".into(), "1".into()));
        }
        if !has(&pairs, "limit") {
            pairs.push(("limit".into(), DEFAULT_PAGE_LIMIT.into()));
        }
        // As the handler reads it; a value it refuses is never stored, so it may stay as sent.
        let max = crate::store::query::MAX_LIMIT;
        for (k, v) in &mut pairs {
            if k == "limit"
                && let Some(n) = crate::domain::paging::parse_limit(v, max)
            {
                *v = n.to_string();
            }
        }
    }
    pairs.sort();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        out.append_pair(k, v);
    }
    out.finish()
}
