//! Rules of AsyncAPI 2.x: the root, servers, channels with their operations, components.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::common::COMPONENTS;
use super::{ProblemKind, V};
use crate::model::v2::{AsyncApiV2, ChannelV2, ComponentsV2, OperationV2, ServerV2};
use crate::pointer::{push, push_index};
use crate::refs::{self, ref_of};

impl<'a> V<'a> {
    pub(super) fn root_v2(&mut self, root: &'a Map<String, Value>) {
        self.object(root, "", "document", AsyncApiV2::FIELDS, &[], &[]);
        self.info(root);
        self.tags(root, "");
        self.external_docs(root, "");
        let server_names: Vec<&str> = root
            .get("servers")
            .and_then(Value::as_object)
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for (_, sm, sp) in self.entries(root, "", "servers") {
            self.server_v2(sm, &sp);
        }
        let mut op_ids: HashMap<&str, ()> = HashMap::new();
        let mut msg_ids: HashMap<&str, ()> = HashMap::new();
        for (name, cm, cp) in self.entries(root, "", "channels") {
            self.channel_v2(name, cm, &cp, &server_names, &mut op_ids);
        }
        if let Some(c) = root.get("components") {
            self.components_v2(c);
        }
        if self.minor >= 4 {
            self.message_ids(&mut msg_ids);
        }
    }

    pub(super) fn message_ids(&mut self, seen: &mut HashMap<&'a str, ()>) {
        let root = self.root;
        let mut found: Vec<(&'a str, String)> = Vec::new();
        if let Some(ch) = root.get("channels").and_then(Value::as_object) {
            for (name, c) in ch {
                for op in ["subscribe", "publish"] {
                    let Some(msg) = c.get(op).and_then(|o| o.get("message")) else {
                        continue;
                    };
                    let mp = push(&push(&push("/channels", name), op), "message");
                    if let Some(id) = msg.get("messageId").and_then(Value::as_str) {
                        found.push((id, push(&mp, "messageId")));
                    }
                    if let Some(arr) = msg.get("oneOf").and_then(Value::as_array) {
                        for (i, m) in arr.iter().enumerate() {
                            if let Some(id) = m.get("messageId").and_then(Value::as_str) {
                                found.push((
                                    id,
                                    push(&push_index(&push(&mp, "oneOf"), i), "messageId"),
                                ));
                            }
                        }
                    }
                }
            }
        }
        for (id, ptr) in found {
            if seen.insert(id, ()).is_some() {
                self.push(
                    ptr,
                    ProblemKind::Duplicate,
                    "\"messageId\" must be unique across all the messages.",
                );
            }
        }
    }

    pub(super) fn server_v2(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.object(m, ptr, "server", ServerV2::FIELDS, &[], &[]);
        self.protocol(m, ptr);
        self.tags(m, ptr);
        self.requirements(m, ptr, "Server");
        if let Some(url) = m.get("url").and_then(Value::as_str) {
            self.server_variables(m, ptr, url);
        }
    }

    pub(super) fn channel_v2(
        &mut self,
        name: &'a str,
        m: &'a Map<String, Value>,
        ptr: &str,
        servers: &[&str],
        op_ids: &mut HashMap<&'a str, ()>,
    ) {
        self.object(m, ptr, "channel", ChannelV2::FIELDS, &["$ref"], &[]);
        self.parameters(m, ptr, Some(name));
        if let Some((a, sp)) = self.array(m, ptr, "servers") {
            for (i, n) in a.iter().enumerate() {
                if !n.as_str().is_some_and(|n| servers.contains(&n)) {
                    self.push(
                        push_index(&sp, i),
                        ProblemKind::InvalidValue,
                        "Channel contains server that are not defined on the \"servers\" object.",
                    );
                }
            }
        }
        for op in ["subscribe", "publish"] {
            let Some(o) = m.get(op) else { continue };
            let op_ptr = push(ptr, op);
            let Some(om) = self.obj(o, &op_ptr, op) else {
                continue;
            };
            self.operation_v2(om, &op_ptr);
            if let Some(id) = om.get("operationId").and_then(Value::as_str)
                && op_ids.insert(id, ()).is_some()
            {
                self.push(
                    push(&op_ptr, "operationId"),
                    ProblemKind::Duplicate,
                    "\"operationId\" must be unique across all the operations.",
                );
            }
        }
    }

    pub(super) fn operation_v2(&mut self, m: &'a Map<String, Value>, ptr: &str) {
        self.object(m, ptr, "operation", OperationV2::FIELDS, &[], &[]);
        self.tags(m, ptr);
        self.external_docs(m, ptr);
        self.requirements(m, ptr, "Operation");
        if let Some(t) = m.get("traits") {
            self.traits(t, &push(ptr, "traits"));
        }
        if let Some(msg) = m.get("message")
            && ref_of(msg).is_none()
        {
            let mp = push(ptr, "message");
            if let Some(mm) = self.obj(msg, &mp, "message") {
                self.message(mm, &mp, true);
            }
        }
    }

    pub(super) fn components_v2(&mut self, c: &'a Value) {
        let Some(m) = self.obj(c, "/components", "components") else {
            return;
        };
        self.object(
            m,
            "/components",
            "components",
            ComponentsV2::FIELDS,
            COMPONENTS,
            &[],
        );
        self.component_common(m);
        for (_, sm, sp) in self.entries(m, "/components", "servers") {
            self.server_v2(sm, &sp);
        }
        let mut no_ids = HashMap::new();
        for (name, cm, cp) in self.entries(m, "/components", "channels") {
            self.channel_v2(name, cm, &cp, &[], &mut no_ids);
        }
        for (_, mm, mp) in self.entries(m, "/components", "messages") {
            self.message(mm, &mp, true);
        }
    }

    pub(super) fn requirements(&mut self, m: &'a Map<String, Value>, ptr: &str, whose: &str) {
        let Some((arr, sp)) = self.array(m, ptr, "security") else {
            return;
        };
        for (i, req) in arr.iter().enumerate() {
            let ip = push_index(&sp, i);
            let Some(rm) = self.obj(req, &ip, "security requirement") else {
                continue;
            };
            for (name, scopes) in rm {
                let np = push(&ip, name);
                let scheme = self
                    .schemes
                    .and_then(|s| s.get(name))
                    .and_then(|s| refs::deref(self.root, s));
                let Some(scheme) = scheme else {
                    self.push(
                        np,
                        ProblemKind::Security,
                        format!("{whose} must not reference an undefined security scheme."),
                    );
                    continue;
                };
                let Some(list) = scopes.as_array() else {
                    self.push(
                        np,
                        ProblemKind::InvalidValue,
                        "scopes must be an array of strings",
                    );
                    continue;
                };
                if scheme.get("type").and_then(Value::as_str) == Some("oauth2") {
                    let defined: HashSet<&str> = scheme
                        .get("flows")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flat_map(|f| f.values())
                        .filter_map(|f| f.get("scopes").and_then(Value::as_object))
                        .flat_map(|s| s.keys().map(String::as_str))
                        .collect();
                    for (j, sc) in list.iter().enumerate() {
                        if let Some(sc) = sc.as_str()
                            && !defined.contains(sc)
                        {
                            self.push(push_index(&np, j), ProblemKind::Security, format!("Non-existing security scope for the specified security scheme. Available: [{}]", { let mut d: Vec<_> = defined.iter().copied().collect(); d.sort_unstable(); d.join(", ") }));
                        }
                    }
                }
            }
        }
    }
}
