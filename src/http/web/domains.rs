//! `GET /domains` and `GET /domains/{id}`: business domains and the metrics filed under each
//! (metrics name their domain by its `name` in `business_domain`).

use super::domain_view::{self, DomainMain, DomainsMain, METRICS_SHOWN};
use super::error::WebError;
use super::objectives::{all_entities, path_id};
use super::page_cache::{self, Fragment};
use super::session::Reader;
use crate::http::AppState;
use crate::http::query::Params;
use crate::store::{EntityKind, MetricFilter, MetricQuery, PageRequest};
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;

pub async fn list(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    gzip: page_cache::Gzip,
    uri: Uri,
) -> Result<Response, WebError> {
    Params::parse(uri.query(), &[])?;
    let render = async {
        let (domains, cut) = all_entities(&*state.store, EntityKind::Domain).await?;
        let rows = domains.iter().map(domain_view::row).collect();
        Ok(Fragment {
            title: "Business domains".to_string(),
            main: DomainsMain { rows, cut }.render()?,
        })
    };
    let variant = page_cache::variant(&visitor);
    let content = page_cache::fragment(&state, "/domains", &uri, variant, render).await?;
    page_cache::whole(&state, &visitor, gzip, &content)
}

pub async fn page(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    gzip: page_cache::Gzip,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, WebError> {
    Params::parse(uri.query(), &[])?;
    let render = async {
        let id = path_id(id)?;
        let domain = state
            .store
            .get_entity(EntityKind::Domain, &id)
            .await?
            .ok_or_else(|| WebError::NotFound(format!("There is no business domain with the id “{id}”.")))?;
        let name = domain_view::domain_name(&domain);
        let query = MetricQuery {
            filter: MetricFilter {
                business_domain: Some(name),
                ..Default::default()
            },
            page: PageRequest::offset(1, METRICS_SHOWN),
            ..Default::default()
        };
        let metrics = state.store.list_metrics(&query).await?;
        let d = domain_view::build(&domain, metrics);
        Ok(Fragment {
            title: d.name.clone(),
            main: DomainMain { d }.render()?,
        })
    };
    let variant = page_cache::variant(&visitor);
    let content = page_cache::fragment(&state, "/domains/{id}", &uri, variant, render).await?;
    page_cache::whole(&state, &visitor, gzip, &content)
}
