//! Who is calling: a bearer access token, checked against the live user record so that a
//! deactivated user or a changed role takes effect at once.

use super::AppState;
use super::error::ApiError;
use crate::domain::user::{Role, User, UserStatus};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, header};
use std::sync::Arc;

/// An authenticated, active user, and how they proved it.
#[derive(Debug, Clone)]
pub struct Caller(pub User, pub Via);

/// How a caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A login session (access token).
    Session,
    /// An API key, with the role its scopes grant before the owner's role caps it.
    Key { scope: Role },
}

impl Via {
    /// Identity data (users, API keys) may be changed by a login session or a key scoped for
    /// writing; a read key is meant to be handed to dashboards and must not be able to
    /// mint keys or change its owner's account.
    fn may_change_identity(self) -> bool {
        match self {
            Via::Session => true,
            Via::Key { scope } => scope >= Role::Editor,
        }
    }
}

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// What the request presents, read once: every request that is not public pays for this.
enum Credential<'a> {
    Key(&'a str),
    Token(&'a str),
    None,
}

fn bearer(parts: &Parts) -> Option<&str> {
    // Tokens are ASCII: the bytes are checked by the token and key checks that follow, so a
    // header that is not text simply matches nothing.
    let value = std::str::from_utf8(parts.headers.get(header::AUTHORIZATION)?.as_bytes()).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// An API key from `X-API-Key` or `Authorization: Bearer mdl_...`, else a bearer token.
fn credential(parts: &Parts) -> Credential<'_> {
    if let Some(key) = parts.headers.get(&X_API_KEY).and_then(|v| v.to_str().ok()) {
        return Credential::Key(key.trim());
    }
    match bearer(parts) {
        Some(t) if t.starts_with("mdl_") => Credential::Key(t),
        Some(t) => Credential::Token(t),
        None => Credential::None,
    }
}

/// The key's owner, acting with the key's (possibly narrower) role.
async fn authenticate_key(key: &str, state: &AppState) -> Result<(Arc<User>, Via), ApiError> {
    let refused = || ApiError::Authentication("invalid, expired or revoked API key".into());
    let record = state
        .store
        .find_api_key(&super::api_keys::key_hash(key))
        .await?
        .ok_or_else(refused)?;
    let now = chrono::Utc::now().timestamp();
    if record.revoked_at.is_some() || record.expires_at.is_some_and(|e| e <= now) {
        return Err(refused());
    }
    let user = state
        .users
        .get(&state.store, &record.user_id)
        .await?
        .ok_or_else(refused)?;
    if user.status != UserStatus::Active {
        return Err(ApiError::Authentication(format!(
            "the key's user is {}",
            user.status.as_str()
        )));
    }
    let mut user = (*user).clone();
    user.role = super::api_keys::effective_role(&record.scopes, user.role);
    let scope = super::api_keys::effective_role(&record.scopes, Role::Admin);
    Ok((Arc::new(user), Via::Key { scope }))
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<(Arc<User>, Via)>, ApiError> {
    let token = match credential(parts) {
        Credential::Key(key) => return authenticate_key(key, state).await.map(Some),
        Credential::Token(token) => token,
        Credential::None => return Ok(None),
    };
    let claims = state
        .tokens
        .verify(token)
        .ok_or_else(|| ApiError::Authentication("invalid or expired token".into()))?;
    let user = state
        .users
        .get(&state.store, &claims.sub)
        .await?
        .ok_or_else(|| ApiError::Authentication("the token's user no longer exists".into()))?;
    if user.status != UserStatus::Active {
        return Err(ApiError::Authentication(format!("user is {}", user.status.as_str())));
    }
    // The record comes from the user cache, which every instance drops on a revocation
    // message, so a revoked token stops working everywhere at once.
    if claims.tv != user.token_version {
        return Err(ApiError::Authentication(
            "the session was revoked (password change, deactivation or logout): log in again".into(),
        ));
    }
    Ok(Some((user, Via::Session)))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await?
            .map(|(user, via)| Caller((*user).clone(), via))
            .ok_or_else(|| {
                ApiError::Authentication("authentication required: send Authorization: Bearer <token>".into())
            })
    }
}

/// A caller allowed on identity routes (`/users`, `/api-keys`): a login session or a key
/// scoped `write` or `admin`, never a `read` key.
#[derive(Debug, Clone)]
pub struct IdentityCaller(pub User);

impl FromRequestParts<AppState> for IdentityCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Caller(user, via) = Caller::from_request_parts(parts, state).await?;
        if !via.may_change_identity() {
            return Err(ApiError::Authorization(
                "a read-scoped API key cannot use identity routes: use a login session or a write/admin key".into(),
            ));
        }
        Ok(IdentityCaller(user))
    }
}

impl IdentityCaller {
    pub fn require(&self, role: Role) -> Result<&User, ApiError> {
        require(&self.0, role)
    }
}

/// A caller with a login session: for acts that prove who you are (changing your password,
/// ending all your sessions), which no API key may do.
#[derive(Debug, Clone)]
pub struct SessionCaller(pub User);

impl FromRequestParts<AppState> for SessionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller(user, Via::Session) => Ok(SessionCaller(user)),
            Caller(_, Via::Key { .. }) => Err(ApiError::Authorization(
                "this needs a login session; API keys cannot do it".into(),
            )),
        }
    }
}

fn require(user: &User, role: Role) -> Result<&User, ApiError> {
    if user.role >= role {
        Ok(user)
    } else {
        Err(ApiError::Authorization(format!("this needs the {role} role")))
    }
}

/// A reader: any authenticated user, or anyone when `MDL_PUBLIC_READ` is on.
#[derive(Debug, Clone, Copy)]
pub struct Reader;

/// Marks a request the server makes to itself (cache warming). Only server code can attach
/// request extensions, so no client can claim it.
#[derive(Debug, Clone, Copy)]
pub struct InternalRead;

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<InternalRead>().is_some() {
            return Ok(Reader);
        }
        match authenticate(parts, state).await? {
            Some(_) => Ok(Reader),
            None if state.config.public_read => Ok(Reader),
            None => Err(ApiError::Authentication(
                "authentication required: send Authorization: Bearer <token>".into(),
            )),
        }
    }
}

impl Caller {
    /// 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<&User, ApiError> {
        require(&self.0, role)
    }
}
