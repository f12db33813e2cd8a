//! Replays every file of the committed fuzz corpora (fuzz/corpus/sse_*) through the same
//! checks the fuzz targets run, so plain `cargo test` exercises them.

mod support;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_file() {
            check(&std::fs::read(&path).expect("read corpus file"));
            n += 1;
        }
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}

#[test]
fn parse_chunks_corpus_replays_cleanly() {
    replay("sse_parse_chunks", support::fuzz_checks::parse_chunks);
}

#[test]
fn roundtrip_corpus_replays_cleanly() {
    replay("sse_roundtrip", support::fuzz_checks::roundtrip);
}
