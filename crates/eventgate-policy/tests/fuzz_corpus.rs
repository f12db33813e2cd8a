//! Replays every file of the committed fuzz corpus (fuzz/corpus/policy_token) through the
//! check the fuzz target runs, so plain `cargo test` exercises it.

mod support;

#[test]
fn policy_token_corpus_replays_cleanly() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/policy_token");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            support::fuzz_checks::token(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= 40, "corpus too small: {n}");
}
