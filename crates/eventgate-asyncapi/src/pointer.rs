//! RFC 6901 JSON pointers: escaping, building, checking and looking up.

use std::borrow::Cow;

use serde_json::Value;

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

/// The value `pointer` names inside `doc`, exactly as [`Value::pointer`] finds it (the same
/// unescaping, the same array indices: no sign, no leading zero), but without allocating for
/// a token that holds no `~`. `Value::pointer` unescapes every token into two new strings; on
/// the 1,000-channel bench document, whose channels all reference shared messages, that was
/// 27 % of validation's instructions (docs/benchmarks.md), so references are looked up here.
pub(crate) fn lookup<'v>(doc: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(doc);
    }
    let mut tokens = pointer.strip_prefix('/')?.split('/');
    tokens.try_fold(doc, |target, token| {
        let token = if token.contains('~') {
            Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(token)
        };
        match target {
            Value::Object(map) => map.get(token.as_ref()),
            Value::Array(items) => index(&token).and_then(|i| items.get(i)),
            _ => None,
        }
    })
}

/// An array index token: decimal digits without a sign or a leading zero.
fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// Whether a pointer (without `#`) is well-formed: empty, or starting with `/`, with every `~`
/// escaping `0` or `1` ([`lookup`] and [`Value::pointer`] read a malformed `~` literally instead
/// of refusing it).
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

    proptest::proptest! {
        /// `lookup` finds what `Value::pointer` finds, for pointers built from the document's
        /// keys, escapes, indices (signed, zero-led, out of range) and junk.
        #[test]
        fn lookup_agrees_with_value_pointer(
            tokens in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "a", "b~1c", "~0", "~1", "~01", "~", "~2", "", "0", "1", "01", "+1", "2",
                        "-1", "a/b", "x", "18446744073709551616",
                    ]),
                    proptest::sample::select(vec!["a", "0", "1"]),
                ],
                0..5,
            ),
            leading_slash in proptest::bool::ANY,
        ) {
            let doc = serde_json::json!({
                "a": {"b/c": [1, {"~": 2, "/": 3}], "~1": 4, "0": [5, 6, 7]},
                "b~1c": 8, "~": 9, "/": 10, "": {"": 11}, "1": [12, [13]], "01": 14, "+1": 15,
            });
            let mut p = if leading_slash { String::new() } else { "a".to_owned() };
            for t in &tokens {
                p.push('/');
                p.push_str(t);
            }
            proptest::prop_assert_eq!(lookup(&doc, &p), doc.pointer(&p));
        }
    }

    #[test]
    fn percent_decode_rejects_truncated_escape() {
        assert_eq!(percent_decode("%7Bx%7D").unwrap(), "{x}");
        assert!(percent_decode("%7").is_none());
        assert!(percent_decode("%zz").is_none());
    }
}
