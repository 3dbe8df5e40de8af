//! HS256 access tokens with a pinned algorithm and a required expiry.

use crate::domain::user::{Role, User};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub username: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// The user's token version when this was issued; a revocation moves it on.
    #[serde(default)]
    pub tv: i64,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_s: u64,
    /// Tokens whose signature was checked recently. A token's claims never change, so the
    /// expensive part (decode and HMAC) is done once per token and minute; expiry is still
    /// checked on every use.
    verified: moka::sync::Cache<String, Arc<Claims>, foldhash::fast::RandomState>,
}

/// Seconds of clock skew tolerated on `exp`.
const LEEWAY_S: i64 = 5;

impl TokenService {
    pub fn new(secret: &[u8], access_ttl_s: u64) -> Result<Self, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_S as u64;
        Ok(TokenService {
            encoding: EncodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            decoding: DecodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            validation,
            access_ttl_s,
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(60))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        })
    }

    pub fn issue(&self, user: &User) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.user_id.clone(),
            username: user.username.clone(),
            role: user.role,
            iat: now,
            exp: now + self.access_ttl_s as i64,
            tv: user.token_version,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The claims of a valid, unexpired token signed with our key and algorithm.
    pub fn verify(&self, token: &str) -> Option<Arc<Claims>> {
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = self.verified.get(token) {
            return (claims.exp + LEEWAY_S > now).then_some(claims);
        }
        let claims = Arc::new(decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims);
        self.verified.insert(token.to_owned(), claims.clone());
        Some(claims)
    }
}
