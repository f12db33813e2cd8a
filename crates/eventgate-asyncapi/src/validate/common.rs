//! Rules shared by 2.x and 3.0: info, tags, security schemes, schemas, parameters, messages.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{ProblemKind, SCHEMA_TYPES, V, placeholders};
use crate::model::SpecVersion;
use crate::model::common::{ExternalDocs, Info, Message, OAuthFlows, Parameter, Tag};
use crate::pointer::{push, push_index};
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

impl<'a> V<'a> {
    pub(super) fn info(&mut self, root: &'a Map<String, Value>) {
        let Some(info) = root.get("info") else { return };
        let Some(m) = self.obj(info, "/info", "info") else {
            return;
        };
        let except: &[&str] = match self.line {
            SpecVersion::V2 => &["tags", "externalDocs"],
            SpecVersion::V3 => {
                self.tags(m, "/info");
                self.external_docs(m, "/info");
                &[]
            }
        };
        self.object(m, "/info", "info", Info::FIELDS, &[], except);
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

    pub(super) fn tags(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        let Some((arr, tp)) = self.array(m, ptr, "tags") else {
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
                self.object(tm, &ip, "tag", Tag::FIELDS, &[], &[]);
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

    pub(super) fn external_docs(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        let Some(e) = m.get("externalDocs") else {
            return;
        };
        if ref_of(e).is_some() {
            return;
        }
        let ep = push(ptr, "externalDocs");
        if let Some(em) = self.obj(e, &ep, "externalDocs") {
            self.object(em, &ep, "externalDocs", ExternalDocs::FIELDS, &[], &[]);
        }
    }

    pub(super) fn security_scheme(&mut self, m: &'a Map<String, Value>, ptr: &str, name: &str) {
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

    pub(super) fn flows(&mut self, v: &'a Value, ptr: &str) {
        let Some(m) = self.obj(v, ptr, "flows") else {
            return;
        };
        self.object(m, ptr, "flows", OAuthFlows::FIELDS, &[], &[]);
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
                                "scope descriptions must be strings",
                            );
                        }
                    }
                }
            }
        }
    }

    /// 2.x security requirements (`[{scheme: [scopes]}]`).
    pub(super) fn schema(&mut self, v: &'a Value, ptr: &str) {
        let m = match v {
            Value::Bool(_) => return,
            Value::Object(m) => m,
            _ => {
                self.push(
                    ptr,
                    ProblemKind::Schema,
                    "schema must be an object or a boolean",
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
                "\"required\" must be an array of strings",
            );
        }
        if let Some(e) = m.get("enum")
            && !e.is_array()
        {
            self.push(
                push(ptr, "enum"),
                ProblemKind::Schema,
                "\"enum\" must be an array",
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
    pub(super) fn payload(&mut self, v: &'a Value, ptr: &str, format: Option<&str>) {
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

    pub(super) fn parameters(
        &mut self,
        m: &'a Map<String, Value>,
        ptr: &str,
        address: Option<&str>,
    ) {
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
            self.push(if declared.is_some() { pp.clone() } else { ptr.to_owned() }, ProblemKind::Parameter, format!( "Not all channel's parameters are described with \"parameters\" object. Missed: {}.", missing.join(", ") ));
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

    pub(super) fn parameter(&mut self, pm: &'a Map<String, Value>, np: &str) {
        let except: &[&str] = match self.line {
            SpecVersion::V2 => &["enum", "default", "examples"],
            SpecVersion::V3 => &["schema"],
        };
        self.object(pm, np, "parameter", Parameter::FIELDS, &[], except);
        if self.line == SpecVersion::V2
            && let Some(s) = pm.get("schema")
        {
            self.schema(s, &push(np, "schema"));
        }
    }

    pub(super) fn message(&mut self, m: &'a Map<String, Value>, ptr: &str, allow_one_of: bool) {
        if let Some(one_of) = m
            .get("oneOf")
            .filter(|_| allow_one_of && self.line == SpecVersion::V2)
        {
            self.allowed(m, ptr, &["oneOf"]);
            let op = push(ptr, "oneOf");
            let Some(arr) = one_of.as_array() else {
                self.push(op, ProblemKind::InvalidValue, "\"oneOf\" must be an array");
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
        let (extra, except): (&[&str], &[&str]) = match self.line {
            SpecVersion::V2 if self.minor >= 4 => (&["deprecated"], &[]),
            SpecVersion::V2 => (&["deprecated"], &["messageId"]),
            SpecVersion::V3 => (&[], &["schemaFormat", "messageId"]),
        };
        self.object(m, ptr, "message", Message::FIELDS, extra, except);
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
        if let Some((a, ep)) = self.array(m, ptr, "examples") {
            for (i, e) in a.iter().enumerate() {
                let ip = push_index(&ep, i);
                let Some(em) = self.obj(e, &ip, "example") else {
                    continue;
                };
                self.allowed(em, &ip, &["headers", "payload", "name", "summary"]);
                if !em.contains_key("payload") && !em.contains_key("headers") {
                    self.push(ip.clone(), ProblemKind::Required, format!("Item at index {i} must have required property \"payload\" or \"headers\""));
                }
            }
        }
        if let Some(t) = m.get("traits") {
            self.traits(t, &push(ptr, "traits"));
        }
    }

    pub(super) fn multi_format(&mut self, v: &'a Value, ptr: &str) {
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

    pub(super) fn traits(&mut self, t: &'a Value, ptr: &str) {
        let Some(arr) = t.as_array() else {
            self.push(
                ptr,
                ProblemKind::InvalidValue,
                "\"traits\" must be an array",
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

    pub(super) fn protocol(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        if let Some(p) = m.get("protocol").and_then(Value::as_str)
            && (p.is_empty() || p.contains(char::is_whitespace))
        {
            self.push(
                push(ptr, "protocol"),
                ProblemKind::InvalidValue,
                "\"protocol\" must be a non-empty protocol name such as sse, http, https, ws",
            );
        }
    }

    pub(super) fn server_variables(&mut self, m: &'a Map<String, Value>, ptr: &str, url: &str) {
        let used = placeholders(url);
        let declared = m.get("variables").and_then(Value::as_object);
        let missing: Vec<&str> = used
            .iter()
            .copied()
            .filter(|u| !declared.is_some_and(|d| d.contains_key(*u)))
            .collect();
        if !missing.is_empty() {
            self.push(ptr, ProblemKind::ServerVariable, format!( "Not all server's variables are described with \"variables\" object. Missed: {}.", missing.join(", ") ));
        }
    }

    pub(super) fn component_common(&mut self, m: &'a Map<String, Value>) {
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
}
