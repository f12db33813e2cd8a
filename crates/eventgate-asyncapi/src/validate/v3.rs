//! Rules of AsyncAPI 3.0: the root, servers, channels, operations, components.

use serde_json::Value;

use super::common::COMPONENTS;
use super::{Obj, ProblemKind, V};
use crate::model::v3::{AsyncApiV3, ChannelV3, ComponentsV3, OperationV3, ServerV3};
use crate::refs::ref_of;

impl<'a> V<'a> {
    pub(super) fn root_v3(&mut self, root: &'a Obj) {
        self.object(root, "document", AsyncApiV3::FIELDS, &[], &[]);
        self.info(root);
        self.members_v3(root, true);
        self.field(root, "components", "components", Self::components_v3);
    }

    /// The servers, channels and operations of the root or of `components`.
    fn members_v3(&mut self, m: &'a Obj, root: bool) {
        self.entries(m, "servers", |s, _, x| s.server_v3(x));
        self.entries(m, "channels", |s, _, x| s.channel_v3(x, root));
        self.entries(m, "operations", |s, _, x| s.operation_v3(x, root));
    }

    /// Reports a reference of a root object (`root`) that leaves the root's `place`, which the
    /// parser's unambiguity rules forbid (a pattern test: the reference contains `#/place/`).
    fn outside(&mut self, root: bool, r: &str, place: &str) {
        if root && !r.contains(&format!("#/{place}/")) {
            let message = format!("A root object must reference one under the root \"{place}\".");
            self.report_in("$ref", ProblemKind::Reference, message);
        }
    }

    fn server_v3(&mut self, m: &'a Obj) {
        self.object(m, "server", ServerV3::FIELDS, &[], &[]);
        self.server(m);
        self.tags(m);
        self.external_docs(m);
        self.security_v3(m);
    }

    fn security_v3(&mut self, m: &'a Obj) {
        self.items(m, "security", |s, _, item| {
            s.typed(item, "securitySchemes", |s, x| {
                if let Some(x) = s.obj(x, "security scheme") {
                    s.security_scheme(x, "security scheme");
                }
            });
        });
    }

    fn channel_v3(&mut self, m: &'a Obj, root: bool) {
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
        self.entries(m, "messages", |s, _, x| s.message(x));
        self.items(m, "servers", |s, _, x| {
            if let Some(r) = ref_of(x) {
                s.outside(root, r, "servers");
            }
            s.typed(x, "servers", |s, x| {
                s.obj(x, "server").map_or((), |x| s.server_v3(x))
            });
        });
        self.unique_items(m, "servers");
    }

    fn operation_v3(&mut self, m: &'a Obj, root: bool) {
        self.object(m, "operation", OperationV3::FIELDS, &[], &[]);
        if let Some(a) = m.get("action")
            && !matches!(a.as_str(), Some("send" | "receive"))
        {
            let message = "\"action\" must be equal to one of the allowed values: send, receive";
            self.report_in("action", ProblemKind::InvalidValue, message);
        }
        // An inline channel or message is checked as one; a message reference must start with
        // the channel's reference and `/messages`, as the parser tests it (with no channel
        // reference, with "undefined").
        self.inline(m, "channel", "channel", |s, c| s.channel_v3(c, false));
        let channel_ref = m.get("channel").and_then(ref_of);
        if let Some(r) = channel_ref {
            self.at("channel", |s| s.outside(root, r, "channels"));
        }
        self.tags(m);
        self.external_docs(m);
        self.security_v3(m);
        self.traits(m);
        let prefix = format!("{}/messages", channel_ref.unwrap_or("undefined"));
        self.items(m, "messages", |s, _, x| {
            if ref_of(x).is_some_and(|r| !r.starts_with(&prefix)) {
                let message = "Operation message does not belong to the specified channel.";
                s.report(ProblemKind::Reference, message);
            }
            s.message_v3(x);
        });
        self.inline(m, "reply", "reply", |s, r| {
            s.allowed(r, &["address", "channel", "messages"]);
            s.inline(r, "address", "address", |s, a| {
                s.required(a, "address", ["location"]);
                s.allowed(a, &["location", "description"]);
                s.strings(a, ["location", "description"]);
                let expression = |l: &str| {
                    l.starts_with("$message.header#") || l.starts_with("$message.payload#")
                };
                if a.get("location").and_then(Value::as_str).is_some_and(|l| !expression(l)) {
                    let message = "\"location\" must be a runtime expression: $message.header# or $message.payload#";
                    s.report_in("location", ProblemKind::InvalidValue, message);
                }
            });
            s.inline(r, "channel", "channel", |s, c| s.channel_v3(c, false));
            s.items(r, "messages", |s, _, x| s.message_v3(x));
        });
    }

    /// An operation's or reply's message: inline or referenced, checked as a message.
    fn message_v3(&mut self, x: &'a Value) {
        self.typed(x, "messages", |s, x| {
            s.obj(x, "message").map_or((), |x| s.message(x))
        });
    }

    fn components_v3(&mut self, m: &'a Obj) {
        let extra = [
            COMPONENTS,
            &["replies", "replyAddresses", "externalDocs", "tags"],
        ]
        .concat();
        self.object(m, "components", ComponentsV3::FIELDS, &extra, &[]);
        self.component_common(m);
        self.members_v3(m, false);
        self.entries(m, "messages", |s, _, x| s.message(x));
    }
}
