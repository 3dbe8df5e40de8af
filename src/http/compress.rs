//! Response compression: zstd, br, gzip or deflate by the client's `Accept-Encoding`.
//!
//! Written here instead of taken from tower-http because of what its layer costs every response
//! that is not compressed: its body type is an enum with a brotli encoder inline (about 5.8 KB),
//! moved through the futures and boxed again into axum's body on each request, even for a cached
//! answer that is already gzip. This layer leaves such responses as they are, with their body
//! untouched; only a response it compresses gets a (boxed) encoder stream.
//!
//! Semantics kept from the layer it replaces: q-values and `*` (RFC 9110), ties to
//! zstd > br > gzip > deflate > identity, never for a response that has `Content-Encoding` or
//! `Content-Range` or is smaller than the threshold, never for already-compressed types; the
//! compressed answer loses `Content-Length` and `Accept-Ranges`. `Vary` and the weakening of the
//! ETag of a re-encoded body are the outer layer's (`middleware::Observe`).

use async_compression::Level;
use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder, ZlibEncoder, ZstdEncoder};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Response, header};
use futures_util::TryStreamExt;
use http_body::Body as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio_util::io::{ReaderStream, StreamReader};

/// Content types that are compressed already (or must stream unbuffered), by prefix.
const NOT_FOR: [&str; 6] = [
    "application/grpc",
    "application/gzip",
    "application/zip",
    "application/zstd",
    "text/event-stream",
    crate::catalog::report::DOCX_MEDIA_TYPE,
];

/// A content coding this layer produces, in the order that breaks ties (last wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Coding {
    Identity,
    Deflate,
    Gzip,
    Br,
    Zstd,
}

impl Coding {
    const ALL: [Coding; 5] = [
        Coding::Identity,
        Coding::Deflate,
        Coding::Gzip,
        Coding::Br,
        Coding::Zstd,
    ];

    fn token(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Deflate => "deflate",
            Coding::Gzip => "gzip",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    fn parse(token: &str) -> Option<Coding> {
        let token = token.trim();
        if token.eq_ignore_ascii_case("x-gzip") {
            return Some(Coding::Gzip);
        }
        Coding::ALL.into_iter().find(|c| token.eq_ignore_ascii_case(c.token()))
    }
}

/// The client's q-value (in thousandths) for each coding we produce, as RFC 9110 reads
/// `Accept-Encoding`: a listed coding has its own q, an unlisted one the `*` q if there is one,
/// and identity is acceptable unless refused. An item with an unreadable q-value is ignored.
pub(crate) fn client_q(headers: &HeaderMap) -> [u16; 5] {
    let mut explicit: [Option<u16>; 5] = [None; 5];
    let mut wildcard = None;
    let items = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or_default().trim();
        let q = match parts
            .map(str::trim)
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
        {
            None => 1000,
            Some(q) => match q_value(q.trim()) {
                Some(q) => q,
                None => continue,
            },
        };
        if token == "*" {
            wildcard.get_or_insert(q);
        } else if let Some(c) = Coding::parse(token) {
            explicit[c as usize].get_or_insert(q);
        }
    }
    let mut q = [0u16; 5];
    for c in Coding::ALL {
        q[c as usize] = match (explicit[c as usize], wildcard) {
            (Some(q), _) => q,
            (None, Some(w)) => w,
            // Identity is always acceptable unless the client says otherwise.
            (None, None) if c == Coding::Identity => 1,
            (None, None) => 0,
        };
    }
    q
}

/// `0`, `1`, `0.5`, `1.000`: at most three decimals, never above 1.
fn q_value(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = match int {
        "0" => frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0u16, |n, b| n * 10 + u16::from(b - b'0')),
        "1" if frac.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    Some(thousandths)
}

/// The coding to answer with: the highest q, ties to the later coding in [`Coding`].
pub(crate) fn negotiate(headers: &HeaderMap) -> Coding {
    if !headers.contains_key(header::ACCEPT_ENCODING) {
        return Coding::Identity;
    }
    let q = client_q(headers);
    Coding::ALL
        .into_iter()
        .filter(|c| q[*c as usize] > 0)
        .max_by_key(|c| (q[*c as usize], *c))
        .unwrap_or(Coding::Identity)
}

/// What `COMPRESSION_LEVEL` and `ENABLE_COMPRESSION` say, and the size threshold.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub enabled: bool,
    pub level: Level,
    /// Bodies of known size below this many bytes stay as they are.
    pub threshold: u64,
}

impl Settings {
    /// `fastest`, `default`, `best` or a number (the codec's own scale); anything else: fastest.
    pub fn level(name: &str) -> Level {
        match name {
            "best" => Level::Best,
            "default" => Level::Default,
            n => n.parse().map(Level::Precise).unwrap_or(Level::Fastest),
        }
    }
}

#[derive(Clone)]
pub struct CompressLayer {
    settings: Settings,
}

impl CompressLayer {
    pub fn new(settings: Settings) -> CompressLayer {
        CompressLayer { settings }
    }
}

impl<S> tower::Layer<S> for CompressLayer {
    type Service = Compress<S>;
    fn layer(&self, inner: S) -> Compress<S> {
        Compress {
            inner,
            settings: self.settings,
        }
    }
}

#[derive(Clone)]
pub struct Compress<S> {
    inner: S,
    settings: Settings,
}

impl<S, E> tower::Service<Request> for Compress<S>
where
    S: tower::Service<Request, Response = Response<Body>, Error = E>,
{
    type Response = Response<Body>;
    type Error = E;
    type Future = CompressFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let coding = if self.settings.enabled {
            negotiate(req.headers())
        } else {
            Coding::Identity
        };
        CompressFuture {
            inner: self.inner.call(req),
            coding,
            settings: self.settings,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct CompressFuture<F> {
        #[pin]
        inner: F,
        coding: Coding,
        settings: Settings,
    }
}

impl<F, E> Future for CompressFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(match *this.coding {
            Coding::Identity => response,
            coding => compress(response, coding, this.settings),
        }))
    }
}

fn compressible(response: &Response<Body>, threshold: u64) -> bool {
    let headers = response.headers();
    if headers.contains_key(header::CONTENT_ENCODING) || headers.contains_key(header::CONTENT_RANGE) {
        return false;
    }
    let size = response.body().size_hint().exact().or_else(|| {
        headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    });
    if size.is_some_and(|n| n < threshold) {
        return false;
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let image = kind.starts_with("image/") && !kind.starts_with("image/svg+xml");
    !image && !NOT_FOR.iter().any(|t| kind.starts_with(t))
}

fn compress(response: Response<Body>, coding: Coding, settings: &Settings) -> Response<Body> {
    if !compressible(&response, settings.threshold) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let level = settings.level;
    let body = match coding {
        Coding::Gzip => Body::from_stream(ReaderStream::new(GzipEncoder::with_quality(reader, level))),
        Coding::Deflate => Body::from_stream(ReaderStream::new(ZlibEncoder::with_quality(reader, level))),
        // The brotli crate's own default is its slowest level (11); 4 is what on-the-fly
        // compressors commonly use.
        Coding::Br => {
            let level = if matches!(level, Level::Default) {
                Level::Precise(4)
            } else {
                level
            };
            Body::from_stream(ReaderStream::new(BrotliEncoder::with_quality(reader, level)))
        }
        Coding::Zstd => Body::from_stream(ReaderStream::new(zstd(reader, level))),
        Coding::Identity => unreachable!("identity is answered before compressing"),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::ACCEPT_RANGES);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    Response::from_parts(parts, body)
}

/// Levels from 17 up use windows above 8 MB, more than browsers agree to decode (RFC 8878
/// recommends at most 8 MB), so the window is held at 2^23 there.
fn zstd<R: tokio::io::AsyncBufRead>(reader: R, level: Level) -> ZstdEncoder<R> {
    let high = match level {
        Level::Best => true,
        Level::Precise(n) => n >= 17,
        _ => false,
    };
    if high {
        ZstdEncoder::with_quality_and_params(reader, level, &[async_compression::zstd::CParameter::window_log(23)])
    } else {
        ZstdEncoder::with_quality(reader, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).expect("a valid header value"),
        );
        h
    }

    #[test]
    fn the_highest_q_wins_and_ties_go_to_the_stronger_coding() {
        assert_eq!(negotiate(&HeaderMap::new()), Coding::Identity);
        assert_eq!(negotiate(&accept("gzip")), Coding::Gzip);
        assert_eq!(negotiate(&accept("gzip, deflate, br, zstd")), Coding::Zstd);
        assert_eq!(negotiate(&accept("gzip, br")), Coding::Br);
        assert_eq!(negotiate(&accept("gzip;q=0.4, br;q=0.9, zstd;q=0.1")), Coding::Br);
        assert_eq!(negotiate(&accept("br;q=0, gzip")), Coding::Gzip);
        assert_eq!(negotiate(&accept("x-gzip")), Coding::Gzip);
        assert_eq!(negotiate(&accept("GZIP;Q=0.5")), Coding::Gzip);
        assert_eq!(negotiate(&accept("identity")), Coding::Identity);
        assert_eq!(negotiate(&accept("unknown, compress")), Coding::Identity);
    }

    #[test]
    fn the_wildcard_stands_for_every_coding_not_listed() {
        assert_eq!(negotiate(&accept("*")), Coding::Zstd);
        assert_eq!(negotiate(&accept("zstd;q=0, br;q=0, *")), Coding::Gzip);
        assert_eq!(negotiate(&accept("*;q=0, deflate")), Coding::Deflate);
        assert_eq!(negotiate(&accept("*;q=0")), Coding::Identity);
    }

    #[test]
    fn unreadable_q_values_void_their_item() {
        assert_eq!(negotiate(&accept("br;q=2, gzip")), Coding::Gzip);
        assert_eq!(negotiate(&accept("br;q=0.0001, gzip;q=0.5")), Coding::Gzip);
        assert_eq!(negotiate(&accept("br;q=abc")), Coding::Identity);
        assert_eq!(q_value("0.125"), Some(125));
        assert_eq!(q_value("0.5"), Some(500));
        assert_eq!(q_value("1.000"), Some(1000));
        assert_eq!(q_value("1.5"), None);
        assert_eq!(q_value("-0"), None);
    }
}
