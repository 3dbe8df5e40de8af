//! How a request becomes a cache key, and the collections whose generations keys carry. Which
//! routes are cacheable and what they depend on is the HTTP layer's table (`http::routes`); it
//! describes each route with a `ReadRoute`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use std::borrow::Cow;
use std::fmt;

/// A family of data whose generation number is part of every key that depends on it.
///
/// Single-metric answers (`/metrics/{id}`, its history and policy) do not hang on the whole
/// collection: they depend on one of `METRIC_SHARDS` shard counters chosen by a hash of the id,
/// plus `MetricItems`. Filtered metric lists work the same way: a list that one filter value
/// pins down depends on that value's `ListShard` plus `MetricItems`; a metric write bumps the
/// shards of the values its old and new documents have. `MetricItems` thus turns over every
/// sharded answer at once, for writes whose documents are unknown (imports, seeding, the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    /// Every metric write bumps it: unfiltered lists, search and export depend on it.
    Metrics,
    Domains,
    Objectives,
    Stats,
    Policies,
    Users,
    /// Every sharded answer at once: single metrics and filtered lists.
    MetricItems,
    /// The single-metric answers of the ids hashing to this shard.
    MetricShard(u16),
    /// The metric lists filtered by a `field=value` hashing to this shard.
    ListShard(u16),
}

/// Shard counters for single-metric answers. Part of the cache's shared state in Redis, so
/// every instance must use the same number (and `metric_shard`'s hash).
pub const METRIC_SHARDS: u16 = 256;

/// Shard counters for filter values, shared through Redis like `METRIC_SHARDS`. Catalogs have
/// tens of categories, domains and owners and a few hundred tags; a write bumps about ten
/// values, so at 256 an unrelated list shares a bumped shard a few times in a hundred writes.
pub const LIST_SHARDS: u16 = 256;

/// FNV-1a: stable across instances and releases (keys and shared counters depend on it).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

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

    /// Generation slots: the named collections, the metric shards, then the list shards.
    pub const SLOTS: usize = Collection::NAMED.len() + METRIC_SHARDS as usize + LIST_SHARDS as usize;

    /// Every collection, shards included, in slot order.
    pub fn every() -> impl Iterator<Item = Collection> {
        Collection::NAMED
            .into_iter()
            .chain((0..METRIC_SHARDS).map(Collection::MetricShard))
            .chain((0..LIST_SHARDS).map(Collection::ListShard))
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
            Collection::MetricShard(_) | Collection::ListShard(_) => return None,
        })
    }

    pub fn parse(s: &str) -> Option<Collection> {
        let shard = |prefix: char, count: u16| {
            let n = s.strip_prefix(prefix)?.parse::<u16>().ok()?;
            (n < count).then_some(n)
        };
        if let Some(n) = shard('m', METRIC_SHARDS) {
            return Some(Collection::MetricShard(n));
        }
        if let Some(n) = shard('l', LIST_SHARDS) {
            return Some(Collection::ListShard(n));
        }
        Collection::NAMED.into_iter().find(|c| c.named_str() == Some(s))
    }

    pub fn index(self) -> usize {
        let named = Collection::NAMED.len();
        match self {
            Collection::MetricShard(n) => named + usize::from(n % METRIC_SHARDS),
            Collection::ListShard(n) => named + usize::from(METRIC_SHARDS) + usize::from(n % LIST_SHARDS),
            Collection::Metrics => 0,
            Collection::Domains => 1,
            Collection::Objectives => 2,
            Collection::Stats => 3,
            Collection::Policies => 4,
            Collection::Users => 5,
            Collection::MetricItems => 6,
        }
    }

    /// The shard of one metric id's single-metric answers.
    pub fn metric_shard(id: &str) -> Collection {
        Collection::MetricShard((fnv1a(&[id.as_bytes()]) % u64::from(METRIC_SHARDS)) as u16)
    }

    /// The shard of the lists filtered by `field=value` (the value exactly as the filter
    /// compares it).
    pub fn list_shard(field: &str, value: &str) -> Collection {
        let h = fnv1a(&[field.as_bytes(), b"=", value.as_bytes()]);
        Collection::ListShard((h % u64::from(LIST_SHARDS)) as u16)
    }
}

impl Collection {
    /// `Display` without the formatting machinery: keys are built on every cached read.
    pub fn push_to(self, out: &mut String) {
        let mut digits = itoa::Buffer::new();
        match (self.named_str(), self) {
            (Some(name), _) => out.push_str(name),
            (None, Collection::MetricShard(n)) => {
                out.push('m');
                out.push_str(digits.format(n));
            }
            (None, Collection::ListShard(n)) => {
                out.push('l');
                out.push_str(digits.format(n));
            }
            (None, _) => {}
        }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.named_str(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Collection::MetricShard(n)) => write!(f, "m{n}"),
            (None, Collection::ListShard(n)) => write!(f, "l{n}"),
            (None, _) => Ok(()),
        }
    }
}

/// How a list route's filters narrow what its answers depend on. Sound only when every listed
/// item satisfies the filter as the grain describes it, compared exactly (no case folding,
/// no substrings): then a write can change the list only if its old or new document has the
/// filter value, and that write bumps the value's shard.
#[derive(Debug, Clone, Copy)]
pub struct ListGrain {
    /// Exact-match parameters, ANDed with everything else: any one of them pins the list to
    /// its value's shard. Most selective first (its shard turns over least).
    pub exact: &'static [&'static str],
    /// A repeatable parameter whose values are ORed: a list filtered by it alone depends on
    /// the shard of each of its values.
    pub any_of: &'static str,
    /// Parameters that rank or match against the whole collection (full-text search): with
    /// one of them the list depends on the route's `depends_on` as an unfiltered one does.
    pub whole: &'static [&'static str],
}

/// At most this many `any_of` shards in one key; a list naming more values depends on
/// `depends_on` instead, so a long query cannot make a long key.
const MAX_ANY_OF_SHARDS: usize = 16;

impl ListGrain {
    /// The collections a list with this canonical query depends on instead of the route's
    /// `depends_on`; `None` when no filter pins it.
    pub fn depends_on(&self, query: &str) -> Option<Vec<Collection>> {
        // The query is canonical (`canonical_query`): the field names this looks for are plain
        // ASCII, so an encoded name equals one of them only when it is that name, and only the
        // values that pick a shard need decoding. One pass finds the field that pins the list.
        let mut exact: Option<usize> = None;
        let mut any_of = false;
        for (k, _) in split_pairs(query) {
            if self.whole.contains(&k) {
                return None;
            }
            if let Some(i) = self.exact.iter().position(|f| *f == k) {
                exact = Some(exact.map_or(i, |e| e.min(i)));
            }
            any_of |= k == self.any_of;
        }
        let field = match (exact, any_of) {
            (Some(i), _) => self.exact[i],
            (None, true) => self.any_of,
            (None, false) => return None,
        };
        let mut shards: Vec<Collection> = split_pairs(query)
            .filter(|(k, _)| *k == field)
            .map(|(k, v)| Collection::list_shard(k, &decode_form_value(v)))
            .collect();
        shards.sort();
        shards.dedup();
        if exact.is_some() {
            // A repeated single-valued filter is refused by the handler, never stored: the
            // first value's shard is as good as any.
            shards.truncate(1);
        }
        if shards.is_empty() || shards.len() > MAX_ANY_OF_SHARDS {
            return None;
        }
        Some(std::iter::once(Collection::MetricItems).chain(shards).collect())
    }
}

/// A cacheable read route, as the HTTP layer's route table describes it.
#[derive(Debug, Clone, Copy)]
pub struct ReadRoute {
    pub template: &'static str,
    /// Position in the route table, for per-route statistics without a map lookup (below
    /// `MAX_READ_ROUTES`).
    pub index: usize,
    pub depends_on: &'static [Collection],
    /// Also depends on the shard of the metric id in the template's `{id}` segment.
    pub per_metric: bool,
    /// `page`/`limit` defaults belong in the key.
    pub paginated: bool,
    /// The representation depends on `Accept` (text or JSON).
    pub varies_by_accept: bool,
    /// A list whose filters may narrow `depends_on`.
    pub grain: Option<&'static ListGrain>,
}

/// Read routes the statistics have room for.
pub const MAX_READ_ROUTES: usize = 32;

impl ReadRoute {
    pub const fn new(template: &'static str, depends_on: &'static [Collection]) -> ReadRoute {
        ReadRoute {
            template,
            index: 0,
            depends_on,
            per_metric: false,
            paginated: false,
            varies_by_accept: false,
            grain: None,
        }
    }

    pub const fn per_metric(self) -> ReadRoute {
        ReadRoute {
            per_metric: true,
            ..self
        }
    }

    pub const fn paginated(self) -> ReadRoute {
        ReadRoute {
            paginated: true,
            ..self
        }
    }

    pub const fn varies_by_accept(self) -> ReadRoute {
        ReadRoute {
            varies_by_accept: true,
            ..self
        }
    }

    pub const fn grain(self, grain: &'static ListGrain) -> ReadRoute {
        ReadRoute {
            grain: Some(grain),
            ..self
        }
    }

    /// What an answer to this canonical path and query depends on.
    pub fn collections(&self, path: &str, query: &str) -> Vec<Collection> {
        let mut out = match self.grain.and_then(|g| g.depends_on(query)) {
            Some(narrow) => narrow,
            None => {
                // Room for the metric's own shard, pushed below, without regrowing.
                let mut all = Vec::with_capacity(self.depends_on.len() + 1);
                all.extend_from_slice(self.depends_on);
                all
            }
        };
        if self.per_metric
            && let Some(id) = path_param(self.template, path, "{id}")
        {
            out.push(Collection::metric_shard(&id));
        }
        out
    }
}

/// The decoded value of `param` (a `{name}` segment of `template`) in a path matching it;
/// borrowed from `path` unless it had something to decode (every cached read of a metric asks).
pub fn path_param<'p>(template: &str, path: &'p str, param: &str) -> Option<Cow<'p, str>> {
    let at = segments(template).position(|s| s == param)?;
    let raw = segments(path).nth(at)?;
    let id = match raw.bytes().any(|b| b == b'%') {
        true => percent_decode_str(raw).decode_utf8().ok()?,
        false => Cow::Borrowed(raw),
    };
    (!id.is_empty()).then_some(id)
}

/// The `/`-separated segments of a path, found by a plain byte scan (`str::split` with a `char`
/// pattern sets up a searcher per call, which costed more than these short segments).
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.bytes().position(|b| b == b'/') {
            Some(cut) => {
                rest = Some(&current[cut + 1..]);
                Some(&current[..cut])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Bytes a canonical path segment writes as themselves: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The path with every segment percent-decoded and encoded again one way. The router decodes
/// ids before handlers see them, so `METRIC%2DCSAT` and `METRIC-CSAT` are one resource and
/// must be one key; an encoded `/` stays encoded, so segments never merge.
pub fn canonical_path(path: &str) -> Cow<'_, str> {
    // Most paths are already canonical: nothing to decode, nothing to encode.
    if path.bytes().all(|b| b == b'/' || is_unreserved(b)) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let bytes: Cow<'_, [u8]> = percent_decode_str(segment).into();
        out.extend(percent_encode(&bytes, UNRESERVED));
    }
    Cow::Owned(out)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// One `application/x-www-form-urlencoded` value, decoded (`+` is a space).
fn decode_form_value(v: &str) -> Cow<'_, str> {
    if !v.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(v);
    }
    let spaced = v.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

/// Bytes `form_urlencoded` writes as themselves: a query made only of these (and the `&`/`=`
/// separators) decodes to itself and encodes back to itself.
fn is_form_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')
}

/// A query's `key=value` pairs as written (empty pairs skipped, a pair without `=` has an empty
/// value); nothing decoded.
fn split_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// The pairs of a query, borrowed from it when decoding would change nothing (almost always).
pub fn query_pairs(raw: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    // Plain: only bytes that decode to themselves, and at most one `=` per pair.
    let mut plain = true;
    let mut equals = 0;
    for b in raw.bytes() {
        match b {
            b'&' => equals = 0,
            b'=' => equals += 1,
            b if is_form_plain(b) => {}
            _ => plain = false,
        }
        if equals > 1 {
            plain = false;
        }
    }
    if !plain {
        return form_urlencoded::parse(raw.as_bytes()).collect();
    }
    split_pairs(raw)
        .map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
        .collect()
}

/// Every collection a bulk write of metrics (import, seed) makes stale.
pub const BULK_METRIC_WRITE: &[Collection] = &[
    Collection::Metrics,
    Collection::Stats,
    Collection::Policies,
    Collection::MetricItems,
];

/// The longest key (canonical path, query and variant) worth caching. Real requests stay far
/// below (ids have at most 100 characters, filters a few hundred); an answer to anything longer
/// is served but not stored, so long query values cannot buy memory by the request.
pub const MAX_KEY_BYTES: usize = 2048;

const DEFAULT_PAGE_LIMIT: &str = "50";

/// The query as a key: pairs sorted, `page=1`/`limit=50` filled in for page-mode lists and the
/// limit written as the handler reads it (capped, without leading zeros), so requests the handler answers identically share one key.
/// Values stay percent-encoded as canonical `form_urlencoded` output.
pub fn canonical_query(raw: Option<&str>, route: &ReadRoute) -> String {
    let raw = raw.unwrap_or_default();
    let mut pairs = query_pairs(raw);
    if route.paginated {
        let has = |pairs: &[(Cow<'_, str>, Cow<'_, str>)], k: &str| pairs.iter().any(|(key, _)| key == k);
        // `count` without `page` asks for cursor mode: no page number to fill in.
        if !has(&pairs, "cursor") && !has(&pairs, "page") && !has(&pairs, "count") {
            pairs.push((Cow::Borrowed("page"), Cow::Borrowed("1")));
        }
        if !has(&pairs, "limit") {
            pairs.push((Cow::Borrowed("limit"), Cow::Borrowed(DEFAULT_PAGE_LIMIT)));
        }
        // As the handler reads it; a value it refuses is never stored, so it may stay as sent.
        let max = crate::store::query::MAX_LIMIT;
        for (k, v) in &mut pairs {
            if k == "limit"
                && let Some(n) = crate::domain::paging::parse_limit(v, max)
            {
                let mut digits = itoa::Buffer::new();
                let written = digits.format(n);
                if *v != written {
                    *v = Cow::Owned(written.to_owned());
                }
            }
        }
    }
    pairs.sort_unstable();
    let mut out = form_urlencoded::Serializer::new(String::with_capacity(raw.len() + 16));
    for (k, v) in &pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::{decode_form_value, query_pairs, segments};
    use proptest::prelude::*;

    proptest! {
        /// The byte scan splits every path exactly as `str::split('/')` does.
        #[test]
        fn segments_match_split(path in "[/a%é-]{0,12}") {
            prop_assert_eq!(segments(&path).collect::<Vec<_>>(), path.split('/').collect::<Vec<_>>());
        }

        /// The borrowing fast path reads every query exactly as `form_urlencoded` does.
        #[test]
        fn query_pairs_match_form_urlencoded(raw in "[a-c1=&%+.*_~2F-]{0,24}") {
            let reference: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let fast: Vec<(String, String)> = query_pairs(&raw)
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            prop_assert_eq!(fast, reference);
        }

        #[test]
        fn form_values_decode_as_form_urlencoded(v in "[a-c1%+2F~]{0,16}") {
            let reference = form_urlencoded::parse(format!("k={v}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            prop_assert_eq!(decode_form_value(&v).into_owned(), reference);
        }
    }
}
