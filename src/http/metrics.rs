//! `/api/v1/metrics`: the catalog's metric definitions.

use super::AppState;
use super::caller::Reader;
use super::conditional;
use super::error::ApiError;
use super::pagination;
use super::path_id::PathId;
use super::query::{self, Params};
use crate::domain::ValidationErrors;
use crate::domain::metric::{METRIC_TYPES, STATUSES, TIERS, check_enum_opt};
use crate::store::{MetricFilter, MetricQuery, MetricSort, RawStored, StoreError, Stored};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

/// `fields=a,b,c`: top-level fields to keep in list items (the id always stays).
fn project(item: Value, fields: Option<&[String]>) -> Value {
    match (item, fields) {
        (Value::Object(map), Some(keep)) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k == "metric_id" || keep.contains(k))
                .collect(),
        ),
        (item, _) => item,
    }
}

/// The list envelope (built with an empty `data`) with each metric's text spliced in: the
/// bytes serialising the parsed documents would give (see `RawStored::to_json_text`).
fn raw_envelope(envelope: &Value, items: &[RawStored]) -> Result<Vec<u8>, ApiError> {
    let text = serde_json::to_string(envelope).map_err(StoreError::from)?;
    // `success` comes first and is a boolean, so the first empty `data` is the envelope's own.
    let (head, tail) = text
        .split_once("\"data\":[]")
        .ok_or_else(|| ApiError::Internal("list envelope without data".into()))?;
    let mut out = Vec::with_capacity(text.len() + items.iter().map(|m| m.doc.len() + 160).sum::<usize>());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b"\"data\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.to_json_text().map_err(StoreError::from)?.as_bytes());
    }
    out.push(b']');
    out.extend_from_slice(tail.as_bytes());
    Ok(out)
}

/// The longest value of each free-text filter: what a stored metric can hold (the domain's
/// limits), so a longer one matches nothing; `q` and `fields` by what they are for. Links repeat
/// every filter, so an unbounded value would also come back several times in the headers.
const TEXT_FILTER_MAX_CHARS: &[(&str, usize)] = &[
    ("category", 100),
    ("business_domain", 200),
    ("owner", 200),
    ("tag", 64),
    ("q", 500),
    ("fields", 1000),
];
/// More tags than a metric can carry (50) are still a sensible "any of" filter; this many is not.
const MAX_TAG_FILTERS: usize = 100;

/// Filters, order and page of a metric listing (shared by `/metrics` and `/policies`). Every
/// bad value is reported at once.
pub(crate) fn metric_query(params: &Params) -> Result<MetricQuery, ApiError> {
    let mut invalid = ValidationErrors::new();
    let sort = params.one("sort")?.map(|s| (s, MetricSort::parse(s)));
    if let Some((_, None)) = sort {
        invalid.add("sort", format!("must be one of {}", MetricSort::ALLOWED.join(", ")));
    }
    let sort = sort.and_then(|(_, parsed)| parsed).unwrap_or_default();
    for (field, allowed) in [("tier", TIERS), ("metric_type", METRIC_TYPES), ("status", STATUSES)] {
        check_enum_opt(&mut invalid, field, params.one(field)?, allowed);
    }
    for (field, max) in TEXT_FILTER_MAX_CHARS {
        if params.all(field).iter().any(|v| v.chars().count() > *max) {
            invalid.add(*field, format!("must be at most {max} characters"));
        }
    }
    if params.all("tag").len() > MAX_TAG_FILTERS {
        invalid.add("tag", format!("may be given at most {MAX_TAG_FILTERS} times"));
    }
    invalid.into_result(())?;
    let text = |k: &str| params.one(k).map(|v| v.map(str::to_string));
    let filter = MetricFilter {
        category: text("category")?,
        tier: text("tier")?,
        business_domain: text("business_domain")?,
        metric_type: text("metric_type")?,
        status: text("status")?,
        owner: text("owner")?,
        tags: params.all("tag"),
        q: text("q")?,
    };
    let (page, count_search) = if filter.q.is_some() {
        params.search_page()?
    } else {
        (params.page()?, false)
    };
    Ok(MetricQuery {
        filter,
        sort,
        page,
        count_search,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    tag = "metrics",
    operation_id = "listMetrics",
    summary = "List metric definitions with filters and pagination",
    params(super::params::MetricListQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "A page of metric definitions", body = super::schemas::MetricList, headers(("Link" = String, description = "RFC 8288 first/prev/next/last links"), ("X-Total-Count" = u64, description = "Total items (page mode, or count=true; a search only with count=true, at most MDL_SEARCH_COUNT_CAP)"))),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), query::METRIC_LIST_PARAMS)?;
    let query = metric_query(&params)?;
    let fields: Option<Vec<String>> = params.one("fields")?.map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    if fields.is_none() {
        // No projection: the stored documents go out as they are, without parsing each one.
        let page = state.store.list_metrics_raw(&query).await?;
        let (extra, body) = pagination::envelope("/api/v1/metrics", &params, &query.page, &page, Vec::new());
        return Ok(conditional::list_response_bytes(
            &headers,
            extra,
            raw_envelope(&body, &page.items)?,
        ));
    }
    let mut page = state.store.list_metrics(&query).await?;
    let data = std::mem::take(&mut page.items)
        .into_iter()
        .map(|m| project(m.into_json(), fields.as_deref()))
        .collect();
    let (extra, body) = pagination::envelope("/api/v1/metrics", &params, &query.page, &page, data);
    Ok(conditional::list_response(&headers, extra, &body))
}

#[utoipa::path(
    get,
    path = "/api/v1/metrics/{id}",
    tag = "metrics",
    operation_id = "getMetric",
    summary = "One metric definition (ETag v<version>)",
    params(("id" = String, Path, description = "The metric id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "The metric definition", body = super::schemas::MetricResponse, headers(("ETag" = String, description = "Entity version `\"v<version>\"`"))),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
        (status = 404, description = "No such metric", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    _reader: Reader,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let metric: Stored = state
        .store
        .get_metric(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("metric `{id}` not found")))?;
    let version = metric.version;
    let body = json!({ "success": true, "data": metric.into_json() });
    Ok(conditional::entity_response(&headers, version, &body))
}

#[utoipa::path(
    get,
    path = "/api/v1/metrics/{id}/history",
    tag = "metrics",
    operation_id = "getMetricHistory",
    summary = "Change history, newest first",
    params(("id" = String, Path, description = "The metric id"), super::params::PageQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "A page of history entries", body = super::schemas::HistoryList),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
        (status = 404, description = "No such metric history", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    _reader: Reader,
    PathId(id): PathId,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), query::PAGE_PARAMS)?;
    let page_req = params.page()?;
    let page = state.store.metric_history(&id, &page_req).await?;
    if page.items.is_empty() && page.total == Some(0) {
        return Err(ApiError::NotFound(format!("metric `{id}` has no history")));
    }
    let data = page
        .items
        .iter()
        .map(|h| serde_json::to_value(h).unwrap_or_default())
        .collect();
    let path = format!("/api/v1/metrics/{id}/history");
    let (extra, body) = pagination::envelope(&path, &params, &page_req, &page, data);
    Ok(conditional::list_response(&headers, extra, &body))
}
