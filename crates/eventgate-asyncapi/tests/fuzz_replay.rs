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

#[test]
fn yaml_alias_bomb_is_refused_quickly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/asyncapi_parse");
    let text = std::fs::read_to_string(dir.join("yaml-alias-bomb.yaml")).unwrap();
    let err = eventgate_asyncapi::Document::parse(&text).unwrap_err();
    assert!(
        err.to_string().contains("repetition limit"),
        "unexpected error: {err}"
    );
}
