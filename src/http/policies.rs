//! Open Policy Agent policies generated from the metric definitions: one module, a page of
//! them, or the whole catalog as a bundle OPA can poll.

use super::AppState;
use super::caller::Reader;
use super::conditional;
use super::error::ApiError;
use super::metrics::metric_query;
use super::pagination;
use super::path_id::PathId;
use super::query::{self, Params};
use crate::catalog::policies;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The `q` value the client gives a media range in `Accept`, if it names it.
fn quality(accept: &str, matches: impl Fn(&str) -> bool) -> Option<f32> {
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next()?.to_ascii_lowercase();
            if !matches(&media) {
                return None;
            }
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some(q)
        })
        .reduce(f32::max)
}

/// Rego text unless the client prefers JSON over plain text.
pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let json = quality(&accept, |m| m == "application/json").unwrap_or(0.0);
    let text = quality(&accept, |m| matches!(m, "text/plain" | "text/*" | "*/*")).unwrap_or(0.0);
    json > 0.0 && json > text
}

#[utoipa::path(
    get,
    path = "/api/v1/metrics/{id}/policy",
    tag = "policies",
    operation_id = "getMetricPolicy",
    summary = "The metric's generated Rego policy (text/plain; JSON with Accept: application/json)",
    params(("id" = String, Path, description = "The metric id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "The Rego v1 module, or with `Accept: application/json` the policy in the envelope", content((String = "text/plain"), (super::schemas::PolicyResponse = "application/json"))),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
        (status = 404, description = "No such metric", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn for_metric(
    State(state): State<AppState>,
    _reader: Reader,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let policy = policies::for_metric(&*state.store, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("metric `{id}` not found")))?;
    let mut extra = HeaderMap::new();
    extra.insert(header::VARY, HeaderValue::from_static("Accept"));
    if wants_json(&headers) {
        let body = json!({ "success": true, "data": policy });
        let etag = conditional::content_etag("pj", body.to_string().as_bytes());
        return Ok(conditional::conditional(&headers, etag, extra, || {
            Json(body).into_response()
        }));
    }
    let etag = conditional::content_etag("p", policy.rego.as_bytes());
    extra.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(conditional::conditional(&headers, etag, extra, || {
        policy.rego.into_response()
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/policies",
    tag = "policies",
    operation_id = "listPolicies",
    summary = "Every metric's policy, paginated (same filters as /metrics)",
    params(super::params::PolicyListQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "A page of policies", body = super::schemas::PolicyList, headers(("Link" = String, description = "RFC 8288 first/prev/next/last links"))),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), query::POLICY_LIST_PARAMS)?;
    let query = metric_query(&params)?;
    let page = state.store.list_metrics(&query).await?;
    let data = page
        .items
        .iter()
        .map(|m| Ok(serde_json::to_value(policies::of_stored(m)?.0).unwrap_or_default()))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    let (extra, body) = pagination::envelope("/api/v1/policies", &params, &query.page, &page, data);
    Ok(conditional::list_response(&headers, extra, &body))
}

#[utoipa::path(
    get,
    path = "/api/v1/policies/bundle.tar.gz",
    tag = "policies",
    operation_id = "getPolicyBundle",
    summary = "OPA bundle of every policy (ETag = manifest revision, so polling gets 304)",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "gzip tarball: .manifest, data.json, one .rego per metric", body = Vec<u8>, content_type = "application/gzip"),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
    )
)]
pub async fn bundle(
    State(state): State<AppState>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Params::parse(raw.as_deref(), &[])?;
    let mut reader = state.store.read_catalog().await?;
    let revision = policies::revision(&*state.store, &mut *reader).await?;
    let etag = format!("\"{revision}\"");
    let mut extra = HeaderMap::new();
    extra.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/gzip"));
    extra.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"mdl-policies.tar.gz\""),
    );
    // OPA polls with the revision it holds: a 304 reads and packs nothing.
    Ok(conditional::conditional(&headers, etag, extra, move || {
        // Compressing takes a while: the bundle is written on a blocking thread as it is sent.
        super::stream::written_by(move |out| {
            let rt = tokio::runtime::Handle::current();
            let mut tarball = policies::Tarball::new(out);
            policies::write(&mut *reader, &revision, &mut tarball, &rt)?;
            tarball.finish()?;
            Ok(())
        })
        .into_response()
    }))
}
