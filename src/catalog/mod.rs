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
