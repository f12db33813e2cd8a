//! Rules of AsyncAPI 3.0: the root, servers, channels, operations, components.

use serde_json::{Map, Value};

use super::common::COMPONENTS;
use super::{ProblemKind, V};
use crate::model::v3::{AsyncApiV3, ChannelV3, ComponentsV3, OperationV3, ServerV3};
use crate::pointer::{push, push_index};
use crate::refs::{self, ref_of};

impl<'a> V<'a> {
    pub(super) fn root_v3(&mut self, root: &'a Map<String, Value>) {
        self.object(root, "", "document", AsyncApiV3::FIELDS, &[], &[]);
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

    pub(super) fn server_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.object(m, ptr, "server", ServerV3::FIELDS, &[], &[]);
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

    pub(super) fn security_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        let Some((arr, sp)) = self.array(m, ptr, "security") else {
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

    pub(super) fn channel_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.object(m, ptr, "channel", ChannelV3::FIELDS, &[], &[]);
        let address = match m.get("address") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.push(
                    push(ptr, "address"),
                    ProblemKind::InvalidValue,
                    "\"address\" must be a string or null",
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
        if let Some((a, sp)) = self.array(m, ptr, "servers") {
            for (i, r) in a.iter().enumerate() {
                if !ref_of(r).is_some_and(|r| r.starts_with("#/servers/")) {
                    self.push(
                        push_index(&sp, i),
                        ProblemKind::InvalidValue,
                        "Channel servers must be references to servers in \"#/servers\".",
                    );
                }
            }
        }
    }

    pub(super) fn operation_v3(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.object(m, ptr, "operation", OperationV3::FIELDS, &[], &[]);
        if let Some(a) = m.get("action")
            && !matches!(a.as_str(), Some("send" | "receive"))
        {
            self.push(
                push(ptr, "action"),
                ProblemKind::InvalidValue,
                "\"action\" must be equal to one of the allowed values: send, receive",
            );
        }
        let channel_ref = m.get("channel").and_then(ref_of);
        if m.contains_key("channel") && channel_ref.is_none() {
            self.push(
                push(ptr, "channel"),
                ProblemKind::InvalidValue,
                "\"channel\" must be a reference object",
            );
        }
        self.tags(m, ptr);
        self.external_docs(m, ptr);
        self.security_v3(m, ptr);
        if let Some(t) = m.get("traits") {
            self.traits(t, &push(ptr, "traits"));
        }
        if let Some((a, mp)) = self.array(m, ptr, "messages") {
            for (i, r) in a.iter().enumerate() {
                let ip = push_index(&mp, i);
                match (ref_of(r), channel_ref) {
                    (None, _) => self.push(
                        ip,
                        ProblemKind::InvalidValue,
                        "operation messages must be reference objects",
                    ),
                    (Some(r), Some(c)) if !self.message_of_channel(c, r) => {
                        self.push(
                            ip,
                            ProblemKind::Reference,
                            "Operation message does not belong to the specified channel.",
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    /// Whether a message reference names one of the messages of the referenced channel.
    pub(super) fn message_of_channel(&self, channel_ref: &str, message_ref: &str) -> bool {
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

    pub(super) fn components_v3(&mut self, c: &'a Value) {
        let Some(m) = self.obj(c, "/components", "components") else {
            return;
        };
        let extra = [
            COMPONENTS,
            &["replies", "replyAddresses", "externalDocs", "tags"],
        ]
        .concat();
        self.object(
            m,
            "/components",
            "components",
            ComponentsV3::FIELDS,
            &extra,
            &[],
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
