//! Browser sessions. The cookie carries a random token; the server keeps only its SHA-256 in
//! the refresh-token table, as one refresh-token family per sign-in. So every instance sees
//! the same sessions, logout revokes the row (on every instance at once), and the revocations
//! the API already performs (password change, logout-all, deactivation) end web sessions too.
//! The hash is domain-separated from API refresh tokens: a session cookie presented to
//! `/api/v1/auth/refresh` matches nothing.
//!
//! Which user a live session belongs to is kept in memory for `MDL_USER_CACHE_TTL`, as the
//! user records are, so a page view does not query the database. Logging out drops the entry
//! here and, like every user event, tells the other instances through Redis; without Redis
//! they notice within that TTL, as they do a deactivated user.

use super::error::WebError;
use crate::domain::user::{User, UserStatus};
use crate::http::AppState;
use crate::http::client::ClientAddr;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

pub const SESSION_COOKIE: &str = "mdl_session";

/// The value of cookie `name`, if the request sent exactly one well-formed value for it.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v);
    let first = found.next()?;
    // Two values (one planted by a sibling domain) make the cookie ambiguous: use neither.
    if found.next().is_some() || first.is_empty() || !first.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(first)
}

pub fn session_hash(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mdl-web-session\0");
    h.update(token.as_bytes());
    crate::store::query::hex(&h.finalize())
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `Set-Cookie` for a cookie the page scripts never need to read.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_s: u64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={path}; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("mdl_invalid=; Max-Age=0"))
}

pub fn clear_cookie(name: &str, path: &str, tls: bool) -> HeaderValue {
    set_cookie(name, "", path, 0, tls)
}

/// Starts a session for `user` and returns the cookie's token.
pub async fn start(state: &AppState, user: &User) -> Result<String, WebError> {
    let token = crate::auth::password::random_hex(32).map_err(WebError::Internal)?;
    let family = format!("web-{}", uuid::Uuid::new_v4());
    let expires_at = now_s() + state.config.refresh_token_ttl_s as i64;
    state
        .store
        .insert_refresh_token(&session_hash(&token), &family, &user.user_id, expires_at)
        .await?;
    Ok(token)
}

/// Ends the session of `token` (held by `user_id`) on every instance.
pub async fn end(state: &AppState, token: &str, user_id: &str) -> Result<(), WebError> {
    let hash = session_hash(token);
    state.store.revoke_refresh_family(&hash, now_s()).await?;
    // At once here: the user event below is handled by a background task.
    state.web.sessions.forget(&hash);
    // Every instance (this one included) drops its remembered sessions on a user event.
    state.cache.announce_user(user_id).await;
    Ok(())
}

/// Live sessions by token hash, each with its user's id, for a short time.
pub struct SessionMemo {
    live: Cache<String, Arc<str>, foldhash::fast::RandomState>,
}

/// Sessions remembered at once; more evict the least used.
const MEMO_CAPACITY: u64 = 100_000;

impl SessionMemo {
    pub fn new(ttl: Duration) -> SessionMemo {
        SessionMemo {
            live: Cache::builder()
                .max_capacity(MEMO_CAPACITY)
                .time_to_live(ttl)
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    fn forget(&self, hash: &str) {
        self.live.invalidate(hash);
    }

    /// A user's status, role or sessions changed somewhere. Sessions are keyed by token, not
    /// user, and such events are rare: forgetting them all costs one query per active session.
    pub fn forget_all(&self) {
        self.live.invalidate_all();
    }
}

/// Who is looking at a page: a signed-in user (with the session's token, which the CSRF
/// tokens derive from, and its hash, which keys what is kept for this session) or nobody.
#[derive(Clone)]
pub struct Visitor {
    pub user: Option<Arc<User>>,
    pub session: Option<String>,
    pub session_hash: Option<String>,
    /// The request reached our edge over TLS (as a trusted proxy says): cookies get `Secure`.
    pub tls: bool,
}

impl Visitor {
    pub fn csrf(&self) -> Option<String> {
        self.session.as_deref().map(super::csrf::session_token)
    }
}

async fn signed_in(state: &AppState, hash: &str) -> Result<Option<Arc<User>>, WebError> {
    let memo = &state.web.sessions.live;
    let user_id = match memo.get(hash) {
        Some(id) => id,
        None => {
            let Some(id) = state.store.refresh_token_user(hash, now_s()).await? else {
                return Ok(None);
            };
            let id: Arc<str> = id.into();
            memo.insert(hash.to_string(), id.clone());
            id
        }
    };
    let user = state.users.get(&state.store, &user_id).await?;
    Ok(user.filter(|u| u.status == UserStatus::Active))
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let Ok(client) = ClientAddr::from_request_parts(parts, state).await;
        let token = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string);
        let hash = token.as_deref().map(session_hash);
        let user = match &hash {
            Some(h) => signed_in(state, h).await?,
            None => None,
        };
        Ok(Visitor {
            session: token.filter(|_| user.is_some()),
            session_hash: hash.filter(|_| user.is_some()),
            user,
            tls: client.tls,
        })
    }
}

/// A visitor allowed to read the catalog: signed in, or anyone under `MDL_PUBLIC_READ`.
/// Anyone else is sent to the sign-in page, to come back here afterwards.
pub struct Reader(pub Visitor);

impl FromRequestParts<AppState> for Reader {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        if visitor.user.is_some() || state.config.public_read {
            return Ok(Reader(visitor));
        }
        let next = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |pq| pq.as_str().to_string());
        Err(WebError::SignIn { next })
    }
}
