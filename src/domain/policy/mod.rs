//! Open Policy Agent policies generated from metric definitions, and the bundle that carries them.

mod bundle;
mod rego;

pub use bundle::{DATA_PATH, DATA_TAIL, MANIFEST_PATH, ROOT, data_entry, data_head, manifest, module_path, revision};
pub use rego::{GENERATOR, metadata, module, package_path, string_literal};

use super::Metric;
use serde::Serialize;

/// One metric's generated policy.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub metric_id: String,
    /// The stored version of the definition the policy was generated from.
    pub version: i64,
    /// The Rego package, e.g. `mdl.metrics["METRIC-A"]`.
    pub package: String,
    pub rego: String,
}

impl Policy {
    pub fn generate(metric: &Metric, version: i64) -> Policy {
        Policy {
            metric_id: metric.metric_id.clone(),
            version,
            package: package_path(&metric.metric_id),
            rego: module(metric, version),
        }
    }
}
