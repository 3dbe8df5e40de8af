//! What a list call asks for: filters, order and page, plus the opaque keyset cursor.

use super::error::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_LIMIT: u32 = 50;

/// Filters on the metric list; every one is an indexed column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricFilter {
    pub category: Option<String>,
    pub tier: Option<String>,
    pub business_domain: Option<String>,
    pub metric_type: Option<String>,
    pub status: Option<String>,
    /// Matches any of the governance owners (owner team, technical or business owner).
    pub owner: Option<String>,
    /// Any-of: a metric with at least one of these tags matches.
    pub tags: Vec<String>,
    /// Full-text query; all words must match (stemmed).
    pub q: Option<String>,
}

impl MetricFilter {
    /// Stable text identifying the filter, so a cursor cannot be replayed on another query.
    fn fingerprint(&self) -> String {
        let mut tags = self.tags.clone();
        tags.sort();
        tags.dedup();
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.category, self.tier, self.business_domain, self.metric_type, self.status, self.owner, tags, self.q
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricSort {
    #[default]
    Name,
    NameDesc,
    MetricId,
    MetricIdDesc,
    UpdatedAt,
    UpdatedAtDesc,
}

impl MetricSort {
    pub const ALLOWED: &'static [&'static str] =
        &["name", "-name", "metric_id", "-metric_id", "updated_at", "-updated_at"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "name" => Self::Name,
            "-name" => Self::NameDesc,
            "metric_id" => Self::MetricId,
            "-metric_id" => Self::MetricIdDesc,
            "updated_at" => Self::UpdatedAt,
            "-updated_at" => Self::UpdatedAtDesc,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::NameDesc => "-name",
            Self::MetricId => "metric_id",
            Self::MetricIdDesc => "-metric_id",
            Self::UpdatedAt => "updated_at",
            Self::UpdatedAtDesc => "-updated_at",
        }
    }

    /// The column sorted on; ties are always broken by `metric_id` in the same direction.
    pub fn column(self) -> &'static str {
        match self {
            Self::Name | Self::NameDesc => "name",
            Self::MetricId | Self::MetricIdDesc => "metric_id",
            Self::UpdatedAt | Self::UpdatedAtDesc => "updated_at",
        }
    }

    pub fn descending(self) -> bool {
        matches!(self, Self::NameDesc | Self::MetricIdDesc | Self::UpdatedAtDesc)
    }
}

/// Which page: numbered (always counted) or after a keyset cursor (counted only on request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRequest {
    Offset {
        page: u32,
        limit: u32,
    },
    Cursor {
        after: Option<String>,
        limit: u32,
        count: bool,
    },
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest::Offset {
            page: 1,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl PageRequest {
    /// A numbered page; limits above the maximum are capped, zero is refused by the caller.
    pub fn offset(page: u32, limit: u32) -> Self {
        PageRequest::Offset {
            page: page.max(1),
            limit: limit.clamp(1, MAX_LIMIT),
        }
    }

    pub fn cursor(after: Option<String>, limit: u32, count: bool) -> Self {
        PageRequest::Cursor {
            after,
            limit: limit.clamp(1, MAX_LIMIT),
            count,
        }
    }

    pub fn limit(&self) -> u32 {
        match self {
            PageRequest::Offset { limit, .. } | PageRequest::Cursor { limit, .. } => *limit,
        }
    }

    pub fn wants_count(&self) -> bool {
        match self {
            PageRequest::Offset { .. } => true,
            PageRequest::Cursor { count, .. } => *count,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricQuery {
    pub filter: MetricFilter,
    pub sort: MetricSort,
    pub page: PageRequest,
    /// Count a search's matches (`count=true`; up to the store's cap). Other lists in page
    /// mode are always counted, from counters where they can be.
    pub count_search: bool,
}

impl MetricQuery {
    /// Rejects combinations the store cannot serve consistently.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.filter.q.is_some() && matches!(self.page, PageRequest::Cursor { .. }) {
            return Err(Self::no_cursor_with_search());
        }
        Ok(())
    }

    /// A search has no stable key for a cursor to seek to: it pages by number.
    pub(crate) fn no_cursor_with_search() -> StoreError {
        StoreError::invalid(
            "cursor",
            "cursor pagination is not offered with full-text search (q); use page",
        )
    }

    pub fn scope(&self) -> String {
        format!("metrics|{}|{}", self.sort.as_str(), self.filter.fingerprint())
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: Option<u64>,
    /// `total` stopped at the search count cap: there are at least that many matches.
    pub total_capped: bool,
    pub has_next: bool,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            total_capped: self.total_capped,
            has_next: self.has_next,
            next_cursor: self.next_cursor,
        }
    }
}

/// The position after the last row of a page: its sort key and id, tied to the query it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sort key of the last row (text; timestamps in their stored text form).
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: String,
    /// Fingerprint of the query (collection, sort and filters).
    #[serde(rename = "q")]
    scope: String,
}

impl Cursor {
    pub fn new(scope: &str, key: String, id: String) -> Self {
        Cursor {
            key,
            id,
            scope: scope_hash(scope),
        }
    }

    /// Opaque token: base64url payload plus a checksum, so typos and edits are caught.
    pub fn encode(&self) -> String {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(&payload);
        format!("{body}.{}", checksum(body.as_bytes()))
    }

    /// Decodes a token and checks it belongs to `scope`.
    pub fn decode(token: &str, scope: &str) -> Result<Cursor, StoreError> {
        let bad = || StoreError::invalid("cursor", "is not a valid cursor");
        let (body, sum) = token.rsplit_once('.').ok_or_else(bad)?;
        if checksum(body.as_bytes()) != sum {
            return Err(bad());
        }
        let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&payload).map_err(|_| bad())?;
        if cursor.scope != scope_hash(scope) {
            return Err(StoreError::invalid(
                "cursor",
                "belongs to a different query (filters or sort changed); start again without a cursor",
            ));
        }
        Ok(cursor)
    }
}

fn scope_hash(scope: &str) -> String {
    hex(&Sha256::digest(scope.as_bytes())[..8])
}

fn checksum(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"mdl-cursor-v1");
    h.update(bytes);
    hex(&h.finalize()[..6])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// PostgreSQL's `english` stop words (the Snowball list). Both backends drop them from queries so
/// a search matches the same metrics everywhere; SQLite would otherwise require them to appear.
const STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

/// Splits a search query into plain words, without stop words, so no query syntax of either
/// backend leaks through and both backends search for the same words.
pub fn search_terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .take(16)
        .collect()
}
