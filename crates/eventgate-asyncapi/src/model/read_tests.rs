//! The reader of `read.rs` on every value of every document of the shared corpus and the fuzz
//! corpus, and of mutations of them: for each model type, what it reads writes back the value it
//! was read from, and serde's `Deserialize` (through the reader) gives the same verdict.
//!
//! Until the reader replaced serde's derived `Deserialize` (commit 3afa04c), these documents were
//! compared with that derive: same model, or both refused, on every value.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::FromValue;
use super::common::*;
use super::v2::*;
use super::v3::*;
use crate::{AsyncApi, Document, Limits, ModelError};

/// Tallies of one run: (values read, values refused).
type Tally = (usize, usize);

fn lossless<T: DeserializeOwned + FromValue + Serialize + PartialEq + Debug>(
    v: &Value,
    t: &mut Tally,
) -> Result<(), String> {
    let via_serde = serde_json::from_value::<T>(v.clone()).map_err(|e| e.to_string());
    match T::from_value(v) {
        Ok(m) => {
            t.0 += 1;
            let back = serde_json::to_value(&m).map_err(|e| e.to_string())?;
            if back != *v || via_serde.as_ref() != Ok(&m) {
                return Err(format!("{}: {m:?} from {v}", std::any::type_name::<T>()));
            }
        }
        Err(_) if via_serde.is_ok() => return Err(format!("serde read {v}")),
        Err(_) => t.1 += 1,
    }
    Ok(())
}

/// Every model type, alone and as a `RefOr`, on one value.
fn agree_all(v: &Value, t: &mut Tally) -> Result<(), String> {
    macro_rules! each {
        ($($ty:ty),* $(,)?) => { $(lossless::<$ty>(v, t)?; lossless::<RefOr<$ty>>(v, t)?;)* };
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
    lossless::<Reference>(v, t)?;
    lossless::<Action>(v, t)?;
    lossless::<OperationMessage>(v, t)?;
    lossless::<OneOfMessages>(v, t)?;
    lossless::<Vec<RefOr<Tag>>>(v, t)?;
    lossless::<Vec<Reference>>(v, t)?;
    lossless::<Vec<SecurityRequirement>>(v, t)?;
    lossless::<BTreeMap<String, RefOr<Message>>>(v, t)?;
    lossless::<BTreeMap<String, String>>(v, t)?;
    lossless::<Value>(v, t)?;
    lossless::<String>(v, t)
}

/// `agree_all` on `v` and on every value inside it.
fn agree_everywhere(v: &Value, t: &mut Tally) -> Result<(), String> {
    agree_all(v, t)?;
    match v {
        Value::Object(m) => m.values().try_for_each(|v| agree_everywhere(v, t)),
        Value::Array(a) => a.iter().try_for_each(|v| agree_everywhere(v, t)),
        _ => Ok(()),
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
fn every_value_of_the_corpora_reads_back_losslessly() {
    let mut t = Tally::default();
    for doc in documents() {
        agree_everywhere(doc, &mut t).unwrap();
    }
    assert!(documents().len() >= 9 && t.0 > 1000 && t.1 > 1000, "{t:?}");
}

#[test]
fn action_map_forms_are_refused() {
    // serde's derived enum reading took these as `Send` and `Receive`, a model that would not
    // write back the value it was read from.
    for v in [json!({"send": null}), json!({"receive": {}})] {
        assert!(Action::from_value(&v).is_err());
    }
    assert_eq!(Action::from_value(&json!("send")), Ok(Action::Send));
}

/// The error `AsyncApi::from_value` gives for `v`: (pointer, message).
fn shape_error(v: &Value) -> (String, String) {
    match AsyncApi::from_value(v) {
        Err(ModelError::Shape {
            pointer, message, ..
        }) => (pointer, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_the_value_at_fault() {
    let doc = json!({"asyncapi": "2.6.0", "info": {"title": "T", "version": "1"},
        "channels": {"/a/{b}": {"subscribe": {"message": {"oneOf": [{"name": 1}]}}}}});
    // An unreadable `oneOf` is read as a message with a `oneOf` extension (as serde's untagged
    // enum did): this document fits.
    assert!(AsyncApi::from_value(&doc).is_ok());
    let mut bad = doc.clone();
    bad["channels"]["/a/{b}"]["subscribe"]["message"] = json!({"name": 1});
    let (pointer, message) = shape_error(&bad);
    assert_eq!(pointer, "/channels/~1a~1{b}/subscribe/message/name");
    assert_eq!(message, "expected a string, found a number");
    bad = doc.clone();
    bad["info"].as_object_mut().unwrap().remove("title");
    assert_eq!(
        shape_error(&bad),
        ("/info".into(), "missing field `title`".into())
    );
    bad = doc.clone();
    bad["tags"] = json!([{"name": "a"}, {"name": null}]);
    assert_eq!(shape_error(&bad).0, "/tags/1/name");
    let text = AsyncApi::from_value(&bad).unwrap_err().to_string();
    assert!(text.contains("2.6.0 model at '/tags/1/name'"), "{text}");
}

#[test]
fn null_is_a_value_for_json_fields_and_nullable_fields_only() {
    let m = Message::from_value(&json!({"payload": null})).unwrap();
    assert_eq!(m.payload, Some(Value::Null));
    assert!(Message::from_value(&json!({"name": null})).is_err());
    let c = ChannelV3::from_value(&json!({"address": null})).unwrap();
    assert_eq!(c.address, Some(None));
    assert_eq!(ChannelV3::from_value(&json!({})).unwrap().address, None);
}

#[test]
fn only_exactly_one_string_ref_is_a_reference() {
    let r = RefOr::<Tag>::from_value(&json!({"$ref": "#/x"})).unwrap();
    assert_eq!(r, RefOr::Ref(Reference::new("#/x")));
    let item = RefOr::<Message>::from_value(&json!({"$ref": "#/x", "name": "n"})).unwrap();
    assert!(item.item().is_some());
    assert!(
        RefOr::<Message>::from_value(&json!({"$ref": 1}))
            .unwrap()
            .item()
            .is_some()
    );
    assert!(Reference::from_value(&json!([{"$ref": "#/x"}])).is_err());
    assert!(Reference::from_value(&json!({"$ref": "#/x", "a": 1})).is_err());
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
    fn mutated_documents_read_back_losslessly(
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
        let r = agree_everywhere(&doc, &mut t);
        prop_assert!(r.is_ok(), "{:?}", r);
    }
}
