//! sse_workload: writes one of the criterion suite's parser workloads to stdout, for
//! whole-process timing of `sse2json --count` and `peer_count` on the same bytes.
//!
//! `cargo run --release -p eventgate-benches --example sse_workload -- a 100 > a.sse`
//! writes workload (a) (`a`, `b`, `c` or `d`, as in benches/benches/sse.rs) repeated 100
//! times, and prints to stderr the events and data bytes a correct parser finds in it.

use eventgate_benches::sse;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let workload = match args.next().as_deref() {
        Some("a") => sse::small_json(10_000),
        Some("b") => sse::big_lines(1_000),
        Some("c") => sse::crlf_multiline(10_000),
        Some("d") => sse::llm_tokens(50_000),
        _ => {
            eprintln!("usage: sse_workload a|b|c|d [repeat]");
            return ExitCode::from(2);
        }
    };
    let repeat: u64 = args.next().and_then(|r| r.parse().ok()).unwrap_or(1);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..repeat {
        if out.write_all(&workload.input).is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    eprintln!(
        "events={} data_bytes={}",
        workload.events * repeat,
        workload.data_bytes * repeat
    );
    ExitCode::SUCCESS
}
