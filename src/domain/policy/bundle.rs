//! The files of an OPA bundle: one module per metric, the metadata as data, and a manifest whose
//! revision is a digest of everything else (so it changes exactly when some file does).

use super::{GENERATOR, Policy};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The bundle owns `data.mdl`: the modules live under `data.mdl.metrics`, the metadata under
/// `data.mdl.catalog`.
const ROOT: &str = "mdl";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Bundle {
    pub revision: String,
    /// `.manifest` first, then `data.json`, then the modules in metric id order.
    pub files: Vec<BundleFile>,
}

impl Bundle {
    /// `policies` with each one's metadata, in any order (sorted here by metric id).
    pub fn build(mut policies: Vec<(Policy, Value)>) -> Bundle {
        policies.sort_by(|a, b| a.0.metric_id.cmp(&b.0.metric_id));
        let mut metrics = Map::new();
        let mut modules = Vec::with_capacity(policies.len());
        for (policy, meta) in policies {
            metrics.insert(policy.metric_id.clone(), meta);
            modules.push(BundleFile {
                // Metric ids are `[A-Za-z0-9_-]`: safe as path segments.
                path: format!("{ROOT}/metrics/{}/policy.rego", policy.metric_id),
                bytes: policy.rego.into_bytes(),
            });
        }
        let data = json!({ ROOT: { "catalog": { "generator": GENERATOR, "metrics": metrics } } });
        let data = BundleFile {
            path: "data.json".into(),
            bytes: data.to_string().into_bytes(),
        };

        let mut digest = Sha256::new();
        for file in std::iter::once(&data).chain(&modules) {
            // Length-prefixed, so file boundaries cannot be shifted to forge the same digest.
            digest.update((file.path.len() as u64).to_be_bytes());
            digest.update(file.path.as_bytes());
            digest.update((file.bytes.len() as u64).to_be_bytes());
            digest.update(&file.bytes);
        }
        let revision = format!("{:x}", digest.finalize());
        let manifest = json!({
            "revision": revision,
            "roots": [ROOT],
            "rego_version": 1,
            "metadata": { "generator": GENERATOR },
        });
        let mut files = vec![
            BundleFile {
                path: ".manifest".into(),
                bytes: manifest.to_string().into_bytes(),
            },
            data,
        ];
        files.extend(modules);
        Bundle { revision, files }
    }
}
