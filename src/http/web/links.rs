//! Building and checking the URLs pages link to. The query string is a page's whole state,
//! so links are the current parameters with one change.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but the RFC 3986 unreserved characters is escaped.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// `/metrics/<id>`, the id escaped as a path segment.
pub fn metric(id: &str) -> String {
    format!("/metrics/{}", encode(id))
}

/// A `next` target is followed only when it stays on this site: a path from the root, not a
/// scheme-relative `//host` (nor `/\host`, which browsers read the same way), without control
/// characters. Anything else goes to the catalog.
pub fn local_path(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if ok { next } else { "/" }
}

/// `/?<pairs>`, or `/` when there are none.
pub fn catalog(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "/".to_string();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    format!("/?{}", query.finish())
}

/// An external link is shown as a link only when it is plain http(s): a `javascript:` URL
/// in a definition must not become clickable.
pub fn external(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path("/metrics/A?x=1"), "/metrics/A?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn only_http_links_are_clickable() {
        assert_eq!(external(" https://x.example/a "), Some("https://x.example/a".into()));
        assert_eq!(external("javascript:alert(1)"), None);
        assert_eq!(external("JAVASCRIPT:alert(1)"), None);
    }
}
