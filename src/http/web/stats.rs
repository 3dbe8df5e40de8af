//! `GET /stats`: the catalog's shape, from the same store call as `GET /api/v1/stats`.

use super::error::WebError;
use super::page_cache::{self, Fragment};
use super::session::Reader;
use super::stats_view::{self, StatsMain};
use crate::http::AppState;
use crate::http::query::Params;
use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

pub async fn page(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    gzip: page_cache::Gzip,
    uri: Uri,
) -> Result<Response, WebError> {
    Params::parse(uri.query(), &[])?;
    let render = async {
        let stats = state.store.stats().await?;
        Ok(Fragment {
            title: "Catalog statistics".to_string(),
            main: StatsMain {
                s: stats_view::build(&stats),
            }
            .render()?,
        })
    };
    let variant = page_cache::variant(&visitor);
    let content = page_cache::fragment(&state, "/stats", &uri, variant, render).await?;
    page_cache::whole(&state, &visitor, gzip, &content)
}
