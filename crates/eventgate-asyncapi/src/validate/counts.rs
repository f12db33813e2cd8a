//! Object counts, as the reference parser counts them.

use foldhash::{HashSet, HashSetExt};

use serde_json::{Map, Value};

use super::Counts;
use crate::model::SpecVersion;
use crate::refs::Memo;

/// Counts channels, operations, messages and servers the way the reference parser does.
pub(super) fn count<'v>(root: &'v Value, line: SpecVersion, memo: &mut Memo<'v>) -> Counts {
    let len = |k: &str| root.get(k).and_then(Value::as_object).map_or(0, Map::len);
    let mut counts = Counts {
        channels: len("channels"),
        servers: len("servers"),
        ..Counts::default()
    };
    // A message is identified by the object it resolves to: one place in the document, as its
    // JSON pointer would name it.
    let mut seen: HashSet<*const Value> = HashSet::new();
    let mut see = |memo: &mut Memo<'v>, m: &'v Value| {
        seen.extend(memo.deref(m).map(std::ptr::from_ref));
    };
    let channels = root.get("channels").and_then(Value::as_object);
    for (_, c) in channels.into_iter().flatten() {
        let Some(c) = memo.deref(c) else {
            continue;
        };
        match line {
            SpecVersion::V2 => {
                for o in ["subscribe", "publish"]
                    .into_iter()
                    .filter_map(|op| c.get(op))
                {
                    counts.operations += 1;
                    let Some(msg) = o.get("message").and_then(|m| memo.deref(m)) else {
                        continue;
                    };
                    match msg.get("oneOf").and_then(Value::as_array) {
                        Some(items) => items.iter().for_each(|m| see(memo, m)),
                        None => see(memo, msg),
                    }
                }
            }
            SpecVersion::V3 => {
                let msgs = c.get("messages").and_then(Value::as_object);
                msgs.into_iter()
                    .flat_map(Map::values)
                    .for_each(|m| see(memo, m));
            }
        }
    }
    if line == SpecVersion::V3 {
        counts.operations = len("operations");
    }
    counts.messages = seen.len();
    counts
}
