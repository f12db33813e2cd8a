//! Reads one AsyncAPI document and validates it N times: a steady loop for instruction counts
//! (`valgrind --tool=callgrind`), which a noisy machine's timings cannot give.
//!
//! `cargo run --release --example validate-loop -- FILE [N]` (N defaults to 100).

use std::process::ExitCode;

use eventgate_asyncapi::Document;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: validate-loop FILE [N]");
        return ExitCode::FAILURE;
    };
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let doc = match Document::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut problems = 0;
    for _ in 0..n {
        problems += std::hint::black_box(&doc).validate().problems.len();
    }
    println!("{n} validations, {problems} problems in all");
    ExitCode::SUCCESS
}
