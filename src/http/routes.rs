//! The response cache's route table: which read routes are cacheable and what their answers
//! depend on, and what a successful write to a route makes stale. The cache itself knows only
//! collections and keys.

use crate::cache::keys::{BULK_METRIC_WRITE, MAX_READ_ROUTES};
use crate::cache::{Collection, ListGrain, ReadRoute};
use crate::domain::Metric;
use Collection::{Domains, MetricItems, Metrics, Objectives, Policies, Stats, Users};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// `GET /metrics` filters as `store::query` applies them. Every filter but `q` compares whole
/// values exactly, so a list with one of them changes only when a written document had or has
/// the value; `q` ranks against the whole catalog (SQLite's bm25 weighs by every document).
const METRIC_LIST: ListGrain = ListGrain {
    exact: &["category", "business_domain", "owner", "status", "metric_type", "tier"],
    any_of: "tag",
    whole: &["q"],
};

/// The read routes whose answers are the same for every authorised reader. Identity routes
/// (auth, users, API keys) and admin statistics are absent on purpose.
const READ_ROUTES: [ReadRoute; 22] = [
    ReadRoute::new("/api/v1/metrics", &[Metrics])
        .paginated()
        .grain(&METRIC_LIST),
    ReadRoute::new("/api/v1/metrics/{id}", &[MetricItems]).per_metric(),
    ReadRoute::new("/api/v1/metrics/{id}/history", &[MetricItems])
        .per_metric()
        .paginated(),
    // Versions never change, but a delete and re-create continues the numbering: they hang on
    // the metric's shard like its history.
    ReadRoute::new("/api/v1/metrics/{id}/versions/{version}", &[MetricItems]).per_metric(),
    ReadRoute::new("/api/v1/metrics/{id}/diff", &[MetricItems]).per_metric(),
    // A metric's policy is generated from that metric's stored definition alone.
    ReadRoute::new("/api/v1/metrics/{id}/policy", &[MetricItems])
        .per_metric()
        .varies_by_accept(),
    ReadRoute::new("/api/v1/policies", &[Policies]).paginated(),
    ReadRoute::new("/api/v1/policies/bundle.tar.gz", &[Policies]),
    ReadRoute::new("/api/v1/domains", &[Domains]).paginated(),
    ReadRoute::new("/api/v1/domains/{id}", &[Domains]),
    ReadRoute::new("/api/v1/objectives", &[Objectives]).paginated(),
    ReadRoute::new("/api/v1/objectives/{id}", &[Objectives]),
    ReadRoute::new("/api/v1/stats", &[Stats]),
    ReadRoute::new("/api/v1/export", &[Metrics, Domains, Objectives]),
    // The web catalog's page content (`web::page_cache`): the catalog shows lists and counts
    // over every metric; a metric page shows that metric, its history and its policy.
    ReadRoute::new("/", &[Metrics]),
    ReadRoute::new("/metrics/{id}", &[MetricItems]).per_metric(),
    // Lists of domains and objectives show only those entities (an objective's progress comes
    // from its own key results); a domain page lists the metrics filed under it, an objective
    // page the metrics its key results name; the stats page is `/api/v1/stats` drawn.
    ReadRoute::new("/domains", &[Domains]),
    ReadRoute::new("/domains/{id}", &[Domains, Metrics]),
    ReadRoute::new("/objectives", &[Objectives]),
    ReadRoute::new("/objectives/{id}", &[Objectives, Metrics]),
    ReadRoute::new("/stats", &[Stats]),
    // A metric page's "referred to by" section (a fragment, not a served route): other
    // metrics' relationships and objectives' key results.
    ReadRoute::new("/metrics/{id}/referred-by", &[Metrics, Objectives]),
];

const _: () = assert!(
    READ_ROUTES.len() <= MAX_READ_ROUTES,
    "the cache counts this many routes"
);

/// The cacheable read route of a template, if it is one.
pub fn read_route(template: &str) -> Option<ReadRoute> {
    READ_ROUTES
        .iter()
        .position(|r| r.template == template)
        .map(|index| ReadRoute {
            index,
            ..READ_ROUTES[index]
        })
}

/// The last segment of a path, decoded (the `{id}` of `/users/{id}`).
pub fn last_segment(path: &str) -> Option<String> {
    let raw = path.rsplit('/').next()?;
    let id = percent_decode_str(raw).decode_utf8().ok()?;
    (!id.is_empty()).then(|| id.into_owned())
}

/// What a successful write to a route makes stale when nothing more is known about it. A
/// metric write without its documents (see `MetricWrite`) may have moved the metric between
/// any filtered lists: `MetricItems` turns them all over, with every single-metric answer.
pub fn write_invalidates(template: &str) -> Vec<Collection> {
    match template {
        "/api/v1/metrics" | "/api/v1/metrics/{id}" => vec![Metrics, Stats, Policies, MetricItems],
        "/api/v1/domains" | "/api/v1/domains/{id}" => vec![Domains, Stats],
        "/api/v1/objectives" | "/api/v1/objectives/{id}" => vec![Objectives, Stats],
        "/api/v1/import" => BULK_METRIC_WRITE.iter().copied().chain([Domains, Objectives]).collect(),
        "/api/v1/users" | "/api/v1/users/{id}" => vec![Users],
        _ => Vec::new(),
    }
}

/// A committed write of one metric, with the filter values of its documents before and after
/// (from the write itself): put in the response's extensions by the handler, it lets the cache
/// turn over only the lists the write can have changed.
#[derive(Debug, Clone)]
pub struct MetricWrite {
    id: String,
    /// `(filter, value)` of the old and the new document.
    values: Vec<(&'static str, String)>,
}

impl MetricWrite {
    /// `None` when the previous document cannot be read as a metric (then nothing narrower
    /// than `write_invalidates` is known).
    pub fn new(id: &str, previous: Option<&Map<String, Value>>, current: Option<&Metric>) -> Option<MetricWrite> {
        let previous = match previous {
            Some(doc) => Some(Metric::parse(Value::Object(doc.clone())).ok()?),
            None => None,
        };
        let values = previous.iter().chain(current).flat_map(list_filter_values).collect();
        Some(MetricWrite {
            id: id.to_owned(),
            values,
        })
    }

    /// Every list a filter of either document selects, every unfiltered list, and the
    /// metric's own answers, statistics and policies.
    pub fn invalidates(&self) -> Vec<Collection> {
        let mut stale = vec![Metrics, Stats, Policies, Collection::metric_shard(&self.id)];
        stale.extend(
            self.values
                .iter()
                .map(|(field, value)| Collection::list_shard(field, value)),
        );
        stale.sort();
        stale.dedup();
        stale
    }
}

/// The values a metric has for each list filter of `METRIC_LIST`, as the store compares them:
/// the columns `store::sql::metric_row` writes and the tags `sync_tags` stores.
fn list_filter_values(m: &Metric) -> Vec<(&'static str, String)> {
    let governance = [
        ("status", m.status()),
        ("owner", m.owner_team()),
        ("owner", m.technical_owner()),
        ("owner", m.business_owner()),
    ];
    [
        ("category", m.category.as_str()),
        ("tier", m.tier_str()),
        ("business_domain", m.business_domain.as_str()),
        ("metric_type", m.metric_type.as_str()),
    ]
    .into_iter()
    .chain(governance.into_iter().filter_map(|(f, v)| Some((f, v?))))
    .chain(m.tags.iter().map(|t| ("tag", t.as_str())))
    .map(|(f, v)| (f, v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_grain_filter_has_a_written_value() {
        let doc = serde_json::json!({
            "metric_id": "M-1", "name": "n", "description": "d", "category": "C", "tier": "Tier-1",
            "business_domain": "D", "metric_type": "operational", "tags": ["t"],
            "governance": {"status": "active", "owner_team": "o", "technical_owner": "o2", "business_owner": "o3"},
        });
        let values = list_filter_values(&Metric::parse(doc).unwrap());
        for field in METRIC_LIST.exact.iter().chain([&METRIC_LIST.any_of]) {
            assert!(values.iter().any(|(f, _)| f == field), "{field} is bumped by writes");
        }
    }
}
