//! Reads one AsyncAPI document and validates it N times: a steady loop for instruction counts
//! (`valgrind --tool=callgrind`), which a noisy machine's timings cannot give.
//!
//! `cargo run --release --example validate-loop -- FILE [N]` (N defaults to 100).

use eventgate_asyncapi::Document;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: validate-loop FILE [N]")?;
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let doc = Document::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let mut problems = 0;
    for _ in 0..n {
        problems += std::hint::black_box(&doc).validate().problems.len();
    }
    println!("{n} validations, {problems} problems in all");
    Ok(())
}
