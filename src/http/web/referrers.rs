//! "Referred to by": the metrics whose relationships name a metric and the objectives whose
//! key results list it. Found by a bounded scan through the store's list calls, and cached as
//! a fragment of its own that turns over with any metric or objective write (another metric
//! starting to name this one is a write to that other metric).

use super::error::WebError;
use super::links;
use crate::http::AppState;
use crate::store::{EntityKind, MetricQuery, PageRequest};
use askama::Template;
use serde_json::Value;

/// Scanned at most, per kind; a larger catalog says the list may be incomplete.
const MAX_METRICS: usize = 5000;
const MAX_OBJECTIVES: usize = 1000;
const PAGE: u32 = 100;

pub struct Referrer {
    pub href: String,
    pub id: String,
    pub name: String,
    /// How it refers (`upstream`, `downstream`, the key result).
    pub how: String,
}

#[derive(Template)]
#[template(path = "web/referrers.html")]
pub struct Referrers {
    pub metrics: Vec<Referrer>,
    pub objectives: Vec<Referrer>,
    /// The scan stopped at its bound.
    pub partial: bool,
}

fn names(list: Option<&Value>, id: &str) -> bool {
    list.and_then(Value::as_array)
        .is_some_and(|ids| ids.iter().any(|v| v.as_str() == Some(id)))
}

fn text(doc: &serde_json::Map<String, Value>, key: &str) -> String {
    doc.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

pub async fn find(state: &AppState, id: &str) -> Result<Referrers, WebError> {
    let mut out = Referrers {
        metrics: Vec::new(),
        objectives: Vec::new(),
        partial: false,
    };
    let mut query = MetricQuery {
        page: PageRequest::cursor(None, PAGE, false),
        ..Default::default()
    };
    let mut seen = 0;
    loop {
        let page = state.store.list_metrics(&query).await?;
        seen += page.items.len();
        for m in page.items.iter().filter(|m| m.id != id) {
            let rel = m.doc.get("relationships");
            let how: Vec<&str> = [
                ("upstream", "upstream_metric_ids"),
                ("downstream", "downstream_metric_ids"),
            ]
            .into_iter()
            .filter(|(_, key)| names(rel.and_then(|r| r.get(key)), id))
            .map(|(how, _)| how)
            .collect();
            if !how.is_empty() {
                out.metrics.push(Referrer {
                    href: links::metric(&m.id),
                    id: m.id.clone(),
                    name: text(&m.doc, "name"),
                    how: format!("names it {}", how.join(" and ")),
                });
            }
        }
        match page.next_cursor {
            Some(next) if page.has_next && seen < MAX_METRICS => {
                query.page = PageRequest::cursor(Some(next), PAGE, false);
            }
            _ => {
                out.partial |= page.has_next;
                break;
            }
        }
    }
    let mut number = 1;
    let mut seen = 0;
    loop {
        let page = state
            .store
            .list_entities(EntityKind::Objective, &PageRequest::offset(number, PAGE))
            .await?;
        seen += page.items.len();
        for o in &page.items {
            let krs: Vec<String> = o
                .doc
                .get("key_results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|kr| names(kr.get("metric_ids"), id))
                .map(|kr| {
                    kr.get("name")
                        .or_else(|| kr.get("kr_id"))
                        .map(super::edit_view::shown)
                        .unwrap_or_default()
                })
                .collect();
            if !krs.is_empty() {
                out.objectives.push(Referrer {
                    href: format!("/objectives/{}", links::encode(&o.id)),
                    id: o.id.clone(),
                    name: text(&o.doc, "name"),
                    how: format!("key result: {}", krs.join("; ")),
                });
            }
        }
        if !page.has_next || seen >= MAX_OBJECTIVES {
            out.partial |= page.has_next;
            break;
        }
        number += 1;
    }
    Ok(out)
}
