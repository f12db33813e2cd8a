//! Validation of a document (as a JSON value) against AsyncAPI 2.x / 3.0 rules.
//!
//! Every problem is collected (the validator never stops at the first one), each with an RFC 6901
//! pointer into the document and a message. The rules are described in `docs/asyncapi.md`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::model::SpecVersion;
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
    let mut problems = Vec::new();
    let Some(m) = root.as_object() else {
        problems.push(Problem {
            pointer: String::new(),
            message: "This is not an AsyncAPI document: the root must be an object.".into(),
            kind: ProblemKind::NotAsyncApi,
        });
        return Report {
            version: None,
            problems,
            counts: Counts::default(),
        };
    };
    let Some(version) = m.get("asyncapi").and_then(Value::as_str) else {
        problems.push(Problem {
            pointer: String::new(),
            message:
                "This is not an AsyncAPI document. The \"asyncapi\" field as string is missing."
                    .into(),
            kind: ProblemKind::NotAsyncApi,
        });
        return Report {
            version: None,
            problems,
            counts: Counts::default(),
        };
    };
    let Some(line) = SpecVersion::of(version) else {
        problems.push(Problem {
            pointer: "/asyncapi".into(),
            message: format!(
                "Version \"{version}\" is not supported. Supported: {}.",
                crate::model::SUPPORTED_VERSIONS.join(", ")
            ),
            kind: ProblemKind::UnsupportedVersion,
        });
        return Report {
            version: Some(version.to_owned()),
            problems,
            counts: Counts::default(),
        };
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
        problems,
        schemes,
    };
    v.refs(root, &mut Vec::new());
    match line {
        SpecVersion::V2 => v.root_v2(m),
        SpecVersion::V3 => v.root_v3(m),
    }
    let counts = count(root, line);
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
    fn push(&mut self, pointer: String, kind: ProblemKind, message: String) {
        self.problems.push(Problem {
            pointer,
            message,
            kind,
        });
    }

    fn obj(&mut self, v: &'a Value, ptr: &str, what: &str) -> Option<&'a Map<String, Value>> {
        match v.as_object() {
            Some(m) => Some(m),
            None => {
                self.push(
                    ptr.to_owned(),
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
                    ptr.to_owned(),
                    ProblemKind::Required,
                    format!("\"{what}\" must have required property \"{k}\""),
                );
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

    // ---------------------------------------------------------------- common pieces

    fn info(&mut self, root: &'a Map<String, Value>) {
        let Some(info) = root.get("info") else {
            self.push(
                String::new(),
                ProblemKind::Required,
                "The document must have required property \"info\"".into(),
            );
            return;
        };
        let Some(m) = self.obj(info, "/info", "info") else {
            return;
        };
        self.required(m, "/info", "info", &["title", "version"]);
        self.strings(
            m,
            "/info",
            &["title", "version", "description", "termsOfService"],
        );
        let mut keys = vec![
            "title",
            "version",
            "description",
            "termsOfService",
            "contact",
            "license",
        ];
        if self.line == SpecVersion::V3 {
            keys.extend(["tags", "externalDocs"]);
            self.tags(m, "/info");
            self.external_docs(m, "/info");
        }
        self.allowed(m, "/info", &keys);
        if let Some(c) = m.get("contact")
            && let Some(cm) = self.obj(c, "/info/contact", "contact")
        {
            self.allowed(cm, "/info/contact", &["name", "url", "email"]);
            self.strings(cm, "/info/contact", &["name", "url", "email"]);
        }
        if let Some(l) = m.get("license")
            && let Some(lm) = self.obj(l, "/info/license", "license")
        {
            self.required(lm, "/info/license", "license", &["name"]);
            self.allowed(lm, "/info/license", &["name", "url"]);
            self.strings(lm, "/info/license", &["name", "url"]);
        }
    }

    fn tags(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        let Some(t) = m.get("tags") else { return };
        let tp = push(ptr, "tags");
        let Some(arr) = t.as_array() else {
            self.push(
                tp,
                ProblemKind::InvalidValue,
                "\"tags\" must be an array".into(),
            );
            return;
        };
        let mut seen = HashSet::new();
        for (i, raw) in arr.iter().enumerate() {
            let ip = push_index(&tp, i);
            let Some(tag) = refs::deref(self.root, raw) else {
                continue;
            };
            let Some(tm) = self.obj(tag, &ip, "tag") else {
                continue;
            };
            if ref_of(raw).is_none() {
                self.required(tm, &ip, "tag", &["name"]);
                self.allowed(tm, &ip, &["name", "description", "externalDocs"]);
                self.strings(tm, &ip, &["name", "description"]);
            }
            if let Some(name) = tm.get("name").and_then(Value::as_str)
                && !seen.insert(name)
            {
                self.push(
                    push(&ip, "name"),
                    ProblemKind::Duplicate,
                    format!("\"tags\" object contains duplicate tag name \"{name}\"."),
                );
            }
        }
    }

    fn external_docs(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        let Some(e) = m.get("externalDocs") else {
            return;
        };
        if ref_of(e).is_some() {
            return;
        }
        let ep = push(ptr, "externalDocs");
        if let Some(em) = self.obj(e, &ep, "externalDocs") {
            self.required(em, &ep, "externalDocs", &["url"]);
            self.allowed(em, &ep, &["url", "description"]);
            self.strings(em, &ep, &["url", "description"]);
        }
    }

    fn security_scheme(&mut self, m: &'a Map<String, Value>, ptr: &str, name: &str) {
        let Some(kind) = m.get("type").and_then(Value::as_str) else {
            self.required(m, ptr, name, &["type"]);
            return;
        };
        let (req, allowed): (&[&str], &[&str]) = match kind {
            "userPassword"
            | "X509"
            | "symmetricEncryption"
            | "asymmetricEncryption"
            | "plain"
            | "scramSha256"
            | "scramSha512"
            | "gssapi" => (&[], &["type", "description"]),
            "apiKey" => (&["in"], &["type", "description", "in"]),
            "httpApiKey" => (&["name", "in"], &["type", "description", "name", "in"]),
            "http" => (
                &["scheme"],
                &["type", "description", "scheme", "bearerFormat"],
            ),
            "oauth2" => (&["flows"], &["type", "description", "flows", "scopes"]),
            "openIdConnect" => (
                &["openIdConnectUrl"],
                &["type", "description", "openIdConnectUrl", "scopes"],
            ),
            other => {
                self.push(
                    push(ptr, "type"),
                    ProblemKind::InvalidValue,
                    format!("Unknown security scheme type \"{other}\""),
                );
                return;
            }
        };
        self.required(m, ptr, name, req);
        self.allowed(m, ptr, allowed);
        self.strings(
            m,
            ptr,
            &[
                "description",
                "name",
                "scheme",
                "bearerFormat",
                "openIdConnectUrl",
            ],
        );
        if let Some(loc) = m.get("in") {
            let ok: &[&str] = if kind == "apiKey" {
                &["user", "password"]
            } else {
                &["query", "header", "cookie"]
            };
            if !loc.as_str().is_some_and(|l| ok.contains(&l)) {
                self.push(
                    push(ptr, "in"),
                    ProblemKind::InvalidValue,
                    format!("\"in\" must be one of {}", ok.join(", ")),
                );
            }
        }
        if kind == "oauth2"
            && let Some(flows) = m.get("flows")
        {
            self.flows(flows, &push(ptr, "flows"));
        }
    }

    fn flows(&mut self, v: &'a Value, ptr: &str) {
        let Some(m) = self.obj(v, ptr, "flows") else {
            return;
        };
        self.allowed(
            m,
            ptr,
            &[
                "implicit",
                "password",
                "clientCredentials",
                "authorizationCode",
            ],
        );
        let scopes = if self.line == SpecVersion::V3 {
            "availableScopes"
        } else {
            "scopes"
        };
        for (flow, req) in [
            ("implicit", &["authorizationUrl"][..]),
            ("password", &["tokenUrl"][..]),
            ("clientCredentials", &["tokenUrl"][..]),
            ("authorizationCode", &["authorizationUrl", "tokenUrl"][..]),
        ] {
            let Some(f) = m.get(flow) else { continue };
            let fp = push(ptr, flow);
            let Some(fm) = self.obj(f, &fp, flow) else {
                continue;
            };
            self.required(fm, &fp, flow, req);
            self.required(fm, &fp, flow, &[scopes]);
            let mut allowed = vec!["refreshUrl", scopes];
            allowed.extend_from_slice(req);
            self.allowed(fm, &fp, &allowed);
            self.strings(fm, &fp, &["authorizationUrl", "tokenUrl", "refreshUrl"]);
            if let Some(s) = fm.get(scopes) {
                let sp = push(&fp, scopes);
                if let Some(sm) = self.obj(s, &sp, scopes) {
                    for (k, d) in sm {
                        if !d.is_string() {
                            self.push(
                                push(&sp, k),
                                ProblemKind::InvalidValue,
                                "scope descriptions must be strings".into(),
                            );
                        }
                    }
                }
            }
        }
    }

    /// 2.x security requirements (`[{scheme: [scopes]}]`).
    fn requirements(&mut self, m: &'a Map<String, Value>, ptr: &str, whose: &str) {
        let Some(s) = m.get("security") else { return };
        let sp = push(ptr, "security");
        let Some(arr) = s.as_array() else {
            self.push(
                sp,
                ProblemKind::InvalidValue,
                "\"security\" must be an array".into(),
            );
            return;
        };
        for (i, req) in arr.iter().enumerate() {
            let ip = push_index(&sp, i);
            let Some(rm) = self.obj(req, &ip, "security requirement") else {
                continue;
            };
            for (name, scopes) in rm {
                let np = push(&ip, name);
                let scheme = self
                    .schemes
                    .and_then(|s| s.get(name))
                    .and_then(|s| refs::deref(self.root, s));
                let Some(scheme) = scheme else {
                    self.push(
                        np,
                        ProblemKind::Security,
                        format!("{whose} must not reference an undefined security scheme."),
                    );
                    continue;
                };
                let Some(list) = scopes.as_array() else {
                    self.push(
                        np,
                        ProblemKind::InvalidValue,
                        "scopes must be an array of strings".into(),
                    );
                    continue;
                };
                if scheme.get("type").and_then(Value::as_str) == Some("oauth2") {
                    let defined: HashSet<&str> = scheme
                        .get("flows")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flat_map(|f| f.values())
                        .filter_map(|f| f.get("scopes").and_then(Value::as_object))
                        .flat_map(|s| s.keys().map(String::as_str))
                        .collect();
                    for (j, sc) in list.iter().enumerate() {
                        if let Some(sc) = sc.as_str()
                            && !defined.contains(sc)
                        {
                            self.push(
                                    push_index(&np, j),
                                    ProblemKind::Security,
                                    format!("Non-existing security scope for the specified security scheme. Available: [{}]", {
                                        let mut d: Vec<_> = defined.iter().copied().collect();
                                        d.sort_unstable();
                                        d.join(", ")
                                    }),
                                );
                        }
                    }
                }
            }
        }
    }

    fn schema(&mut self, v: &'a Value, ptr: &str) {
        let m = match v {
            Value::Bool(_) => return,
            Value::Object(m) => m,
            _ => {
                self.push(
                    ptr.to_owned(),
                    ProblemKind::Schema,
                    "schema must be an object or a boolean".into(),
                );
                return;
            }
        };
        if m.get("$ref").is_some_and(Value::is_string) {
            return;
        }
        if let Some(t) = m.get("type") {
            let ok = match t {
                Value::String(s) => SCHEMA_TYPES.contains(&s.as_str()),
                Value::Array(a) => a
                    .iter()
                    .all(|x| x.as_str().is_some_and(|s| SCHEMA_TYPES.contains(&s))),
                _ => false,
            };
            if !ok {
                self.push(
                    push(ptr, "type"),
                    ProblemKind::Schema,
                    format!(
                        "\"type\" must be equal to one of the allowed values: {}",
                        SCHEMA_TYPES.join(", ")
                    ),
                );
            }
        }
        self.strings(m, ptr, &["format", "pattern", "title", "description"]);
        if let Some(r) = m.get("required")
            && !r.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        {
            self.push(
                push(ptr, "required"),
                ProblemKind::Schema,
                "\"required\" must be an array of strings".into(),
            );
        }
        if let Some(e) = m.get("enum")
            && !e.is_array()
        {
            self.push(
                push(ptr, "enum"),
                ProblemKind::Schema,
                "\"enum\" must be an array".into(),
            );
        }
        for k in ["properties", "patternProperties", "definitions", "$defs"] {
            if let Some(p) = m.get(k) {
                let pp = push(ptr, k);
                match p.as_object() {
                    Some(pm) => {
                        for (name, s) in pm {
                            self.schema(s, &push(&pp, name));
                        }
                    }
                    None => self.push(
                        pp,
                        ProblemKind::Schema,
                        format!("\"{k}\" must be an object"),
                    ),
                }
            }
        }
        for k in [
            "additionalProperties",
            "additionalItems",
            "contains",
            "propertyNames",
            "not",
            "if",
            "then",
            "else",
        ] {
            if let Some(s) = m.get(k) {
                self.schema(s, &push(ptr, k));
            }
        }
        if let Some(items) = m.get("items") {
            let ip = push(ptr, "items");
            match items {
                Value::Array(a) => {
                    for (i, s) in a.iter().enumerate() {
                        self.schema(s, &push_index(&ip, i));
                    }
                }
                s => self.schema(s, &ip),
            }
        }
        for k in ["allOf", "anyOf", "oneOf"] {
            if let Some(list) = m.get(k) {
                let lp = push(ptr, k);
                match list.as_array() {
                    Some(a) if !a.is_empty() => {
                        for (i, s) in a.iter().enumerate() {
                            self.schema(s, &push_index(&lp, i));
                        }
                    }
                    _ => self.push(
                        lp,
                        ProblemKind::Schema,
                        format!("\"{k}\" must be a non-empty array"),
                    ),
                }
            }
        }
    }

    /// Schema check that honours the schema format: Avro, RAML and other non-JSON formats are
    /// left alone.
    fn payload(&mut self, v: &'a Value, ptr: &str, format: Option<&str>) {
        let json_like = match format {
            None => true,
            Some(f) => {
                f.starts_with("application/vnd.aai.asyncapi")
                    || f.starts_with("application/schema+json")
                    || f.starts_with("application/schema+yaml")
                    || f.starts_with("application/vnd.oai.openapi")
            }
        };
        if json_like {
            self.schema(v, ptr);
        }
    }

    fn parameters(&mut self, m: &'a Map<String, Value>, ptr: &str, address: Option<&str>) {
        let used: Vec<&str> = address.map(placeholders).unwrap_or_default();
        let declared = m.get("parameters");
        let pp = push(ptr, "parameters");
        let declared_map = match declared {
            Some(d) => self.obj(d, &pp, "parameters"),
            None => None,
        };
        let missing: Vec<&str> = used
            .iter()
            .copied()
            .filter(|u| !declared_map.is_some_and(|d| d.contains_key(*u)))
            .collect();
        if !missing.is_empty() {
            self.push(
                if declared.is_some() { pp.clone() } else { ptr.to_owned() },
                ProblemKind::Parameter,
                format!(
                    "Not all channel's parameters are described with \"parameters\" object. Missed: {}.",
                    missing.join(", ")
                ),
            );
        }
        let Some(dm) = declared_map else { return };
        for (name, p) in dm {
            let np = push(&pp, name);
            if ref_of(p).is_none()
                && let Some(pm) = self.obj(p, &np, name)
            {
                self.parameter(pm, &np);
            }
        }
    }

    fn parameter(&mut self, pm: &'a Map<String, Value>, np: &str) {
        match self.line {
            SpecVersion::V2 => {
                self.allowed(pm, np, &["description", "schema", "location"]);
                if let Some(s) = pm.get("schema") {
                    self.schema(s, &push(np, "schema"));
                }
            }
            SpecVersion::V3 => {
                self.allowed(
                    pm,
                    np,
                    &["enum", "default", "description", "examples", "location"],
                );
                self.strings(pm, np, &["default", "description"]);
            }
        }
        self.strings(pm, np, &["description", "location"]);
    }

    fn message(&mut self, m: &'a Map<String, Value>, ptr: &str, allow_one_of: bool) {
        if let Some(one_of) = m
            .get("oneOf")
            .filter(|_| allow_one_of && self.line == SpecVersion::V2)
        {
            self.allowed(m, ptr, &["oneOf"]);
            let op = push(ptr, "oneOf");
            let Some(arr) = one_of.as_array() else {
                self.push(
                    op,
                    ProblemKind::InvalidValue,
                    "\"oneOf\" must be an array".into(),
                );
                return;
            };
            for (i, item) in arr.iter().enumerate() {
                if ref_of(item).is_some() {
                    continue;
                }
                let ip = push_index(&op, i);
                if let Some(im) = self.obj(item, &ip, "message") {
                    self.message(im, &ip, false);
                }
            }
            return;
        }
        let mut keys = vec![
            "contentType",
            "headers",
            "payload",
            "correlationId",
            "tags",
            "summary",
            "name",
            "title",
            "description",
            "externalDocs",
            "examples",
            "bindings",
            "traits",
        ];
        if self.line == SpecVersion::V2 {
            keys.extend(["schemaFormat", "deprecated"]);
            if self.minor >= 4 {
                keys.push("messageId");
            }
        }
        self.allowed(m, ptr, &keys);
        self.strings(
            m,
            ptr,
            &[
                "contentType",
                "summary",
                "name",
                "title",
                "description",
                "schemaFormat",
                "messageId",
            ],
        );
        self.tags(m, ptr);
        self.external_docs(m, ptr);
        let format = m.get("schemaFormat").and_then(Value::as_str);
        if let Some(h) = m.get("headers") {
            if self.line == SpecVersion::V3 {
                self.multi_format(h, &push(ptr, "headers"));
            } else {
                self.schema(h, &push(ptr, "headers"));
            }
        }
        if let Some(p) = m.get("payload") {
            if self.line == SpecVersion::V3 {
                self.multi_format(p, &push(ptr, "payload"));
            } else {
                self.payload(p, &push(ptr, "payload"), format);
            }
        }
        if let Some(ex) = m.get("examples") {
            let ep = push(ptr, "examples");
            match ex.as_array() {
                None => self.push(
                    ep,
                    ProblemKind::InvalidValue,
                    "\"examples\" must be an array".into(),
                ),
                Some(a) => {
                    for (i, e) in a.iter().enumerate() {
                        let ip = push_index(&ep, i);
                        let Some(em) = self.obj(e, &ip, "example") else {
                            continue;
                        };
                        self.allowed(em, &ip, &["headers", "payload", "name", "summary"]);
                        if !em.contains_key("payload") && !em.contains_key("headers") {
                            self.push(
                                ip.clone(),
                                ProblemKind::Required,
                                format!("Item at index {i} must have required property \"payload\" or \"headers\""),
                            );
                        }
                    }
                }
            }
        }
        if let Some(t) = m.get("traits") {
            self.traits(t, &push(ptr, "traits"));
        }
    }

    fn multi_format(&mut self, v: &'a Value, ptr: &str) {
        match v.as_object() {
            Some(m) if m.contains_key("schemaFormat") || m.contains_key("schema") => {
                self.required(m, ptr, "multi-format schema", &["schemaFormat", "schema"]);
                self.allowed(m, ptr, &["schemaFormat", "schema"]);
                if let Some(s) = m.get("schema") {
                    let f = m.get("schemaFormat").and_then(Value::as_str);
                    self.payload(s, &push(ptr, "schema"), f);
                }
            }
            _ => self.schema(v, ptr),
        }
    }

    fn traits(&mut self, t: &'a Value, ptr: &str) {
        let Some(arr) = t.as_array() else {
            self.push(
                ptr.to_owned(),
                ProblemKind::InvalidValue,
                "\"traits\" must be an array".into(),
            );
            return;
        };
        for (i, tr) in arr.iter().enumerate() {
            if ref_of(tr).is_some() {
                continue;
            }
            let ip = push_index(ptr, i);
            if let Some(tm) = tr.as_object() {
                self.tags(tm, &ip);
            }
        }
    }

    // ---------------------------------------------------------------- 2.x

    fn root_v2(&mut self, root: &'a Map<String, Value>) {
        self.allowed(
            root,
            "",
            &[
                "asyncapi",
                "id",
                "info",
                "servers",
                "defaultContentType",
                "channels",
                "components",
                "tags",
                "externalDocs",
            ],
        );
        self.strings(root, "", &["id", "defaultContentType"]);
        self.info(root);
        self.tags(root, "");
        self.external_docs(root, "");
        let server_names: Vec<&str> = root
            .get("servers")
            .and_then(Value::as_object)
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for (_, sm, sp) in self.entries(root, "", "servers") {
            self.server_v2(sm, &sp);
        }
        if !root.contains_key("channels") {
            self.push(
                String::new(),
                ProblemKind::Required,
                "The document must have required property \"channels\"".into(),
            );
        }
        let mut op_ids: HashMap<&str, ()> = HashMap::new();
        let mut msg_ids: HashMap<&str, ()> = HashMap::new();
        for (name, cm, cp) in self.entries(root, "", "channels") {
            self.channel_v2(name, cm, &cp, &server_names, &mut op_ids);
        }
        if let Some(c) = root.get("components") {
            self.components_v2(c);
        }
        if self.minor >= 4 {
            self.message_ids(&mut msg_ids);
        }
    }

    fn message_ids(&mut self, seen: &mut HashMap<&'a str, ()>) {
        let root = self.root;
        let mut found: Vec<(&'a str, String)> = Vec::new();
        if let Some(ch) = root.get("channels").and_then(Value::as_object) {
            for (name, c) in ch {
                for op in ["subscribe", "publish"] {
                    let Some(msg) = c.get(op).and_then(|o| o.get("message")) else {
                        continue;
                    };
                    let mp = push(&push(&push("/channels", name), op), "message");
                    if let Some(id) = msg.get("messageId").and_then(Value::as_str) {
                        found.push((id, push(&mp, "messageId")));
                    }
                    if let Some(arr) = msg.get("oneOf").and_then(Value::as_array) {
                        for (i, m) in arr.iter().enumerate() {
                            if let Some(id) = m.get("messageId").and_then(Value::as_str) {
                                found.push((
                                    id,
                                    push(&push_index(&push(&mp, "oneOf"), i), "messageId"),
                                ));
                            }
                        }
                    }
                }
            }
        }
        for (id, ptr) in found {
            if seen.insert(id, ()).is_some() {
                self.push(
                    ptr,
                    ProblemKind::Duplicate,
                    "\"messageId\" must be unique across all the messages.".into(),
                );
            }
        }
    }

    fn server_v2(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.required(m, ptr, "server", &["url", "protocol"]);
        self.allowed(
            m,
            ptr,
            &[
                "url",
                "protocol",
                "protocolVersion",
                "description",
                "variables",
                "security",
                "tags",
                "bindings",
            ],
        );
        self.strings(
            m,
            ptr,
            &["url", "protocol", "protocolVersion", "description"],
        );
        self.protocol(m, ptr);
        self.tags(m, ptr);
        self.requirements(m, ptr, "Server");
        if let Some(url) = m.get("url").and_then(Value::as_str) {
            self.server_variables(m, ptr, url);
        }
    }

    fn protocol(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        if let Some(p) = m.get("protocol").and_then(Value::as_str)
            && (p.is_empty() || p.contains(char::is_whitespace))
        {
            self.push(
                push(ptr, "protocol"),
                ProblemKind::InvalidValue,
                "\"protocol\" must be a non-empty protocol name such as sse, http, https, ws"
                    .into(),
            );
        }
    }

    fn server_variables(&mut self, m: &'a Map<String, Value>, ptr: &str, url: &str) {
        let used = placeholders(url);
        let declared = m.get("variables").and_then(Value::as_object);
        let missing: Vec<&str> = used
            .iter()
            .copied()
            .filter(|u| !declared.is_some_and(|d| d.contains_key(*u)))
            .collect();
        if !missing.is_empty() {
            self.push(
                ptr.to_owned(),
                ProblemKind::ServerVariable,
                format!(
                    "Not all server's variables are described with \"variables\" object. Missed: {}.",
                    missing.join(", ")
                ),
            );
        }
    }

    fn channel_v2(
        &mut self,
        name: &'a str,
        m: &'a Map<String, Value>,
        ptr: &str,
        servers: &[&str],
        op_ids: &mut HashMap<&'a str, ()>,
    ) {
        self.allowed(
            m,
            ptr,
            &[
                "$ref",
                "description",
                "servers",
                "subscribe",
                "publish",
                "parameters",
                "bindings",
            ],
        );
        self.strings(m, ptr, &["description"]);
        self.parameters(m, ptr, Some(name));
        if let Some(s) = m.get("servers") {
            let sp = push(ptr, "servers");
            match s.as_array() {
                None => self.push(
                    sp,
                    ProblemKind::InvalidValue,
                    "\"servers\" must be an array".into(),
                ),
                Some(a) => {
                    for (i, n) in a.iter().enumerate() {
                        if !n.as_str().is_some_and(|n| servers.contains(&n)) {
                            self.push(
                                push_index(&sp, i),
                                ProblemKind::InvalidValue,
                                "Channel contains server that are not defined on the \"servers\" object.".into(),
                            );
                        }
                    }
                }
            }
        }
        for op in ["subscribe", "publish"] {
            let Some(o) = m.get(op) else { continue };
            let op_ptr = push(ptr, op);
            let Some(om) = self.obj(o, &op_ptr, op) else {
                continue;
            };
            self.operation_v2(om, &op_ptr);
            if let Some(id) = om.get("operationId").and_then(Value::as_str)
                && op_ids.insert(id, ()).is_some()
            {
                self.push(
                    push(&op_ptr, "operationId"),
                    ProblemKind::Duplicate,
                    "\"operationId\" must be unique across all the operations.".into(),
                );
            }
        }
    }

    fn operation_v2(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.allowed(
            m,
            ptr,
            &[
                "operationId",
                "summary",
                "description",
                "security",
                "tags",
                "externalDocs",
                "bindings",
                "traits",
                "message",
            ],
        );
        self.strings(m, ptr, &["operationId", "summary", "description"]);
        self.tags(m, ptr);
        self.external_docs(m, ptr);
        self.requirements(m, ptr, "Operation");
        if let Some(t) = m.get("traits") {
            self.traits(t, &push(ptr, "traits"));
        }
        if let Some(msg) = m.get("message")
            && ref_of(msg).is_none()
        {
            let mp = push(ptr, "message");
            if let Some(mm) = self.obj(msg, &mp, "message") {
                self.message(mm, &mp, true);
            }
        }
    }

    fn components_v2(&mut self, c: &'a Value) {
        let Some(m) = self.obj(c, "/components", "components") else {
            return;
        };
        self.allowed(
            m,
            "/components",
            &[
                "schemas",
                "servers",
                "serverVariables",
                "channels",
                "messages",
                "securitySchemes",
                "parameters",
                "correlationIds",
                "operationTraits",
                "messageTraits",
                "serverBindings",
                "channelBindings",
                "operationBindings",
                "messageBindings",
            ],
        );
        self.component_common(m);
        for (_, sm, sp) in self.entries(m, "/components", "servers") {
            self.server_v2(sm, &sp);
        }
        let mut no_ids = HashMap::new();
        for (name, cm, cp) in self.entries(m, "/components", "channels") {
            self.channel_v2(name, cm, &cp, &[], &mut no_ids);
        }
        for (_, mm, mp) in self.entries(m, "/components", "messages") {
            self.message(mm, &mp, true);
        }
    }

    fn component_common(&mut self, m: &'a Map<String, Value>) {
        if let Some(s) = m.get("schemas")
            && let Some(sm) = self.obj(s, "/components/schemas", "schemas")
        {
            for (k, v) in sm {
                let p = push("/components/schemas", k);
                if self.line == SpecVersion::V3 {
                    self.multi_format(v, &p);
                } else {
                    self.schema(v, &p);
                }
            }
        }
        for (name, sm, sp) in self.entries(m, "/components", "securitySchemes") {
            self.security_scheme(sm, &sp, name);
        }
        for (_, pm, pp) in self.entries(m, "/components", "parameters") {
            self.parameter(pm, &pp);
        }
        for key in ["operationTraits", "messageTraits"] {
            for (_, tm, tp) in self.entries(m, "/components", key) {
                self.tags(tm, &tp);
            }
        }
    }

    // ---------------------------------------------------------------- 3.0

    fn root_v3(&mut self, root: &'a Map<String, Value>) {
        self.allowed(
            root,
            "",
            &[
                "asyncapi",
                "id",
                "info",
                "servers",
                "defaultContentType",
                "channels",
                "operations",
                "components",
            ],
        );
        self.strings(root, "", &["id", "defaultContentType"]);
        self.info(root);
        for (_, sm, sp) in self.entries(root, "", "servers") {
            self.server_v3(sm, &sp);
        }
        for (_, cm, cp) in self.entries(root, "", "channels") {
            self.channel_v3(cm, &cp);
        }
        for (_, om, op) in self.entries(root, "", "operations") {
            self.operation_v3(om, &op);
        }
        if let Some(c) = root.get("components") {
            self.components_v3(c);
        }
    }

    fn server_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.required(m, ptr, "server", &["host", "protocol"]);
        self.allowed(
            m,
            ptr,
            &[
                "host",
                "pathname",
                "protocol",
                "protocolVersion",
                "description",
                "title",
                "summary",
                "variables",
                "security",
                "tags",
                "externalDocs",
                "bindings",
            ],
        );
        self.strings(
            m,
            ptr,
            &[
                "host",
                "pathname",
                "protocol",
                "protocolVersion",
                "description",
                "title",
                "summary",
            ],
        );
        self.protocol(m, ptr);
        self.tags(m, ptr);
        self.external_docs(m, ptr);
        self.security_v3(m, ptr);
        let mut url = String::new();
        for k in ["host", "pathname"] {
            if let Some(s) = m.get(k).and_then(Value::as_str) {
                url.push_str(s);
            }
        }
        self.server_variables(m, ptr, &url);
    }

    fn security_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        let Some(s) = m.get("security") else { return };
        let sp = push(ptr, "security");
        let Some(arr) = s.as_array() else {
            self.push(
                sp,
                ProblemKind::InvalidValue,
                "\"security\" must be an array".into(),
            );
            return;
        };
        for (i, item) in arr.iter().enumerate() {
            if ref_of(item).is_some() {
                continue;
            }
            let ip = push_index(&sp, i);
            if let Some(im) = self.obj(item, &ip, "security scheme") {
                self.security_scheme(im, &ip, "security scheme");
            }
        }
    }

    fn channel_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.allowed(
            m,
            ptr,
            &[
                "address",
                "messages",
                "title",
                "summary",
                "description",
                "servers",
                "parameters",
                "tags",
                "externalDocs",
                "bindings",
            ],
        );
        self.strings(m, ptr, &["title", "summary", "description"]);
        let address = match m.get("address") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.push(
                    push(ptr, "address"),
                    ProblemKind::InvalidValue,
                    "\"address\" must be a string or null".into(),
                );
                None
            }
        };
        self.parameters(m, ptr, address);
        self.tags(m, ptr);
        self.external_docs(m, ptr);
        for (_, mm, mp) in self.entries(m, ptr, "messages") {
            self.message(mm, &mp, false);
        }
        if let Some(s) = m.get("servers") {
            let sp = push(ptr, "servers");
            match s.as_array() {
                None => self.push(
                    sp,
                    ProblemKind::InvalidValue,
                    "\"servers\" must be an array".into(),
                ),
                Some(a) => {
                    for (i, r) in a.iter().enumerate() {
                        if !ref_of(r).is_some_and(|r| r.starts_with("#/servers/")) {
                            self.push(
                                push_index(&sp, i),
                                ProblemKind::InvalidValue,
                                "Channel servers must be references to servers in \"#/servers\"."
                                    .into(),
                            );
                        }
                    }
                }
            }
        }
    }

    fn operation_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.required(m, ptr, "operation", &["action", "channel"]);
        self.allowed(
            m,
            ptr,
            &[
                "action",
                "channel",
                "title",
                "summary",
                "description",
                "security",
                "tags",
                "externalDocs",
                "bindings",
                "traits",
                "messages",
                "reply",
            ],
        );
        self.strings(m, ptr, &["title", "summary", "description"]);
        if let Some(a) = m.get("action")
            && !matches!(a.as_str(), Some("send" | "receive"))
        {
            self.push(
                push(ptr, "action"),
                ProblemKind::InvalidValue,
                "\"action\" must be equal to one of the allowed values: send, receive".into(),
            );
        }
        let channel_ref = m.get("channel").and_then(ref_of);
        if m.contains_key("channel") && channel_ref.is_none() {
            self.push(
                push(ptr, "channel"),
                ProblemKind::InvalidValue,
                "\"channel\" must be a reference object".into(),
            );
        }
        self.tags(m, ptr);
        self.external_docs(m, ptr);
        self.security_v3(m, ptr);
        if let Some(t) = m.get("traits") {
            self.traits(t, &push(ptr, "traits"));
        }
        if let Some(msgs) = m.get("messages") {
            let mp = push(ptr, "messages");
            match msgs.as_array() {
                None => self.push(
                    mp,
                    ProblemKind::InvalidValue,
                    "\"messages\" must be an array".into(),
                ),
                Some(a) => {
                    for (i, r) in a.iter().enumerate() {
                        let ip = push_index(&mp, i);
                        match (ref_of(r), channel_ref) {
                            (None, _) => self.push(
                                ip,
                                ProblemKind::InvalidValue,
                                "operation messages must be reference objects".into(),
                            ),
                            (Some(r), Some(c)) if !self.message_of_channel(c, r) => {
                                self.push(
                                    ip,
                                    ProblemKind::Reference,
                                    "Operation message does not belong to the specified channel."
                                        .into(),
                                );
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    /// Whether a message reference names one of the messages of the referenced channel.
    fn message_of_channel(&self, channel_ref: &str, message_ref: &str) -> bool {
        let Ok(target) = refs::resolve(self.root, message_ref) else {
            return true; // reported by the reference check
        };
        let Ok(channel) = refs::resolve(self.root, channel_ref) else {
            return true;
        };
        let Some(msgs) = channel.get("messages").and_then(Value::as_object) else {
            return false;
        };
        msgs.values()
            .any(|m| refs::deref(self.root, m).is_some_and(|m| std::ptr::eq(m, target)))
    }

    fn components_v3(&mut self, c: &'a Value) {
        let Some(m) = self.obj(c, "/components", "components") else {
            return;
        };
        self.allowed(
            m,
            "/components",
            &[
                "schemas",
                "servers",
                "channels",
                "operations",
                "messages",
                "securitySchemes",
                "serverVariables",
                "parameters",
                "correlationIds",
                "replies",
                "replyAddresses",
                "externalDocs",
                "tags",
                "operationTraits",
                "messageTraits",
                "serverBindings",
                "channelBindings",
                "operationBindings",
                "messageBindings",
            ],
        );
        self.component_common(m);
        for (_, sm, sp) in self.entries(m, "/components", "servers") {
            self.server_v3(sm, &sp);
        }
        for (_, cm, cp) in self.entries(m, "/components", "channels") {
            self.channel_v3(cm, &cp);
        }
        for (_, om, op) in self.entries(m, "/components", "operations") {
            self.operation_v3(om, &op);
        }
        for (_, mm, mp) in self.entries(m, "/components", "messages") {
            self.message(mm, &mp, false);
        }
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

/// Counts channels, operations, messages and servers the way the reference parser does.
fn count(root: &Value, line: SpecVersion) -> Counts {
    let len = |k: &str| root.get(k).and_then(Value::as_object).map_or(0, Map::len);
    let mut counts = Counts {
        channels: len("channels"),
        servers: len("servers"),
        ..Counts::default()
    };
    let mut seen: HashSet<String> = HashSet::new();
    // identity of a message: the pointer of the object it resolves to
    let add = |v: &Value, at: String, seen: &mut HashSet<String>| -> Option<()> {
        let id = match ref_of(v) {
            Some(r) => refs::resolve_with_pointer(root, r).ok()?.1,
            None => at,
        };
        seen.insert(id);
        Some(())
    };
    let channels: BTreeMap<&String, &Value> = root
        .get("channels")
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    match line {
        SpecVersion::V2 => {
            for (name, c) in channels {
                let (c, base) = match ref_of(c) {
                    Some(r) => match refs::resolve_with_pointer(root, r) {
                        Ok(x) => x,
                        Err(_) => continue,
                    },
                    None => (c, push("/channels", name)),
                };
                for op in ["subscribe", "publish"] {
                    let Some(o) = c.get(op) else { continue };
                    counts.operations += 1;
                    let Some(msg) = o.get("message") else {
                        continue;
                    };
                    let mp = push(&push(&base, op), "message");
                    let (resolved, rp) = match ref_of(msg) {
                        Some(r) => match refs::resolve_with_pointer(root, r) {
                            Ok(x) => x,
                            Err(_) => continue,
                        },
                        None => (msg, mp),
                    };
                    match resolved.get("oneOf").and_then(Value::as_array) {
                        Some(items) => {
                            for (i, item) in items.iter().enumerate() {
                                add(item, push_index(&push(&rp, "oneOf"), i), &mut seen);
                            }
                        }
                        None => {
                            seen.insert(rp);
                        }
                    }
                }
            }
        }
        SpecVersion::V3 => {
            counts.operations = len("operations");
            for (name, c) in channels {
                let (c, base) = match ref_of(c) {
                    Some(r) => match refs::resolve_with_pointer(root, r) {
                        Ok(x) => x,
                        Err(_) => continue,
                    },
                    None => (c, push("/channels", name)),
                };
                let Some(msgs) = c.get("messages").and_then(Value::as_object) else {
                    continue;
                };
                for (k, m) in msgs {
                    add(m, push(&push(&base, "messages"), k), &mut seen);
                }
            }
        }
    }
    counts.messages = seen.len();
    counts
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
