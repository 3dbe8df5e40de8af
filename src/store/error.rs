use crate::domain::ValidationErrors;

/// Everything a store call can fail with. The HTTP layer maps each variant to one status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} `{id}` not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("version mismatch: expected {expected}, current is {current}")]
    PreconditionFailed { expected: i64, current: i64 },
    /// A query the caller built is not acceptable (bad cursor, cursor with search...).
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database cannot be reached at all (connection refused or lost, pool exhausted).
    /// Counted by the circuit breaker; reads may be retried.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    pub fn not_found(entity: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        StoreError::Invalid(ValidationErrors::single(field, message))
    }
}

/// SQLite BUSY (5), LOCKED (6) and their extended codes; PostgreSQL query_canceled (57014,
/// statement timeout), deadlock_detected (40P01), serialization_failure (40001).
const TRANSIENT_CODES: &[&str] = &["5", "6", "261", "517", "262", "57014", "40P01", "40001"];

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // Transient: a busy SQLite writer lock, PostgreSQL statement timeout, deadlock or
            // serialization failure. The client may retry; it is not our bug.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| TRANSIENT_CODES.contains(&c.as_ref())) => {
                StoreError::Unavailable(db.message().to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(format!("already exists ({})", db.constraint().unwrap_or("unique key")))
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                StoreError::Unreachable(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
