//! Checks one AsyncAPI document and prints one JSON object:
//!
//! ```text
//! {"valid":bool,"version":"2.6.0","errors":[{"pointer":"...","message":"..."}],
//!  "channels":N,"operations":N,"messages":N,"servers":N}
//! ```
//!
//! Exit code 0 when valid, 1 when invalid, 2 when the file cannot be read or parsed at all
//! (the object is still printed, with the reason as its only error).
//!
//! `cargo run -q -p eventgate-asyncapi --example asyncapi-check -- FILE`

use std::process::ExitCode;

use eventgate_asyncapi::{Document, Limits, Report};
use serde::Serialize;

#[derive(Serialize)]
struct Error {
    pointer: String,
    message: String,
}

#[derive(Serialize, Default)]
struct Output {
    valid: bool,
    version: Option<String>,
    errors: Vec<Error>,
    channels: usize,
    operations: usize,
    messages: usize,
    servers: usize,
}

/// The report of the file named by the first argument, or why there is none.
fn run() -> Result<Report, String> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: asyncapi-check FILE")?;
    let bytes =
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.to_string_lossy()))?;
    let doc = Document::from_slice(&bytes, &Limits::new()).map_err(|e| e.to_string())?;
    Ok(doc.validate())
}

fn main() -> ExitCode {
    let (out, code) = match run() {
        Ok(report) => {
            let out = Output {
                valid: report.is_valid(),
                version: report.version,
                errors: (report.problems.into_iter())
                    .map(|p| Error {
                        pointer: p.pointer,
                        message: p.message,
                    })
                    .collect(),
                channels: report.counts.channels,
                operations: report.counts.operations,
                messages: report.counts.messages,
                servers: report.counts.servers,
            };
            let code = if out.valid { 0 } else { 1 };
            (out, code)
        }
        Err(message) => {
            let pointer = String::new();
            let errors = vec![Error { pointer, message }];
            (
                Output {
                    errors,
                    ..Output::default()
                },
                2,
            )
        }
    };
    match serde_json::to_string(&out) {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("cannot encode output: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(code)
}
