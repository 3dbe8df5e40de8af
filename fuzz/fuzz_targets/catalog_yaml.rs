//! A catalog body sent as YAML. Run with `-rss_limit_mb` and `-timeout` so that an alias
//! expansion the value budget missed shows up as a crash, not as a slow run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdl::catalog::{Format, format, import};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = format::parse(data, Format::Yaml) {
        // What parses must export and parse back to the same document.
        let text = format::render(&doc, Format::Yaml).expect("renders");
        let back = format::parse(text.as_bytes(), Format::Yaml).expect("reads back what it wrote");
        assert_eq!(back, doc, "YAML round trip changed the document:\n{text}");
        let _ = import::plan(doc, true);
    }
});
