//! Replays every committed input of the `asyncapi_parse` fuzz corpus through the fuzz check, so
//! `cargo test` exercises it (and any crasher committed there stays fixed).

#[path = "support/fuzz_check.rs"]
mod fuzz_check;

use std::path::PathBuf;

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

/// A "billion laughs" of `levels` levels: level 1 is nine strings, each further level nine
/// aliases of the one before, so the last one expands to 9^levels strings.
fn alias_bomb(levels: u32) -> String {
    let names: Vec<char> = ('a'..='z').take(levels as usize).collect();
    let mut text = String::new();
    for (i, name) in names.iter().enumerate() {
        let item = if i == 0 {
            "\"x\"".to_owned()
        } else {
            format!("*{}", names[i - 1])
        };
        text.push_str(&format!("{name}: &{name} [{}]\n", vec![item; 9].join(",")));
    }
    text
}

/// How many JSON values a value holds, itself included.
fn values(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(values).sum::<usize>(),
        serde_json::Value::Object(m) => 1 + m.values().map(values).sum::<usize>(),
        _ => 1,
    }
}

#[test]
fn yaml_alias_bomb_is_a_yaml_syntax_error_after_bounded_expansion() {
    use eventgate_asyncapi::{Document, Format, ReadError};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/asyncapi_parse");
    let text = std::fs::read_to_string(dir.join("yaml-alias-bomb.yaml")).unwrap();
    let started = std::time::Instant::now();
    let err = Document::parse(&text).unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Syntax {
                format: Format::Yaml,
                ..
            }
        ),
        "{err:?}"
    );
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
                let last = &doc.value()[names_last(levels)];
                assert_eq!(values(last) - values_of_arrays(levels), 9usize.pow(levels));
                assert!(values(doc.value()) <= events * (1 + 100 * events));
                expanded += 1;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        ReadError::Syntax {
                            format: Format::Yaml,
                            ..
                        }
                    ),
                    "{e:?}"
                );
                refused += 1;
            }
        }
    }
    assert!(
        expanded > 0 && refused > 0,
        "{expanded} expanded, {refused} refused"
    );
}

/// The key of the last level of [`alias_bomb`].
fn names_last(levels: u32) -> String {
    ('a'..='z').nth(levels as usize - 1).unwrap().to_string()
}

/// The arrays (not strings) in the last level of an expanded [`alias_bomb`]: 1 + 9 + ... + 9^(levels-1).
fn values_of_arrays(levels: u32) -> usize {
    (0..levels).map(|k| 9usize.pow(k)).sum()
}
