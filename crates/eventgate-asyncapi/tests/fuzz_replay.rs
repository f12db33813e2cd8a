//! Replays every committed input of the `asyncapi_parse` fuzz corpus through the fuzz check, so
//! `cargo test` exercises it (and any crasher committed there stays fixed).

#[path = "support/fuzz_check.rs"]
mod fuzz_check;

use std::path::PathBuf;

use eventgate_asyncapi::{Document, Format, ReadError};
use serde_json::Value;

#[test]
fn fuzz_corpus_inputs_do_not_panic_and_round_trip() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/asyncapi_parse");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz corpus folder") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        fuzz_check::asyncapi_parse(&data);
        n += 1;
    }
    assert!(
        n >= 9,
        "expected the seed corpus, found {n} files in {}",
        dir.display()
    );
}

/// A "billion laughs" of `levels` levels named `a`, `b`, ...: level 1 is nine strings, each
/// further level nine aliases of the one before, so the last one expands to 9^levels strings.
fn alias_bomb(levels: u8) -> String {
    let name = |i: u8| char::from(b'a' + i);
    let level = |i: u8| match i {
        0 => format!("a: &a [{}]\n", ["\"x\""; 9].join(",")),
        i => format!(
            "{0}: &{0} [{1}]\n",
            name(i),
            vec![format!("*{}", name(i - 1)); 9].join(",")
        ),
    };
    (0..levels).map(level).collect()
}

/// How many strings a value holds, and how many values in all (itself included).
fn sizes(v: &Value) -> (usize, usize) {
    let children = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(m) => m.values().collect(),
        Value::String(_) => return (1, 1),
        _ => Vec::new(),
    };
    let sums = children.into_iter().map(sizes);
    sums.fold((0, 1), |(s, n), (cs, cn)| (s + cs, n + cn))
}

fn is_yaml_syntax_error(e: &ReadError) -> bool {
    matches!(
        e,
        ReadError::Syntax {
            format: Format::Yaml,
            ..
        }
    )
}

#[test]
fn yaml_alias_bomb_is_a_yaml_syntax_error_after_bounded_expansion() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/asyncapi_parse");
    let text = std::fs::read_to_string(dir.join("yaml-alias-bomb.yaml")).unwrap();
    let started = std::time::Instant::now();
    let err = Document::parse(&text).unwrap_err();
    assert!(is_yaml_syntax_error(&err), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // serde_norway follows at most 100 aliases per event of the document, so a document of E
    // events (fewer than its bytes plus the four stream and document events) yields at most
    // E * (1 + 100 E) values: smaller bombs expand completely within that bound, larger ones are
    // refused before reaching it.
    let (mut expanded, mut refused) = (0, 0);
    for levels in 1..=9 {
        let text = alias_bomb(levels);
        let events = text.len() + 4;
        match Document::parse(&text) {
            Ok(doc) => {
                let last = &doc.value()[char::from(b'a' + levels - 1).to_string()];
                assert_eq!(sizes(last).0, 9usize.pow(levels.into()));
                assert!(sizes(doc.value()).1 <= events * (1 + 100 * events));
                expanded += 1;
            }
            Err(e) => {
                assert!(is_yaml_syntax_error(&e), "{e:?}");
                refused += 1;
            }
        }
    }
    assert!(
        expanded > 0 && refused > 0,
        "{expanded} expanded, {refused} refused"
    );
}
