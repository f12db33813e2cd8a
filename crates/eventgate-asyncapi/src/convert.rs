//! Conversion between AsyncAPI 2.x and 3.0 for the parts an SSE API uses (info, servers,
//! channels with parameters, operations, messages, security schemes, components), with a
//! [`ConversionReport`] listing what could not be carried over.
//!
//! Operations map the way WSO2 maps them (and the way [`crate::ApiDefinition`] reads them): a 2.x
//! `subscribe` becomes a 3.0 `receive` operation and `publish` becomes `send`, and back. (The
//! AsyncAPI project's own converter uses the opposite pairing; eventgate follows WSO2 because its
//! SSE documents are WSO2-shaped.) 3.0 operation ids are the 2.x `operationId`, else
//! `{action}_{channel name}` as WSO2 writes them; 3.0 channel ids are the 2.x channel name
//! without its leading `/`.

use serde_json::{Map, Value, json};

use crate::model::SpecVersion;
use crate::pointer::{escape_token, push};
use crate::refs::{self, ref_of};

/// The input is not of the version the conversion starts from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The document's `asyncapi` version is not the expected line.
    #[error("expected an AsyncAPI {expected} document, found version {found:?}")]
    WrongVersion {
        /// `2.x` or `3.0`.
        expected: &'static str,
        /// What the document declares.
        found: Option<String>,
    },
}

/// One thing a conversion left out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Pointer in the source document.
    pub pointer: String,
    /// Why it was not carried over.
    pub reason: String,
}

/// What a conversion could not carry over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConversionReport {
    /// Everything left out, in document order.
    pub dropped: Vec<Dropped>,
}

impl ConversionReport {
    /// True when nothing was left out.
    #[must_use]
    pub fn is_lossless(&self) -> bool {
        self.dropped.is_empty()
    }

    fn drop(&mut self, pointer: impl Into<String>, reason: impl Into<String>) {
        self.dropped.push(Dropped {
            pointer: pointer.into(),
            reason: reason.into(),
        });
    }
}

fn check(doc: &Value, line: SpecVersion, expected: &'static str) -> Result<(), ConvertError> {
    let found = doc.get("asyncapi").and_then(Value::as_str);
    if found.and_then(SpecVersion::of) == Some(line) {
        Ok(())
    } else {
        Err(ConvertError::WrongVersion {
            expected,
            found: found.map(str::to_owned),
        })
    }
}

fn obj(v: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    v.and_then(Value::as_object).into_iter().flatten()
}

/// Copies the `x-*` keys of `from` into `to`.
fn extensions(from: &Value, to: &mut Map<String, Value>) {
    for (k, v) in obj(Some(from)) {
        if k.starts_with("x-") {
            to.insert(k.clone(), v.clone());
        }
    }
}

fn copy(from: &Value, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to.insert((*k).to_owned(), v.clone());
        }
    }
}

/// Converts a 2.x document to 3.0.0.
///
/// ```
/// use serde_json::json;
/// let v2 = json!({"asyncapi": "2.0.0", "info": {"title": "Observer", "version": "1.0.0"},
///   "servers": {"production": {"url": "http://localhost:8080", "protocol": "sse"}},
///   "channels": {"/*": {"subscribe": {}}}});
/// let (v3, report) = eventgate_asyncapi::convert::to_v3(&v2).unwrap();
/// assert_eq!(v3["operations"]["receive_/*"]["channel"], json!({"$ref": "#/channels/*"}));
/// assert_eq!(v3["servers"]["production"]["host"], "localhost:8080");
/// assert!(report.is_lossless());
/// ```
///
/// # Errors
/// [`ConvertError::WrongVersion`] unless the input declares a 2.x version.
pub fn to_v3(doc: &Value) -> Result<(Value, ConversionReport), ConvertError> {
    check(doc, SpecVersion::V2, "2.x")?;
    let mut r = ConversionReport::default();
    let mut out = Map::new();
    out.insert("asyncapi".into(), json!("3.0.0"));
    copy(doc, &mut out, &["id", "defaultContentType"]);
    let mut info = doc
        .get("info")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    copy(doc, &mut info, &["tags", "externalDocs"]);
    out.insert("info".into(), Value::Object(info));

    if let Some(servers) = doc.get("servers").and_then(Value::as_object) {
        let mut o = Map::new();
        for (name, s) in servers {
            let p = push("/servers", name);
            o.insert(name.clone(), server_to_v3(doc, s, &p, &mut r));
        }
        out.insert("servers".into(), Value::Object(o));
    }

    let mut channels = Map::new();
    let mut operations = Map::new();
    for (name, ch) in obj(doc.get("channels")) {
        let cp = push("/channels", name);
        let Some(chv) = refs::deref(doc, ch) else {
            r.drop(cp, "channel reference cannot be resolved");
            continue;
        };
        let id = channel_id(name);
        let ch_ref = format!("#/channels/{}", escape_token(&id));
        let mut c = Map::new();
        c.insert("address".into(), json!(name));
        copy(chv, &mut c, &["description", "bindings"]);
        if let Some(params) = chv.get("parameters").and_then(Value::as_object) {
            let mut po = Map::new();
            for (k, p) in params {
                po.insert(
                    k.clone(),
                    parameter_to_v3(p, &push(&push(&cp, "parameters"), k), &mut r),
                );
            }
            c.insert("parameters".into(), Value::Object(po));
        }
        if let Some(servers) = chv.get("servers").and_then(Value::as_array) {
            let refs: Vec<Value> = servers
                .iter()
                .filter_map(Value::as_str)
                .map(|s| json!({"$ref": format!("#/servers/{}", escape_token(s))}))
                .collect();
            c.insert("servers".into(), Value::Array(refs));
        }
        extensions(chv, &mut c);
        let mut messages = Map::new();
        for (op_key, action) in [("subscribe", "receive"), ("publish", "send")] {
            let Some(op) = chv.get(op_key) else { continue };
            let op_ptr = push(&cp, op_key);
            let op_id = op
                .get("operationId")
                .and_then(Value::as_str)
                .map_or_else(|| format!("{action}_{name}"), str::to_owned);
            let mut o = Map::new();
            o.insert("action".into(), json!(action));
            o.insert("channel".into(), json!({"$ref": ch_ref}));
            copy(
                op,
                &mut o,
                &["summary", "description", "tags", "externalDocs", "bindings"],
            );
            if op.get("traits").is_some() {
                r.drop(
                    push(&op_ptr, "traits"),
                    "operation traits are not converted",
                );
            }
            if let Some(sec) = op.get("security") {
                o.insert(
                    "security".into(),
                    requirements_to_v3(sec, &push(&op_ptr, "security"), &mut r),
                );
            }
            extensions(op, &mut o);
            if let Some(msg) = op.get("message") {
                let list: Vec<(&Value, String)> = match refs::deref(doc, msg)
                    .and_then(|m| m.get("oneOf"))
                    .and_then(Value::as_array)
                {
                    Some(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, m)| (m, format!("{op_id}.message.{i}")))
                        .collect(),
                    None => vec![(msg, format!("{op_id}.message"))],
                };
                let mut op_msgs = Vec::new();
                for (i, (m, fallback)) in list.into_iter().enumerate() {
                    let mp = push(&op_ptr, "message");
                    let (key, value) = match ref_of(m) {
                        Some(rf) => {
                            let key = rf.rsplit('/').next().unwrap_or(&fallback).to_owned();
                            (key, m.clone())
                        }
                        None => {
                            let key = m
                                .get("messageId")
                                .or_else(|| m.get("name"))
                                .and_then(Value::as_str)
                                .map_or(fallback, str::to_owned);
                            (key, message_to_v3(m, &format!("{mp}/{i}"), &mut r))
                        }
                    };
                    op_msgs
                        .push(json!({"$ref": format!("{ch_ref}/messages/{}", escape_token(&key))}));
                    messages.insert(key, value);
                }
                o.insert("messages".into(), Value::Array(op_msgs));
            }
            operations.insert(op_id, Value::Object(o));
        }
        if !messages.is_empty() {
            c.insert("messages".into(), Value::Object(messages));
        }
        channels.insert(id, Value::Object(c));
    }
    out.insert("channels".into(), Value::Object(channels));
    out.insert("operations".into(), Value::Object(operations));

    if let Some(comp) = doc.get("components").and_then(Value::as_object) {
        let mut c = Map::new();
        for (k, v) in comp {
            let p = push("/components", k);
            match k.as_str() {
                "messages" => {
                    let mut m = Map::new();
                    for (name, msg) in obj(Some(v)) {
                        let mp = push(&p, name);
                        let conv = if ref_of(msg).is_some() {
                            msg.clone()
                        } else {
                            message_to_v3(msg, &mp, &mut r)
                        };
                        m.insert(name.clone(), conv);
                    }
                    c.insert(k.clone(), Value::Object(m));
                }
                "securitySchemes" => {
                    let mut m = Map::new();
                    for (name, s) in obj(Some(v)) {
                        m.insert(name.clone(), scheme_convert(s, "scopes", "availableScopes"));
                    }
                    c.insert(k.clone(), Value::Object(m));
                }
                "parameters" => {
                    let mut m = Map::new();
                    for (name, prm) in obj(Some(v)) {
                        m.insert(name.clone(), parameter_to_v3(prm, &push(&p, name), &mut r));
                    }
                    c.insert(k.clone(), Value::Object(m));
                }
                "servers" | "channels" => {
                    r.drop(p, "2.x reusable servers/channels are not converted")
                }
                _ => {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        out.insert("components".into(), Value::Object(c));
    }
    extensions(doc, &mut out);
    Ok((Value::Object(out), r))
}

fn channel_id(name: &str) -> String {
    let id = name.strip_prefix('/').unwrap_or(name);
    if id.is_empty() {
        "root".to_owned()
    } else {
        id.to_owned()
    }
}

fn server_to_v3(doc: &Value, s: &Value, p: &str, r: &mut ConversionReport) -> Value {
    if ref_of(s).is_some() {
        r.drop(p, "server references are not converted");
        return s.clone();
    }
    let _ = doc;
    let url = s.get("url").and_then(Value::as_str).unwrap_or_default();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let mut o = Map::new();
    o.insert("host".into(), json!(host));
    if !path.is_empty() {
        o.insert("pathname".into(), json!(path));
    }
    copy(
        s,
        &mut o,
        &[
            "protocol",
            "protocolVersion",
            "description",
            "variables",
            "tags",
            "bindings",
        ],
    );
    if let Some(sec) = s.get("security") {
        o.insert(
            "security".into(),
            requirements_to_v3(sec, &push(p, "security"), r),
        );
    }
    extensions(s, &mut o);
    Value::Object(o)
}

fn requirements_to_v3(sec: &Value, p: &str, r: &mut ConversionReport) -> Value {
    let mut out = Vec::new();
    for (i, req) in sec.as_array().into_iter().flatten().enumerate() {
        for (name, scopes) in obj(Some(req)) {
            out.push(
                json!({"$ref": format!("#/components/securitySchemes/{}", escape_token(name))}),
            );
            if scopes.as_array().is_some_and(|a| !a.is_empty()) {
                r.drop(
                    format!("{p}/{i}/{}", escape_token(name)),
                    "scopes required by a 2.x security requirement have no place in a 3.0 scheme reference",
                );
            }
        }
    }
    Value::Array(out)
}

fn parameter_to_v3(p: &Value, ptr: &str, r: &mut ConversionReport) -> Value {
    if ref_of(p).is_some() {
        return p.clone();
    }
    let mut o = Map::new();
    copy(p, &mut o, &["description", "location"]);
    if let Some(schema) = p.get("schema") {
        if let Some(e) = schema
            .get("enum")
            .filter(|e| e.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        {
            o.insert("enum".into(), e.clone());
        }
        if let Some(d) = schema.get("default").filter(|d| d.is_string()) {
            o.insert("default".into(), d.clone());
        }
        if let Some(e) = schema
            .get("examples")
            .filter(|e| e.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        {
            o.insert("examples".into(), e.clone());
        }
        let only_carried = schema.as_object().is_some_and(|m| {
            m.keys()
                .all(|k| matches!(k.as_str(), "type" | "enum" | "default" | "examples"))
                && m.get("type").is_none_or(|t| t == "string")
        });
        if !only_carried {
            r.drop(
                push(ptr, "schema"),
                "3.0 parameters have no schema (only enum, default, examples)",
            );
        }
    }
    extensions(p, &mut o);
    Value::Object(o)
}

fn message_to_v3(m: &Value, p: &str, r: &mut ConversionReport) -> Value {
    let mut o = Map::new();
    copy(
        m,
        &mut o,
        &[
            "headers",
            "correlationId",
            "contentType",
            "name",
            "title",
            "summary",
            "description",
            "tags",
            "externalDocs",
            "bindings",
            "examples",
            "traits",
        ],
    );
    if let Some(payload) = m.get("payload") {
        match m.get("schemaFormat").and_then(Value::as_str) {
            Some(f) if !f.starts_with("application/vnd.aai.asyncapi") => {
                o.insert(
                    "payload".into(),
                    json!({"schemaFormat": f, "schema": payload}),
                );
            }
            _ => {
                o.insert("payload".into(), payload.clone());
            }
        }
    }
    if m.get("messageId").is_some() {
        r.drop(
            push(p, "messageId"),
            "3.0 messages have no messageId (it became the message key)",
        );
    }
    if m.get("deprecated").is_some() {
        r.drop(
            push(p, "deprecated"),
            "3.0 messages have no deprecated flag",
        );
    }
    extensions(m, &mut o);
    Value::Object(o)
}

fn scheme_convert(s: &Value, from: &str, to: &str) -> Value {
    let mut s = s.clone();
    if let Some(flows) = s.get_mut("flows").and_then(Value::as_object_mut) {
        for flow in flows.values_mut() {
            if let Some(f) = flow.as_object_mut()
                && let Some(sc) = f.remove(from)
            {
                f.insert(to.to_owned(), sc);
            }
        }
    }
    s
}

/// Converts a 3.0 document to 2.6.0.
///
/// ```
/// use serde_json::json;
/// let v3 = json!({"asyncapi": "3.0.0", "info": {"title": "Observer", "version": "1.0.0"},
///   "servers": {"production": {"host": "localhost:8080", "pathname": "/", "protocol": "sse"}},
///   "channels": {"*": {"address": "/*"}},
///   "operations": {"receive_/*": {"action": "receive", "channel": {"$ref": "#/channels/*"}}}});
/// let (v2, report) = eventgate_asyncapi::convert::to_v2(&v3).unwrap();
/// assert_eq!(v2["channels"]["/*"]["subscribe"]["operationId"], "receive_/*");
/// assert_eq!(v2["servers"]["production"]["url"], "http://localhost:8080/");
/// assert!(report.is_lossless());
/// ```
///
/// # Errors
/// [`ConvertError::WrongVersion`] unless the input declares a 3.x version.
pub fn to_v2(doc: &Value) -> Result<(Value, ConversionReport), ConvertError> {
    check(doc, SpecVersion::V3, "3.0")?;
    let mut r = ConversionReport::default();
    let mut out = Map::new();
    out.insert("asyncapi".into(), json!("2.6.0"));
    copy(doc, &mut out, &["id", "defaultContentType"]);
    let mut info = doc
        .get("info")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for k in ["tags", "externalDocs"] {
        if let Some(v) = info.remove(k) {
            out.insert(k.to_owned(), v);
        }
    }
    out.insert("info".into(), Value::Object(info));

    if let Some(servers) = doc.get("servers").and_then(Value::as_object) {
        let mut o = Map::new();
        for (name, s) in servers {
            let p = push("/servers", name);
            let Some(s) = refs::deref(doc, s) else {
                r.drop(p, "server reference cannot be resolved");
                continue;
            };
            let protocol = s.get("protocol").and_then(Value::as_str).unwrap_or("http");
            let scheme = match protocol {
                "sse" | "http" => "http",
                other => other,
            };
            let url = match s.get("x-eventgate-url").and_then(Value::as_str) {
                Some(u) => u.to_owned(),
                None => format!(
                    "{scheme}://{}{}",
                    s.get("host").and_then(Value::as_str).unwrap_or_default(),
                    s.get("pathname")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
            };
            let mut so = Map::new();
            so.insert("url".into(), json!(url));
            copy(
                s,
                &mut so,
                &[
                    "protocol",
                    "protocolVersion",
                    "description",
                    "variables",
                    "tags",
                    "bindings",
                ],
            );
            for k in ["title", "summary", "externalDocs"] {
                if s.get(k).is_some() {
                    r.drop(push(&p, k), "2.x servers have no such field");
                }
            }
            if let Some(sec) = s.get("security").and_then(Value::as_array) {
                so.insert("security".into(), requirements_to_v2(doc, sec));
            }
            extensions(s, &mut so);
            o.insert(name.clone(), Value::Object(so));
        }
        out.insert("servers".into(), Value::Object(o));
    }

    let mut channels = Map::new();
    let mut names: Map<String, Value> = Map::new(); // channel pointer -> 2.x name
    for (id, ch) in obj(doc.get("channels")) {
        let cp = push("/channels", id);
        let Some(chv) = refs::deref(doc, ch) else {
            r.drop(cp, "channel reference cannot be resolved");
            continue;
        };
        let name = match chv.get("address").and_then(Value::as_str) {
            Some(a) => a.to_owned(),
            None => {
                r.drop(
                    push(&cp, "address"),
                    "null or missing address: the channel id is used as the 2.x channel name",
                );
                id.clone()
            }
        };
        let mut c = Map::new();
        copy(chv, &mut c, &["description", "bindings"]);
        if let Some(params) = chv.get("parameters").and_then(Value::as_object) {
            let mut po = Map::new();
            for (k, p) in params {
                let pv = if ref_of(p).is_some() {
                    p.clone()
                } else {
                    let mut o = Map::new();
                    copy(p, &mut o, &["description", "location"]);
                    let mut schema = Map::new();
                    schema.insert("type".into(), json!("string"));
                    copy(p, &mut schema, &["enum", "default", "examples"]);
                    if let Some(s) = p.get("x-eventgate-schema") {
                        o.insert("schema".into(), s.clone());
                    } else {
                        o.insert("schema".into(), Value::Object(schema));
                    }
                    for (ek, ev) in obj(Some(p)) {
                        if ek.starts_with("x-") && ek != "x-eventgate-schema" {
                            o.insert(ek.clone(), ev.clone());
                        }
                    }
                    Value::Object(o)
                };
                po.insert(k.clone(), pv);
            }
            c.insert("parameters".into(), Value::Object(po));
        }
        if let Some(servers) = chv.get("servers").and_then(Value::as_array) {
            let list: Vec<Value> = servers
                .iter()
                .filter_map(ref_of)
                .filter_map(|r| r.strip_prefix("#/servers/"))
                .map(|s| json!(s.replace("~1", "/").replace("~0", "~")))
                .collect();
            c.insert("servers".into(), Value::Array(list));
        }
        for k in ["title", "summary", "tags", "externalDocs"] {
            if chv.get(k).is_some() {
                r.drop(push(&cp, k), "2.x channels have no such field");
            }
        }
        extensions(chv, &mut c);
        names.insert(format!("#/channels/{}", escape_token(id)), json!(name));
        channels.insert(name, Value::Object(c));
    }

    for (op_id, op) in obj(doc.get("operations")) {
        let op_ptr = push("/operations", op_id);
        let Some(op) = refs::deref(doc, op) else {
            r.drop(op_ptr, "operation reference cannot be resolved");
            continue;
        };
        let ch_ref = op.get("channel").and_then(ref_of).unwrap_or_default();
        let Some(name) = names.get(ch_ref).and_then(Value::as_str) else {
            r.drop(op_ptr, "operation channel is not one of the root channels");
            continue;
        };
        let key = match op.get("action").and_then(Value::as_str) {
            Some("receive") => "subscribe",
            _ => "publish",
        };
        let Some(channel) = channels.get_mut(name).and_then(Value::as_object_mut) else {
            continue;
        };
        if channel.contains_key(key) {
            r.drop(
                op_ptr,
                format!("channel already has a {key} operation: 2.x allows one per channel"),
            );
            continue;
        }
        let mut o = Map::new();
        o.insert("operationId".into(), json!(op_id));
        copy(
            op,
            &mut o,
            &["summary", "description", "tags", "externalDocs", "bindings"],
        );
        if let Some(sec) = op.get("security").and_then(Value::as_array) {
            o.insert("security".into(), requirements_to_v2(doc, sec));
        }
        for k in ["title", "reply", "traits"] {
            if op.get(k).is_some() {
                r.drop(push(&op_ptr, k), "not carried over to 2.x operations");
            }
        }
        extensions(op, &mut o);
        let msg_refs: Vec<&str> = match op.get("messages").and_then(Value::as_array) {
            Some(a) => a.iter().filter_map(ref_of).collect(),
            None => Vec::new(),
        };
        let mut msgs: Vec<Value> = Vec::new();
        for mr in msg_refs {
            let Ok(target) = refs::resolve(doc, mr) else {
                continue;
            };
            // A channel message that is itself a reference: point at its final target.
            let direct = doc.pointer(mr.trim_start_matches('#'));
            match direct.and_then(ref_of) {
                Some(inner) => msgs.push(json!({"$ref": inner})),
                None => msgs.push(message_to_v2(target)),
            }
        }
        match msgs.len() {
            0 => {}
            1 => {
                if let Some(m) = msgs.pop() {
                    o.insert("message".into(), m);
                }
            }
            _ => {
                o.insert("message".into(), json!({"oneOf": msgs}));
            }
        }
        channel.insert(key.to_owned(), Value::Object(o));
    }
    out.insert("channels".into(), Value::Object(channels));

    if let Some(comp) = doc.get("components").and_then(Value::as_object) {
        let mut c = Map::new();
        for (k, v) in comp {
            let p = push("/components", k);
            match k.as_str() {
                "messages" => {
                    let mut m = Map::new();
                    for (name, msg) in obj(Some(v)) {
                        let conv = if ref_of(msg).is_some() {
                            msg.clone()
                        } else {
                            message_to_v2(msg)
                        };
                        m.insert(name.clone(), conv);
                    }
                    c.insert(k.clone(), Value::Object(m));
                }
                "securitySchemes" => {
                    let mut m = Map::new();
                    for (name, s) in obj(Some(v)) {
                        m.insert(name.clone(), scheme_convert(s, "availableScopes", "scopes"));
                    }
                    c.insert(k.clone(), Value::Object(m));
                }
                "schemas" => {
                    let mut m = Map::new();
                    for (name, s) in obj(Some(v)) {
                        match (s.get("schemaFormat"), s.get("schema")) {
                            (Some(_), Some(inner)) => {
                                r.drop(
                                    push(&push(&p, name), "schemaFormat"),
                                    "2.x component schemas carry no schema format",
                                );
                                m.insert(name.clone(), inner.clone());
                            }
                            _ => {
                                m.insert(name.clone(), s.clone());
                            }
                        }
                    }
                    c.insert(k.clone(), Value::Object(m));
                }
                "servers" | "channels" | "operations" | "replies" | "replyAddresses" | "tags"
                | "externalDocs" => r.drop(p, "no 2.x equivalent"),
                _ => {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        out.insert("components".into(), Value::Object(c));
    }
    extensions(doc, &mut out);
    Ok((Value::Object(out), r))
}

fn requirements_to_v2(doc: &Value, sec: &[Value]) -> Value {
    let mut out = Vec::new();
    for s in sec {
        let (name, scheme) = match ref_of(s) {
            Some(r) => (
                r.rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .replace("~1", "/")
                    .replace("~0", "~"),
                refs::resolve(doc, r).ok(),
            ),
            None => continue,
        };
        let scopes = scheme
            .and_then(|s| s.get("scopes"))
            .cloned()
            .unwrap_or_else(|| json!([]));
        let mut m = Map::new();
        m.insert(name, scopes);
        out.push(Value::Object(m));
    }
    Value::Array(out)
}

fn message_to_v2(m: &Value) -> Value {
    let mut o = m.as_object().cloned().unwrap_or_default();
    if let Some(p) = o.get("payload").cloned()
        && let (Some(f), Some(s)) = (p.get("schemaFormat"), p.get("schema"))
    {
        o.insert("schemaFormat".into(), f.clone());
        o.insert("payload".into(), s.clone());
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Document;

    #[test]
    fn wrong_version_is_an_error() {
        assert!(to_v3(&json!({"asyncapi": "3.0.0"})).is_err());
        assert!(to_v2(&json!({"asyncapi": "2.6.0"})).is_err());
        assert!(to_v2(&json!(1)).is_err());
    }

    #[test]
    fn v2_to_v3_to_v2_keeps_sse_parts_and_stays_valid() {
        let v2 = json!({"asyncapi": "2.6.0", "info": {"title": "Q", "version": "1"},
            "servers": {"production": {"url": "http://localhost:8080", "protocol": "sse"}},
            "channels": {"/stocks/{symbol}": {
                "parameters": {"symbol": {"description": "ticker", "schema": {"type": "string"}}},
                "x-auth-type": "Application",
                "subscribe": {"operationId": "quotes", "x-scopes": ["read"],
                    "message": {"name": "quote", "payload": {"type": "object"}}}}},
            "components": {"securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"implicit": {
                "authorizationUrl": "http://localhost:9999", "scopes": {"read": "r"}}}}}}});
        let (v3, report) = to_v3(&v2).unwrap();
        assert!(report.is_lossless(), "{report:?}");
        let rep3 = Document::from_value(v3.clone()).validate();
        assert!(rep3.is_valid(), "{:?}", rep3.problems);
        assert_eq!(rep3.counts.messages, 1);
        let (back, report) = to_v2(&v3).unwrap();
        assert!(report.is_lossless(), "{report:?}");
        let rep2 = Document::from_value(back.clone()).validate();
        assert!(rep2.is_valid(), "{:?}", rep2.problems);
        let ch = &back["channels"]["/stocks/{symbol}"];
        assert_eq!(ch["x-auth-type"], "Application");
        assert_eq!(ch["subscribe"]["x-scopes"], json!(["read"]));
        assert_eq!(
            ch["subscribe"]["message"]["payload"],
            json!({"type": "object"})
        );
        assert_eq!(
            back["components"]["securitySchemes"]["oauth2"]["flows"]["implicit"]["scopes"],
            json!({"read": "r"})
        );
    }

    #[test]
    fn dropped_parts_are_reported_with_pointers() {
        let v3 = json!({"asyncapi": "3.0.0", "info": {"title": "Q", "version": "1"},
            "channels": {"a": {"address": "/a"}},
            "operations": {
                "r1": {"action": "receive", "channel": {"$ref": "#/channels/a"}},
                "r2": {"action": "receive", "channel": {"$ref": "#/channels/a"}, "reply": {}}}});
        let (_, report) = to_v2(&v3).unwrap();
        let ptrs: Vec<&str> = report.dropped.iter().map(|d| d.pointer.as_str()).collect();
        assert_eq!(ptrs, vec!["/operations/r2"]);
    }
}
