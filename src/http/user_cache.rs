//! The live user records that authentication checks on every request, kept briefly in memory
//! so a hot path does not hit the database each time. Changes made through this instance drop
//! the entry at once; changes made elsewhere (another instance, the CLI) are seen within the TTL.

use crate::domain::user::User;
use crate::store::{DynStore, StoreError};
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct UserCache {
    users: Cache<String, Arc<User>, foldhash::fast::RandomState>,
    /// The last record read of each user, used only while the database cannot be reached, so
    /// cached reads keep working through an outage. Changes cannot happen meanwhile (they go
    /// through the database), and those made before it were dropped from here too.
    last_known: Cache<String, Arc<User>>,
}

impl UserCache {
    pub fn new(ttl: Duration) -> Self {
        UserCache {
            users: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            last_known: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }

    /// The user, from memory or the store (concurrent misses load once).
    pub async fn get(&self, store: &DynStore, user_id: &str) -> Result<Option<Arc<User>>, StoreError> {
        if let Some(user) = self.users.get(user_id).await {
            return Ok(Some(user));
        }
        // Boxed: moka's loading future is large, and every request's future would otherwise
        // carry (and move) its space although almost every request is a hit.
        Box::pin(self.load(store, user_id)).await
    }

    async fn load(&self, store: &DynStore, user_id: &str) -> Result<Option<Arc<User>>, StoreError> {
        let loaded = self
            .users
            .try_get_with(user_id.to_string(), async {
                store
                    .get_user(user_id)
                    .await?
                    .map(Arc::new)
                    .ok_or_else(|| StoreError::not_found("user", user_id))
            })
            .await;
        match loaded {
            Ok(user) => {
                self.last_known.insert(user_id.to_string(), user.clone()).await;
                Ok(Some(user))
            }
            Err(e) => match e.as_ref() {
                StoreError::NotFound { .. } => Ok(None),
                StoreError::Unreachable(_) | StoreError::Unavailable(_) => match self.last_known.get(user_id).await {
                    Some(user) => Ok(Some(user)),
                    None => Err(StoreError::Unavailable(e.to_string())),
                },
                other => Err(StoreError::Unavailable(other.to_string())),
            },
        }
    }

    pub async fn forget(&self, user_id: &str) {
        self.users.invalidate(user_id).await;
        self.last_known.invalidate(user_id).await;
    }

    pub fn forget_all(&self) {
        self.users.invalidate_all();
        self.last_known.invalidate_all();
    }
}
