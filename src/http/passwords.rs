//! Password hashing for request handlers: a bounded number at once, and the same work whether
//! or not the account exists.

use super::error::ApiError;
use crate::auth::password::{HashCost, hash_password, random_hex, verify_password};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for a hashing slot before it is told to come back.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

pub struct PasswordGate {
    permits: Arc<Semaphore>,
    cost: HashCost,
    /// Verified against when the user does not exist, so an unknown username costs what a
    /// wrong password costs and response times do not reveal which usernames exist.
    decoy: String,
}

impl PasswordGate {
    pub async fn new(cost: HashCost, concurrency: usize) -> Result<Self, String> {
        let decoy = hash_password(random_hex(16)?, cost).await?;
        Ok(PasswordGate {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            cost,
            decoy,
        })
    }

    /// Each Argon2id run holds `memory_kib` and a core for tens of milliseconds: with a slot
    /// per core, memory stays bounded and other requests keep their share of the CPU.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(QUEUE_WAIT, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::RateLimited { retry_after_s: 1 }),
        }
    }

    /// True when `password` matches `stored`; with no stored hash, the decoy is checked (and
    /// the answer is false).
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let _permit = self.permit().await?;
        let exists = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.decoy.clone());
        Ok(verify_password(password, phc).await && exists)
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permit().await?;
        hash_password(password, self.cost).await.map_err(ApiError::Internal)
    }
}
