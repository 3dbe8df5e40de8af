//! A metric's past versions, read from its history snapshots: one version's document, and the
//! JSON Patch between two versions. Shared by the HTTP routes and the CLI.

use crate::domain::Action;
use crate::domain::diff::{Operation, diff_documents};
use crate::domain::metric::SERVER_FIELDS;
use crate::store::{Store, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// No such version, or the version is a deletion (which has no document of its own).
    #[error("{0}")]
    Missing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The document stored at `version`, server fields included. A deletion's snapshot is the
/// document before it, so a deletion is not a version one can read.
pub async fn document_at(store: &dyn Store, id: &str, version: i64) -> Result<Map<String, Value>, VersionError> {
    let entry = store
        .metric_version(id, version)
        .await?
        .ok_or_else(|| VersionError::Missing(format!("metric `{id}` has no version {version}")))?;
    if entry.action == Action::Delete {
        return Err(VersionError::Missing(format!(
            "version {version} of metric `{id}` is its deletion; it has no document"
        )));
    }
    match entry.snapshot {
        Value::Object(doc) => Ok(doc),
        _ => Err(StoreError::Corrupt(format!("history snapshot {id}@{version} is not an object")).into()),
    }
}

/// The changes between two versions of a metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionDiff {
    pub metric_id: String,
    pub from: i64,
    pub to: i64,
    /// RFC 6902 operations that turn version `from` into version `to`. Server-managed fields
    /// (`version`, `created_*`, `updated_*`), which differ between any two versions, are left out.
    pub operations: Vec<Operation>,
}

/// `from` may be above `to`: the patch then undoes the changes in between.
pub async fn diff(store: &dyn Store, id: &str, from: i64, to: i64) -> Result<VersionDiff, VersionError> {
    let old = document_at(store, id, from).await?;
    let operations = match to == from {
        true => Vec::new(),
        false => diff_documents(&old, &document_at(store, id, to).await?, SERVER_FIELDS),
    };
    Ok(VersionDiff {
        metric_id: id.to_string(),
        from,
        to,
        operations,
    })
}
