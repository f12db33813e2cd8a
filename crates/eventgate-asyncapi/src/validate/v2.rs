//! Rules of AsyncAPI 2.x: the root, servers, channels with their operations, components.

use foldhash::{HashSet, HashSetExt};

use serde_json::Value;

use super::common::{COMPONENTS, is_uri_template};
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
        if let Some(names) = root.get("channels").and_then(Value::as_object)
            && !names.keys().all(|k| is_uri_template(k))
        {
            let message = "\"channels\" property must match format \"uri-template\"";
            self.report_in("channels", ProblemKind::InvalidValue, message);
        }
        self.entries(root, "channels", |s, name, m| {
            s.channel_v2(name, m, Some(&server_names));
        });
        self.unique_ids(root);
        self.field(root, "components", "components", Self::components_v2);
    }

    fn server_v2(&mut self, m: &'a Obj) {
        self.object(m, "server", ServerV2::FIELDS, &[], &[]);
        self.server(m);
        self.tags(m);
        self.requirements(m, "Server");
        if let Some(url) = m.get("url").and_then(Value::as_str) {
            self.declared(m, "variables", url, ProblemKind::ServerVariable);
        }
    }

    /// A channel; `servers` names the root's servers for a root channel, `None` in `components`
    /// (where the parser checks neither parameters nor servers).
    fn channel_v2(&mut self, name: &'a str, m: &'a Obj, servers: Option<&[&str]>) {
        self.object(m, "channel", ChannelV2::FIELDS, &["$ref"], &[]);
        self.parameters(m, servers.map(|_| name));
        self.items(m, "servers", |s, _, n| {
            if servers.is_some_and(|servers| !n.as_str().is_some_and(|n| servers.contains(&n))) {
                let message =
                    "Channel contains server that are not defined on the \"servers\" object.";
                s.report(ProblemKind::InvalidValue, message);
            }
        });
        self.unique_items(m, "servers");
        for op in OPERATIONS {
            self.field(m, op, op, Self::operation_v2);
        }
    }

    /// `operationId`s and `messageId`s are unique across the operations of the root's channels
    /// and their messages (`oneOf` expanded), as the parser checks them on the resolved document:
    /// references followed (a component met twice is a duplicate), and the id of the last trait
    /// that has one standing for the object's.
    fn unique_ids(&mut self, root: &'a Obj) {
        let mut ids = [HashSet::new(), HashSet::new()];
        let Some(channels) = root.get("channels").and_then(Value::as_object) else {
            return;
        };
        let [op_ids, msg_ids] = &mut ids;
        self.at("channels", |s| {
            for (name, c) in channels {
                s.at_via(name, c, |s, c| {
                    for (op, o) in OPERATIONS.iter().filter_map(|&op| Some((op, c.get(op)?))) {
                        s.at_via(op, o, |s, o| {
                            s.unique_id(o, "operationId", op_ids);
                            let Some(m) = o.get("message") else { return };
                            s.at_via("message", m, |s, m| match m.get("oneOf") {
                                Some(Value::Array(list)) => s.at("oneOf", |s| {
                                    for (i, x) in list.iter().enumerate() {
                                        s.at_via(i, x, |s, x| s.unique_id(x, "messageId", msg_ids));
                                    }
                                }),
                                _ => s.unique_id(m, "messageId", msg_ids),
                            });
                        });
                    }
                });
            }
        });
    }

    fn unique_id(&mut self, m: &'a Value, key: &'a str, seen: &mut HashSet<&'a str>) {
        let Some(m) = m.as_object() else {
            return;
        };
        let traits = m
            .get("traits")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let of_trait = traits.iter().enumerate().rev().find_map(|(i, t)| {
            let id = self.memo.deref(t)?.get(key)?.as_str()?;
            Some((i, t, id))
        });
        let mut check = |s: &mut Self, id| {
            if !seen.insert(id) {
                let what = if key == "messageId" {
                    "messages"
                } else {
                    "operations"
                };
                let message = format!("\"{key}\" must be unique across all the {what}.");
                s.report_in(key, ProblemKind::Duplicate, message);
            }
        };
        match of_trait {
            Some((i, t, id)) => self.at("traits", |s| s.at_via(i, t, |s, _| check(s, id))),
            None => m
                .get(key)
                .and_then(Value::as_str)
                .map_or((), |id| check(self, id)),
        }
    }

    fn operation_v2(&mut self, m: &'a Obj) {
        self.object(m, "operation", OperationV2::FIELDS, &[], &[]);
        self.tags(m);
        self.external_docs(m);
        self.requirements(m, "Operation");
        self.traits(m);
        self.inline(m, "message", "message", |s, msg| s.message(msg));
    }

    fn components_v2(&mut self, m: &'a Obj) {
        self.object(m, "components", ComponentsV2::FIELDS, COMPONENTS, &[]);
        self.component_common(m);
        self.entries(m, "servers", |s, _, x| s.server_v2(x));
        self.entries(m, "channels", |s, name, x| s.channel_v2(name, x, None));
        self.entries(m, "messages", |s, _, x| s.message(x));
    }

    /// Security requirements (`[{scheme: [scopes]}]`).
    fn requirements(&mut self, m: &'a Obj, whose: &str) {
        self.items(m, "security", |s, _, req| {
            let Some(rm) = s.obj(req, "security requirement") else {
                return;
            };
            for (name, scopes) in rm {
                s.at(name, |s| s.requirement(name, scopes, whose));
                s.unique_items(rm, name);
            }
        });
    }

    fn requirement(&mut self, name: &str, scopes: &'a Value, whose: &str) {
        let Some(list) = scopes.as_array() else {
            let message = "scopes must be an array of strings";
            return self.report(ProblemKind::InvalidValue, message);
        };
        for (j, _) in list.iter().enumerate().filter(|(_, x)| !x.is_string()) {
            self.report_in(j, ProblemKind::InvalidValue, "scopes must be strings");
        }
        let scheme = self.schemes.and_then(|s| s.get(name));
        let Some(scheme) = scheme.and_then(|s| refs::deref(self.root, s)) else {
            let message = format!("{whose} must not reference an undefined security scheme.");
            return self.report(ProblemKind::Security, message);
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
