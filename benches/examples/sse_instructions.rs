//! sse_instructions: one parser over one workload of the sse suite, `iters` times, in a
//! plain loop: the program to run under `valgrind --tool=callgrind` for instruction
//! counts, which (unlike time) repeat exactly on the shared, busy machine.
//!
//! `sse_instructions <a|b|c|d> <whole|1460> <parser> <iters>` where parser is one of
//! `eventgate-sse`, `eventgate-sse-ref` (events borrowed with `Parser::next_ref`),
//! `eventgate-sse-count`, `sse-core-decoder`, `sse-core`, `sse-stream`,
//! `sseer`, `memchr2-scan`, `classify-pass`. The workload and its chunks are made before
//! the loop, so the instructions per event of a parser are
//! `(Ir(iters = n) - Ir(iters = 0)) / (n * events)`: `benches/callgrind.sh` does that
//! for every parser and workload. Prints the events (or CR/LF bytes, for the two limit
//! rows) found by the last iteration.

use bytes::Bytes;
use eventgate_benches::{TCP_CHUNK, sse};
use futures_core::Stream;
use std::convert::Infallible;
use std::hint::black_box;
use std::pin::pin;
use std::process::ExitCode;
use std::task::{Context, Poll, Waker};

type Counts = (u64, u64);

fn drain<S: Stream>(stream: S, mut f: impl FnMut(S::Item)) {
    let mut stream = pin!(stream);
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
        f(item);
    }
}

fn byte_stream(chunks: Vec<Bytes>) -> impl Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::iter(chunks.into_iter().map(Ok))
}

fn run(parser: &str, chunks: Vec<Bytes>) -> Option<Counts> {
    let (mut events, mut bytes) = (0u64, 0u64);
    match parser {
        "eventgate-sse" => {
            use eventgate_sse::{Item, Parser};
            let mut p = Parser::new();
            let mut take = |p: &mut Parser| {
                for item in p.by_ref() {
                    if let Ok(Item::Event(event)) = item {
                        events += 1;
                        bytes += black_box(event.data()).len() as u64;
                    }
                }
            };
            for chunk in chunks {
                p.feed(chunk);
                take(&mut p);
            }
            p.finish();
            take(&mut p);
        }
        "eventgate-sse-ref" => {
            use eventgate_sse::{ItemRef, Parser};
            let mut p = Parser::new();
            let mut take = |p: &mut Parser| {
                while let Some(item) = p.next_ref() {
                    if let Ok(ItemRef::Event(event)) = item {
                        events += 1;
                        bytes += black_box(event.data()).len() as u64;
                    }
                }
            };
            for chunk in chunks {
                p.feed(chunk);
                take(&mut p);
            }
            p.finish();
            take(&mut p);
        }
        "eventgate-sse-count" => {
            let mut p = eventgate_sse::Parser::new();
            for chunk in chunks {
                p.feed(chunk);
                let _ = black_box(p.count_events());
            }
            p.finish();
            let _ = p.count_events();
            (events, bytes) = (p.counted_events(), p.counted_data_bytes());
        }
        "sse-core-decoder" => {
            let mut decoder = sse_core::SseDecoder::new();
            for mut chunk in chunks {
                while let Some(item) = decoder.next(&mut chunk) {
                    if let Ok(sse_core::SseEvent::Message(m)) = item {
                        events += 1;
                        bytes += black_box(m.data).len() as u64;
                    }
                }
            }
        }
        "sse-core" => drain(sse_core::SseStream::new(byte_stream(chunks)), |item| {
            if let Ok(sse_core::SseEvent::Message(m)) = item {
                events += 1;
                bytes += black_box(m.data).len() as u64;
            }
        }),
        "sse-stream" => drain(
            sse_stream::SseByteStream::new(byte_stream(chunks)),
            |item| {
                if let Ok(sse_stream::Sse { data: Some(d), .. }) = item {
                    events += 1;
                    bytes += black_box(d).len() as u64;
                }
            },
        ),
        "sseer" => drain(sseer::EventStream::new(byte_stream(chunks)), |item| {
            if let Ok(e) = item {
                events += 1;
                bytes += black_box(e.data).len() as u64;
            }
        }),
        "memchr2-scan" => {
            for chunk in &chunks {
                let mut rest: &[u8] = chunk;
                while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
                    events += 1;
                    rest = &rest[i + 1..];
                }
            }
        }
        "classify-pass" => {
            let classifier = eventgate_sse::classify::Classifier::best();
            let mut masks = [0u64; 64];
            for chunk in &chunks {
                let mut rest: &[u8] = chunk;
                while !rest.is_empty() {
                    let n = classifier.classify(rest, &mut masks);
                    events += masks[..n.div_ceil(64)]
                        .iter()
                        .map(|m| u64::from(m.count_ones()))
                        .sum::<u64>();
                    rest = &rest[n..];
                }
            }
        }
        _ => return None,
    }
    Some((events, bytes))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, feed, parser, iters] = args.as_slice() else {
        eprintln!("usage: sse_instructions <a|b|c|d> <whole|1460> <parser> <iters>");
        return ExitCode::from(2);
    };
    let workload = match workload.as_str() {
        "a" => sse::small_json(10_000),
        "b" => sse::big_lines(1_000),
        "c" => sse::crlf_multiline(10_000),
        "d" => sse::llm_tokens(50_000),
        _ => return ExitCode::from(2),
    };
    let chunks = match feed.as_str() {
        "whole" => vec![workload.input.clone()],
        "1460" => workload.chunks(TCP_CHUNK),
        _ => return ExitCode::from(2),
    };
    let Ok(iters) = iters.parse::<u32>() else {
        return ExitCode::from(2);
    };
    let mut found = (0, 0);
    for _ in 0..iters {
        match run(parser, chunks.clone()) {
            Some(counts) => found = black_box(counts),
            None => {
                eprintln!("unknown parser {parser:?}");
                return ExitCode::from(2);
            }
        }
    }
    println!(
        "events={} data_bytes={} (workload: {} events)",
        found.0, found.1, workload.events
    );
    ExitCode::SUCCESS
}
