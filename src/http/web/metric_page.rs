//! `GET /metrics/{id}`: one definition, its history and its policy; and its download.

use super::error::WebError;
use super::metric_view;
use super::page_cache::{self, Fragment};
use super::pages::MetricMain;
use super::referrers;
use super::session::Reader;
use crate::catalog::Format;
use crate::catalog::policies;
use crate::domain::Metric;
use crate::http::AppState;
use crate::store::{PageRequest, Stored};
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The cache's route for the "referred to by" section (`http::routes`), not a served route.
const REFERRERS_ROUTE: &str = "/metrics/{id}/referred-by";
const REFERRERS_MARKER: &str = "<!--referred-by-->";

/// History entries shown on the page; the API pages through all of them.
const HISTORY_SHOWN: u32 = 50;

async fn load(state: &AppState, id: Result<Path<String>, PathRejection>) -> Result<Stored, WebError> {
    let Path(id) = id.map_err(|r| WebError::BadRequest(r.body_text()))?;
    let id = crate::http::path_id::checked(id)?;
    state
        .store
        .get_metric(&id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("There is no metric with the id “{id}”.")))
}

pub async fn page(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    gzip: page_cache::Gzip,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, WebError> {
    let render = async {
        let stored = load(&state, id).await?;
        let history = state
            .store
            .metric_history(&stored.id, &PageRequest::offset(1, HISTORY_SHOWN))
            .await?;
        // Stored documents were validated on write; failing here means the row was altered.
        let metric = Metric::parse(serde_json::Value::Object(stored.doc.clone()))
            .map_err(|e| WebError::Internal(format!("metric `{}` no longer validates: {e}", stored.id)))?;
        let (policy, _) = policies::of_stored(&stored)?;
        let total = history.total.unwrap_or(history.items.len() as u64);
        let role = visitor.user.as_ref().map(|u| u.role);
        let m = metric_view::build(&stored, &metric, &history.items, total, policy, role);
        Ok(Fragment {
            title: m.name.clone(),
            main: MetricMain { m }.render()?,
        })
    };
    let variant = page_cache::variant(&visitor);
    let content = page_cache::fragment(&state, "/metrics/{id}", &uri, variant, render).await?;
    // The section naming who refers to this metric depends on every other metric and
    // objective, so it is cached apart and turns over on their writes, not this page's.
    let referrers_uri: Uri = format!("{}/referred-by", uri.path())
        .parse()
        .map_err(|e: axum::http::uri::InvalidUri| WebError::Internal(e.to_string()))?;
    let referrers = async {
        let id = crate::http::routes::last_segment(uri.path()).unwrap_or_default();
        let found = referrers::find(&state, &id).await?;
        Ok(Fragment {
            title: String::new(),
            main: found.render()?,
        })
    };
    let refs = page_cache::fragment(&state, REFERRERS_ROUTE, &referrers_uri, "all", referrers).await?;
    page_cache::respond(&state, &visitor, gzip, &[&content, &refs], || {
        // The marker is template text: escaped content can never contain it.
        let main = content.main()?.replacen(REFERRERS_MARKER, refs.main()?, 1);
        Ok((content.title()?.to_string(), main))
    })
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    format: Option<String>,
}

/// The stored document with its server fields, as the API returns it, as a file.
pub async fn download(
    State(state): State<AppState>,
    _reader: Reader,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, WebError> {
    let Query(query) = query.map_err(|r| WebError::BadRequest(r.body_text()))?;
    let (format, ext, content_type) = match query.format.as_deref().unwrap_or("json") {
        "json" => (Format::Json, "json", "application/json"),
        "yaml" => (Format::Yaml, "yaml", "application/yaml"),
        _ => return Err(WebError::BadRequest("format must be json or yaml".into())),
    };
    let stored = load(&state, id).await?;
    let text = crate::catalog::format::render(&stored.to_json(), format).map_err(WebError::Internal)?;
    // Ids are `[A-Za-z0-9_-]`, safe inside the quoted file name.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}.{ext}\"", stored.id))
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store, private")),
        ],
        text,
    )
        .into_response())
}
