//! What is cacheable, what each route depends on, and how a request becomes a cache key.

use std::fmt;

/// A family of data whose generation number is part of every key that depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    Metrics,
    Domains,
    Objectives,
    Stats,
    Policies,
    Users,
}

impl Collection {
    pub const ALL: [Collection; 6] = [
        Collection::Metrics,
        Collection::Domains,
        Collection::Objectives,
        Collection::Stats,
        Collection::Policies,
        Collection::Users,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Metrics => "metrics",
            Collection::Domains => "domains",
            Collection::Objectives => "objectives",
            Collection::Stats => "stats",
            Collection::Policies => "policies",
            Collection::Users => "users",
        }
    }

    pub fn parse(s: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cacheable read route.
#[derive(Debug, Clone, Copy)]
pub struct ReadRoute {
    pub template: &'static str,
    /// Position in `READ_ROUTES`, for per-route statistics without a map lookup.
    pub index: usize,
    pub depends_on: &'static [Collection],
    /// `page`/`limit` defaults belong in the key.
    pub paginated: bool,
    /// The representation depends on `Accept` (text or JSON).
    pub varies_by_accept: bool,
}

use Collection::{Domains, Metrics, Objectives, Policies, Stats, Users};

/// The read routes whose answers are the same for every authorised reader: (template, depends
/// on, paginated, varies by `Accept`). Identity routes (auth, users, API keys) and admin
/// statistics are absent on purpose.
pub const READ_ROUTES: &[(&str, &[Collection], bool, bool)] = &[
    ("/api/v1/metrics", &[Metrics], true, false),
    ("/api/v1/metrics/{id}", &[Metrics], false, false),
    ("/api/v1/metrics/{id}/history", &[Metrics], true, false),
    ("/api/v1/metrics/{id}/policy", &[Policies], false, true),
    ("/api/v1/policies", &[Policies], true, false),
    ("/api/v1/policies/bundle.tar.gz", &[Policies], false, false),
    ("/api/v1/domains", &[Domains], true, false),
    ("/api/v1/domains/{id}", &[Domains], false, false),
    ("/api/v1/objectives", &[Objectives], true, false),
    ("/api/v1/objectives/{id}", &[Objectives], false, false),
    ("/api/v1/stats", &[Stats], false, false),
    ("/api/v1/export", &[Metrics, Domains, Objectives], false, false),
];

pub fn read_route(template: &str) -> Option<ReadRoute> {
    READ_ROUTES.iter().enumerate().find(|(_, (t, ..))| *t == template).map(
        |(index, &(template, depends_on, paginated, varies_by_accept))| ReadRoute {
            template,
            index,
            depends_on,
            paginated,
            varies_by_accept,
        },
    )
}

/// What a successful write to a route makes stale.
pub fn write_invalidates(template: &str) -> &'static [Collection] {
    match template {
        "/api/v1/metrics" | "/api/v1/metrics/{id}" => &[Metrics, Stats, Policies],
        "/api/v1/domains" | "/api/v1/domains/{id}" => &[Domains, Stats],
        "/api/v1/objectives" | "/api/v1/objectives/{id}" => &[Objectives, Stats],
        "/api/v1/import" => &[Metrics, Domains, Objectives, Stats, Policies],
        "/api/v1/users" | "/api/v1/users/{id}" => &[Users],
        _ => &[],
    }
}

const DEFAULT_PAGE_LIMIT: &str = "50";

/// The query as a key: pairs sorted, `page=1`/`limit=50` filled in for page-mode lists and a
/// limit above the maximum capped, so requests the handler answers identically share one key.
/// Values stay percent-encoded as canonical `form_urlencoded` output.
pub fn canonical_query(raw: Option<&str>, route: &ReadRoute) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if route.paginated {
        let has = |pairs: &[(String, String)], k: &str| pairs.iter().any(|(key, _)| key == k);
        if !has(&pairs, "cursor") && !has(&pairs, "page") {
            pairs.push(("page".into(), "1".into()));
        }
        if !has(&pairs, "limit") {
            pairs.push(("limit".into(), DEFAULT_PAGE_LIMIT.into()));
        }
        let max = crate::store::query::MAX_LIMIT;
        for (k, v) in &mut pairs {
            if k == "limit"
                && let Ok(n) = v.parse::<u32>()
                && n > max
            {
                *v = max.to_string();
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
