//! A `cursor` query value, checked against a query scope; input is `token \0 scope`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdl::store::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (token, scope) = text.split_once('\0').unwrap_or((text, "metrics|name"));
    if let Ok(cursor) = Cursor::decode(token, scope) {
        let again = Cursor::decode(&cursor.encode(), scope).expect("re-encoded cursor decodes");
        assert_eq!(again, cursor);
    }
});
