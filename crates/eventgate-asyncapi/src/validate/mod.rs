//! Validation of a document (as a JSON value) against AsyncAPI 2.x / 3.0 rules.
//!
//! Every problem is collected (the validator never stops at the first one), each with an RFC 6901
//! pointer into the document and a message. The rules are described in `docs/asyncapi.md`.

mod common;
mod counts;
mod v2;
mod v3;

use serde_json::{Map, Value};

use crate::model::{Field, SpecVersion};
use crate::pointer::{push, push_index};
use crate::refs::{self, ref_of};

/// What kind of rule a [`Problem`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The root is not an object with an `asyncapi` string.
    NotAsyncApi,
    /// The `asyncapi` version is not one this crate reads.
    UnsupportedVersion,
    /// A required field is missing.
    Required,
    /// A field the specification does not allow at this place (extensions `x-*` are always allowed).
    UnexpectedProperty,
    /// A value of the wrong JSON type or outside the allowed values.
    InvalidValue,
    /// A duplicate where names must be unique (tags, operation ids, message ids).
    Duplicate,
    /// A channel parameter used in the address but not declared.
    Parameter,
    /// A `$ref` that is external, malformed, dangling or cyclic.
    Reference,
    /// A security requirement naming an undefined scheme or scope.
    Security,
    /// A schema that is not a valid JSON Schema.
    Schema,
    /// A server variable used in the URL but not declared.
    ServerVariable,
}

/// One problem found in a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Problem {
    /// RFC 6901 pointer to the offending value, e.g. `/channels/~1memory/subscribe`.
    pub pointer: String,
    /// What is wrong, in English.
    pub message: String,
    /// The rule broken.
    pub kind: ProblemKind,
}

/// How many objects of each kind a document has, counted as the reference parser counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub struct Counts {
    /// Entries of the root `channels` map.
    pub channels: usize,
    /// 2.x: `subscribe`/`publish` entries of channels; 3.0: entries of the root `operations` map.
    pub operations: usize,
    /// Distinct messages reachable from operations (2.x, `oneOf` expanded) or channels (3.0).
    pub messages: usize,
    /// Entries of the root `servers` map.
    pub servers: usize,
}

/// The outcome of validating a document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The declared `asyncapi` version, if any.
    pub version: Option<String>,
    /// Every problem found, sorted by pointer.
    pub problems: Vec<Problem>,
    /// Object counts.
    pub counts: Counts,
}

impl Report {
    /// True when no problem was found.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

const SCHEMA_TYPES: &[&str] = &[
    "array", "boolean", "integer", "null", "number", "object", "string",
];

struct V<'a> {
    root: &'a Value,
    line: SpecVersion,
    minor: u8,
    problems: Vec<Problem>,
    schemes: Option<&'a Map<String, Value>>,
}

/// Validates a parsed document.
pub(crate) fn validate(root: &Value) -> Report {
    let refused = |version: Option<&str>, pointer: &str, kind, message: String| Report {
        version: version.map(str::to_owned),
        problems: vec![Problem {
            pointer: pointer.to_owned(),
            message,
            kind,
        }],
        counts: Counts::default(),
    };
    let Some(m) = root.as_object() else {
        let message = "This is not an AsyncAPI document: the root must be an object.";
        return refused(None, "", ProblemKind::NotAsyncApi, message.into());
    };
    let Some(version) = m.get("asyncapi").and_then(Value::as_str) else {
        let message =
            "This is not an AsyncAPI document. The \"asyncapi\" field as string is missing.";
        return refused(None, "", ProblemKind::NotAsyncApi, message.into());
    };
    let Some(line) = SpecVersion::of(version) else {
        let supported = crate::model::SUPPORTED_VERSIONS.join(", ");
        let message = format!("Version \"{version}\" is not supported. Supported: {supported}.");
        return refused(
            Some(version),
            "/asyncapi",
            ProblemKind::UnsupportedVersion,
            message,
        );
    };
    let minor = version
        .split('.')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let schemes = m
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .and_then(Value::as_object);
    let mut v = V {
        root,
        line,
        minor,
        problems: Vec::new(),
        schemes,
    };
    v.refs(root, &mut Vec::new());
    match line {
        SpecVersion::V2 => v.root_v2(m),
        SpecVersion::V3 => v.root_v3(m),
    }
    let counts = counts::count(root, line);
    let mut problems = v.problems;
    problems.sort_by(|a, b| a.pointer.cmp(&b.pointer).then(a.message.cmp(&b.message)));
    problems.dedup();
    Report {
        version: Some(version.to_owned()),
        problems,
        counts,
    }
}

/// One step of the path to a value (pointers are only built when a problem is reported).
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn is_ext(k: &str) -> bool {
    k.starts_with("x-")
}

impl<'a> V<'a> {
    fn push(&mut self, pointer: impl Into<String>, kind: ProblemKind, message: impl Into<String>) {
        let (pointer, message) = (pointer.into(), message.into());
        self.problems.push(Problem {
            pointer,
            message,
            kind,
        });
    }

    /// The array at `key`, with its pointer; a problem when it is there but not an array.
    fn array(
        &mut self,
        m: &'a Map<String, Value>,
        ptr: &str,
        key: &str,
    ) -> Option<(&'a [Value], String)> {
        let v = m.get(key)?;
        let p = push(ptr, key);
        match v.as_array() {
            Some(a) => Some((a, p)),
            None => {
                self.push(
                    p,
                    ProblemKind::InvalidValue,
                    format!("\"{key}\" must be an array"),
                );
                None
            }
        }
    }

    fn obj(&mut self, v: &'a Value, ptr: &str, what: &str) -> Option<&'a Map<String, Value>> {
        match v.as_object() {
            Some(m) => Some(m),
            None => {
                self.push(
                    ptr,
                    ProblemKind::InvalidValue,
                    format!("\"{what}\" must be an object"),
                );
                None
            }
        }
    }

    fn allowed(&mut self, m: &Map<String, Value>, ptr: &str, keys: &[&str]) {
        for k in m.keys() {
            if !is_ext(k) && !keys.contains(&k.as_str()) {
                self.push(
                    push(ptr, k),
                    ProblemKind::UnexpectedProperty,
                    format!("Property \"{k}\" is not expected to be here"),
                );
            }
        }
    }

    fn required(&mut self, m: &Map<String, Value>, ptr: &str, what: &str, keys: &[&str]) {
        for k in keys {
            if !m.contains_key(*k) {
                self.push(
                    ptr,
                    ProblemKind::Required,
                    format!("\"{what}\" must have required property \"{k}\""),
                );
            }
        }
    }

    /// Checks an object against the field table of its model type: required keys present, string
    /// fields strings, and no key but the table's (less `except`), `extra` and `x-*` extensions.
    fn object(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        what: &str,
        fields: &[Field],
        extra: &[&str],
        except: &[&str],
    ) {
        for f in fields.iter().filter(|f| f.required || f.string) {
            match m.get(f.name) {
                None if f.required => {
                    let whose = match ptr {
                        "" => "The document".to_owned(),
                        _ => format!("\"{what}\""),
                    };
                    let message = format!("{whose} must have required property \"{}\"", f.name);
                    self.push(ptr, ProblemKind::Required, message);
                }
                Some(v) if f.string && !v.is_string() => self.push(
                    push(ptr, f.name),
                    ProblemKind::InvalidValue,
                    format!("\"{}\" must be a string", f.name),
                ),
                _ => {}
            }
        }
        for k in m.keys() {
            if is_ext(k) || extra.contains(&k.as_str()) {
                continue;
            }
            if !fields.iter().any(|f| f.name == k) || except.contains(&k.as_str()) {
                let message = format!("Property \"{k}\" is not expected to be here");
                self.push(push(ptr, k), ProblemKind::UnexpectedProperty, message);
            }
        }
    }

    fn strings(&mut self, m: &Map<String, Value>, ptr: &str, keys: &[&str]) {
        for k in keys {
            if let Some(v) = m.get(*k)
                && !v.is_string()
            {
                self.push(
                    push(ptr, k),
                    ProblemKind::InvalidValue,
                    format!("\"{k}\" must be a string"),
                );
            }
        }
    }

    /// Every `$ref` in the document must resolve inside it.
    fn refs(&mut self, v: &'a Value, path: &mut Vec<Seg<'a>>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    if k == "$ref"
                        && let Some(r) = c.as_str()
                    {
                        if let Err(e) = refs::resolve(self.root, r) {
                            let mut ptr = String::new();
                            for seg in path.iter() {
                                match seg {
                                    Seg::Key(k) => ptr = push(&ptr, k),
                                    Seg::Index(i) => ptr = push_index(&ptr, *i),
                                }
                            }
                            self.push(push(&ptr, k), ProblemKind::Reference, e.to_string());
                        }
                        continue;
                    }
                    if c.is_object() || c.is_array() {
                        path.push(Seg::Key(k));
                        self.refs(c, path);
                        path.pop();
                    }
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    if c.is_object() || c.is_array() {
                        path.push(Seg::Index(i));
                        self.refs(c, path);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// Iterates a map-valued field, giving each entry (references are skipped: their targets are
    /// checked where they live).
    fn entries(
        &mut self,
        m: &'a Map<String, Value>,
        ptr: &str,
        key: &str,
    ) -> Vec<(&'a String, &'a Map<String, Value>, String)> {
        let mut out = Vec::new();
        let Some(v) = m.get(key) else { return out };
        let p = push(ptr, key);
        let Some(map) = self.obj(v, &p, key) else {
            return out;
        };
        for (k, e) in map {
            if ref_of(e).is_some() {
                continue;
            }
            let ep = push(&p, k);
            if let Some(em) = self.obj(e, &ep, k) {
                out.push((k, em, ep));
            }
        }
        out
    }
}

/// `{name}` placeholders of an address, in order.
pub(crate) fn placeholders(address: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = address;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_in_order_and_unclosed_brace_ends_scan() {
        assert_eq!(placeholders("/a/{x}/b/{y}"), vec!["x", "y"]);
        assert_eq!(placeholders("/a/{x"), Vec::<&str>::new());
        assert_eq!(placeholders("{}"), vec![""]);
    }
}
