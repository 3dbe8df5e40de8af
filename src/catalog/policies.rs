//! Policies for stored metrics: one module, a page of them, or the whole catalog as an OPA bundle.

use crate::domain::Metric;
use crate::domain::policy::{Bundle, Policy, metadata};
use crate::store::{Store, StoreError, Stored};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

/// The policy of a stored metric. Stored documents were validated on write, so a failure here
/// means the row was altered behind our back.
pub fn of_stored(stored: &Stored) -> Result<(Policy, Value), StoreError> {
    let metric = Metric::parse(Value::Object(stored.doc.clone()))
        .map_err(|e| StoreError::Corrupt(format!("metric `{}` no longer validates: {e}", stored.id)))?;
    Ok((
        Policy::generate(&metric, stored.version),
        metadata(&metric, stored.version),
    ))
}

pub async fn for_metric(store: &dyn Store, id: &str) -> Result<Option<Policy>, StoreError> {
    match store.get_metric(id).await? {
        Some(stored) => Ok(Some(of_stored(&stored)?.0)),
        None => Ok(None),
    }
}

/// Every metric's policy, read from one consistent snapshot.
pub async fn bundle(store: &dyn Store) -> Result<Bundle, StoreError> {
    let snapshot = store.snapshot().await?;
    let policies = snapshot.metrics.iter().map(of_stored).collect::<Result<Vec<_>, _>>()?;
    Ok(Bundle::build(policies))
}

/// The bundle as `.tar.gz`, byte-identical for identical contents: fixed mtimes, modes and
/// owners, and no timestamp in the gzip header.
pub fn pack(bundle: &Bundle) -> std::io::Result<Vec<u8>> {
    let gzip = GzEncoder::new(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gzip);
    for file in &bundle.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` writes a GNU long-name entry for paths past 100 bytes.
        tar.append_data(&mut header, &file.path, file.bytes.as_slice())?;
    }
    tar.into_inner()?.finish()
}
