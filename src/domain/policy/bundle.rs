//! The files of an OPA bundle: one module per metric, the metadata as data, and a manifest
//! naming the revision. Each piece is produced on its own, so a bundle of any size can be
//! written a metric at a time.

use super::GENERATOR;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The bundle owns `data.mdl`: the modules live under `data.mdl.metrics`, the metadata under
/// `data.mdl.catalog`.
pub const ROOT: &str = "mdl";

pub const MANIFEST_PATH: &str = ".manifest";
pub const DATA_PATH: &str = "data.json";

/// The revision of a catalog whose metrics have seen `metric_writes` committed changes. `epoch`
/// tells databases apart (two of them can count the same number of writes), and the generator
/// version moves the revision when the generated text changes shape.
pub fn revision(epoch: &str, metric_writes: i64) -> String {
    let mut digest = Sha256::new();
    // Length-prefixed, so the parts cannot be shifted into each other.
    for part in [epoch, &metric_writes.to_string(), GENERATOR] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    format!("{:x}", digest.finalize())
}

pub fn manifest(revision: &str) -> Vec<u8> {
    json!({
        "revision": revision,
        "roots": [ROOT],
        "rego_version": 1,
        "metadata": { "generator": GENERATOR },
    })
    .to_string()
    .into_bytes()
}

/// Metric ids are `[A-Za-z0-9_-]`: safe as path segments.
pub fn module_path(metric_id: &str) -> String {
    format!("{ROOT}/metrics/{metric_id}/policy.rego")
}

/// `data.json` is `{"mdl":{"catalog":{"generator":…,"metrics":{id: metadata, …}}}}`, written as
/// this head, the entries (by metric id, separated by commas) and [`DATA_TAIL`].
pub fn data_head() -> String {
    format!(
        "{{{}:{{\"catalog\":{{\"generator\":{},\"metrics\":{{",
        Value::from(ROOT),
        Value::from(GENERATOR)
    )
}

pub const DATA_TAIL: &str = "}}}}";

/// One metric's entry in `data.json`, without the separating comma.
pub fn data_entry(metric_id: &str, metadata: &Value) -> String {
    format!("{}:{metadata}", Value::from(metric_id))
}
