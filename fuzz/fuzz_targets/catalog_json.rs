//! A catalog body as `POST /api/v1/import` receives it with `Content-Type: application/json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdl::catalog::{Format, format, import};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = format::parse(data, Format::Json) {
        let _ = import::plan(doc, true);
    }
});
