//! Catalog files: import (JSON/YAML, the older MDL's shapes included) and export; policies and
//! objective reports generated from what is stored.

pub mod export;
pub mod format;
pub mod import;
pub mod legacy;
pub mod policies;
pub mod report;
pub mod versions;

pub use format::Format;
pub use import::{ImportError, ImportReport};

/// Why an export or bundle stopped part way: a read of the catalog or a write of the output.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
}
