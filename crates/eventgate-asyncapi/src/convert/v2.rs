//! From 2.x: a 2.x document to 3.0.0.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ConversionReport;
use super::common::{To, carry, components, drop_present, map, message, parameter, present, x};
use crate::model::common::{Message, RefOr, Reference, SecurityRequirement, SecurityScheme};
use crate::model::v2::{AsyncApiV2, OperationMessage, ServerV2};
use crate::model::v3::{Action, AsyncApiV3, ChannelV3, ComponentsV3, OperationV3, ServerV3};
use crate::model::{AsyncApi, common::Info};
use crate::pointer::{escape_token, push};

pub(super) fn to_v3(doc: &Value, d: &AsyncApiV2) -> (Value, ConversionReport) {
    let mut r = ConversionReport::default();
    let info = Info {
        tags: d.tags.clone(),
        external_docs: d.external_docs.clone(),
        ..d.info.clone()
    };
    let servers = d.servers.as_ref().map(|servers| {
        let servers = servers.iter().map(|(name, s)| {
            let p = push("/servers", name);
            let s = match s {
                RefOr::Item(s) => RefOr::Item(server(s, &p, &mut r)),
                RefOr::Ref(reference) => {
                    r.drop(p, "server references are not converted");
                    RefOr::Ref(reference.clone())
                }
            };
            (name.clone(), s)
        });
        servers.collect()
    });
    let mut channels = BTreeMap::new();
    let mut operations = BTreeMap::new();
    for (name, ch) in &d.channels {
        let cp = push("/channels", name);
        let Some(chv) = ch.follow(doc) else {
            r.drop(cp, "channel reference cannot be resolved");
            continue;
        };
        let id = channel_id(name);
        let ch_ref = format!("#/channels/{}", escape_token(&id));
        let mut messages = BTreeMap::new();
        for (op, action) in [
            (&chv.subscribe, Action::Receive),
            (&chv.publish, Action::Send),
        ] {
            let Some(op) = op else { continue };
            let (key, action_name) = action.names();
            let op_ptr = push(&cp, key);
            let op_id = op.operation_id.clone();
            let op_id = op_id.unwrap_or_else(|| format!("{action_name}_{name}"));
            if op.traits.is_some() {
                let why = "operation traits are not converted";
                r.drop(push(&op_ptr, "traits"), why);
            }
            let mp = push(&op_ptr, "message");
            let op_msgs = op.message.as_ref().map(|msg| {
                let list = message_list(doc, msg, &op_id).into_iter().enumerate();
                let refs = list.map(|(i, (m, fallback))| {
                    let (key, value) = match m {
                        RefOr::Ref(rf) => {
                            let last = rf.reference.rsplit('/').next();
                            (last.map_or(fallback, str::to_owned), RefOr::Ref(rf))
                        }
                        RefOr::Item(m) => {
                            let key = m.message_id.as_ref().or(m.name.as_ref());
                            let m = message(&m, To::V3, &format!("{mp}/{i}"), &mut r);
                            (key.map_or(fallback, Clone::clone), RefOr::Item(m))
                        }
                    };
                    let target = format!("{ch_ref}/messages/{}", escape_token(&key));
                    messages.insert(key, value);
                    Reference::new(target)
                });
                refs.collect()
            });
            let security = op.security.as_ref();
            let security = security.map(|s| requirements(s, &push(&op_ptr, "security"), &mut r));
            let operation = carry!(op => OperationV3 { summary, description, tags, external_docs, bindings;
                action, channel: Reference::new(&ch_ref), security, messages: op_msgs,
                extensions: x(&op.extensions), ..OperationV3::default() });
            operations.insert(op_id, RefOr::Item(operation));
        }
        let params = &chv.parameters;
        let parameters = map(params, &push(&cp, "parameters"), |p, ptr| {
            parameter(p, To::V3, ptr, &mut r)
        });
        let servers = chv.servers.as_ref().map(|names| {
            let refs = names
                .iter()
                .map(|s| format!("#/servers/{}", escape_token(s)));
            refs.map(Reference::new).collect()
        });
        let channel = carry!(chv => ChannelV3 { description, bindings;
            address: Some(Some(name.clone())), parameters, servers,
            messages: (!messages.is_empty()).then_some(messages),
            extensions: x(&chv.extensions), ..ChannelV3::default() });
        channels.insert(id, RefOr::Item(channel));
    }
    let components = d.components.as_ref().map(|c| {
        let why = "2.x reusable servers/channels are not converted";
        drop_present(&mut r, "/components", &present!(c: servers, channels), why);
        let (m, p, s) = (&c.messages, &c.parameters, &c.security_schemes);
        let (messages, parameters, security_schemes) = components(m, p, s, To::V3, &mut r);
        carry!(c => ComponentsV3 { schemas, extensions;
            messages, parameters, security_schemes, ..ComponentsV3::default() })
    });
    let out = carry!(d => AsyncApiV3 { id, default_content_type;
        asyncapi: "3.0.0".to_owned(), info, servers, channels: Some(channels),
        operations: Some(operations), components, extensions: x(&d.extensions) });
    (AsyncApi::V3(Box::new(out)).to_value(), r)
}

/// 3.0 channel ids are the 2.x channel names without their leading `/` (`root` for `/`).
fn channel_id(name: &str) -> String {
    match name.strip_prefix('/').unwrap_or(name) {
        "" => "root".to_owned(),
        id => id.to_owned(),
    }
}

fn server(s: &ServerV2, p: &str, r: &mut ConversionReport) -> ServerV3 {
    let rest = s.url.split_once("://").map_or(&s.url[..], |(_, rest)| rest);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let security = s.security.as_ref();
    let security = security.map(|sec| requirements(sec, &push(p, "security"), r));
    carry!(s => ServerV3 { protocol, protocol_version, description, variables, tags, bindings;
        host: host.to_owned(), pathname: (!path.is_empty()).then(|| path.to_owned()), security,
        extensions: x(&s.extensions), ..ServerV3::default() })
}

/// 2.x requirements name schemes and scopes; 3.0 references the schemes.
fn requirements(
    sec: &[SecurityRequirement],
    p: &str,
    r: &mut ConversionReport,
) -> Vec<RefOr<SecurityScheme>> {
    let mut out = Vec::new();
    for (i, req) in sec.iter().enumerate() {
        for (name, scopes) in req {
            let target = format!("#/components/securitySchemes/{}", escape_token(name));
            out.push(RefOr::Ref(Reference::new(target)));
            if !scopes.is_empty() {
                r.drop(
                    format!("{p}/{i}/{}", escape_token(name)),
                    "scopes required by a 2.x security requirement have no place in a 3.0 scheme reference",
                );
            }
        }
    }
    out
}

/// The messages of an operation (the alternatives of a `oneOf`, also behind a reference), each
/// with the key it gets when it has neither a reference, a `messageId` nor a `name`.
fn message_list(doc: &Value, msg: &OperationMessage, op_id: &str) -> Vec<(RefOr<Message>, String)> {
    let one_of = match msg {
        OperationMessage::OneOf(o) => o.one_of.clone(),
        OperationMessage::Single(m) => match &**m {
            RefOr::Ref(r) => match r.follow(doc) {
                Some(OperationMessage::OneOf(o)) => o.one_of,
                _ => return vec![((**m).clone(), format!("{op_id}.message"))],
            },
            RefOr::Item(_) => return vec![((**m).clone(), format!("{op_id}.message"))],
        },
    };
    let keyed = one_of.into_iter().enumerate();
    keyed
        .map(|(i, m)| (m, format!("{op_id}.message.{i}")))
        .collect()
}
