//! What the catalog page shows, computed from the query and the store's answers: plain data
//! for the template, every link already built.

use super::links;
use crate::store::{FacetCounts, MetricQuery, MetricSort, Page, PageRequest, Stored};
use serde_json::Value;

/// Values listed per facet (the most frequent).
pub const FACET_VALUES: u32 = 25;
const DESCRIPTION_CHARS: usize = 240;

/// The filter parameters, in the order active filters are listed.
const FILTER_PARAMS: [&str; 7] = [
    "category",
    "tier",
    "business_domain",
    "metric_type",
    "status",
    "owner",
    "tag",
];

pub struct SortOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct ResultRow {
    pub id: String,
    pub href: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub tier: String,
    pub domain: String,
    pub status: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
}

pub struct FacetValue {
    pub value: String,
    pub count: u64,
    pub href: String,
    pub active: bool,
}

pub struct FacetView {
    pub id: &'static str,
    pub label: &'static str,
    pub values: Vec<FacetValue>,
}

pub struct ActiveFilter {
    pub label: &'static str,
    pub value: String,
    pub remove_href: String,
}

pub struct CatalogView {
    pub q: String,
    pub sorts: Vec<SortOption>,
    /// Filters a new search keeps (hidden fields of the search form).
    pub hidden: Vec<(String, String)>,
    /// "12 metrics"
    pub count_label: String,
    pub results: Vec<ResultRow>,
    pub facets: Vec<FacetView>,
    pub active: Vec<ActiveFilter>,
    pub clear_href: Option<String>,
    pub next_href: Option<String>,
    pub prev_href: Option<String>,
    pub first_href: Option<String>,
}

fn facet_param(facet: &str) -> &'static str {
    match facet {
        "category" => "category",
        "tier" => "tier",
        "business_domain" => "business_domain",
        "metric_type" => "metric_type",
        "status" => "status",
        "owner_team" => "owner",
        _ => "tag",
    }
}

fn label(param: &str) -> &'static str {
    match param {
        "category" => "Category",
        "tier" => "Tier",
        "business_domain" => "Business domain",
        "metric_type" => "Type",
        "status" => "Status",
        "owner" | "owner_team" => "Owner team",
        _ => "Tag",
    }
}

fn sort_label(sort: &str) -> &'static str {
    match sort {
        "name" => "Name, A to Z",
        "-name" => "Name, Z to A",
        "metric_id" => "Id, A to Z",
        "-metric_id" => "Id, Z to A",
        "updated_at" => "Least recently updated",
        _ => "Most recently updated",
    }
}

fn text(doc: &serde_json::Map<String, Value>, key: &str) -> String {
    doc.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn governance(doc: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    doc.get("governance")?.get(key)?.as_str().map(str::to_string)
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", s[..cut].trim_end()),
        None => s.to_string(),
    }
}

fn row(m: &Stored) -> ResultRow {
    let doc = &m.doc;
    ResultRow {
        id: m.id.clone(),
        href: links::metric(&m.id),
        name: text(doc, "name"),
        description: shorten(&text(doc, "description"), DESCRIPTION_CHARS),
        category: text(doc, "category"),
        tier: text(doc, "tier"),
        domain: text(doc, "business_domain"),
        status: governance(doc, "status"),
        owner: governance(doc, "owner_team"),
        tags: doc
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| tags.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

fn with(base: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut out = base.to_vec();
    out.push((key.to_string(), value.to_string()));
    out
}

pub fn build(
    pairs: &[(String, String)],
    query: &MetricQuery,
    page: Page<Stored>,
    facets: Vec<FacetCounts>,
) -> CatalogView {
    // The state every link keeps: filters, search, sort and page size, not the position.
    let base: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "cursor" && k != "page")
        .cloned()
        .collect();
    let is_active = |param: &str, value: &str| base.iter().any(|(k, v)| k == param && v == value);
    let without = |param: &str, value: Option<&str>| -> Vec<(String, String)> {
        base.iter()
            .filter(|(k, v)| !(k == param && value.is_none_or(|x| x == v)))
            .cloned()
            .collect()
    };
    let facets = facets
        .into_iter()
        .filter(|f| !f.values.is_empty())
        .map(|f| {
            let param = facet_param(f.facet);
            let values = f
                .values
                .into_iter()
                .map(|(value, count)| {
                    let active = is_active(param, &value);
                    let target = match (active, param) {
                        (true, _) => without(param, Some(&value)),
                        (false, "tag") => with(&base, param, &value),
                        (false, _) => with(&without(param, None), param, &value),
                    };
                    FacetValue {
                        href: links::catalog(&target),
                        value,
                        count,
                        active,
                    }
                })
                .collect();
            FacetView {
                id: f.facet,
                label: label(f.facet),
                values,
            }
        })
        .collect();
    let active: Vec<ActiveFilter> = base
        .iter()
        .filter(|(k, _)| FILTER_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| ActiveFilter {
            label: label(k),
            value: v.clone(),
            remove_href: links::catalog(&without(k, Some(v))),
        })
        .collect();
    let (next_href, prev_href, first_href) = match &query.page {
        PageRequest::Cursor { after, .. } => (
            page.next_cursor
                .as_deref()
                .map(|c| links::catalog(&with(&base, "cursor", c))),
            None,
            after.as_ref().map(|_| links::catalog(&base)),
        ),
        PageRequest::Offset { page: n, .. } => (
            page.has_next
                .then(|| links::catalog(&with(&base, "page", &(n + 1).to_string()))),
            (*n > 1).then(|| links::catalog(&with(&base, "page", &(n - 1).to_string()))),
            None,
        ),
    };
    CatalogView {
        q: query.filter.q.clone().unwrap_or_default(),
        sorts: MetricSort::ALLOWED
            .iter()
            .map(|s| SortOption {
                value: s,
                label: sort_label(s),
                selected: *s == query.sort.as_str(),
            })
            .collect(),
        hidden: base
            .iter()
            .filter(|(k, _)| FILTER_PARAMS.contains(&k.as_str()) || k == "limit")
            .cloned()
            .collect(),
        count_label: match (page.total, page.total_capped) {
            (Some(n), true) => format!("{n}+ metrics"),
            (Some(1), false) => "1 metric".to_string(),
            (Some(n), false) => format!("{n} metrics"),
            (None, _) => "Metrics".to_string(),
        },
        results: page.items.iter().map(row).collect(),
        facets,
        clear_href: (!active.is_empty() || query.filter.q.is_some()).then(|| "/".to_string()),
        active,
        next_href,
        prev_href,
        first_href,
    }
}
