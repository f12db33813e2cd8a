//! Object counts, as the reference parser counts them.

use foldhash::{HashSet, HashSetExt};

use serde_json::{Map, Value};

use super::Counts;
use crate::model::SpecVersion;
use crate::refs::deref;

/// Counts channels, operations, messages and servers the way the reference parser does.
pub(super) fn count(root: &Value, line: SpecVersion) -> Counts {
    let len = |k: &str| root.get(k).and_then(Value::as_object).map_or(0, Map::len);
    let mut counts = Counts {
        channels: len("channels"),
        servers: len("servers"),
        ..Counts::default()
    };
    // A message is identified by the object it resolves to: one place in the document, as its
    // JSON pointer would name it.
    let mut seen: HashSet<*const Value> = HashSet::new();
    let mut see = |m: &Value| {
        seen.extend(deref(root, m).map(std::ptr::from_ref));
    };
    let channels = root.get("channels").and_then(Value::as_object);
    for c in channels
        .into_iter()
        .flatten()
        .filter_map(|(_, c)| deref(root, c))
    {
        match line {
            SpecVersion::V2 => {
                for o in ["subscribe", "publish"]
                    .into_iter()
                    .filter_map(|op| c.get(op))
                {
                    counts.operations += 1;
                    let Some(msg) = o.get("message").and_then(|m| deref(root, m)) else {
                        continue;
                    };
                    match msg.get("oneOf").and_then(Value::as_array) {
                        Some(items) => items.iter().for_each(&mut see),
                        None => see(msg),
                    }
                }
            }
            SpecVersion::V3 => {
                let msgs = c.get("messages").and_then(Value::as_object);
                msgs.into_iter().flat_map(Map::values).for_each(&mut see);
            }
        }
    }
    if line == SpecVersion::V3 {
        counts.operations = len("operations");
    }
    counts.messages = seen.len();
    counts
}
