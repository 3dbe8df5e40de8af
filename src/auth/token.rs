//! HS256 access tokens with a pinned algorithm and a required expiry.

use crate::domain::user::{Role, User};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub username: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_s: u64,
}

impl TokenService {
    pub fn new(secret: &[u8], access_ttl_s: u64) -> Result<Self, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Ok(TokenService {
            encoding: EncodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            decoding: DecodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            validation,
            access_ttl_s,
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
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The claims of a valid, unexpired token signed with our key and algorithm.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}
