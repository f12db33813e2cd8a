//! `$ref` resolution inside one document: JSON pointers, chains, cycles.

use foldhash::HashMap;
use serde_json::{Map, Value};

use crate::error::RefError;
use crate::pointer;

/// Longest chain of references followed before giving up as a cycle (a chain that comes back
/// to a pointer it passed runs into this bound too).
const MAX_HOPS: usize = 64;

/// Default bound on the number of values [`dereference`] may produce.
pub const DEFAULT_MAX_INLINED_VALUES: usize = 1_000_000;

/// Turns a reference into the JSON pointer it names inside the document.
pub(crate) fn to_pointer(reference: &str) -> Result<String, RefError> {
    let Some(fragment) = reference.strip_prefix('#') else {
        return Err(RefError::External {
            reference: reference.to_owned(),
        });
    };
    let invalid = || RefError::InvalidPointer {
        reference: reference.to_owned(),
    };
    let decoded = pointer::percent_decode(fragment).ok_or_else(invalid)?;
    if !pointer::is_valid(&decoded) {
        return Err(invalid());
    }
    Ok(decoded)
}

/// The `$ref` string of a value, if it is a reference object.
pub(crate) fn ref_of(value: &Value) -> Option<&str> {
    value.as_object()?.get("$ref")?.as_str()
}

/// Follows `reference` (and any chain of references it lands on) inside `doc`.
/// Returns the target and its JSON pointer.
pub(crate) fn resolve_with_pointer<'v>(
    doc: &'v Value,
    reference: &str,
) -> Result<(&'v Value, String), RefError> {
    let cycle = || RefError::Cycle {
        reference: reference.to_owned(),
    };
    let mut current = reference;
    for _ in 0..MAX_HOPS {
        let ptr = to_pointer(current)?;
        let target = pointer::lookup(doc, &ptr).ok_or_else(|| RefError::Dangling {
            reference: current.to_owned(),
        })?;
        match ref_of(target) {
            Some(next) => current = next,
            None => return Ok((target, ptr)),
        }
    }
    Err(cycle())
}

/// Follows a reference inside a document.
///
/// ```
/// use serde_json::json;
/// let doc = json!({"components": {"messages": {"A": {"$ref": "#/components/messages/B"}, "B": {"name": "b"}}}});
/// let b = eventgate_asyncapi::resolve(&doc, "#/components/messages/A").unwrap();
/// assert_eq!(b, &json!({"name": "b"}));
/// assert!(eventgate_asyncapi::resolve(&doc, "other.yaml#/x").is_err());
/// ```
///
/// # Errors
/// [`RefError`]: external, invalid pointer, dangling, or a cycle of references.
pub fn resolve<'v>(doc: &'v Value, reference: &str) -> Result<&'v Value, RefError> {
    resolve_with_pointer(doc, reference).map(|(v, _)| v)
}

/// Returns `value` itself, or its target when it is a reference object.
pub(crate) fn deref<'v>(doc: &'v Value, value: &'v Value) -> Option<&'v Value> {
    match ref_of(value) {
        Some(r) => resolve(doc, r).ok(),
        None => Some(value),
    }
}

/// [`resolve`] remembered by reference string, for the walks that meet every `$ref` of a
/// document (the reference check, the counts), where most name the same few components.
pub(crate) struct Memo<'v> {
    doc: &'v Value,
    seen: HashMap<&'v str, Result<&'v Value, RefError>>,
}

impl<'v> Memo<'v> {
    pub(crate) fn new(doc: &'v Value) -> Self {
        let seen = HashMap::default();
        Memo { doc, seen }
    }

    /// As [`resolve`] in the memo's document.
    pub(crate) fn resolve(&mut self, reference: &'v str) -> Result<&'v Value, RefError> {
        let doc = self.doc;
        let entry = self.seen.entry(reference);
        entry.or_insert_with(|| resolve(doc, reference)).clone()
    }

    /// As [`deref`] in the memo's document.
    pub(crate) fn deref(&mut self, value: &'v Value) -> Option<&'v Value> {
        match ref_of(value) {
            Some(r) => self.resolve(r).ok(),
            None => Some(value),
        }
    }
}

/// A copy of `doc` with every internal reference replaced by its target.
///
/// Recursive structures (a schema that contains itself) cannot be written out as a tree and are
/// reported as [`RefError::Cycle`].
///
/// ```
/// use serde_json::json;
/// let doc = json!({"a": {"$ref": "#/b"}, "b": [1]});
/// assert_eq!(eventgate_asyncapi::dereference(&doc).unwrap(), json!({"a": [1], "b": [1]}));
/// ```
///
/// # Errors
/// Any [`RefError`], or [`RefError::TooLarge`] past [`DEFAULT_MAX_INLINED_VALUES`] values.
pub fn dereference(doc: &Value) -> Result<Value, RefError> {
    let mut budget = DEFAULT_MAX_INLINED_VALUES;
    let mut stack = Vec::new();
    inline(doc, doc, &mut stack, &mut budget)
}

fn inline(
    doc: &Value,
    v: &Value,
    stack: &mut Vec<String>,
    budget: &mut usize,
) -> Result<Value, RefError> {
    if *budget == 0 {
        return Err(RefError::TooLarge {
            limit: DEFAULT_MAX_INLINED_VALUES,
        });
    }
    *budget -= 1;
    if let Some(r) = ref_of(v) {
        let (target, ptr) = resolve_with_pointer(doc, r)?;
        if stack.contains(&ptr) || stack.len() > MAX_HOPS * 4 {
            return Err(RefError::Cycle {
                reference: r.to_owned(),
            });
        }
        stack.push(ptr);
        let out = inline(doc, target, stack, budget);
        stack.pop();
        return out;
    }
    let mut inline = |c| inline(doc, c, stack, budget);
    Ok(match v {
        Value::Array(a) => Value::Array(a.iter().map(inline).collect::<Result<_, _>>()?),
        Value::Object(m) => {
            let fields = m.iter().map(|(k, c)| Ok((k.clone(), inline(c)?)));
            Value::Object(fields.collect::<Result<Map<_, _>, RefError>>()?)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chain_of_refs_back_to_start_is_a_cycle() {
        let doc = json!({"a": {"$ref": "#/b"}, "b": {"$ref": "#/a"}});
        assert!(matches!(resolve(&doc, "#/a"), Err(RefError::Cycle { .. })));
    }

    #[test]
    fn pointer_with_space_after_hash_is_invalid() {
        let doc = json!({});
        assert!(matches!(
            resolve(&doc, "# /components/x"),
            Err(RefError::InvalidPointer { .. })
        ));
    }

    #[test]
    fn percent_encoded_fragment_resolves() {
        let doc = json!({"channels": {"/a/{b}": 1}});
        assert_eq!(resolve(&doc, "#/channels/~1a~1%7Bb%7D").unwrap(), &json!(1));
    }

    #[test]
    fn self_containing_schema_cannot_be_inlined() {
        let doc = json!({"s": {"properties": {"next": {"$ref": "#/s"}}}});
        assert!(matches!(dereference(&doc), Err(RefError::Cycle { .. })));
    }

    #[test]
    fn relative_file_and_url_refs_are_external() {
        let doc = json!({});
        for r in [
            "refs/a.yaml",
            "https://x.invalid/a.json#/b",
            "/components/x",
        ] {
            assert!(
                matches!(resolve(&doc, r), Err(RefError::External { .. })),
                "{r}"
            );
        }
    }
}
