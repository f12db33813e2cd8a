//! RFC 6901 JSON pointers: escaping, building and checking.

/// Escapes one reference token (`~` to `~0`, `/` to `~1`).
///
/// ```
/// assert_eq!(eventgate_asyncapi::escape_token("/stocks/{symbol}"), "~1stocks~1{symbol}");
/// ```
#[must_use]
pub fn escape_token(token: &str) -> String {
    if !token.contains(['~', '/']) {
        return token.to_owned();
    }
    token.replace('~', "~0").replace('/', "~1")
}

/// Appends one token to a pointer.
pub(crate) fn push(base: &str, token: &str) -> String {
    let mut s = String::with_capacity(base.len() + token.len() + 1);
    s.push_str(base);
    s.push('/');
    s.push_str(&escape_token(token));
    s
}

/// Whether a pointer (without `#`) is well-formed: empty, or starting with `/`, with every `~`
/// escaping `0` or `1`. Lookup itself is [`Value::pointer`](serde_json::Value::pointer), which
/// reads a malformed `~` literally instead of refusing it.
pub(crate) fn is_valid(pointer: &str) -> bool {
    (pointer.is_empty() || pointer.starts_with('/'))
        && pointer
            .split('~')
            .skip(1)
            .all(|r| r.starts_with(['0', '1']))
}

/// Decodes `%XX` escapes of a URI fragment; `None` when malformed.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied()?;
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tilde_and_missing_slash_are_invalid() {
        assert!(is_valid("") && is_valid("/a~01/b~10"));
        assert!(!is_valid("a") && !is_valid("/a~2") && !is_valid("/a~"));
    }

    #[test]
    fn escaped_token_reads_back_through_value_pointer() {
        for s in ["~/~", "plain", "/x/{y}", "~1"] {
            let v = serde_json::json!({ s: 1 });
            assert_eq!(v.pointer(&push("", s)), Some(&serde_json::json!(1)));
        }
    }

    #[test]
    fn percent_decode_rejects_truncated_escape() {
        assert_eq!(percent_decode("%7Bx%7D").unwrap(), "{x}");
        assert!(percent_decode("%7").is_none());
        assert!(percent_decode("%zz").is_none());
    }
}
