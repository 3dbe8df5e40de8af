//! CSRF defences for the forms. Two layers: a token in every form, and a check that a POST
//! comes from our own pages (`Sec-Fetch-Site`, `Origin`) when the browser says where it
//! comes from.
//!
//! A signed-in form's token is derived from the session token (which only the browser
//! holds, in an `HttpOnly` cookie): nothing to store, valid on every instance, and it dies
//! with the session. The sign-in form has no session yet, so it pairs a random nonce cookie
//! with a token derived from it (a double submit): a cross-site page can neither read the
//! cookie nor compute the token.

use super::error::WebError;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

pub const LOGIN_COOKIE: &str = "mdl_login";

fn derive(purpose: &[u8], secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(purpose);
    h.update(secret.as_bytes());
    crate::store::query::hex(&h.finalize()[..16])
}

pub fn session_token(session: &str) -> String {
    derive(b"mdl-web-csrf\0", session)
}

pub fn login_token(nonce: &str) -> String {
    derive(b"mdl-web-login-csrf\0", nonce)
}

/// Compares without stopping at the first difference, so timing tells nothing.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a POST a browser says came from another site. `Sec-Fetch-Site` decides when
/// present (pages cannot set it). Otherwise `Origin` is compared with `Host`, except the
/// opaque `null`, which browsers send for our own forms too (our `Referrer-Policy` is
/// `no-referrer`). Clients that send neither are left to the token.
pub fn check_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let refused = || WebError::Forbidden("This form was sent from another site and was refused.".into());
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str() {
            Ok("same-origin" | "none") => Ok(()),
            _ => Err(refused()),
        };
    }
    let origin = match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None | Some(Ok("null")) => return Ok(()),
        Some(Ok(o)) => o,
        Some(Err(_)) => return Err(refused()),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The scheme is left out: behind a TLS proxy the page is https while we see http.
    match origin.split_once("://") {
        Some((_, h)) if !host.is_empty() && h.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(refused()),
    }
}
