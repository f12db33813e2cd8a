//! Rules of AsyncAPI 3.0: the root, servers, channels, operations, components.

use serde_json::Value;

use super::common::COMPONENTS;
use super::{Obj, ProblemKind, V};
use crate::model::v3::{AsyncApiV3, ChannelV3, ComponentsV3, OperationV3, ServerV3};
use crate::refs::{self, ref_of};

impl<'a> V<'a> {
    pub(super) fn root_v3(&mut self, root: &'a Obj) {
        self.object(root, "document", AsyncApiV3::FIELDS, &[], &[]);
        self.info(root);
        self.members_v3(root);
        self.field(root, "components", "components", Self::components_v3);
    }

    /// The servers, channels and operations of the root or of `components`.
    fn members_v3(&mut self, m: &'a Obj) {
        self.entries(m, "servers", |s, _, x| s.server_v3(x));
        self.entries(m, "channels", |s, _, x| s.channel_v3(x));
        self.entries(m, "operations", |s, _, x| s.operation_v3(x));
    }

    fn server_v3(&mut self, m: &'a Obj) {
        self.object(m, "server", ServerV3::FIELDS, &[], &[]);
        self.protocol(m);
        self.tags(m);
        self.external_docs(m);
        self.security_v3(m);
    }

    fn security_v3(&mut self, m: &'a Obj) {
        self.items(m, "security", |s, _, item| {
            if ref_of(item).is_none()
                && let Some(x) = s.obj(item, "security scheme")
            {
                s.security_scheme(x, "security scheme");
            }
        });
    }

    fn channel_v3(&mut self, m: &'a Obj) {
        self.object(m, "channel", ChannelV3::FIELDS, &[], &[]);
        let address = match m.get("address") {
            None | Some(Value::Null) => Some(""),
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                let message = "\"address\" must be a string or null";
                self.report_in("address", ProblemKind::InvalidValue, message);
                None
            }
        };
        self.parameters(m, address);
        self.tags(m);
        self.external_docs(m);
        self.entries(m, "messages", |s, _, x| s.message(x, false));
        self.items(m, "servers", |s, _, r| {
            if !ref_of(r).is_some_and(|r| r.starts_with("#/servers/")) {
                let message = "Channel servers must be references to servers in \"#/servers\".";
                s.report(ProblemKind::InvalidValue, message);
            }
        });
    }

    fn operation_v3(&mut self, m: &'a Obj) {
        self.object(m, "operation", OperationV3::FIELDS, &[], &[]);
        if let Some(a) = m.get("action")
            && !matches!(a.as_str(), Some("send" | "receive"))
        {
            let message = "\"action\" must be equal to one of the allowed values: send, receive";
            self.report_in("action", ProblemKind::InvalidValue, message);
        }
        let channel_ref = m.get("channel").and_then(ref_of);
        if m.contains_key("channel") && channel_ref.is_none() {
            let message = "\"channel\" must be a reference object";
            self.report_in("channel", ProblemKind::InvalidValue, message);
        }
        self.tags(m);
        self.external_docs(m);
        self.security_v3(m);
        self.traits(m);
        self.items(m, "messages", |s, _, r| match (ref_of(r), channel_ref) {
            (None, _) => {
                let message = "operation messages must be reference objects";
                s.report(ProblemKind::InvalidValue, message);
            }
            (Some(r), Some(c)) if !s.message_of_channel(c, r) => {
                let message = "Operation message does not belong to the specified channel.";
                s.report(ProblemKind::Reference, message);
            }
            _ => {}
        });
    }

    /// Whether a message reference names one of the messages of the referenced channel.
    fn message_of_channel(&self, channel_ref: &str, message_ref: &str) -> bool {
        let (Ok(target), Ok(channel)) = (
            refs::resolve(self.root, message_ref),
            refs::resolve(self.root, channel_ref),
        ) else {
            return true; // reported by the reference check
        };
        let Some(msgs) = channel.get("messages").and_then(Value::as_object) else {
            return false;
        };
        msgs.values()
            .any(|m| refs::deref(self.root, m).is_some_and(|m| std::ptr::eq(m, target)))
    }

    fn components_v3(&mut self, m: &'a Obj) {
        let extra = [
            COMPONENTS,
            &["replies", "replyAddresses", "externalDocs", "tags"],
        ]
        .concat();
        self.object(m, "components", ComponentsV3::FIELDS, &extra, &[]);
        self.component_common(m);
        self.members_v3(m);
        self.entries(m, "messages", |s, _, x| s.message(x, false));
    }
}
