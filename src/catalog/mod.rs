//! Catalog files: import (JSON/YAML, the older MDL's shapes included) and export.

pub mod export;
pub mod format;
pub mod import;
pub mod legacy;
pub mod policies;
pub mod versions;

pub use format::Format;
pub use import::{ImportError, ImportReport};
