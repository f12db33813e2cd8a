//! What both directions share: references kept as they are, `x-*` extensions carried, and the
//! component mapping (messages, security schemes, parameters) written once with its direction.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ConversionReport;
use crate::model::common::{Extensions, Message, Parameter, RefOr, SecurityScheme};
use crate::pointer::push;

/// Which way a conversion goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum To {
    V3,
    V2,
}

/// The `x-*` extensions of an object (other unknown keys have no meaning in the other version).
pub(super) fn x(extensions: &Extensions) -> Extensions {
    let x = extensions.iter().filter(|(k, _)| k.starts_with("x-"));
    x.map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Maps the inline objects of a map (`ptr` is the map's pointer); references are kept.
pub(super) fn map<T: Clone>(
    map: Option<&BTreeMap<String, RefOr<T>>>,
    ptr: &str,
    mut f: impl FnMut(&T, &str) -> T,
) -> Option<BTreeMap<String, RefOr<T>>> {
    let entries = map?.iter().map(|(k, v)| {
        let v = match v {
            RefOr::Item(item) => RefOr::Item(f(item, &push(ptr, k))),
            RefOr::Ref(r) => RefOr::Ref(r.clone()),
        };
        (k.clone(), v)
    });
    Some(entries.collect())
}

/// A message: 2.x `schemaFormat` beside the payload is a 3.0 multi-format schema, and back; 3.0
/// has no `messageId` (it becomes the message key) and no `deprecated`.
pub(super) fn message(m: &Message, to: To, ptr: &str, r: &mut ConversionReport) -> Message {
    let mut out = m.clone();
    match to {
        To::V3 => {
            out.extensions = x(&m.extensions);
            out.schema_format = None;
            out.message_id = None;
            if let (Some(f), Some(payload)) = (&m.schema_format, &m.payload)
                && !f.starts_with("application/vnd.aai.asyncapi")
            {
                out.payload = Some(json!({"schemaFormat": f, "schema": payload}));
            }
            if m.message_id.is_some() {
                let why = "3.0 messages have no messageId (it became the message key)";
                r.drop(push(ptr, "messageId"), why);
            }
            if m.extensions.contains_key("deprecated") {
                r.drop(
                    push(ptr, "deprecated"),
                    "3.0 messages have no deprecated flag",
                );
            }
        }
        To::V2 => {
            if let Some(p) = &m.payload
                && let (Some(Value::String(f)), Some(s)) = (p.get("schemaFormat"), p.get("schema"))
            {
                out.schema_format = Some(f.clone());
                out.payload = Some(s.clone());
            }
        }
    }
    out
}

/// A security scheme: OAuth2 flow scopes are `scopes` in 2.x and `availableScopes` in 3.0.
pub(super) fn scheme(s: &SecurityScheme, to: To) -> SecurityScheme {
    let mut s = s.clone();
    if let Some(flows) = &mut s.flows {
        let all = [&mut flows.implicit, &mut flows.password];
        let all = all
            .into_iter()
            .chain([&mut flows.client_credentials, &mut flows.authorization_code]);
        for flow in all.flatten() {
            let (from, into) = match to {
                To::V3 => (&mut flow.scopes, &mut flow.available_scopes),
                To::V2 => (&mut flow.available_scopes, &mut flow.scopes),
            };
            if let Some(scopes) = from.take() {
                *into = Some(scopes);
            }
        }
    }
    s
}

/// A parameter: 2.x describes the value with a schema, 3.0 with `enum`, `default` and `examples`
/// (eventgate keeps a 2.x schema in `x-eventgate-schema`, and reads it back).
pub(super) fn parameter(p: &Parameter, to: To, ptr: &str, r: &mut ConversionReport) -> Parameter {
    let mut out = Parameter {
        description: p.description.clone(),
        location: p.location.clone(),
        extensions: x(&p.extensions),
        ..Parameter::default()
    };
    match to {
        To::V3 => {
            let Some(schema) = &p.schema else { return out };
            let strings = |k: &str| -> Option<Vec<String>> {
                let items = schema.get(k)?.as_array()?.iter();
                items.map(|v| v.as_str().map(str::to_owned)).collect()
            };
            out.enum_values = strings("enum");
            out.examples = strings("examples");
            out.default = schema
                .get("default")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let only_carried = schema.as_object().is_some_and(|m| {
                m.keys()
                    .all(|k| matches!(k.as_str(), "type" | "enum" | "default" | "examples"))
                    && m.get("type").is_none_or(|t| t == "string")
            });
            if !only_carried {
                let why = "3.0 parameters have no schema (only enum, default, examples)";
                r.drop(push(ptr, "schema"), why);
            }
        }
        To::V2 => {
            out.schema = Some(match out.extensions.remove("x-eventgate-schema") {
                Some(s) => s,
                None => {
                    let mut schema = serde_json::Map::new();
                    schema.insert("type".into(), json!("string"));
                    let carried = [("enum", &p.enum_values), ("examples", &p.examples)];
                    for (k, v) in carried {
                        if let Some(v) = v {
                            schema.insert(k.into(), json!(v));
                        }
                    }
                    if let Some(d) = &p.default {
                        schema.insert("default".into(), json!(d));
                    }
                    Value::Object(schema)
                }
            });
        }
    }
    out
}

/// Reports each key of `keys` that `present` says the source object has.
pub(super) fn drop_present(r: &mut ConversionReport, ptr: &str, keys: &[(&str, bool)], why: &str) {
    for (k, present) in keys {
        if *present {
            r.drop(push(ptr, k), why);
        }
    }
}
