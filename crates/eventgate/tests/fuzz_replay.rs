//! Replays every committed input of the `router` fuzz corpus (fuzz/corpus/router) through
//! the fuzz check, plus inputs that reached the traversal defect of the lower crates.

#[path = "support/fuzz_router.rs"]
mod fuzz_router;

#[test]
fn router_fuzz_corpus_replays_without_panic_or_escape() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/router");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("the router corpus is committed") {
        let path = entry.unwrap().path();
        fuzz_router::router(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 5, "corpus has {n} inputs");
}

#[test]
fn traversal_inputs_never_escape_the_endpoint() {
    for input in [
        "localhost\n/2/stocks/q/..",
        "localhost\n/2/stocks/q/%2e%2E",
        "localhost\n/2/stocks/f/...json",
        "localhost\n/2/stocks/x/.-..",
        "localhost\n/2/stocks/rest/a/../../..",
        "localhost\n/2/stocks/q/a%2Fb",
        "\n/observer/deep/1/%2e/x",
        "LOCALHOST:1\n/stocks/q/IBM?access_token=t&x=1",
        "/observer/1.0.0/memory",
    ] {
        fuzz_router::router(input.as_bytes());
    }
}
