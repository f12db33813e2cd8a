//! Object counts, as the reference parser counts them.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::Counts;
use crate::model::SpecVersion;
use crate::pointer::{push, push_index};
use crate::refs::{self, ref_of};

/// A value and the pointer of the object it stands for: its own, or its reference's target.
fn located<'v>(root: &'v Value, v: &'v Value, at: String) -> Option<(&'v Value, String)> {
    match ref_of(v) {
        Some(r) => refs::resolve_with_pointer(root, r).ok(),
        None => Some((v, at)),
    }
}

/// Counts channels, operations, messages and servers the way the reference parser does.
pub(super) fn count(root: &Value, line: SpecVersion) -> Counts {
    let len = |k: &str| root.get(k).and_then(Value::as_object).map_or(0, Map::len);
    let mut counts = Counts {
        channels: len("channels"),
        servers: len("servers"),
        ..Counts::default()
    };
    // A message is identified by the pointer of the object it resolves to.
    let mut seen: HashSet<String> = HashSet::new();
    let channels = root.get("channels").and_then(Value::as_object);
    let channels = channels
        .into_iter()
        .flatten()
        .filter_map(|(name, c)| located(root, c, push("/channels", name)));
    for (c, base) in channels {
        match line {
            SpecVersion::V2 => {
                for op in ["subscribe", "publish"] {
                    let Some(o) = c.get(op) else { continue };
                    counts.operations += 1;
                    let Some(msg) = o.get("message") else {
                        continue;
                    };
                    let at = push(&push(&base, op), "message");
                    let Some((msg, at)) = located(root, msg, at) else {
                        continue;
                    };
                    match msg.get("oneOf").and_then(Value::as_array) {
                        Some(items) => {
                            let items = items.iter().enumerate();
                            let items = items.map(|(i, m)| (m, push_index(&push(&at, "oneOf"), i)));
                            seen.extend(items.filter_map(|(m, at)| Some(located(root, m, at)?.1)));
                        }
                        None => {
                            seen.insert(at);
                        }
                    }
                }
            }
            SpecVersion::V3 => {
                let Some(msgs) = c.get("messages").and_then(Value::as_object) else {
                    continue;
                };
                let at = push(&base, "messages");
                let msgs = msgs.iter().map(|(k, m)| located(root, m, push(&at, k)));
                seen.extend(msgs.filter_map(|m| Some(m?.1)));
            }
        }
    }
    if line == SpecVersion::V3 {
        counts.operations = len("operations");
    }
    counts.messages = seen.len();
    counts
}
