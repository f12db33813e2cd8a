//! The reader of `read.rs` against serde's derived `Deserialize` it replaces: on every value of
//! every document of the shared corpus and the fuzz corpus, and of mutations of them, each model
//! type reads the same model, or both refuse it.

use std::any::type_name;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::common::*;
use super::v2::*;
use super::v3::*;
use super::{FromValue, typed_serde};
use crate::{Document, Limits};

/// Tallies of one comparison run.
#[derive(Debug, Default)]
struct Tally {
    both_read: usize,
    both_refused: usize,
    /// serde read an `action` written as a one-key map (`{"send": null}`), which the reader
    /// refuses: that model would not write back the value it was read from.
    action_map: usize,
    mismatches: Vec<String>,
}

/// Whether some `action` key anywhere in `v` holds an object.
fn has_object_action(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| (k == "action" && v.is_object()) || has_object_action(v)),
        Value::Array(a) => a.iter().any(has_object_action),
        _ => false,
    }
}

fn agree<T: DeserializeOwned + FromValue + PartialEq + Debug>(v: &Value, t: &mut Tally) {
    match (typed_serde::<T>(v), T::from_value(v)) {
        (Ok(a), Ok(b)) if a == b => t.both_read += 1,
        (Err(_), Err(_)) => t.both_refused += 1,
        (Ok(_), Err(_)) if has_object_action(v) || (type_name::<T>() == type_name::<Action>()) => {
            t.action_map += 1;
        }
        (a, b) => t.mismatches.push(format!(
            "{}: serde {a:?}, reader {b:?}, on {v}",
            type_name::<T>()
        )),
    }
}

/// Every model type (alone and as a `RefOr`, which serde read through its buffered `Content`)
/// on one value.
fn agree_all(v: &Value, t: &mut Tally) {
    macro_rules! each {
        ($($ty:ty),* $(,)?) => { $(agree::<$ty>(v, t); agree::<RefOr<$ty>>(v, t);)* };
    }
    each!(
        AsyncApiV2,
        AsyncApiV3,
        Info,
        Tag,
        ExternalDocs,
        ServerVariable,
        Parameter,
        Message,
        SecurityScheme,
        OAuthFlows,
        OAuthFlow,
        ServerV2,
        ChannelV2,
        OperationV2,
        ComponentsV2,
        ServerV3,
        ChannelV3,
        OperationV3,
        ComponentsV3,
    );
    agree::<Reference>(v, t);
    agree::<Action>(v, t);
    agree::<OperationMessage>(v, t);
    agree::<OneOfMessages>(v, t);
    agree::<Vec<RefOr<Tag>>>(v, t);
    agree::<Vec<Reference>>(v, t);
    agree::<Vec<SecurityRequirement>>(v, t);
    agree::<BTreeMap<String, RefOr<Message>>>(v, t);
    agree::<BTreeMap<String, String>>(v, t);
    agree::<Value>(v, t);
    agree::<String>(v, t);
}

/// `agree_all` on `v` and on every value inside it.
fn agree_everywhere(v: &Value, t: &mut Tally) {
    agree_all(v, t);
    match v {
        Value::Object(m) => m.values().for_each(|v| agree_everywhere(v, t)),
        Value::Array(a) => a.iter().for_each(|v| agree_everywhere(v, t)),
        _ => {}
    }
}

/// The readable documents of the shared corpus (when present beside the repository) and of the
/// `asyncapi_parse` fuzz corpus.
fn documents() -> &'static [Value] {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dirs = [
            root.join("../../../shared/asyncapi-corpus/docs"),
            root.join("../../fuzz/corpus/asyncapi_parse"),
        ];
        let limits = Limits::new().max_bytes(64 * 1024).max_depth(48);
        let mut docs = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
            paths.sort();
            for path in paths {
                let bytes = std::fs::read(&path).unwrap();
                if let Ok(doc) = Document::from_slice(&bytes, &limits) {
                    docs.push(doc.into_value());
                }
            }
        }
        docs
    })
}

#[test]
fn reader_agrees_with_serde_on_every_value_of_the_corpora() {
    let mut t = Tally::default();
    for doc in documents() {
        agree_everywhere(doc, &mut t);
    }
    assert!(t.mismatches.is_empty(), "{:#?}", t.mismatches);
    assert!(documents().len() >= 9 && t.both_read > 1000 && t.both_refused > 1000);
}

#[test]
fn action_map_forms_serde_read_are_refused() {
    for v in [json!({"send": null}), json!({"receive": null})] {
        assert!(Action::from_value(&v).is_err());
        // serde's enum reading took them, as `Send` and `Receive`.
        assert!(typed_serde::<Action>(&v).is_ok());
    }
}

/// Every key a model object names, and a few it does not.
fn keys() -> Vec<&'static str> {
    let tables = [
        AsyncApiV2::FIELDS,
        AsyncApiV3::FIELDS,
        Info::FIELDS,
        Tag::FIELDS,
        ExternalDocs::FIELDS,
        ServerVariable::FIELDS,
        Parameter::FIELDS,
        Message::FIELDS,
        SecurityScheme::FIELDS,
        OAuthFlows::FIELDS,
        OAuthFlow::FIELDS,
        ServerV2::FIELDS,
        ChannelV2::FIELDS,
        OperationV2::FIELDS,
        ComponentsV2::FIELDS,
        ServerV3::FIELDS,
        ChannelV3::FIELDS,
        OperationV3::FIELDS,
        ComponentsV3::FIELDS,
    ];
    let mut keys: Vec<&str> = tables
        .iter()
        .flat_map(|t| t.iter().map(|f| f.name))
        .collect();
    keys.extend(["$ref", "oneOf", "x-a", "send", "receive"]);
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn small_value() -> impl Strategy<Value = Value> {
    const STRINGS: &[&str] = &[
        "send",
        "receive",
        "a",
        "#/components/messages/M0",
        "2.6.0",
        "3.0.0",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        Just(json!(1)),
        Just(json!(-2.5)),
        prop::sample::select(STRINGS).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map(prop::sample::select(keys()), inner.clone(), 0..3)
                .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
            inner.clone().prop_map(|v| json!({ "$ref": v })),
            inner.prop_map(|v| json!({ "oneOf": [v] })),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// The value becomes this one.
    Replace(Value),
    /// An object loses one of its keys.
    Remove(prop::sample::Index),
    /// An object gains (or changes) one key.
    Insert(&'static str, Value),
    /// The value becomes a copy of another value of the same document.
    Copy(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        small_value().prop_map(Mutation::Replace),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        (prop::sample::select(keys()), small_value()).prop_map(|(k, v)| Mutation::Insert(k, v)),
        any::<prop::sample::Index>().prop_map(Mutation::Copy),
    ]
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Object(m) => m.values().map(count).sum(),
        Value::Array(a) => a.iter().map(count).sum(),
        _ => 0,
    }
}

/// The `n`th value of `v` in pre-order (`v` itself is the 0th).
fn nth_mut<'v>(v: &'v mut Value, n: &mut usize) -> Option<&'v mut Value> {
    if *n == 0 {
        return Some(v);
    }
    *n -= 1;
    let children: Box<dyn Iterator<Item = &'v mut Value>> = match v {
        Value::Object(m) => Box::new(m.values_mut()),
        Value::Array(a) => Box::new(a.iter_mut()),
        _ => return None,
    };
    for c in children {
        if let Some(found) = nth_mut(c, n) {
            return Some(found);
        }
    }
    None
}

fn apply(doc: &mut Value, at: prop::sample::Index, m: &Mutation) {
    let snapshot = doc.clone();
    let mut n = at.index(count(doc));
    let Some(target) = nth_mut(doc, &mut n) else {
        return;
    };
    match m {
        Mutation::Replace(v) => *target = v.clone(),
        Mutation::Remove(i) => {
            if let Value::Object(o) = target
                && !o.is_empty()
            {
                let k = o.keys().nth(i.index(o.len())).cloned().unwrap();
                o.remove(&k);
            }
        }
        Mutation::Insert(k, v) => {
            if let Value::Object(o) = target {
                o.insert((*k).to_owned(), v.clone());
            }
        }
        Mutation::Copy(i) => {
            let mut n = i.index(count(&snapshot));
            let mut from = snapshot.clone();
            if let Some(v) = nth_mut(&mut from, &mut n) {
                *target = v.take();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reader_agrees_with_serde_on_mutated_documents(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..4),
    ) {
        let docs = documents();
        prop_assume!(!docs.is_empty());
        let mut doc = docs[which.index(docs.len())].clone();
        for (at, m) in &mutations {
            apply(&mut doc, *at, m);
        }
        let mut t = Tally::default();
        agree_everywhere(&doc, &mut t);
        prop_assert!(t.mismatches.is_empty(), "{:#?}", t.mismatches);
    }
}
