//! What the domain pages show: a domain's fields and the metrics filed under its name, every
//! link already built. Stored domains were validated on write; fields are read leniently.

use super::links;
use super::objective_view::{Fact, facts, objective_href};
use crate::store::{Page, Stored};
use askama::Template;
use serde_json::{Map, Value};

/// Metrics listed on a domain page; the catalog link shows them all.
pub const METRICS_SHOWN: u32 = 100;

fn text(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn list(doc: &Map<String, Value>, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `/domains/<id>`, the id escaped as a path segment.
pub fn domain_href(id: &str) -> String {
    format!("/domains/{}", links::encode(id))
}

/// The catalog filtered to a domain's metrics.
pub fn catalog_href(name: &str) -> String {
    links::catalog(&[("business_domain".to_string(), name.to_string())])
}

pub struct DomainRow {
    pub id: String,
    pub href: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub metrics_href: String,
}

/// The domain's name, which metrics name in `business_domain`.
pub fn domain_name(stored: &Stored) -> String {
    text(&stored.doc, "name").unwrap_or_else(|| stored.id.clone())
}

pub fn row(stored: &Stored) -> DomainRow {
    let name = domain_name(stored);
    DomainRow {
        id: stored.id.clone(),
        href: domain_href(&stored.id),
        metrics_href: catalog_href(&name),
        name,
        description: text(&stored.doc, "description").unwrap_or_default(),
        owner: text(&stored.doc, "owner_team").unwrap_or_else(|| "—".to_string()),
    }
}

pub struct MetricRow {
    pub id: String,
    pub href: String,
    pub name: String,
    pub category: String,
    pub tier: String,
}

/// A link to another page, by id.
pub struct IdLink {
    pub id: String,
    pub href: String,
}

pub struct DomainView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub facts: Vec<Fact>,
    pub key_areas: Vec<String>,
    pub tier_focus: Vec<String>,
    /// The older MDL's template lists, when the domain was imported from one.
    pub key_metrics: Vec<IdLink>,
    pub objectives: Vec<IdLink>,
    pub metrics: Vec<MetricRow>,
    pub count_label: String,
    pub catalog_href: String,
    /// More metrics than listed: the catalog link shows the rest.
    pub more: bool,
}

pub fn build(stored: &Stored, metrics: Page<Stored>) -> DomainView {
    let doc = &stored.doc;
    let name = domain_name(stored);
    let total = metrics.total.unwrap_or(metrics.items.len() as u64);
    let count_label = match total {
        1 => "1 metric".to_string(),
        n => format!("{n} metrics"),
    };
    DomainView {
        id: stored.id.clone(),
        description: text(doc, "description"),
        facts: facts(vec![
            ("Domain id", Some(stored.id.clone())),
            ("Owner team", text(doc, "owner_team")),
            ("Contact", text(doc, "contact_email")),
            ("Colour", text(doc, "color")),
            (
                "Stakeholders",
                Some(list(doc, "stakeholders").join(", ")).filter(|s| !s.is_empty()),
            ),
        ]),
        key_areas: list(doc, "key_areas"),
        tier_focus: list(doc, "tier_focus"),
        key_metrics: list(doc, "key_metrics")
            .into_iter()
            .map(|id| IdLink {
                href: links::metric(&id),
                id,
            })
            .collect(),
        objectives: list(doc, "objectives")
            .into_iter()
            .map(|id| IdLink {
                href: objective_href(&id),
                id,
            })
            .collect(),
        more: (metrics.items.len() as u64) < total,
        metrics: metrics
            .items
            .iter()
            .map(|m| MetricRow {
                id: m.id.clone(),
                href: links::metric(&m.id),
                name: text(&m.doc, "name").unwrap_or_else(|| m.id.clone()),
                category: text(&m.doc, "category").unwrap_or_default(),
                tier: text(&m.doc, "tier").unwrap_or_default(),
            })
            .collect(),
        count_label,
        catalog_href: catalog_href(&name),
        name,
    }
}

/// The domains list's content.
#[derive(Template)]
#[template(path = "web/domains.html")]
pub struct DomainsMain {
    pub rows: Vec<DomainRow>,
    pub cut: bool,
}

/// A domain page's content.
#[derive(Template)]
#[template(path = "web/domain.html")]
pub struct DomainMain {
    pub d: DomainView,
}
