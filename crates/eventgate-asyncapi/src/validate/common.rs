//! Rules shared by 2.x and 3.0: info, tags, security schemes, schemas, parameters, messages.

use foldhash::{HashSet, HashSetExt};

use serde_json::Value;

use super::{Obj, ProblemKind, V, placeholders};
use crate::model::SpecVersion;
use crate::model::common::{
    ExternalDocs, Info, Message, OAuthFlow, OAuthFlows, Parameter, SecurityScheme, Tag,
};
use crate::refs::{self, ref_of};

/// The `components` keys both versions have beyond those the model names (kept in its extensions).
pub(super) const COMPONENTS: &[&str] = &[
    "serverVariables",
    "correlationIds",
    "operationTraits",
    "messageTraits",
    "serverBindings",
    "channelBindings",
    "operationBindings",
    "messageBindings",
];

/// Security scheme types: the fields each requires, and those it allows beside `type` and
/// `description`.
const SCHEMES: &[(&str, &[&str], &[&str])] = &[
    ("userPassword", &[], &[]),
    ("X509", &[], &[]),
    ("symmetricEncryption", &[], &[]),
    ("asymmetricEncryption", &[], &[]),
    ("plain", &[], &[]),
    ("scramSha256", &[], &[]),
    ("scramSha512", &[], &[]),
    ("gssapi", &[], &[]),
    ("apiKey", &["in"], &["in"]),
    ("httpApiKey", &["name", "in"], &["name", "in"]),
    ("http", &["scheme"], &["scheme", "bearerFormat"]),
    ("oauth2", &["flows"], &["flows", "scopes"]),
    (
        "openIdConnect",
        &["openIdConnectUrl"],
        &["openIdConnectUrl", "scopes"],
    ),
];

const SCHEMA_TYPES: &[&str] = &[
    "array", "boolean", "integer", "null", "number", "object", "string",
];

impl<'a> V<'a> {
    pub(super) fn info(&mut self, root: &'a Obj) {
        self.field(root, "info", "info", |s, m| {
            let except: &[&str] = match s.line {
                SpecVersion::V2 => &["tags", "externalDocs"],
                SpecVersion::V3 => {
                    s.tags(m);
                    s.external_docs(m);
                    &[]
                }
            };
            s.object(m, "info", Info::FIELDS, &[], except);
            s.field(m, "contact", "contact", |s, c| {
                s.allowed(c, &["name", "url", "email"]);
                s.strings(c, ["name", "url", "email"]);
            });
            s.field(m, "license", "license", |s, l| {
                s.required(l, "license", ["name"]);
                s.allowed(l, &["name", "url"]);
                s.strings(l, ["name", "url"]);
            });
        });
    }

    pub(super) fn tags(&mut self, m: &'a Obj) {
        let mut seen = HashSet::new();
        self.items(m, "tags", |s, _, raw| {
            let Some(tm) = refs::deref(s.root, raw).and_then(|t| s.obj(t, "tag")) else {
                return;
            };
            if ref_of(raw).is_none() {
                s.object(tm, "tag", Tag::FIELDS, &[], &[]);
            }
            if let Some(name) = tm.get("name").and_then(Value::as_str)
                && !seen.insert(name)
            {
                let message = format!("\"tags\" object contains duplicate tag name \"{name}\".");
                s.report_in("name", ProblemKind::Duplicate, message);
            }
        });
    }

    pub(super) fn external_docs(&mut self, m: &'a Obj) {
        self.inline(m, "externalDocs", "externalDocs", |s, e| {
            s.object(e, "externalDocs", ExternalDocs::FIELDS, &[], &[]);
        });
    }

    pub(super) fn security_scheme(&mut self, m: &'a Obj, name: &str) {
        let Some(kind) = m.get("type").and_then(Value::as_str) else {
            self.required(m, name, ["type"]);
            return;
        };
        let Some(&(_, req, fields)) = SCHEMES.iter().find(|(k, ..)| *k == kind) else {
            let message = format!("Unknown security scheme type \"{kind}\"");
            return self.report_in("type", ProblemKind::InvalidValue, message);
        };
        let allowed = [&["type", "description"], fields].concat();
        self.required(m, name, req);
        self.allowed(m, &allowed);
        // `in` has its own rule below; `type` is a string already.
        let strings = SecurityScheme::FIELDS.iter().filter(|f| f.name != "in");
        self.strings(m, strings.filter(|f| f.string).map(|f| f.name));
        if let Some(loc) = m.get("in") {
            let ok: &[&str] = if kind == "apiKey" {
                &["user", "password"]
            } else {
                &["query", "header", "cookie"]
            };
            if !loc.as_str().is_some_and(|l| ok.contains(&l)) {
                let message = format!("\"in\" must be one of {}", ok.join(", "));
                self.report_in("in", ProblemKind::InvalidValue, message);
            }
        }
        if kind == "oauth2" {
            self.field(m, "flows", "flows", Self::flows);
        }
    }

    fn flows(&mut self, m: &'a Obj) {
        self.object(m, "flows", OAuthFlows::FIELDS, &[], &[]);
        let scopes = match self.line {
            SpecVersion::V3 => "availableScopes",
            SpecVersion::V2 => "scopes",
        };
        for (flow, req) in [
            ("implicit", &["authorizationUrl"][..]),
            ("password", &["tokenUrl"][..]),
            ("clientCredentials", &["tokenUrl"][..]),
            ("authorizationCode", &["authorizationUrl", "tokenUrl"][..]),
        ] {
            self.field(m, flow, flow, |s, f| {
                s.required(f, flow, req.iter().chain(&[scopes]));
                s.allowed(f, &[req, &["refreshUrl", scopes]].concat());
                s.string_fields(f, OAuthFlow::FIELDS);
                s.field(f, scopes, scopes, |s, sm| {
                    for (k, _) in sm.iter().filter(|(_, d)| !d.is_string()) {
                        let message = "scope descriptions must be strings";
                        s.report_in(k, ProblemKind::InvalidValue, message);
                    }
                });
            });
        }
    }

    /// A JSON Schema (a boolean or an object; a `$ref` is checked where it points).
    pub(super) fn schema(&mut self, v: &'a Value) {
        let m = match v {
            Value::Bool(_) => return,
            Value::Object(m) => m,
            _ => return self.report(ProblemKind::Schema, "schema must be an object or a boolean"),
        };
        if m.get("$ref").is_some_and(Value::is_string) {
            return;
        }
        let known = |t: &Value| t.as_str().is_some_and(|s| SCHEMA_TYPES.contains(&s));
        if let Some(t) = m.get("type")
            && !(known(t) || t.as_array().is_some_and(|a| a.iter().all(known)))
        {
            let allowed = SCHEMA_TYPES.join(", ");
            let message = format!("\"type\" must be equal to one of the allowed values: {allowed}");
            self.report_in("type", ProblemKind::Schema, message);
        }
        self.strings(m, ["format", "pattern", "title", "description"]);
        if let Some(r) = m.get("required")
            && !r.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        {
            let message = "\"required\" must be an array of strings";
            self.report_in("required", ProblemKind::Schema, message);
        }
        if m.get("enum").is_some_and(|e| !e.is_array()) {
            self.report_in("enum", ProblemKind::Schema, "\"enum\" must be an array");
        }
        for k in ["properties", "patternProperties", "definitions", "$defs"] {
            self.sub(m, k, |s, p| match p.as_object() {
                Some(pm) => pm.iter().for_each(|(name, x)| s.at(name, |s| s.schema(x))),
                None => s.report(ProblemKind::Schema, format!("\"{k}\" must be an object")),
            });
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
            self.sub(m, k, Self::schema);
        }
        self.sub(m, "items", |s, items| match items {
            Value::Array(a) => s.schemas(a),
            x => s.schema(x),
        });
        for k in ["allOf", "anyOf", "oneOf"] {
            self.sub(m, k, |s, list| match list.as_array() {
                Some(a) if !a.is_empty() => s.schemas(a),
                _ => s.report(
                    ProblemKind::Schema,
                    format!("\"{k}\" must be a non-empty array"),
                ),
            });
        }
    }

    fn schemas(&mut self, list: &'a [Value]) {
        for (i, x) in list.iter().enumerate() {
            self.at(i, |s| s.schema(x));
        }
    }

    /// Schema check that honours the schema format: Avro, RAML and other non-JSON formats are
    /// left alone.
    pub(super) fn payload(&mut self, v: &'a Value, format: Option<&str>) {
        let json_like = format.is_none_or(|f| {
            f.starts_with("application/vnd.aai.asyncapi")
                || f.starts_with("application/schema+json")
                || f.starts_with("application/schema+yaml")
                || f.starts_with("application/vnd.oai.openapi")
        });
        if json_like {
            self.schema(v);
        }
    }

    /// A schema as the line has it: 2.x a schema written in `format`, 3.0 also a multi-format
    /// schema object.
    fn schema_of_line(&mut self, v: &'a Value, format: Option<&str>) {
        if self.line == SpecVersion::V2 {
            return self.payload(v, format);
        }
        match v.as_object() {
            Some(m) if m.contains_key("schemaFormat") || m.contains_key("schema") => {
                let keys = ["schemaFormat", "schema"];
                self.required(m, "multi-format schema", keys);
                self.allowed(m, &keys);
                let f = m.get("schemaFormat").and_then(Value::as_str);
                self.sub(m, "schema", |s, x| s.payload(x, f));
            }
            _ => self.schema(v),
        }
    }

    /// A channel's parameters: 2.x `address` is the channel's name, 3.0 its `address` (`None`
    /// when that is not a string or null, as the parser's rule then checks nothing).
    pub(super) fn parameters(&mut self, m: &'a Obj, address: Option<&str>) {
        if let Some(address) = address {
            self.declared(m, "parameters", address, ProblemKind::Parameter);
        }
        self.entries(m, "parameters", |s, _, p| s.parameter(p));
    }

    fn parameter(&mut self, m: &'a Obj) {
        let except: &[&str] = match self.line {
            SpecVersion::V2 => &["enum", "default", "examples"],
            SpecVersion::V3 => &["schema"],
        };
        self.object(m, "parameter", Parameter::FIELDS, &[], except);
        if self.line == SpecVersion::V2 {
            self.sub(m, "schema", Self::schema);
        }
    }

    pub(super) fn message(&mut self, m: &'a Obj, allow_one_of: bool) {
        if allow_one_of && self.line == SpecVersion::V2 && m.contains_key("oneOf") {
            self.allowed(m, &["oneOf"]);
            return self.items(m, "oneOf", |s, _, item| {
                if ref_of(item).is_none()
                    && let Some(im) = s.obj(item, "message")
                {
                    s.message(im, false);
                }
            });
        }
        let (extra, except): (&[&str], &[&str]) = match self.line {
            SpecVersion::V2 if self.minor >= 4 => (&["deprecated"], &[]),
            SpecVersion::V2 => (&["deprecated"], &["messageId"]),
            SpecVersion::V3 => (&[], &["schemaFormat", "messageId"]),
        };
        self.object(m, "message", Message::FIELDS, extra, except);
        self.tags(m);
        self.external_docs(m);
        let format = m.get("schemaFormat").and_then(Value::as_str);
        self.sub(m, "headers", |s, h| s.schema_of_line(h, None));
        self.sub(m, "payload", |s, p| s.schema_of_line(p, format));
        self.items(m, "examples", |s, i, e| {
            let Some(em) = s.obj(e, "example") else {
                return;
            };
            s.allowed(em, &["headers", "payload", "name", "summary"]);
            if !em.contains_key("payload") && !em.contains_key("headers") {
                let message = format!(
                    "Item at index {i} must have required property \"payload\" or \"headers\""
                );
                s.report(ProblemKind::Required, message);
            }
        });
        self.traits(m);
    }

    pub(super) fn traits(&mut self, m: &'a Obj) {
        self.items(m, "traits", |s, _, t| {
            if ref_of(t).is_none()
                && let Some(tm) = t.as_object()
            {
                s.tags(tm);
            }
        });
    }

    pub(super) fn protocol(&mut self, m: &'a Obj) {
        if let Some(p) = m.get("protocol").and_then(Value::as_str)
            && (p.is_empty() || p.contains(char::is_whitespace))
        {
            let message =
                "\"protocol\" must be a non-empty protocol name such as sse, http, https, ws";
            self.report_in("protocol", ProblemKind::InvalidValue, message);
        }
    }

    /// The `{name}` placeholders of `address` against the map at `key` (channel `parameters`,
    /// 2.x server `variables`), as the parser's rules: nothing is checked without the map; names
    /// the map lacks are reported at the map, each entry the address does not use at the entry
    /// (2.x: only when the address has a placeholder at all).
    pub(super) fn declared(&mut self, m: &'a Obj, key: &'a str, address: &str, kind: ProblemKind) {
        let Some(map) = m.get(key).and_then(Value::as_object) else {
            return;
        };
        let names = placeholders(address);
        if names.is_empty() && self.line == SpecVersion::V2 {
            return;
        }
        let (whose, item) = match kind {
            ProblemKind::Parameter => (["channel", "Channel"], "parameter"),
            _ => (["server", "Server"], "url variable"),
        };
        self.at(key, |s| {
            let missing: Vec<&str> = (names.iter().copied())
                .filter(|n| !map.contains_key(*n))
                .collect();
            if !missing.is_empty() {
                let missing = missing.join(", ");
                let message = format!(
                    "Not all {}'s {key} are described with \"{key}\" object. Missed: {missing}.",
                    whose[0]
                );
                s.report(kind, message);
            }
            for k in map.keys().filter(|k| !names.contains(&k.as_str())) {
                let message = format!(
                    "{}'s \"{key}\" object has redundant defined \"{k}\" {item}.",
                    whose[1]
                );
                s.report_in(k, kind, message);
            }
        });
    }

    pub(super) fn component_common(&mut self, m: &'a Obj) {
        self.field(m, "schemas", "schemas", |s, schemas| {
            for (k, x) in schemas {
                s.at(k, |s| s.schema_of_line(x, None));
            }
        });
        self.entries(m, "securitySchemes", |s, name, x| {
            s.security_scheme(x, name)
        });
        self.entries(m, "parameters", |s, _, p| s.parameter(p));
        for key in ["operationTraits", "messageTraits"] {
            self.entries(m, key, |s, _, t| s.tags(t));
        }
    }
}
