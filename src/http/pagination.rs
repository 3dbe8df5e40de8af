//! The list envelope and its headers: `Link` (RFC 8288), `X-Total-Count`, `X-Page`,
//! `X-Per-Page`, `X-Total-Pages`.

use super::query::Params;
use crate::store::{Page, PageRequest};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::{Value, json};

pub const X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");
pub const X_PAGE: HeaderName = HeaderName::from_static("x-page");
pub const X_PER_PAGE: HeaderName = HeaderName::from_static("x-per-page");
pub const X_TOTAL_PAGES: HeaderName = HeaderName::from_static("x-total-pages");

/// `{"success": true, "data": [...], "pagination": {...}}` plus the headers describing it.
pub fn envelope<T>(
    path: &str,
    params: &Params,
    req: &PageRequest,
    page: &Page<T>,
    data: Vec<Value>,
) -> (HeaderMap, Value) {
    let limit = req.limit();
    let number = match req {
        PageRequest::Offset { page, .. } => Some(*page),
        PageRequest::Cursor { .. } => None,
    };
    // A capped total is a lower bound: no page count or last page can be derived from it.
    let pages = page
        .total
        .filter(|_| !page.total_capped)
        .map(|t| t.div_ceil(u64::from(limit)));
    let mut pagination = json!({
        "page": number,
        "limit": limit,
        "total": page.total,
        "pages": pages,
        "has_next": page.has_next,
        "has_prev": number.is_some_and(|n| n > 1),
        "next_cursor": page.next_cursor,
    });
    if page.total_capped {
        pagination["total_capped"] = Value::Bool(true);
    }
    let mut headers = HeaderMap::new();
    let mut put = |name: HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put(X_PER_PAGE, limit.to_string());
    if let Some(n) = number {
        put(X_PAGE, n.to_string());
    }
    if let Some(t) = page.total {
        put(X_TOTAL_COUNT, t.to_string());
    }
    if let Some(p) = pages {
        put(X_TOTAL_PAGES, p.to_string());
    }
    // Sorted, with the effective limit: requests the server answers alike get identical links
    // (and so can share one cache entry).
    let mut kept: Vec<(&str, &str)> = params
        .pairs()
        .iter()
        .filter(|(k, _)| !["page", "cursor", "limit"].contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let limit_text = limit.to_string();
    kept.push(("limit", &limit_text));
    kept.sort();
    let link = |rel: &str, set: &[(&str, String)]| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in set {
            q.append_pair(k, v);
        }
        format!("<{path}?{}>; rel=\"{rel}\"", q.finish())
    };
    let mut links = Vec::new();
    match number {
        Some(n) => {
            links.push(link("first", &[("page", "1".into())]));
            if n > 1 {
                links.push(link("prev", &[("page", (n - 1).to_string())]));
            }
            if page.has_next {
                links.push(link("next", &[("page", (n + 1).to_string())]));
            }
            if let Some(p) = pages {
                links.push(link("last", &[("page", p.max(1).to_string())]));
            }
        }
        None => {
            links.push(link("first", &[]));
            if let Some(c) = &page.next_cursor {
                links.push(link("next", &[("cursor", c.clone())]));
            }
        }
    }
    put(header::LINK, links.join(", "));
    (
        headers,
        json!({ "success": true, "data": data, "pagination": pagination }),
    )
}
