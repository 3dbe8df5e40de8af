//! Strict query-string parsing: unknown parameters are refused (they would silently do nothing,
//! and every spelling would be another response-cache entry), and pagination values follow the
//! design's rules.

use super::error::ApiError;
use super::params::{
    DiffQuery, ExportQuery, ImportQuery, MetricListQuery, PageQuery, PolicyListQuery, QueryParams, SlowQueryQuery,
};
use crate::cache::Outcome;
use crate::domain::paging::parse_limit;
use crate::store::PageRequest;
use crate::store::query::{DEFAULT_LIMIT, MAX_LIMIT};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};

pub const PAGE_PARAMS: &[&str] = PageQuery::NAMES;
pub const METRIC_LIST_PARAMS: &[&str] = MetricListQuery::NAMES;
pub const POLICY_LIST_PARAMS: &[&str] = PolicyListQuery::NAMES;
pub const EXPORT_PARAMS: &[&str] = ExportQuery::NAMES;
pub const IMPORT_PARAMS: &[&str] = ImportQuery::NAMES;
pub const SLOW_QUERY_PARAMS: &[&str] = SlowQueryQuery::NAMES;
pub const DIFF_PARAMS: &[&str] = DiffQuery::NAMES;

/// The query parameters a route takes, by method and route template. Every other route takes
/// none: a parameter nobody reads is refused, never ignored. The lists are the `NAMES` of the
/// types in `params`, the same types the OpenAPI document is generated from (a contract test
/// checks every operation).
pub fn allowed(method: &Method, template: &str) -> &'static [&'static str] {
    let read = *method == Method::GET || *method == Method::HEAD;
    match template {
        "/api/v1/metrics" if read => METRIC_LIST_PARAMS,
        "/api/v1/policies" if read => POLICY_LIST_PARAMS,
        "/api/v1/metrics/{id}/history" | "/api/v1/domains" | "/api/v1/objectives" | "/api/v1/users" if read => {
            PAGE_PARAMS
        }
        "/api/v1/export" if read => EXPORT_PARAMS,
        "/api/v1/metrics/{id}/diff" if read => DIFF_PARAMS,
        "/api/v1/stats/performance/slow-queries" if read => SLOW_QUERY_PARAMS,
        "/api/v1/import" if *method == Method::POST => IMPORT_PARAMS,
        _ => &[],
    }
}

/// Run before the response cache: a request naming a parameter its route does not take is
/// refused before it can become a cache key (or a warming candidate).
pub fn refuse_unknown_params(req: &Request) -> Option<Response> {
    let (raw, matched) = (req.uri().query()?, req.extensions().get::<MatchedPath>()?);
    let allowed = allowed(req.method(), matched.as_str());
    let unknown = unknown_param(raw, allowed)?;
    let refused = refuse(&unknown, allowed).into_response();
    let read = *req.method() == Method::GET || *req.method() == Method::HEAD;
    // A cacheable route says what the cache did with every read, refusals included.
    Some(match read && super::routes::read_route(matched.as_str()).is_some() {
        true => super::cache_layer::mark(refused, Outcome::Bypass),
        false => refused,
    })
}

fn unknown_param(raw: &str, allowed: &[&str]) -> Option<String> {
    crate::cache::keys::query_pairs(raw)
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| !allowed.contains(&k.as_ref()))
        .map(|k| k.into_owned())
}

/// Names the parameter, shortened: the error must not echo whatever size the client sent.
fn refuse(name: &str, allowed: &[&str]) -> ApiError {
    const SHOWN: usize = 64;
    let shown: String = match name.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &name[..cut]),
        None => name.to_string(),
    };
    let message = match allowed {
        [] => "unknown query parameter; this route takes none".to_string(),
        _ => format!("unknown query parameter; allowed: {}", allowed.join(", ")),
    };
    ApiError::field(&shown, message)
}

/// The decoded `key=value` pairs of a query string, in order.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(refuse(k, allowed));
        }
        Ok(Params(pairs))
    }

    /// The single value of `key`; repeating a single-valued parameter is an error.
    pub fn one(&self, key: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::field(key, "must be given at most once"));
        }
        Ok(first)
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// `page`/`limit` or `cursor`/`limit` (+ `count`). Limits above the maximum are capped.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit()?;
        let (page, count) = (self.page_number()?, self.count()?);
        match (page, self.one("cursor")?, count) {
            (Some(_), Some(_), _) => Err(ApiError::field("cursor", "use either page or cursor, not both")),
            (_, Some(""), _) => Err(ApiError::field("cursor", "must not be empty")),
            (_, Some(c), count) => Ok(PageRequest::cursor(Some(c.to_string()), limit, count == Some(true))),
            (Some(_), None, Some(_)) => Err(ApiError::field("count", "only applies to cursor pagination")),
            // `count` without `page` starts cursor pagination: a first page that need not be
            // counted, which on a large catalog is most of the cost of a numbered page 1.
            (None, None, Some(count)) => Ok(PageRequest::cursor(None, limit, count)),
            (page, None, None) => Ok(PageRequest::offset(page.unwrap_or(1), limit)),
        }
    }

    /// The page of a search (`q`): numbered only, with `count=true` asking for the number of
    /// matches.
    pub fn search_page(&self) -> Result<(PageRequest, bool), ApiError> {
        if self.one("cursor")?.is_some() {
            // The store refuses a cursor with `q`, for every caller.
            return Ok((self.page()?, false));
        }
        let limit = self.limit()?;
        let (page, count) = (self.page_number()?, self.count()?);
        Ok((PageRequest::offset(page.unwrap_or(1), limit), count == Some(true)))
    }

    fn limit(&self) -> Result<u32, ApiError> {
        Ok(match self.one("limit")? {
            None => DEFAULT_LIMIT,
            Some(v) => parse_limit(v, MAX_LIMIT).ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("must be a whole number of at least 1 (above {MAX_LIMIT} means {MAX_LIMIT})"),
                )
            })?,
        })
    }

    fn page_number(&self) -> Result<Option<u32>, ApiError> {
        match self.one("page")? {
            None => Ok(None),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(ApiError::field("page", "must be an integer of at least 1")),
            },
        }
    }

    fn count(&self) -> Result<Option<bool>, ApiError> {
        match self.one("count")? {
            None => Ok(None),
            Some("false") => Ok(Some(false)),
            Some("true") => Ok(Some(true)),
            Some(_) => Err(ApiError::field("count", "must be true or false")),
        }
    }
}
