//! The whole catalog as one document, in the same shape import takes.

use crate::store::{Store, StoreError, Stored};
use serde_json::Value;

/// Catalog fields first (as imported), then `metrics` by id, `domains` and `objectives` by name.
/// Every item carries its server fields, so importing the export into an empty database
/// restores versions and timestamps. Read in one transaction: the parts agree.
pub async fn export(store: &dyn Store) -> Result<Value, StoreError> {
    let snapshot = store.snapshot().await?;
    let list = |items: &[Stored]| Value::Array(items.iter().map(Stored::to_json).collect());
    let mut out = snapshot.catalog;
    out.insert("metrics".into(), list(&snapshot.metrics));
    out.insert("domains".into(), list(&snapshot.domains));
    out.insert("objectives".into(), list(&snapshot.objectives));
    Ok(Value::Object(out))
}
