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

use eventgate_asyncapi::{Document, Limits};
use serde::Serialize;

#[derive(Serialize)]
struct Error {
    pointer: String,
    message: String,
}

#[derive(Serialize)]
struct Output {
    valid: bool,
    version: Option<String>,
    errors: Vec<Error>,
    channels: usize,
    operations: usize,
    messages: usize,
    servers: usize,
}

fn fail(message: String) -> Output {
    Output {
        valid: false,
        version: None,
        errors: vec![Error {
            pointer: String::new(),
            message,
        }],
        channels: 0,
        operations: 0,
        messages: 0,
        servers: 0,
    }
}

fn run() -> (Output, ExitCode) {
    let Some(path) = std::env::args_os().nth(1) else {
        return (
            fail("usage: asyncapi-check FILE".to_owned()),
            ExitCode::from(2),
        );
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            return (
                fail(format!("cannot read {}: {e}", path.to_string_lossy())),
                ExitCode::from(2),
            );
        }
    };
    let doc = match Document::from_slice(&bytes, &Limits::new()) {
        Ok(d) => d,
        Err(e) => return (fail(e.to_string()), ExitCode::from(2)),
    };
    let report = doc.validate();
    let valid = report.is_valid();
    let out = Output {
        valid,
        version: report.version.clone(),
        errors: report
            .problems
            .into_iter()
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
    (out, ExitCode::from(if valid { 0 } else { 1 }))
}

fn main() -> ExitCode {
    let (out, code) = run();
    match serde_json::to_string(&out) {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("cannot encode output: {e}");
            return ExitCode::from(2);
        }
    }
    code
}
