//! Authentication primitives: password hashing, access tokens, first-start set-up.

pub mod password;
pub mod token;

use crate::domain::user::NewUser;
use crate::store::{Store, StoreError};
use password::{HashCost, hash_password, random_hex, random_password};

/// The JWT signing secret: the configured one, else one generated once and stored in the
/// database so every instance sharing it agrees.
pub async fn jwt_secret(store: &dyn Store, configured: Option<&str>) -> Result<String, StoreError> {
    if let Some(s) = configured {
        return Ok(s.to_string());
    }
    let candidate = random_hex(32).map_err(StoreError::Unavailable)?;
    store.setting_or_init("jwt_secret", &candidate).await
}

/// On first start (no users at all) creates `admin` with the configured password, or a random
/// one that is returned so the caller can print it once.
pub async fn ensure_admin(
    store: &dyn Store,
    password: Option<&str>,
    cost: HashCost,
) -> Result<Option<String>, StoreError> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_string(), false),
        None => (random_password().map_err(StoreError::Unavailable)?, true),
    };
    let admin = NewUser::parse(
        "admin",
        "admin@localhost.localdomain",
        Some("Administrator"),
        "admin",
        &password,
    )
    .map_err(StoreError::Invalid)?;
    let hash = hash_password(password.clone(), cost)
        .await
        .map_err(StoreError::Unavailable)?;
    match store.create_user(&admin, &hash).await {
        Ok(_) => Ok(generated.then_some(password)),
        // Another instance created it first.
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
