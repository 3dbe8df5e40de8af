//! Pure domain code: entities, validation and versioning rules. No I/O.

pub mod business_domain;
pub mod diff;
pub mod errors;
pub mod metric;
pub mod objective;
pub mod paging;
pub mod parse;
pub mod policy;
pub mod report;
pub mod synthetic;
pub mod user;
pub mod versioning;

pub use business_domain::BusinessDomain;
pub use errors::{FieldError, ValidationErrors};
pub use metric::Metric;
pub use objective::Objective;
pub use versioning::{Action, ChangeType};
