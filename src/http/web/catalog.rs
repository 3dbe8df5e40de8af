//! `GET /`: the catalog page. The query string is parsed by the API's own metric-list parser
//! and answered by the same store call, so the page and `GET /api/v1/metrics` cannot drift.

use super::catalog_view::{self, FACET_VALUES};
use super::error::WebError;
use super::page_cache::{self, Fragment};
use super::pages::CatalogMain;
use super::session::Reader;
use crate::http::AppState;
use crate::http::metrics::metric_query;
use crate::http::query::Params;
use crate::store::PageRequest;
use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

/// The API list's parameters minus `fields` and `count` (a page always shows everything and
/// always counts).
pub const CATALOG_PARAMS: &[&str] = &[
    "q",
    "category",
    "tier",
    "business_domain",
    "metric_type",
    "status",
    "owner",
    "tag",
    "sort",
    "cursor",
    "page",
    "limit",
];

pub async fn page(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    gzip: page_cache::Gzip,
    uri: Uri,
) -> Result<Response, WebError> {
    // Refused before the cache sees it: only queries the page accepts become keys.
    let params = Params::parse(uri.query(), CATALOG_PARAMS)?;
    let mut query = metric_query(&params)?;
    // Keyset pages by default (deep pages cost what the first does); numbered pages when
    // searching, where relevance is not a stable key, or when a link asks for a number.
    if query.filter.q.is_none() && params.one("page")?.is_none() {
        let after = params.one("cursor")?.map(str::to_string);
        query.page = PageRequest::cursor(after, query.page.limit(), true);
    }
    // Readers see how many matched; the store stops counting at its cap ("10000+ metrics").
    query.count_search = true;
    let render = async {
        let page = state.store.list_metrics(&query).await?;
        let facets = state.store.metric_facets(&query.filter, FACET_VALUES).await?;
        let view = catalog_view::build(params.pairs(), &query, page, facets);
        let title = match &query.filter.q {
            Some(q) => format!("“{q}” in the metric catalog"),
            None => "Metric catalog".to_string(),
        };
        Ok(Fragment {
            title,
            main: CatalogMain { view }.render()?,
        })
    };
    let content = page_cache::fragment(&state, "/", &uri, page_cache::variant(&visitor), render).await?;
    page_cache::whole(&state, &visitor, gzip, &content)
}
