//! Paging values as clients write them. One reading for the handlers and the response-cache
//! keys, so requests answered alike share one cache entry.

/// A `limit` as written: digits only, worth at least 1, capped to `max` however many digits
/// there are (the design caps any larger value rather than refusing it). `None` for anything
/// else: zero, a sign, spaces, other characters.
pub fn parse_limit(text: &str, max: u32) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = text.trim_start_matches('0');
    if digits.is_empty() {
        return None;
    }
    // Past u64's digits the value is above any cap anyway.
    Some(digits.parse::<u64>().map_or(max, |n| n.min(u64::from(max)) as u32))
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn any_positive_integer_is_a_limit_capped_to_the_maximum() {
        assert_eq!(parse_limit("5", 100), Some(5));
        assert_eq!(parse_limit("007", 100), Some(7));
        assert_eq!(parse_limit("100", 100), Some(100));
        assert_eq!(parse_limit("101", 100), Some(100));
        assert_eq!(parse_limit("100000000000000000000000", 100), Some(100));
        assert_eq!(parse_limit(&"9".repeat(500), 100), Some(100));
        for bad in ["", "0", "000", "-1", "+5", " 5", "5 ", "1e3", "5.0", "abc", "٣"] {
            assert_eq!(parse_limit(bad, 100), None, "{bad:?}");
        }
    }
}
