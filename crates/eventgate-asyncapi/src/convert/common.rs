//! What both directions share: references kept as they are, `x-*` extensions carried, and the
//! component mapping (messages, security schemes, parameters) written once with its direction.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ConversionReport;
use crate::model::common::{Extensions, Message, Parameter, RefOr, SecurityScheme};
use crate::model::v3::Action;
use crate::pointer::push;

/// A `$ty` whose fields before the `;` are cloned from `$from` (the fields both versions have
/// under the same name and type), then the fields written out.
macro_rules! carry {
    ($from:expr => $ty:ident { $($same:ident),* ; $($rest:tt)* }) => {
        $ty { $($same: $from.$same.clone(),)* $($rest)* }
    };
}
pub(super) use carry;

/// `[(key, present)]` for the listed optional fields of `$from` (key: the field name, or the
/// JSON name given after `=`), for [`drop_present`].
macro_rules! present {
    ($from:ident: $($field:ident $(= $key:literal)?),*) => {
        [$((present!(@key $field $($key)?), $from.$field.is_some())),*]
    };
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
}
pub(super) use present;

/// A map of reusable objects of one kind, as both versions keep them.
pub(crate) type Objects<T> = Option<BTreeMap<String, RefOr<T>>>;

/// Which way a conversion goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum To {
    V3,
    V2,
}

impl Action {
    /// The 2.x operation key of the action (WSO2's pairing: `receive` is `subscribe`) and its
    /// 3.0 name.
    pub(super) fn names(self) -> (&'static str, &'static str) {
        match self {
            Action::Receive => ("subscribe", "receive"),
            Action::Send => ("publish", "send"),
        }
    }
}

/// Undoes [`escape_token`](crate::escape_token).
pub(super) fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The components both versions have: messages, parameters and security schemes.
pub(super) type Shared = (
    Objects<Message>,
    Objects<Parameter>,
    Objects<SecurityScheme>,
);

/// The [`Shared`] components mapped `to` the other version.
pub(super) fn components(
    m: &Objects<Message>,
    p: &Objects<Parameter>,
    s: &Objects<SecurityScheme>,
    to: To,
    r: &mut ConversionReport,
) -> Shared {
    let messages = map(m, "/components/messages", |m, ptr| message(m, to, ptr, r));
    let params = map(p, "/components/parameters", |p, ptr| {
        parameter(p, to, ptr, r)
    });
    (messages, params, map(s, "", |s, _| scheme(s, to)))
}

/// The `x-*` extensions of an object (other unknown keys have no meaning in the other version).
pub(super) fn x(extensions: &Extensions) -> Extensions {
    let x = extensions.iter().filter(|(k, _)| k.starts_with("x-"));
    x.map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Maps the inline objects of a map (`ptr` is the map's pointer); references are kept.
pub(super) fn map<T: Clone>(
    map: &Objects<T>,
    ptr: &str,
    mut f: impl FnMut(&T, &str) -> T,
) -> Objects<T> {
    let entries = map.as_ref()?.iter().map(|(k, v)| {
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
                let why = "3.0 messages have no deprecated flag";
                r.drop(push(ptr, "deprecated"), why);
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
        let (i, p) = (&mut flows.implicit, &mut flows.password);
        let (c, a) = (&mut flows.client_credentials, &mut flows.authorization_code);
        for flow in [i, p, c, a].into_iter().flatten() {
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
                .map(Into::into);
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
            let carried = || {
                let (e, d, x) = (json!(p.enum_values), json!(p.default), json!(p.examples));
                let carried = [("enum", e), ("default", d), ("examples", x)].into_iter();
                let carried = carried.filter(|(_, v)| !v.is_null());
                let schema = [("type", json!("string"))].into_iter().chain(carried);
                Value::Object(schema.map(|(k, v)| (k.to_owned(), v)).collect())
            };
            let schema = out.extensions.remove("x-eventgate-schema");
            out.schema = Some(schema.unwrap_or_else(carried));
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
