//! Validation of a document (as a JSON value) against AsyncAPI 2.x / 3.0 rules.
//!
//! Every problem is collected (the validator never stops at the first one), each with an RFC 6901
//! pointer into the document and a message. The rules are described in `docs/asyncapi.md`.
//!
//! The walk keeps its place as a path of steps, pushed when it enters a field, an entry or an item
//! and popped when it leaves; a pointer is only written out when a problem is reported there.

mod common;
mod counts;
mod v2;
mod v3;

use foldhash::HashSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::model::{Field, SpecVersion};
use crate::pointer::escape_token;
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

type Obj = Map<String, Value>;

struct V<'a> {
    root: &'a Value,
    line: SpecVersion,
    minor: u8,
    problems: Vec<Problem>,
    schemes: Option<&'a Obj>,
    /// Where the walk is: the steps from the root to the value being checked.
    path: Vec<Seg<'a>>,
    /// The references followed so far.
    memo: refs::Memo<'a>,
    /// Whether the schema being checked is an OpenAPI 3.0 schema.
    openapi: bool,
    /// The references whose targets were checked, with the type they were checked as.
    typed: HashSet<(&'a str, &'a str)>,
    /// How many references the walk is inside.
    hops: u8,
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
        let kind = ProblemKind::UnsupportedVersion;
        return refused(Some(version), "/asyncapi", kind, message);
    };
    let minor = version.split('.').nth(1).and_then(|s| s.parse().ok());
    let schemes = m.get("components").and_then(|c| c.get("securitySchemes"));
    let mut v = V {
        root,
        line,
        minor: minor.unwrap_or(0),
        problems: Vec::new(),
        schemes: schemes.and_then(Value::as_object),
        path: Vec::new(),
        memo: refs::Memo::new(root),
        openapi: false,
        typed: HashSet::default(),
        hops: 0,
    };
    v.refs(root);
    match line {
        SpecVersion::V2 => v.root_v2(m),
        SpecVersion::V3 => v.root_v3(m),
    }
    let counts = counts::count(root, line, &mut v.memo);
    let mut problems = v.problems;
    problems.sort_by(|a, b| a.pointer.cmp(&b.pointer).then(a.message.cmp(&b.message)));
    problems.dedup();
    Report {
        version: Some(version.to_owned()),
        problems,
        counts,
    }
}

/// One step of the path to a value.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
    /// A pointer written as is, in place of the steps before it: the place a reference leads to.
    Raw(&'a str),
}

impl<'a, K: AsRef<str> + ?Sized> From<&'a K> for Seg<'a> {
    fn from(k: &'a K) -> Self {
        Seg::Key(k.as_ref())
    }
}

impl From<usize> for Seg<'_> {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// The 2.x fields added after 2.0: object, field, the minor version that added it.
const SINCE: &[(&str, &str, u8)] = &[
    ("channel", "servers", 2),
    ("components", "channels", 3),
    ("components", "servers", 3),
    ("components", "serverVariables", 4),
    ("message", "messageId", 4),
    ("operation", "security", 4),
    ("server", "tags", 5),
];

fn is_ext(k: &str) -> bool {
    k.starts_with("x-")
}

impl<'a> V<'a> {
    /// Runs `f` one step further down the path.
    fn at<R>(&mut self, step: impl Into<Seg<'a>>, f: impl FnOnce(&mut Self) -> R) -> R {
        let depth = self.path.len();
        self.path.push(step.into());
        let r = f(self);
        self.path.truncate(depth);
        r
    }

    /// Runs `f` on `v`, or, when `v` is a reference, on its target at the target's place (nothing
    /// when it does not resolve: the reference check reports that).
    fn via(&mut self, v: &'a Value, f: impl FnOnce(&mut Self, &'a Value)) {
        let Some(r) = ref_of(v) else {
            return f(self, v);
        };
        // (a bound on references followed within references, against pathological documents)
        if let Ok(target) = self.memo.resolve(r)
            && self.hops < 16
        {
            self.hops += 1;
            self.at(Seg::Raw(r.trim_start_matches('#')), |s| f(s, target));
            self.hops -= 1;
        }
    }

    /// [`via`](Self::via) one step further down the path.
    fn at_via(
        &mut self,
        step: impl Into<Seg<'a>>,
        v: &'a Value,
        f: impl FnOnce(&mut Self, &'a Value),
    ) {
        self.at(step, |s| s.via(v, f));
    }

    /// Reports a problem at the current place.
    fn report(&mut self, kind: ProblemKind, message: impl Into<String>) {
        let mut pointer = String::new();
        for step in &self.path {
            match step {
                Seg::Key(k) => write!(pointer, "/{}", escape_token(k)),
                Seg::Index(i) => write!(pointer, "/{i}"),
                Seg::Raw(p) => {
                    pointer.clear();
                    write!(pointer, "{p}")
                }
            }
            .unwrap_or_default();
        }
        let message = message.into();
        self.problems.push(Problem {
            pointer,
            message,
            kind,
        });
    }

    /// Reports a problem at `step` below the current place.
    fn report_in(
        &mut self,
        step: impl Into<Seg<'a>>,
        kind: ProblemKind,
        message: impl Into<String>,
    ) {
        self.at(step, |v| v.report(kind, message));
    }

    /// The value as an object; a problem here when it is not one.
    fn obj(&mut self, v: &'a Value, what: &str) -> Option<&'a Obj> {
        let m = v.as_object();
        if m.is_none() {
            self.report(
                ProblemKind::InvalidValue,
                format!("\"{what}\" must be an object"),
            );
        }
        m
    }

    /// Runs `f` at field `key` of `m`, when present.
    fn sub(&mut self, m: &'a Obj, key: &'a str, f: impl FnOnce(&mut Self, &'a Value)) {
        if let Some(v) = m.get(key) {
            self.at(key, |s| f(s, v));
        }
    }

    /// Runs `f` on the object at field `key` of `m`, when present (a problem when not an object).
    fn field(&mut self, m: &'a Obj, key: &'a str, what: &str, f: impl FnOnce(&mut Self, &'a Obj)) {
        self.sub(m, key, |s, v| s.obj(v, what).map_or((), |o| f(s, o)));
    }

    /// [`field`](Self::field) for a field that may also be a reference, whose target is checked
    /// as this field's type at its own place (as the parser validates the resolved document).
    fn inline(&mut self, m: &'a Obj, key: &'a str, what: &str, f: impl FnOnce(&mut Self, &'a Obj)) {
        self.sub(m, key, |s, v| {
            s.typed(v, key, |s, v| s.obj(v, what).map_or((), |o| f(s, o)))
        });
    }

    /// [`via`](Self::via) for a value of the type `kind`: a reference target already checked as
    /// that type is not checked again.
    /// A `$ref` that is not a string is reported (the parser refuses it, or fails on it).
    fn typed(&mut self, v: &'a Value, kind: &'a str, f: impl FnOnce(&mut Self, &'a Value)) {
        match v.get("$ref") {
            None => f(self, v),
            Some(Value::String(r)) if self.typed.insert((r, kind)) => self.via(v, f),
            Some(Value::String(_)) => {}
            Some(_) => self.report_in("$ref", ProblemKind::Reference, "\"$ref\" must be a string"),
        }
    }

    /// Runs `f` on each item of the array at field `key`, when present (a problem when not an
    /// array).
    fn items(&mut self, m: &'a Obj, key: &'a str, mut f: impl FnMut(&mut Self, usize, &'a Value)) {
        self.sub(m, key, |s, v| match v.as_array() {
            Some(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| s.at(i, |s| f(s, i, x))),
            None => s.report(
                ProblemKind::InvalidValue,
                format!("\"{key}\" must be an array"),
            ),
        });
    }

    /// Runs `f` on each entry of the map at field `key`, when present (references: on the target,
    /// see [`typed`](Self::typed)).
    fn entries(
        &mut self,
        m: &'a Obj,
        key: &'a str,
        mut f: impl FnMut(&mut Self, &'a str, &'a Obj),
    ) {
        self.field(m, key, key, |s, map| {
            for (k, e) in map {
                // (a parameter's schema has no `type: object`: a value of another type passes)
                if key == "parameters" && !e.is_object() {
                    continue;
                }
                s.at(k, |s| {
                    s.typed(e, key, |s, e| s.obj(e, k).map_or((), |o| f(s, k, o)))
                });
            }
        });
    }

    /// Reports the array at `key` of `m` when two of its items, references followed, are equal
    /// (`uniqueItems`, as the parser checks it on the resolved document).
    fn unique_items(&mut self, m: &'a Obj, key: &'a str) {
        let Some(a) = m.get(key).and_then(Value::as_array) else {
            return;
        };
        let items: Vec<&Value> = a.iter().map(|x| self.memo.deref(x).unwrap_or(x)).collect();
        if items
            .iter()
            .enumerate()
            .any(|(i, x)| items[..i].contains(x))
        {
            let message = format!("\"{key}\" must not have duplicate items");
            self.report_in(key, ProblemKind::InvalidValue, message);
        }
    }

    /// Reports every key of `m` that is neither an `x-*` extension nor `known`.
    fn unexpected(&mut self, m: &'a Obj, known: impl Fn(&str) -> bool) {
        for k in m.keys().filter(|k| !is_ext(k) && !known(k)) {
            let message = format!("Property \"{k}\" is not expected to be here");
            self.report_in(k, ProblemKind::UnexpectedProperty, message);
        }
    }

    fn allowed(&mut self, m: &'a Obj, keys: &[&str]) {
        self.unexpected(m, |k| keys.contains(&k));
    }

    /// Reports each of `keys` that `m` lacks (`what` names the object).
    fn required<K: AsRef<str>>(&mut self, m: &Obj, what: &str, keys: impl IntoIterator<Item = K>) {
        for k in keys.into_iter().filter(|k| !m.contains_key(k.as_ref())) {
            let k = k.as_ref();
            let whose = match self.path.is_empty() {
                true => "The document".to_owned(),
                false => format!("\"{what}\""),
            };
            let message = format!("{whose} must have required property \"{k}\"");
            self.report(ProblemKind::Required, message);
        }
    }

    /// Checks an object against the field table of its model type: required keys present, string
    /// fields strings, and no key but the table's (less `except`), `extra` and `x-*` extensions.
    fn object(
        &mut self,
        m: &'a Obj,
        what: &str,
        fields: &[Field],
        extra: &[&str],
        except: &[&str],
    ) {
        self.required(
            m,
            what,
            fields.iter().filter(|f| f.required).map(|f| f.name),
        );
        self.string_fields(m, fields);
        let v2 = self.line == SpecVersion::V2;
        let newer: Vec<&str> = (SINCE.iter())
            .filter(|&&(o, _, since)| v2 && o == what && self.minor < since)
            .map(|&(_, f, _)| f)
            .collect();
        let named = |k: &str| !except.contains(&k) && fields.iter().any(|f| f.name == k);
        self.unexpected(m, |k| {
            !newer.contains(&k) && (extra.contains(&k) || named(k))
        });
    }

    /// Reports each of `keys` that `m` has with a value other than a string.
    fn strings(&mut self, m: &'a Obj, keys: impl IntoIterator<Item = &'a str>) {
        for k in keys {
            if m.get(k).is_some_and(|v| !v.is_string()) {
                let message = format!("\"{k}\" must be a string");
                self.report_in(k, ProblemKind::InvalidValue, message);
            }
        }
    }

    /// [`strings`](Self::strings) for the string fields of a model's field table.
    fn string_fields(&mut self, m: &'a Obj, fields: &[Field]) {
        self.strings(m, fields.iter().filter(|f| f.string).map(|f| f.name));
    }

    /// Every `$ref` in the value must resolve inside the document.
    fn refs(&mut self, v: &'a Value) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    if k == "$ref"
                        && let Some(r) = c.as_str()
                    {
                        if let Err(e) = self.memo.resolve(r) {
                            self.report_in(k, ProblemKind::Reference, e.to_string());
                        }
                    } else if c.is_object() || c.is_array() {
                        self.at(k, |s| s.refs(c));
                    }
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    if c.is_object() || c.is_array() {
                        self.at(i, |s| s.refs(c));
                    }
                }
            }
            _ => {}
        }
    }
}

/// `{name}` placeholders of an address, in order, as the parser's `/{(.+?)}/g` finds them: the
/// shortest non-empty name (a `}` right after the `{` is part of it) without a line break.
pub(crate) fn placeholders(address: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = address;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let end = (after.char_indices().skip(1))
            .find(|&(_, c)| matches!(c, '}' | '\n' | '\r' | '\u{2028}' | '\u{2029}'));
        let first_breaks = after.starts_with(['\n', '\r', '\u{2028}', '\u{2029}']);
        match end {
            Some((i, '}')) if !first_breaks => {
                out.push(&after[..i]);
                rest = &after[i + 1..];
            }
            _ => rest = after,
        }
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
        assert_eq!(placeholders("{}"), Vec::<&str>::new());
        assert_eq!(placeholders("{}}/{a{b}"), vec!["}", "a{b"]);
        assert_eq!(placeholders("{\n}{x}"), vec!["x"]);
    }
}
