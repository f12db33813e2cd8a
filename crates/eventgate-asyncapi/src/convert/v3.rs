//! From 3.0: a 3.0 document to 2.6.0.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ConversionReport;
use super::common::{
    To, carry, components, drop_present, map, message, parameter, present, unescape, x,
};
use crate::model::AsyncApi;
use crate::model::common::{Info, Message, RefOr, Reference, SecurityRequirement, SecurityScheme};
use crate::model::v2::{
    AsyncApiV2, ChannelV2, ComponentsV2, OneOfMessages, OperationMessage, OperationV2, ServerV2,
};
use crate::model::v3::{Action, AsyncApiV3, ServerV3};
use crate::pointer::{escape_token, push};
use crate::refs;

pub(super) fn to_v2(doc: &Value, d: &AsyncApiV3) -> (Value, ConversionReport) {
    let mut r = ConversionReport::default();
    let info = Info {
        tags: None,
        external_docs: None,
        ..d.info.clone()
    };
    let servers = d.servers.as_ref().map(|servers| {
        let mut out = BTreeMap::new();
        for (name, s) in servers {
            let p = push("/servers", name);
            match s.follow(doc) {
                Some(s) => _ = out.insert(name.clone(), RefOr::Item(server(&s, &p, doc, &mut r))),
                None => r.drop(p, "server reference cannot be resolved"),
            }
        }
        out
    });
    let mut channels: BTreeMap<String, ChannelV2> = BTreeMap::new();
    let mut names = BTreeMap::new(); // channel reference -> 2.x name
    for (id, ch) in d.channels.iter().flatten() {
        let cp = push("/channels", id);
        let Some(chv) = ch.follow(doc) else {
            r.drop(cp, "channel reference cannot be resolved");
            continue;
        };
        let name = match chv.address.clone().flatten() {
            Some(a) => a,
            None => {
                let why = "null or missing address: the channel id is used as the 2.x channel name";
                r.drop(push(&cp, "address"), why);
                id.clone()
            }
        };
        let servers = chv.servers.as_ref().map(|refs| {
            let names = refs
                .iter()
                .filter_map(|s| s.reference.strip_prefix("#/servers/"));
            names.map(unescape).collect()
        });
        let present = present!(chv: title, summary, tags, external_docs = "externalDocs");
        drop_present(&mut r, &cp, &present, "2.x channels have no such field");
        let params = &chv.parameters;
        let parameters = map(params, &push(&cp, "parameters"), |p, ptr| {
            parameter(p, To::V2, ptr, &mut r)
        });
        let channel = carry!(chv => ChannelV2 { description, bindings;
            parameters, servers, extensions: x(&chv.extensions), ..ChannelV2::default() });
        names.insert(format!("#/channels/{}", escape_token(id)), name.clone());
        channels.insert(name, channel);
    }
    for (op_id, op) in d.operations.iter().flatten() {
        let op_ptr = push("/operations", op_id);
        let Some(op) = op.follow(doc) else {
            r.drop(op_ptr, "operation reference cannot be resolved");
            continue;
        };
        let Some(channel) = names
            .get(&op.channel.reference)
            .and_then(|n| channels.get_mut(n))
        else {
            r.drop(op_ptr, "operation channel is not one of the root channels");
            continue;
        };
        let key = op.action.names().0;
        let slot = match op.action {
            Action::Receive => &mut channel.subscribe,
            Action::Send => &mut channel.publish,
        };
        if slot.is_some() {
            let why = format!("channel already has a {key} operation: 2.x allows one per channel");
            r.drop(op_ptr, why);
            continue;
        }
        let why = "not carried over to 2.x operations";
        drop_present(&mut r, &op_ptr, &present!(op: title, reply, traits), why);
        let mut msgs: Vec<RefOr<Message>> = Vec::new();
        for mr in op.messages.iter().flatten() {
            let Some(target) = mr.follow::<Message>(doc) else {
                continue;
            };
            // A channel message that is itself a reference: point at its final target.
            let direct = refs::to_pointer(&mr.reference)
                .ok()
                .and_then(|p| crate::pointer::lookup(doc, &p));
            msgs.push(match direct.and_then(refs::ref_of) {
                Some(inner) => RefOr::Ref(Reference::new(inner)),
                None => RefOr::Item(message(&target, To::V2, "", &mut r)),
            });
        }
        let message = match msgs.len() {
            0 => None,
            1 => msgs.pop().map(|m| OperationMessage::Single(Box::new(m))),
            _ => Some(OperationMessage::OneOf(OneOfMessages { one_of: msgs })),
        };
        let security = op.security.as_ref().map(|s| requirements(doc, s));
        *slot = Some(
            carry!(op => OperationV2 { summary, description, tags, external_docs, bindings;
            operation_id: Some(op_id.clone()), security, message,
            extensions: x(&op.extensions), ..OperationV2::default() }),
        );
    }
    let components = d.components.as_ref().map(|c| {
        let mut extensions = c.extensions.clone();
        let mut present = present!(c: servers, channels, operations).to_vec();
        for k in ["replies", "replyAddresses", "tags", "externalDocs"] {
            present.push((k, extensions.remove(k).is_some()));
        }
        present.sort_unstable();
        drop_present(&mut r, "/components", &present, "no 2.x equivalent");
        let schema = |(name, s): (&String, &Value)| match (s.get("schemaFormat"), s.get("schema")) {
            (Some(_), Some(inner)) => {
                let p = push(&push("/components/schemas", name), "schemaFormat");
                r.drop(p, "2.x component schemas carry no schema format");
                (name.clone(), inner.clone())
            }
            _ => (name.clone(), s.clone()),
        };
        let schemas = c.schemas.as_ref().map(|s| s.iter().map(schema).collect());
        let (m, p, s) = (&c.messages, &c.parameters, &c.security_schemes);
        let (messages, parameters, security_schemes) = components(m, p, s, To::V2, &mut r);
        ComponentsV2 {
            schemas,
            messages,
            parameters,
            security_schemes,
            extensions,
            ..ComponentsV2::default()
        }
    });
    let channels = channels.into_iter().map(|(k, c)| (k, RefOr::Item(c)));
    let out = carry!(d => AsyncApiV2 { id, default_content_type;
        asyncapi: "2.6.0".to_owned(), info, servers, channels: channels.collect(), components,
        tags: d.info.tags.clone(), external_docs: d.info.external_docs.clone(),
        extensions: x(&d.extensions) });
    (AsyncApi::V2(Box::new(out)).to_value(), r)
}

fn server(s: &ServerV3, p: &str, doc: &Value, r: &mut ConversionReport) -> ServerV2 {
    let scheme = match s.protocol.as_str() {
        "sse" | "http" => "http",
        other => other,
    };
    let url = match s.extensions.get("x-eventgate-url").and_then(Value::as_str) {
        Some(u) => u.to_owned(),
        None => format!(
            "{scheme}://{}{}",
            s.host,
            s.pathname.as_deref().unwrap_or_default()
        ),
    };
    let present = present!(s: title, summary, external_docs = "externalDocs");
    drop_present(r, p, &present, "2.x servers have no such field");
    let security = s.security.as_ref().map(|sec| requirements(doc, sec));
    carry!(s => ServerV2 { protocol, protocol_version, description, variables, tags, bindings;
        url, security, extensions: x(&s.extensions) })
}

/// 3.0 references security schemes; a 2.x requirement names each with the scopes it needs.
fn requirements(doc: &Value, sec: &[RefOr<SecurityScheme>]) -> Vec<SecurityRequirement> {
    let refs = sec.iter().filter_map(|s| match s {
        RefOr::Ref(r) => Some(r),
        RefOr::Item(_) => None,
    });
    let requirement = |r: &Reference| {
        let name = unescape(r.reference.rsplit('/').next().unwrap_or_default());
        let scheme: Option<SecurityScheme> = r.follow(doc);
        let scopes = scheme.and_then(|s| s.scopes).unwrap_or_default();
        SecurityRequirement::from([(name, scopes)])
    };
    refs.map(requirement).collect()
}
