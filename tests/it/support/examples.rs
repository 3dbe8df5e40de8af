//! The example catalogs shipped in `examples/`, as text or JSON.

use serde_json::Value;
use std::path::PathBuf;

pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

pub fn example(name: &str) -> String {
    let path = examples_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn example_json(name: &str) -> Value {
    serde_json::from_str(&example(name)).expect("example is JSON")
}

pub fn sample_metrics() -> Vec<Value> {
    example_json("sample-metrics.json")["metrics"]
        .as_array()
        .expect("metrics array")
        .clone()
}
