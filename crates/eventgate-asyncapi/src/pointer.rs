//! RFC 6901 JSON pointers: escaping, building and lookup.

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

/// Appends an array index to a pointer.
pub(crate) fn push_index(base: &str, i: usize) -> String {
    format!("{base}/{i}")
}

/// Splits a pointer (without `#`) into unescaped tokens; `None` when malformed.
pub(crate) fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    let mut out = Vec::new();
    for raw in rest.split('/') {
        let mut tok = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '~' {
                match chars.next() {
                    Some('0') => tok.push('~'),
                    Some('1') => tok.push('/'),
                    _ => return None,
                }
            } else {
                tok.push(c);
            }
        }
        out.push(tok);
    }
    Some(out)
}

/// Looks a pointer (without `#`) up in a value.
///
/// ```
/// let v = serde_json::json!({"channels": {"/a": {"x": [1, 2]}}});
/// assert_eq!(eventgate_asyncapi::lookup(&v, "/channels/~1a/x/1"), Some(&serde_json::json!(2)));
/// assert_eq!(eventgate_asyncapi::lookup(&v, "/nope"), None);
/// ```
#[must_use]
pub fn lookup<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    let toks = tokens(pointer)?;
    let mut cur = value;
    for t in &toks {
        cur = match cur {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => {
                if t.starts_with('+') || (t.len() > 1 && t.starts_with('0')) {
                    return None;
                }
                a.get(t.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
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
    fn tokens_unescape_tilde_sequences_in_order() {
        assert_eq!(tokens("/a~01/b~10").unwrap(), vec!["a~1", "b/0"]);
        assert!(tokens("a").is_none());
        assert!(tokens("/a~2").is_none());
    }

    #[test]
    fn escape_and_tokens_round_trip() {
        for s in ["~/~", "plain", "/x/{y}", "~1"] {
            let p = push("", s);
            assert_eq!(tokens(&p).unwrap(), vec![s.to_owned()]);
        }
    }

    #[test]
    fn percent_decode_rejects_truncated_escape() {
        assert_eq!(percent_decode("%7Bx%7D").unwrap(), "{x}");
        assert!(percent_decode("%7").is_none());
        assert!(percent_decode("%zz").is_none());
    }
}
