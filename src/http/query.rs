//! Strict query-string parsing: unknown parameters are refused (they would silently do nothing),
//! and pagination values follow the design's rules.

use super::error::ApiError;
use crate::store::PageRequest;
use crate::store::query::{DEFAULT_LIMIT, MAX_LIMIT};

/// The decoded `key=value` pairs of a query string, in order.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (k, _) in &pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::field(
                    k,
                    format!("unknown query parameter; allowed: {}", allowed.join(", ")),
                ));
            }
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
        let limit = match self.one("limit")? {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 => n.min(i64::from(MAX_LIMIT)) as u32,
                _ => {
                    return Err(ApiError::field(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ));
                }
            },
        };
        let page = match self.one("page")? {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err(ApiError::field("page", "must be an integer of at least 1")),
            },
        };
        let count = match self.one("count")? {
            None => None,
            Some("false") => Some(false),
            Some("true") => Some(true),
            Some(_) => return Err(ApiError::field("count", "must be true or false")),
        };
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
}
