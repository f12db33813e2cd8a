//! Reading a document from JSON or YAML text, bounded by [`Limits`].

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Format, ReadError};

/// Bounds applied while reading a document.
///
/// ```
/// use eventgate_asyncapi::{Document, Limits, ReadError};
/// let limits = Limits::new().max_bytes(16);
/// let err = Document::parse_with("asyncapi: 3.0.0\ninfo: {}\n", &limits).unwrap_err();
/// assert!(matches!(err, ReadError::TooLarge { .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    max_bytes: usize,
    max_depth: usize,
}

impl Limits {
    /// Default for [`Limits::max_bytes`]: 16 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
    /// Default for [`Limits::max_depth`]: 64 nested arrays/objects.
    pub const DEFAULT_MAX_DEPTH: usize = 64;

    /// The defaults: 16 MiB, 64 levels.
    pub const fn new() -> Self {
        Limits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }

    /// Largest accepted input, in bytes. Default is 16 MiB.
    pub const fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Deepest accepted nesting of arrays and objects (the root object is level 1).
    /// Default is 64. The JSON and YAML readers stop at about 128 levels whatever this is set to
    /// (reported as [`ReadError::TooDeep`] too).
    pub const fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// The configured byte limit.
    #[must_use]
    pub const fn bytes(&self) -> usize {
        self.max_bytes
    }

    /// The configured depth limit.
    #[must_use]
    pub const fn depth(&self) -> usize {
        self.max_depth
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

/// Guesses the syntax: JSON when the first non-blank character is `{` or `[`.
pub(crate) fn detect(text: &str) -> Format {
    let t = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if t.starts_with('{') || t.starts_with('[') {
        Format::Json
    } else {
        Format::Yaml
    }
}

/// [`ReadError::TooLarge`] for an input of `size` bytes over the limit.
pub(crate) fn check_size(size: usize, limits: &Limits) -> Result<(), ReadError> {
    let limit = limits.max_bytes;
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    Ok(())
}

pub(crate) fn read(text: &str, limits: &Limits) -> Result<(Value, Format), ReadError> {
    check_size(text.len(), limits)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = detect(text);
    let too_deep = || ReadError::TooDeep {
        limit: limits.max_depth,
    };
    // Both readers stop at their own nesting bound with a "recursion limit" message.
    // `at`: the line and column.
    let error = |message: String, at: Option<(usize, usize)>| {
        if message.contains("recursion limit") {
            too_deep()
        } else {
            let (line, column) = (at.map(|a| a.0), at.map(|a| a.1));
            ReadError::Syntax {
                format,
                line,
                column,
                message,
            }
        }
    };
    let value = match format {
        Format::Json => serde_json::from_str::<Value>(text)
            .map_err(|e| error(e.to_string(), Some((e.line(), e.column())))),
        Format::Yaml => Value::deserialize(serde_norway::Deserializer::from_str(text))
            .map_err(|e| error(e.to_string(), e.location().map(|l| (l.line(), l.column())))),
    }?;
    if depth_exceeds(&value, limits.max_depth) {
        return Err(too_deep());
    }
    Ok((value, format))
}

/// Iterative depth check (no recursion, so any depth is safe to measure).
fn depth_exceeds(value: &Value, max: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(_) | Value::Object(_) if d > max => return true,
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            Value::Object(m) => m.values().for_each(|c| stack.push((c, d + 1))),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_picks_json_for_brace_after_bom_and_blanks() {
        assert_eq!(detect("\u{feff}  \n{\"a\":1}"), Format::Json);
        assert_eq!(detect("asyncapi: '2.6.0'"), Format::Yaml);
        assert_eq!(detect("---\n{a: 1}"), Format::Yaml);
    }

    #[test]
    fn depth_limit_counts_containers_only() {
        let v: Value = serde_json::from_str("{\"a\":{\"b\":[1]}}").unwrap();
        assert!(!depth_exceeds(&v, 3));
        assert!(depth_exceeds(&v, 2));
    }

    #[test]
    fn yaml_syntax_error_reports_line() {
        let err = read("a: [1,\nb: }", &Limits::new()).unwrap_err();
        match err {
            ReadError::Syntax { format, line, .. } => {
                assert_eq!(format, Format::Yaml);
                assert!(line.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn deep_json_is_too_deep_and_deep_yaml_an_error_not_a_crash() {
        let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let json = read(&nested, &Limits::new());
        assert!(matches!(json, Err(ReadError::TooDeep { .. })), "{json:?}");
        assert!(read(&format!("a: {nested}"), &Limits::new()).is_err());
    }
}
