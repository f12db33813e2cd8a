//! Rules shared by 2.x and 3.0: info, tags, security schemes, schemas, parameters, messages.

use foldhash::{HashSet, HashSetExt};

use serde_json::Value;

use super::{Obj, ProblemKind, V, placeholders};
use crate::model::SpecVersion;
use crate::model::common::{
    ExternalDocs, Info, Message, OAuthFlow, OAuthFlows, Parameter, SecurityScheme, ServerVariable,
    Tag,
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
/// `description` (oauth2 allows any).
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
    ("oauth2", &["flows"], &["flows"]),
    (
        "openIdConnect",
        &["openIdConnectUrl"],
        &["openIdConnectUrl", "scopes"],
    ),
];

/// What a schema keyword holds.
#[derive(Clone, Copy)]
enum Kw {
    Str,
    Bool,
    /// A number (`multipleOf`: above 0).
    Num,
    /// A non-negative integer.
    Count,
    /// An array (`enum`: non-empty, of unique values).
    List,
    Schema,
    /// A non-empty array of schemas.
    Schemas,
    /// An object of schemas.
    Map,
}

/// The shape of a draft-07 keyword's value (`type`, `required`, `items`, `dependencies` and
/// `externalDocs` have their own checks).
fn keyword_kind(k: &str) -> Option<Kw> {
    Some(match k {
        "$id" | "$schema" | "$ref" | "$comment" | "title" | "description" | "format"
        | "pattern" | "contentMediaType" | "contentEncoding" | "discriminator" => Kw::Str,
        "readOnly" | "writeOnly" | "uniqueItems" | "deprecated" => Kw::Bool,
        "multipleOf" | "maximum" | "exclusiveMaximum" | "minimum" | "exclusiveMinimum" => Kw::Num,
        "maxLength" | "minLength" | "maxItems" | "minItems" | "maxProperties" | "minProperties" => {
            Kw::Count
        }
        "examples" | "enum" => Kw::List,
        "additionalItems"
        | "contains"
        | "additionalProperties"
        | "propertyNames"
        | "not"
        | "if"
        | "then"
        | "else" => Kw::Schema,
        "allOf" | "anyOf" | "oneOf" => Kw::Schemas,
        "properties" | "patternProperties" | "definitions" => Kw::Map,
        _ => return None,
    })
}

/// No two items equal.
fn unique(a: &[Value]) -> bool {
    a.iter().enumerate().all(|(i, x)| !a[..i].contains(x))
}

const SCHEMA_TYPES: &[&str] = &[
    "array", "boolean", "integer", "null", "number", "object", "string",
];

impl<'a> V<'a> {
    pub(super) fn info(&mut self, root: &'a Obj) {
        self.uris(root, ["id"]);
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
            s.uris(m, ["termsOfService"]);
            s.field(m, "contact", "contact", |s, c| {
                s.allowed(c, &["name", "url", "email"]);
                s.strings(c, ["name", "url", "email"]);
                s.uris(c, ["url", "email"]);
            });
            s.field(m, "license", "license", |s, l| {
                s.required(l, "license", ["name"]);
                s.allowed(l, &["name", "url"]);
                s.strings(l, ["name", "url"]);
                s.uris(l, ["url"]);
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
                s.external_docs(tm);
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
            s.uris(e, ["url"]);
        });
    }

    /// Reports each of `keys` that `m` has as a string that is not a URI (`email`: not an e-mail
    /// address), as the parser's formats (ajv-formats, full mode) test them.
    pub(super) fn uris(&mut self, m: &'a Obj, keys: impl IntoIterator<Item = &'a str>) {
        for k in keys {
            let format = if k == "email" { "email" } else { "uri" };
            let ok = if k == "email" { is_email } else { is_uri };
            if m.get(k).and_then(Value::as_str).is_some_and(|v| !ok(v)) {
                let message = format!("\"{k}\" must match format \"{format}\"");
                self.report_in(k, ProblemKind::InvalidValue, message);
            }
        }
    }

    pub(super) fn security_scheme(&mut self, m: &'a Obj, name: &str) {
        let Some(kind) = m.get("type").and_then(Value::as_str) else {
            self.required(m, name, ["type"]);
            return;
        };
        // SASL schemes came with 2.1.
        let sasl = ["plain", "scramSha256", "scramSha512", "gssapi"].contains(&kind);
        let known = !(sasl && self.line == SpecVersion::V2 && self.minor == 0);
        let scheme = SCHEMES.iter().find(|(k, ..)| *k == kind).filter(|_| known);
        let Some(&(_, req, fields)) = scheme else {
            let message = format!("Unknown security scheme type \"{kind}\"");
            return self.report_in("type", ProblemKind::InvalidValue, message);
        };
        self.required(m, name, req);
        // oauth2 allows any other key; `bearerFormat` is the bearer scheme's, `scopes` (an array)
        // 3.0's.
        let v3 = self.line == SpecVersion::V3;
        let bearer = m.get("scheme").and_then(Value::as_str) == Some("bearer");
        if kind != "oauth2" {
            self.unexpected(m, |k| {
                ["type", "description"].contains(&k)
                    || fields.contains(&k)
                        && (k != "bearerFormat" || bearer)
                        && (k != "scopes" || v3)
            });
        }
        if v3 && m.get("scopes").is_some_and(|x| !x.is_array()) {
            self.report_in(
                "scopes",
                ProblemKind::InvalidValue,
                "\"scopes\" must be an array",
            );
        }
        // `in` has its own rule below; `type` is a string already.
        let strings = SecurityScheme::FIELDS.iter().filter(|f| f.name != "in");
        self.strings(m, strings.filter(|f| f.string).map(|f| f.name));
        self.uris(m, ["openIdConnectUrl"]);
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
                s.uris(f, ["authorizationUrl", "tokenUrl", "refreshUrl"]);
                s.field(f, scopes, scopes, |s, sm| {
                    for (k, _) in sm.iter().filter(|(_, d)| !d.is_string()) {
                        let message = "scope descriptions must be strings";
                        s.report_in(k, ProblemKind::InvalidValue, message);
                    }
                });
            });
        }
    }

    /// A JSON Schema (a boolean or an object; a `$ref` is checked where it points), its keywords
    /// as the draft-07 meta-schema (with AsyncAPI's `discriminator`, `externalDocs` and
    /// `deprecated`) wants them.
    pub(super) fn schema(&mut self, v: &'a Value) {
        let m = match v {
            Value::Bool(_) => return,
            Value::Object(m) => m,
            _ => return self.report(ProblemKind::Schema, "schema must be an object or a boolean"),
        };
        if m.get("$ref").is_some_and(Value::is_string) {
            return;
        }
        for (k, x) in m {
            if let Some(kw) = keyword_kind(k) {
                self.at(k, |s| s.keyword(k, kw, x));
            }
        }
        self.external_docs(m);
        let known = |t: &Value| t.as_str().is_some_and(|s| SCHEMA_TYPES.contains(&s));
        if let Some(t) = m.get("type")
            && !(known(t)
                || t.as_array()
                    .is_some_and(|a| !a.is_empty() && unique(a) && a.iter().all(known)))
        {
            let allowed = SCHEMA_TYPES.join(", ");
            let message = format!("\"type\" must be equal to one of the allowed values: {allowed}");
            self.report_in("type", ProblemKind::Schema, message);
        }
        let names = |r: &Value| {
            r.as_array()
                .is_some_and(|a| unique(a) && a.iter().all(Value::is_string))
        };
        if m.get("required").is_some_and(|r| !names(r)) {
            let message = "\"required\" must be an array of unique strings";
            self.report_in("required", ProblemKind::Schema, message);
        }
        self.sub(m, "items", |s, items| match items {
            Value::Array(a) if !a.is_empty() => s.schemas(a),
            x => s.schema(x),
        });
        self.sub(m, "dependencies", |s, d| match d.as_object() {
            Some(d) => {
                (d.iter().filter(|(_, x)| !names(x))).for_each(|(k, x)| s.at(k, |s| s.schema(x)))
            }
            None => s.report(ProblemKind::Schema, "\"dependencies\" must be an object"),
        });
    }

    /// One keyword of a schema, at its place.
    fn keyword(&mut self, k: &str, kw: Kw, x: &'a Value) {
        let what = match kw {
            // (an OpenAPI schema's `discriminator` is an object)
            Kw::Str if !(x.is_string() || k == "discriminator" && self.openapi) => "a string",
            Kw::Bool if !x.is_boolean() => "a boolean",
            Kw::Num if !x.as_f64().is_some_and(|n| k != "multipleOf" || n > 0.0) => "a number",
            Kw::Count if !x.as_f64().is_some_and(|n| n >= 0.0 && n.fract() == 0.0) => {
                "a non-negative integer"
            }
            Kw::List
                if !x
                    .as_array()
                    .is_some_and(|a| k != "enum" || !a.is_empty() && unique(a)) =>
            {
                "an array"
            }
            Kw::Schema => return self.schema(x),
            Kw::Schemas => match x.as_array() {
                Some(a) if !a.is_empty() => return self.schemas(a),
                _ => "a non-empty array",
            },
            Kw::Map => match x.as_object() {
                Some(pm) => {
                    return pm
                        .iter()
                        .for_each(|(name, x)| self.at(name, |s| s.schema(x)));
                }
                None => "an object",
            },
            _ => return,
        };
        self.report(ProblemKind::Schema, format!("\"{k}\" must be {what}"));
    }

    fn schemas(&mut self, list: &'a [Value]) {
        for (i, x) in list.iter().enumerate() {
            self.at(i, |s| s.schema(x));
        }
    }

    /// Schema check that honours the schema format: Avro, RAML and other non-JSON formats are
    /// left alone.
    pub(super) fn payload(&mut self, v: &'a Value, format: Option<&str>) {
        let openapi = format.is_some_and(|f| f.starts_with("application/vnd.oai.openapi"));
        let json_like = openapi
            || format.is_none_or(|f| {
                f.starts_with("application/vnd.aai.asyncapi")
                    || f.starts_with("application/schema+json")
                    || f.starts_with("application/schema+yaml")
            });
        if json_like {
            let was = std::mem::replace(&mut self.openapi, openapi);
            self.schema(v);
            self.openapi = was;
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
        match self.line {
            SpecVersion::V2 => self.sub(m, "schema", Self::schema),
            SpecVersion::V3 => self.string_lists(m),
        }
    }

    /// A message (2.x: or a `oneOf` of messages, which may nest).
    pub(super) fn message(&mut self, m: &'a Obj) {
        if self.line == SpecVersion::V2 && m.contains_key("oneOf") {
            self.allowed(m, &["oneOf"]);
            return self.items(m, "oneOf", |s, _, item| {
                s.typed(item, "message", |s, x| {
                    s.obj(x, "message").map_or((), |x| s.message(x))
                });
            });
        }
        let (extra, except): (&[&str], &[&str]) = match self.line {
            SpecVersion::V2 => (&["deprecated"], &[]),
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
            s.strings(em, ["name", "summary"]);
            if !em.contains_key("payload") && !em.contains_key("headers") {
                let message = format!(
                    "Item at index {i} must have required property \"payload\" or \"headers\""
                );
                s.report(ProblemKind::Required, message);
            }
        });
        self.traits(m);
        self.inline(m, "correlationId", "correlationId", Self::correlation_id);
    }

    pub(super) fn correlation_id(&mut self, m: &'a Obj) {
        self.required(m, "correlationId", ["location"]);
        self.allowed(m, &["location", "description"]);
        self.strings(m, ["location", "description"]);
    }

    pub(super) fn traits(&mut self, m: &'a Obj) {
        self.items(m, "traits", |s, _, t| {
            s.typed(t, "traits", |s, t| t.as_object().map_or((), |t| s.tags(t)));
        });
    }

    /// What servers of both versions share: a protocol name and the variables.
    pub(super) fn server(&mut self, m: &'a Obj) {
        if let Some(p) = m.get("protocol").and_then(Value::as_str)
            && (p.is_empty() || p.contains(char::is_whitespace))
        {
            let message =
                "\"protocol\" must be a non-empty protocol name such as sse, http, https, ws";
            self.report_in("protocol", ProblemKind::InvalidValue, message);
        }
        self.entries(m, "variables", |s, _, x| s.server_variable(x));
    }

    fn server_variable(&mut self, m: &'a Obj) {
        self.object(m, "server variable", ServerVariable::FIELDS, &[], &[]);
        self.string_lists(m);
    }

    /// `enum` (unique) and `examples` of a server variable or a 3.0 parameter are strings.
    fn string_lists(&mut self, m: &'a Obj) {
        for k in ["enum", "examples"] {
            let strings =
                |a: &[Value]| a.iter().all(Value::is_string) && (k != "enum" || unique(a));
            if m.get(k)
                .is_some_and(|a| !a.as_array().is_some_and(|a| strings(a)))
            {
                let message = format!("\"{k}\" must be an array of unique strings");
                self.report_in(k, ProblemKind::InvalidValue, message);
            }
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
        self.entries(m, "serverVariables", |s, _, x| s.server_variable(x));
        self.entries(m, "correlationIds", |s, _, x| s.correlation_id(x));
        for key in ["operationTraits", "messageTraits"] {
            self.entries(m, key, |s, _, t| s.tags(t));
        }
    }
}

/// Whether each `%` of `s` starts a `%` escape.
fn escapes(s: &str) -> bool {
    !s.contains('%')
        || (s.split('%').skip(1)).all(|p| {
            p.get(..2)
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
}

/// Whether `s` has only ASCII letters and digits, characters of `extra`, and `%` escapes.
fn uri_chars(s: &str, extra: &str) -> bool {
    let extra = |c: char| c.is_ascii() && extra.as_bytes().contains(&(c as u8));
    escapes(s)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '%' || extra(c))
}

/// ajv-formats' `uri`, simplified: a scheme, `:`, and something of URI characters only, with one
/// `#` at most.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && rest.matches('#').count() <= 1
        && uri_chars(rest, "-._~!$&'()*+,;=:@/?#[]")
}

/// ajv-formats' `email`: dot-separated atoms, `@`, and two or more host labels.
fn is_email(s: &str) -> bool {
    let Some((local, host)) = s.split_once('@') else {
        return false;
    };
    let atom = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
    };
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    local.split('.').all(atom) && host.contains('.') && host.split('.').all(label)
}

/// ajv-formats' `uri-template` (RFC 6570): literals and `{[op]var[:n|*],...}` expressions, names
/// of ASCII letters, digits, `_` and `%` escapes.
pub(super) fn is_uri_template(s: &str) -> bool {
    let mut rest = s;
    loop {
        let (literal, tail) = rest.split_at(rest.find('{').unwrap_or(rest.len()));
        let bad = |c| {
            matches!(
                c,
                '\0'..=' ' | '"' | '\'' | '<' | '>' | '\\' | '^' | '`' | '|' | '}'
            )
        };
        if !escapes(literal) || literal.chars().any(bad) {
            return false;
        }
        let Some(expr) = tail.strip_prefix('{') else {
            return true;
        };
        let Some(end) = expr.find('}') else {
            return false;
        };
        let body = expr[..end].strip_prefix(|c| "+#./;?&=,!@|".contains(c));
        let var = |v: &str| {
            let (name, modifier) = match v.split_once(':') {
                Some((name, n)) => {
                    let digits = n.len() <= 4 && n.chars().all(|c| c.is_ascii_digit());
                    (name, digits && !n.starts_with('0') && !n.is_empty())
                }
                None => (v.strip_suffix('*').unwrap_or(v), true),
            };
            modifier && !name.is_empty() && uri_chars(name, "_")
        };
        if !body.unwrap_or(&expr[..end]).split(',').all(var) {
            return false;
        }
        rest = &expr[end + 1..];
    }
}
