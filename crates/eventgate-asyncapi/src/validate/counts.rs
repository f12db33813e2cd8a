//! Object counts, as the reference parser counts them.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use super::Counts;
use crate::model::SpecVersion;
use crate::pointer::{push, push_index};
use crate::refs::{self, ref_of};

/// Counts channels, operations, messages and servers the way the reference parser does.
pub(super) fn count(root: &Value, line: SpecVersion) -> Counts {
    let len = |k: &str| root.get(k).and_then(Value::as_object).map_or(0, Map::len);
    let mut counts = Counts {
        channels: len("channels"),
        servers: len("servers"),
        ..Counts::default()
    };
    let mut seen: HashSet<String> = HashSet::new();
    // identity of a message: the pointer of the object it resolves to
    let add = |v: &Value, at: String, seen: &mut HashSet<String>| -> Option<()> {
        let id = match ref_of(v) {
            Some(r) => refs::resolve_with_pointer(root, r).ok()?.1,
            None => at,
        };
        seen.insert(id);
        Some(())
    };
    let channels: BTreeMap<&String, &Value> = root
        .get("channels")
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    match line {
        SpecVersion::V2 => {
            for (name, c) in channels {
                let (c, base) = match ref_of(c) {
                    Some(r) => match refs::resolve_with_pointer(root, r) {
                        Ok(x) => x,
                        Err(_) => continue,
                    },
                    None => (c, push("/channels", name)),
                };
                for op in ["subscribe", "publish"] {
                    let Some(o) = c.get(op) else { continue };
                    counts.operations += 1;
                    let Some(msg) = o.get("message") else {
                        continue;
                    };
                    let mp = push(&push(&base, op), "message");
                    let (resolved, rp) = match ref_of(msg) {
                        Some(r) => match refs::resolve_with_pointer(root, r) {
                            Ok(x) => x,
                            Err(_) => continue,
                        },
                        None => (msg, mp),
                    };
                    match resolved.get("oneOf").and_then(Value::as_array) {
                        Some(items) => {
                            for (i, item) in items.iter().enumerate() {
                                add(item, push_index(&push(&rp, "oneOf"), i), &mut seen);
                            }
                        }
                        None => {
                            seen.insert(rp);
                        }
                    }
                }
            }
        }
        SpecVersion::V3 => {
            counts.operations = len("operations");
            for (name, c) in channels {
                let (c, base) = match ref_of(c) {
                    Some(r) => match refs::resolve_with_pointer(root, r) {
                        Ok(x) => x,
                        Err(_) => continue,
                    },
                    None => (c, push("/channels", name)),
                };
                let Some(msgs) = c.get("messages").and_then(Value::as_object) else {
                    continue;
                };
                for (k, m) in msgs {
                    add(m, push(&push(&base, "messages"), k), &mut seen);
                }
            }
        }
    }
    counts.messages = seen.len();
    counts
}
