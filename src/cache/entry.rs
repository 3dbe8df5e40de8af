//! A cached entry is a finished response: status, the headers that matter, and the body, kept
//! gzip-compressed when it is large enough to gain from it (so a hit compresses nothing and the
//! in-process tier holds more).

use super::keys::Collection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Response headers a hit must reproduce; the rest (request id, timing, security headers) are
/// added per request by the outer middleware.
const KEPT: &[HeaderName] = &[
    header::CONTENT_TYPE,
    header::ETAG,
    header::LINK,
    header::CACHE_CONTROL,
    header::CONTENT_DISPOSITION,
    header::VARY,
];
const KEPT_CUSTOM: &[&str] = &["x-total-count", "x-page", "x-per-page", "x-total-pages"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "identity")]
    Identity,
    #[serde(rename = "gzip")]
    Gzip,
}

#[derive(Debug, Clone)]
pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub encoding: Encoding,
    pub body: Bytes,
    /// `W/` + the ETag, for the gzip representation (computed once, not per hit).
    pub weak_etag: Option<HeaderValue>,
    /// Generations the key was built with: lets an invalidation drop exactly the stale entries.
    pub generations: Vec<(Collection, u64)>,
    /// The headers of an answer with `body` as stored (with `Vary`, and for gzip its coding and
    /// weak ETag), built once: a hit clones them instead of rebuilding a map. Room is reserved
    /// for the headers the outer layer adds, so the map does not grow on the way out.
    pub as_stored: HeaderMap,
    /// Not an answer: the loading request's body was too large to keep and went to that client
    /// alone. Requests that waited on the same load must produce their own.
    pub passed_through: bool,
    /// Unique to this value in this process (entries never change once built): lets something
    /// derived from an entry check that the cache still holds that very entry.
    pub serial: u64,
}

fn next_serial() -> u64 {
    static SERIALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    SERIALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Headers the way out adds to every answer (request id, timing, security headers...).
const ROOM_FOR_OUTER_HEADERS: usize = 12;

fn as_stored(
    headers: &[(HeaderName, HeaderValue)],
    encoding: Encoding,
    weak_etag: Option<&HeaderValue>,
    body: &Bytes,
) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(headers.len() + ROOM_FOR_OUTER_HEADERS);
    for (k, v) in headers {
        map.append(k.clone(), v.clone());
    }
    // The router would add it to every hit otherwise, and a clone has no room to grow into.
    map.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    map.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if encoding == Encoding::Gzip {
        map.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        // Another byte sequence than the identity body: the validator becomes weak.
        if let Some(weak) = weak_etag {
            map.insert(header::ETAG, weak.clone());
        }
    }
    map
}

#[derive(Serialize, Deserialize)]
struct Meta {
    status: u16,
    headers: Vec<(String, String)>,
    encoding: Encoding,
    generations: Vec<(String, u64)>,
}

/// Types that are compressed already or gain nothing.
fn incompressible(content_type: Option<&HeaderValue>) -> bool {
    content_type.and_then(|v| v.to_str().ok()).is_some_and(|t| {
        t.starts_with("application/gzip") || t.starts_with("image/") || t.starts_with("application/zip")
    })
}

impl CachedResponse {
    /// Captures a handler's answer. Bodies of at least `threshold` bytes are stored gzipped.
    pub fn capture(
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
        threshold: usize,
        generations: Vec<(Collection, u64)>,
    ) -> CachedResponse {
        let mut kept = Vec::new();
        for name in KEPT {
            for value in headers.get_all(name) {
                kept.push((name.clone(), value.clone()));
            }
        }
        for name in KEPT_CUSTOM {
            if let Some(value) = headers.get(*name) {
                kept.push((HeaderName::from_static(name), value.clone()));
            }
        }
        let (encoding, body) = if body.len() >= threshold && !incompressible(headers.get(header::CONTENT_TYPE)) {
            match gzip(&body) {
                Ok(z) if z.len() < body.len() => (Encoding::Gzip, Bytes::from(z)),
                _ => (Encoding::Identity, body),
            }
        } else {
            (Encoding::Identity, body)
        };
        let weak_etag = weak(&kept);
        CachedResponse {
            status,
            as_stored: as_stored(&kept, encoding, weak_etag.as_ref(), &body),
            headers: kept,
            encoding,
            body,
            weak_etag,
            generations,
            passed_through: false,
            serial: next_serial(),
        }
    }

    /// An answer kept whole (every header, identity body) to be sent once, not stored.
    pub fn verbatim(status: StatusCode, headers: &HeaderMap, body: Bytes) -> CachedResponse {
        let headers: Vec<_> = headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        CachedResponse {
            status,
            as_stored: as_stored(&headers, Encoding::Identity, None, &body),
            headers,
            encoding: Encoding::Identity,
            body,
            weak_etag: None,
            generations: Vec::new(),
            passed_through: false,
            serial: next_serial(),
        }
    }

    /// Stands for a body that was sent to the loading client as it came, and kept nowhere.
    pub fn passed_through(status: StatusCode) -> CachedResponse {
        CachedResponse {
            passed_through: true,
            ..CachedResponse::verbatim(status, &HeaderMap::new(), Bytes::new())
        }
    }

    pub fn etag(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == header::ETAG)
            .and_then(|(_, v)| v.to_str().ok())
    }

    /// The body as the handler produced it.
    pub fn identity_body(&self) -> std::io::Result<Bytes> {
        match self.encoding {
            Encoding::Identity => Ok(self.body.clone()),
            Encoding::Gzip => {
                let mut out = Vec::with_capacity(self.body.len() * 4);
                GzDecoder::new(&self.body[..]).read_to_end(&mut out)?;
                Ok(Bytes::from(out))
            }
        }
    }

    /// Bytes this response holds in memory: the struct, its headers and generations, the body.
    /// The cache adds what it spends on the key and its own bookkeeping.
    pub fn weight(&self) -> usize {
        let header = std::mem::size_of::<(HeaderName, HeaderValue)>();
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| header + k.as_str().len() + v.len())
            .sum();
        // `as_stored` holds the same headers again, plus its index.
        let headers = headers * 2 + (self.headers.len() + ROOM_FOR_OUTER_HEADERS) * 8;
        let generations = self.generations.len() * std::mem::size_of::<(Collection, u64)>();
        let weak = self.weak_etag.as_ref().map_or(0, HeaderValue::len);
        std::mem::size_of::<Self>() + headers + generations + weak + self.body.len()
    }

    /// `[meta length: u32 BE][meta JSON][body]`, the Redis representation.
    pub fn encode(&self) -> Vec<u8> {
        let meta = Meta {
            status: self.status.as_u16(),
            headers: self
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            encoding: self.encoding,
            generations: self.generations.iter().map(|(c, g)| (c.to_string(), *g)).collect(),
        };
        let meta = serde_json::to_vec(&meta).unwrap_or_default();
        let mut out = Vec::with_capacity(4 + meta.len() + self.body.len());
        out.extend_from_slice(&u32::try_from(meta.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&self.body);
        out
    }

    /// The answer with `fixed` added to the headers a hit sends where the answer has none of
    /// that name: the clone a hit makes then holds them, and the outer layer, finding them,
    /// adds only what differs per request (one insert each had cost a hash and, as a clone
    /// keeps no spare room, the map's growth). Stored copies (`encode`) never hold them.
    pub fn bake(mut self, fixed: &[(HeaderName, HeaderValue)]) -> CachedResponse {
        for (name, value) in fixed {
            if !self.as_stored.contains_key(name) {
                self.as_stored.insert(name.clone(), value.clone());
            }
        }
        self
    }

    /// The inverse of `encode`; `None` for anything malformed (treated as a miss).
    pub fn decode(raw: &[u8]) -> Option<CachedResponse> {
        let len = u32::from_be_bytes(raw.get(..4)?.try_into().ok()?) as usize;
        let meta: Meta = serde_json::from_slice(raw.get(4..4 + len)?).ok()?;
        let body = Bytes::copy_from_slice(raw.get(4 + len..)?);
        let headers: Vec<(HeaderName, HeaderValue)> = meta
            .headers
            .into_iter()
            .filter_map(|(k, v)| Some((HeaderName::try_from(k).ok()?, HeaderValue::try_from(v).ok()?)))
            .collect();
        let generations = meta
            .generations
            .into_iter()
            .filter_map(|(c, g)| Some((Collection::parse(&c)?, g)))
            .collect();
        let weak_etag = weak(&headers);
        Some(CachedResponse {
            status: StatusCode::from_u16(meta.status).ok()?,
            as_stored: as_stored(&headers, meta.encoding, weak_etag.as_ref(), &body),
            weak_etag,
            headers,
            encoding: meta.encoding,
            body,
            generations,
            passed_through: false,
            serial: next_serial(),
        })
    }
}

fn weak(headers: &[(HeaderName, HeaderValue)]) -> Option<HeaderValue> {
    let etag = headers.iter().find(|(k, _)| k == header::ETAG)?.1.to_str().ok()?;
    if etag.starts_with("W/") {
        return HeaderValue::from_str(etag).ok();
    }
    HeaderValue::from_str(&format!("W/{etag}")).ok()
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::new(6));
    encoder.write_all(data)?;
    encoder.finish()
}
