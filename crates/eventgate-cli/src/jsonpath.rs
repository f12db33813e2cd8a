//! A small JSONPath subset, enough to pick the token delta out of LLM-style stream events:
//! `$` (the root), `.field`, `[n]` (array index) and `['field']` / `["field"]`.
//!
//! Anything else (wildcards, `..`, filters, slices, negative indexes) is refused with a
//! [`JsonPathError`] rather than guessed at.
//!
//! ```
//! use eventgate_cli::jsonpath::JsonPath;
//!
//! let path: JsonPath = "$.choices[0].delta.content".parse().unwrap();
//! let event = serde_json::json!({"choices": [{"delta": {"content": "Hel"}}]});
//! assert_eq!(path.select(&event).and_then(|v| v.as_str()), Some("Hel"));
//! assert!("$..content".parse::<JsonPath>().is_err());
//! ```

use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// Longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Segment {
    /// An object member.
    Field(String),
    /// An array element.
    Index(usize),
}

/// A parsed path: `$` followed by segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonPathError {
    /// The path does not start with `$`.
    #[error("a JSONPath starts with $ (e.g. $.choices[0].delta.content)")]
    MissingRoot,
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("JSONPath longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// A construct outside the supported subset.
    #[error(
        "unsupported JSONPath syntax {what:?} at byte {at} (supported: $, .field, [n], ['field'])"
    )]
    Unsupported {
        /// Byte offset in the path.
        at: usize,
        /// The construct.
        what: String,
    },
    /// A `[` without its `]`, or a quote without its closing quote.
    #[error("unterminated bracket at byte {at}")]
    Unterminated {
        /// Byte offset of the `[`.
        at: usize,
    },
    /// `.` not followed by a member name.
    #[error("empty member name at byte {at}")]
    EmptyField {
        /// Byte offset of the `.`.
        at: usize,
    },
}

impl JsonPath {
    /// The segments after `$`.
    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The value the path points at in `value`, if there is one.
    #[must_use]
    pub fn select<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.segments
            .iter()
            .try_fold(value, |cur, seg| match (seg, cur) {
                (Segment::Field(name), Value::Object(map)) => map.get(name),
                (Segment::Index(i), Value::Array(items)) => items.get(*i),
                _ => None,
            })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn unsupported(at: usize, what: &str) -> JsonPathError {
    JsonPathError::Unsupported {
        at,
        what: what.to_owned(),
    }
}

impl FromStr for JsonPath {
    type Err = JsonPathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAX_PATH_LEN {
            return Err(JsonPathError::TooLong);
        }
        let Some(rest) = text.strip_prefix('$') else {
            return Err(JsonPathError::MissingRoot);
        };
        let bytes = rest.as_bytes();
        let mut segments = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let at = i + 1; // offset in `text`
            match bytes[i] {
                b'.' => {
                    if bytes.get(i + 1) == Some(&b'.') {
                        return Err(unsupported(at, ".."));
                    }
                    let start = i + 1;
                    let len = rest[start..].find(['.', '[']).unwrap_or(rest.len() - start);
                    let name = &rest[start..start + len];
                    if name.is_empty() {
                        return Err(JsonPathError::EmptyField { at });
                    }
                    if name == "*" {
                        return Err(unsupported(at, ".*"));
                    }
                    if let Some(bad) = name.find(|c: char| "]'\"?()@:,* ".contains(c)) {
                        return Err(unsupported(at + 1 + bad, &name[bad..=bad]));
                    }
                    segments.push(Segment::Field(name.to_owned()));
                    i = start + len;
                }
                b'[' => {
                    let Some(close_rel) = rest[i..].find(']') else {
                        return Err(JsonPathError::Unterminated { at });
                    };
                    let inner = &rest[i + 1..i + close_rel];
                    let quoted = inner.len() >= 2
                        && ((inner.starts_with('\'') && inner.ends_with('\''))
                            || (inner.starts_with('"') && inner.ends_with('"')));
                    if quoted {
                        let name = &inner[1..inner.len() - 1];
                        if name.contains(['\'', '"', '\\']) {
                            return Err(unsupported(at, inner));
                        }
                        segments.push(Segment::Field(name.to_owned()));
                    } else if inner.starts_with(['\'', '"']) {
                        return Err(JsonPathError::Unterminated { at });
                    } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                        let n = inner.parse().map_err(|_| unsupported(at, inner))?;
                        segments.push(Segment::Index(n));
                    } else {
                        return Err(unsupported(at, &format!("[{inner}]")));
                    }
                    i += close_rel + 1;
                }
                _ => {
                    let ch = rest[i..].chars().next().unwrap_or('?');
                    return Err(unsupported(at, &ch.to_string()));
                }
            }
        }
        Ok(JsonPath {
            text: text.to_owned(),
            segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Result<JsonPath, JsonPathError> {
        s.parse()
    }

    #[test]
    fn the_subset_parses_to_segments() {
        assert!(p("$").unwrap().segments().is_empty());
        assert_eq!(
            p("$.choices[0].delta['content']").unwrap().segments(),
            &[
                Segment::Field("choices".into()),
                Segment::Index(0),
                Segment::Field("delta".into()),
                Segment::Field("content".into()),
            ]
        );
        assert_eq!(
            p("$[\"a b\"][12]").unwrap().segments(),
            &[Segment::Field("a b".into()), Segment::Index(12)]
        );
    }

    #[test]
    fn select_follows_objects_and_arrays_and_misses_cleanly() {
        let v = json!({"choices": [{"delta": {"content": "x"}}], "n": 1});
        assert_eq!(
            p("$.choices[0].delta.content").unwrap().select(&v),
            Some(&json!("x"))
        );
        assert_eq!(p("$.choices[1]").unwrap().select(&v), None);
        assert_eq!(p("$.n.deeper").unwrap().select(&v), None);
        assert_eq!(p("$").unwrap().select(&v), Some(&v));
    }

    #[test]
    fn syntax_outside_the_subset_is_refused() {
        assert_eq!(p("choices"), Err(JsonPathError::MissingRoot));
        assert!(matches!(
            p("$..content"),
            Err(JsonPathError::Unsupported { .. })
        ));
        assert!(matches!(
            p("$.a[*]"),
            Err(JsonPathError::Unsupported { .. })
        ));
        assert!(matches!(p("$.a.*"), Err(JsonPathError::Unsupported { .. })));
        assert!(matches!(
            p("$.a[-1]"),
            Err(JsonPathError::Unsupported { .. })
        ));
        assert!(matches!(
            p("$.a[0:2]"),
            Err(JsonPathError::Unsupported { .. })
        ));
        assert!(matches!(
            p("$.a[?(@.x)]"),
            Err(JsonPathError::Unsupported { .. })
        ));
        assert!(matches!(p("$x"), Err(JsonPathError::Unsupported { .. })));
        assert_eq!(p("$.a[0"), Err(JsonPathError::Unterminated { at: 3 }));
        assert_eq!(p("$.a['x]"), Err(JsonPathError::Unterminated { at: 3 }));
        assert_eq!(p("$.a."), Err(JsonPathError::EmptyField { at: 3 }));
        assert_eq!(p(&"$".repeat(2000)), Err(JsonPathError::TooLong));
    }
}
