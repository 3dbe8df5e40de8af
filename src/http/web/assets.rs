//! The stylesheet and the script, embedded in the binary and served under names that carry a
//! hash of their bytes, so browsers may keep them for a year: a new build with other bytes
//! has other names.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const CSS: &[u8] = include_bytes!("../../../assets/web/app.css");
const JS: &[u8] = include_bytes!("../../../assets/web/app.js");

struct Asset {
    /// `/assets/app.<hash>.css`
    href: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

fn fingerprinted(stem: &str, ext: &str, bytes: &'static [u8], content_type: &'static str) -> Asset {
    let hash = crate::store::query::hex(&Sha256::digest(bytes)[..6]);
    Asset {
        href: format!("/assets/{stem}.{hash}.{ext}"),
        bytes,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        fingerprinted("app", "css", CSS, "text/css; charset=utf-8"),
        fingerprinted("app", "js", JS, "text/javascript; charset=utf-8"),
    ]
});

pub fn css_href() -> &'static str {
    &ASSETS[0].href
}

pub fn js_href() -> &'static str {
    &ASSETS[1].href
}

/// Only the current names answer: an old hash is a 404, never today's bytes under
/// yesterday's name (a cache would keep them for a year).
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS
        .iter()
        .find(|a| a.href.strip_prefix("/assets/") == Some(file.as_str()))
    else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            "no such asset",
        )
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}
