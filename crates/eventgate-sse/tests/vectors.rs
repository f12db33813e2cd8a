//! WHATWG event-stream conformance vectors (tests/vectors/*.json), each run whole, one
//! byte at a time, in every two-chunk split, in cycling chunk sizes 1..=8 and in the
//! chunkings the case names; the naive reference parser must agree with every case too.

mod support;

use eventgate_sse::Parser;
use serde_json::{Value, json};
use support::naive::{self, Out};

fn to_json(out: &[Out]) -> Value {
    Value::Array(
        out.iter()
            .map(|o| match o {
                Out::Event {
                    event_type,
                    data,
                    last_event_id,
                } => {
                    json!({"type": event_type, "data": data, "last_event_id": last_event_id})
                }
                Out::Retry(ms) => json!({ "retry": ms }),
            })
            .collect(),
    )
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// (name, input bytes, expected output, extra chunkings)
type Case = (String, Vec<u8>, Value, Vec<Vec<usize>>);

fn load_cases() -> Vec<Case> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("vectors dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read vector file");
        let list: Vec<Value> = serde_json::from_str(&text).expect("vector file is JSON");
        for case in list {
            let name = format!(
                "{}: {}",
                file.file_name().expect("name").to_string_lossy(),
                case["name"].as_str().expect("name")
            );
            let input = match (&case["input"], &case["input_hex"]) {
                (Value::String(s), _) => s.as_bytes().to_vec(),
                (_, Value::String(h)) => hex(h),
                _ => panic!("{name}: no input"),
            };
            let chunkings = case
                .get("chunkings")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|c| {
                            c.as_array()
                                .expect("sizes")
                                .iter()
                                .map(|n| n.as_u64().expect("size") as usize)
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            cases.push((name, input, case["expected"].clone(), chunkings));
        }
    }
    cases
}

#[test]
fn there_are_at_least_forty_vectors() {
    assert!(
        load_cases().len() >= 40,
        "only {} vectors",
        load_cases().len()
    );
}

#[test]
fn naive_reference_parser_agrees_with_every_vector() {
    for (name, input, expected, _) in load_cases() {
        assert_eq!(to_json(&naive::parse(&input)), expected, "{name}");
    }
}

#[test]
fn parser_agrees_with_every_vector_under_every_chunking() {
    let builder = Parser::builder();
    for (name, input, expected, chunkings) in load_cases() {
        let run = |sizes: &[usize]| to_json(&support::fast::parse_chunked(&builder, &input, sizes));
        assert_eq!(run(&[]), expected, "{name}: whole");
        for size in 1..=8 {
            assert_eq!(run(&[size]), expected, "{name}: chunks of {size}");
        }
        for sizes in &chunkings {
            assert_eq!(run(sizes), expected, "{name}: chunking {sizes:?}");
        }
        for split in 1..input.len() {
            assert_eq!(
                run(&[split, input.len()]),
                expected,
                "{name}: split at {split}"
            );
        }
    }
}
