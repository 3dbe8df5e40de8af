//! The whole catalog as one document, in the same shape import takes.

use crate::store::{MetricQuery, MetricSort, Page, PageRequest, Store, StoreError, Stored};
use serde_json::{Map, Value};

const BATCH: u32 = 100;

/// Catalog fields first (as imported), then `metrics` by id, `domains` and `objectives` by name.
/// Every item carries its server fields, so importing the export into an empty database
/// restores versions and timestamps.
pub async fn export(store: &dyn Store) -> Result<Value, StoreError> {
    let mut out: Map<String, Value> = store.catalog_info().await?;
    let metrics = walk(|after| async move {
        let query = MetricQuery {
            sort: MetricSort::MetricId,
            page: PageRequest::cursor(after, BATCH, false),
            ..Default::default()
        };
        store.list_metrics(&query).await
    })
    .await?;
    let domains =
        walk(|after| async move { store.list_domains(&PageRequest::cursor(after, BATCH, false)).await }).await?;
    let objectives =
        walk(|after| async move { store.list_objectives(&PageRequest::cursor(after, BATCH, false)).await }).await?;
    out.insert("metrics".into(), Value::Array(metrics));
    out.insert("domains".into(), Value::Array(domains));
    out.insert("objectives".into(), Value::Array(objectives));
    Ok(Value::Object(out))
}

/// Follows cursors until the last page.
async fn walk<F, Fut>(mut fetch: F) -> Result<Vec<Value>, StoreError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<Stored>, StoreError>>,
{
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = fetch(after).await?;
        items.extend(page.items.iter().map(Stored::to_json));
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => return Ok(items),
        }
    }
}
