//! Any JSON value through the metric, domain and objective validators.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdl::domain::{BusinessDomain, Metric, Objective};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(metric) = Metric::parse(value.clone()) {
        let _ = metric.search_text();
    }
    let _ = BusinessDomain::parse(value.clone());
    let _ = Objective::parse(value);
});
