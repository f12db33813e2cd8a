//! Rules of AsyncAPI 2.x: the root, servers, channels with their operations, components.

use foldhash::{HashSet, HashSetExt};

use serde_json::Value;

use super::common::COMPONENTS;
use super::{Obj, ProblemKind, V};
use crate::model::v2::{AsyncApiV2, ChannelV2, ComponentsV2, OperationV2, ServerV2};
use crate::refs;

const OPERATIONS: [&str; 2] = ["subscribe", "publish"];

impl<'a> V<'a> {
    pub(super) fn root_v2(&mut self, root: &'a Obj) {
        self.object(root, "document", AsyncApiV2::FIELDS, &[], &[]);
        self.info(root);
        self.tags(root);
        self.external_docs(root);
        let server_names: Vec<&str> = (root.get("servers").and_then(Value::as_object))
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default();
        self.entries(root, "servers", |s, _, m| s.server_v2(m));
        let mut op_ids = HashSet::new();
        // `messageId`s (2.4+) are unique across the messages of the channels' operations.
        self.message_ids = (self.minor >= 4).then(HashSet::new);
        self.entries(root, "channels", |s, name, m| {
            s.channel_v2(name, m, Some(&server_names), &mut op_ids);
        });
        self.message_ids = None;
        self.field(root, "components", "components", Self::components_v2);
    }

    fn server_v2(&mut self, m: &'a Obj) {
        self.object(m, "server", ServerV2::FIELDS, &[], &[]);
        self.protocol(m);
        self.tags(m);
        self.requirements(m, "Server");
        if let Some(url) = m.get("url").and_then(Value::as_str) {
            self.declared(m, "variables", url, ProblemKind::ServerVariable);
        }
    }

    /// A channel; `servers` names the root's servers for a root channel, `None` in `components`
    /// (where the parser checks neither parameters nor servers).
    fn channel_v2(
        &mut self,
        name: &'a str,
        m: &'a Obj,
        servers: Option<&[&str]>,
        op_ids: &mut HashSet<&'a str>,
    ) {
        self.object(m, "channel", ChannelV2::FIELDS, &["$ref"], &[]);
        self.parameters(m, servers.map(|_| name));
        self.items(m, "servers", |s, _, n| {
            if servers.is_some_and(|servers| !n.as_str().is_some_and(|n| servers.contains(&n))) {
                let message =
                    "Channel contains server that are not defined on the \"servers\" object.";
                s.report(ProblemKind::InvalidValue, message);
            }
        });
        for op in OPERATIONS {
            self.field(m, op, op, |s, o| {
                s.operation_v2(o);
                if let Some(id) = o.get("operationId").and_then(Value::as_str)
                    && !op_ids.insert(id)
                {
                    let message = "\"operationId\" must be unique across all the operations.";
                    s.report_in("operationId", ProblemKind::Duplicate, message);
                }
            });
        }
    }

    fn operation_v2(&mut self, m: &'a Obj) {
        self.object(m, "operation", OperationV2::FIELDS, &[], &[]);
        self.tags(m);
        self.external_docs(m);
        self.requirements(m, "Operation");
        self.traits(m);
        self.inline(m, "message", "message", |s, msg| s.message(msg, true));
    }

    fn components_v2(&mut self, m: &'a Obj) {
        self.object(m, "components", ComponentsV2::FIELDS, COMPONENTS, &[]);
        self.component_common(m);
        self.entries(m, "servers", |s, _, x| s.server_v2(x));
        let mut op_ids = HashSet::new();
        self.entries(m, "channels", |s, name, x| {
            s.channel_v2(name, x, None, &mut op_ids);
        });
        self.entries(m, "messages", |s, _, x| s.message(x, true));
    }

    /// Security requirements (`[{scheme: [scopes]}]`).
    fn requirements(&mut self, m: &'a Obj, whose: &str) {
        self.items(m, "security", |s, _, req| {
            let Some(rm) = s.obj(req, "security requirement") else {
                return;
            };
            for (name, scopes) in rm {
                s.at(name, |s| s.requirement(name, scopes, whose));
            }
        });
    }

    fn requirement(&mut self, name: &str, scopes: &'a Value, whose: &str) {
        let scheme = self.schemes.and_then(|s| s.get(name));
        let Some(scheme) = scheme.and_then(|s| refs::deref(self.root, s)) else {
            let message = format!("{whose} must not reference an undefined security scheme.");
            return self.report(ProblemKind::Security, message);
        };
        let Some(list) = scopes.as_array() else {
            let message = "scopes must be an array of strings";
            return self.report(ProblemKind::InvalidValue, message);
        };
        if scheme.get("type").and_then(Value::as_str) != Some("oauth2") {
            return;
        }
        let defined: HashSet<&str> = (scheme.get("flows").and_then(Value::as_object))
            .into_iter()
            .flat_map(|f| f.values())
            .filter_map(|f| f.get("scopes").and_then(Value::as_object))
            .flat_map(|s| s.keys().map(String::as_str))
            .collect();
        for (j, sc) in list.iter().enumerate() {
            if let Some(sc) = sc.as_str()
                && !defined.contains(sc)
            {
                let mut available: Vec<_> = defined.iter().copied().collect();
                available.sort_unstable();
                let available = available.join(", ");
                let message = format!(
                    "Non-existing security scope for the specified security scheme. Available: [{available}]"
                );
                self.report_in(j, ProblemKind::Security, message);
            }
        }
    }
}
