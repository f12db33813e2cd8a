//! `text/event-stream` parsing and encoding: eventgate-sse side by side with the Rust SSE
//! parsers people use, and with the physical limit (a bare `memchr2` scan for line
//! endings over the same bytes, and eventgate-sse's line-ending classification pass alone).
//!
//! Run: `cargo bench -p eventgate-benches --bench sse` (about five minutes).
//! One group per workload and feeding (`parse/<workload>/<whole|1460>`), one benchmark per
//! parser in it, all over the same bytes; then `encode`.
//!
//! Time is the benchmark thread's CPU time ([`ThreadCpuTime`]), so that the figures taken on
//! the shared machine leave out the time the thread waits for a core while others compile;
//! set `SSE_BENCH_CLOCK=wall` for criterion's usual wall-clock time.
//!
//! Every parser is driven the same way: the input chunks (zero-copy `Bytes` slices, made
//! once) are cloned into a `Vec` outside the timed part; the timed part builds the parser
//! (or the peer's stream over `futures_util::stream::iter` of those chunks, polled with a
//! no-op waker: the chunks are always ready), drains every event and counts the events
//! and their data bytes. The counts are checked against the workload before timing, so
//! every figure is for a parser that found every event.

use bytes::{Bytes, BytesMut};
use criterion::measurement::{Measurement, WallTime};
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use eventgate_benches::measurement::ThreadCpuTime;
use eventgate_benches::sse::{QUOTE_DATA, all};
use eventgate_benches::{Scale, TCP_CHUNK, Workload};
use eventgate_sse::{Encoder, EventBuilder};
use futures_core::Stream;
use std::convert::Infallible;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Events and data bytes a parser found.
type Counts = (u64, u64);

/// Polls a stream whose input is always ready to the end, handing each item to `f`.
fn drain<S: Stream>(stream: S, mut f: impl FnMut(S::Item)) {
    let mut stream = pin!(stream);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match stream.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(item)) => f(item),
            Poll::Ready(None) => return,
            // The input is `stream::iter`: never pending.
            Poll::Pending => panic!("an in-memory stream returned Pending"),
        }
    }
}

fn byte_stream(chunks: Vec<Bytes>) -> impl Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::iter(chunks.into_iter().map(Ok))
}

/// eventgate-sse's sans-IO parser: feed each chunk, drain the events.
fn eventgate(chunks: Vec<Bytes>) -> Counts {
    use eventgate_sse::{Item, Parser};
    let mut parser = Parser::new();
    let (mut events, mut bytes) = (0u64, 0u64);
    let mut take = |parser: &mut Parser| {
        for item in parser.by_ref() {
            if let Ok(Item::Event(event)) = item {
                events += 1;
                bytes += black_box(event.data()).len() as u64;
            }
        }
    };
    for chunk in chunks {
        parser.feed(chunk);
        take(&mut parser);
    }
    parser.finish();
    take(&mut parser);
    (events, bytes)
}

/// eventgate-sse's metering count (`Parser::count_events`): every event found, none
/// built. Data bytes come from the parser's totals.
fn eventgate_count(chunks: Vec<Bytes>) -> Counts {
    use eventgate_sse::Parser;
    let mut parser = Parser::new();
    for chunk in chunks {
        parser.feed(chunk);
        // Within the default limits (checked before timing).
        let _ = black_box(parser.count_events());
    }
    parser.finish();
    let _ = parser.count_events();
    (parser.counted_events(), parser.counted_data_bytes())
}

/// sse-stream (rmcp's SSE layer): `SseByteStream` over a byte stream. It yields raw
/// blocks, metadata-only ones too; only blocks with data are events.
fn sse_stream(chunks: Vec<Bytes>) -> Counts {
    let (mut events, mut bytes) = (0u64, 0u64);
    drain(
        sse_stream::SseByteStream::new(byte_stream(chunks)),
        |item| {
            if let Ok(sse_stream::Sse {
                data: Some(data), ..
            }) = item
            {
                events += 1;
                bytes += black_box(data).len() as u64;
            }
        },
    );
    (events, bytes)
}

/// sse-core: its `SseStream` adapter over a byte stream.
fn sse_core(chunks: Vec<Bytes>) -> Counts {
    let (mut events, mut bytes) = (0u64, 0u64);
    drain(sse_core::SseStream::new(byte_stream(chunks)), |item| {
        if let Ok(sse_core::SseEvent::Message(message)) = item {
            events += 1;
            bytes += black_box(message.data).len() as u64;
        }
    });
    (events, bytes)
}

/// sse-core's sans-IO `SseDecoder` called directly (its fastest path, no stream layer).
fn sse_core_decoder(chunks: Vec<Bytes>) -> Counts {
    let mut decoder = sse_core::SseDecoder::new();
    let (mut events, mut bytes) = (0u64, 0u64);
    for mut chunk in chunks {
        while let Some(item) = decoder.next(&mut chunk) {
            if let Ok(sse_core::SseEvent::Message(message)) = item {
                events += 1;
                bytes += black_box(message.data).len() as u64;
            }
        }
    }
    (events, bytes)
}

/// sseer: `EventStream` over a byte stream.
fn sseer(chunks: Vec<Bytes>) -> Counts {
    let (mut events, mut bytes) = (0u64, 0u64);
    drain(sseer::EventStream::new(byte_stream(chunks)), |item| {
        if let Ok(event) = item {
            events += 1;
            bytes += black_box(event.data).len() as u64;
        }
    });
    (events, bytes)
}

/// eventsource-stream (behind reqwest-eventsource): `Eventsource::eventsource()`.
fn eventsource_stream(chunks: Vec<Bytes>) -> Counts {
    use eventsource_stream::Eventsource;
    let (mut events, mut bytes) = (0u64, 0u64);
    drain(byte_stream(chunks).eventsource(), |item| {
        if let Ok(event) = item {
            events += 1;
            bytes += black_box(event.data).len() as u64;
        }
    });
    (events, bytes)
}

/// The physical limit: find every CR and LF with `memchr2`, as any line splitter must,
/// and do nothing else. Returns the number of CR and LF bytes.
fn memchr2_scan(chunks: &[Bytes]) -> u64 {
    let mut found = 0u64;
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            found += 1;
            rest = &rest[i + 1..];
        }
    }
    found
}

/// The classification pass alone: eventgate-sse's line-ending classifier (the one the
/// parser picks) over the same chunks, 4 KiB per call as in the parser, counting the CR
/// and LF bits and doing nothing else.
fn classify_pass(chunks: &[Bytes]) -> u64 {
    let classifier = eventgate_sse::classify::Classifier::best();
    let mut masks = [0u64; 64];
    let mut found = 0u64;
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        while !rest.is_empty() {
            let n = classifier.classify(rest, &mut masks);
            found += masks[..n.div_ceil(64)]
                .iter()
                .map(|m| u64::from(m.count_ones()))
                .sum::<u64>();
            rest = &rest[n..];
        }
    }
    found
}

type Parse = fn(Vec<Bytes>) -> Counts;

/// The parsers side by side, eventgate-sse first, each with the largest single chunk it
/// is timed on.
const PARSERS: &[(&str, Parse, usize)] = &[
    ("eventgate-sse", eventgate, usize::MAX),
    ("eventgate-sse-count", eventgate_count, usize::MAX),
    ("sse-stream", sse_stream, usize::MAX),
    ("sse-core", sse_core, usize::MAX),
    ("sse-core-decoder", sse_core_decoder, usize::MAX),
    ("sseer", sseer, usize::MAX),
    // eventsource-stream takes time quadratic in the bytes it holds at once: for every
    // line it parses it moves the rest of its buffer into a new String
    // (`buffer.split_off(consumed)`). Fed a whole multi-megabyte stream in one chunk it
    // takes minutes per iteration, so it is timed whole only on inputs up to 1 MiB.
    ("eventsource-stream", eventsource_stream, 1024 * 1024),
];

/// Criterion settings: flat sampling (iterations here take 0.1 to 200 ms), fewer and
/// longer samples for `big` inputs, so the whole suite stays within about five minutes.
fn configure<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, big: bool) {
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(if big { 1000 } else { 500 }))
        .measurement_time(Duration::from_millis(if big { 2000 } else { 1500 }))
        .sample_size(if big { 10 } else { 20 });
}

fn parse<M: Measurement>(c: &mut Criterion<M>) {
    let scale = Scale::from_args();
    for workload in all(scale) {
        for (feed, chunk_size) in [("whole", None), ("1460", Some(TCP_CHUNK))] {
            let chunks = match chunk_size {
                None => vec![workload.input.clone()],
                Some(size) => workload.chunks(size),
            };
            check(&workload, &chunks);
            let mut group = c.benchmark_group(format!("parse/{}/{feed}", workload.name));
            configure(&mut group, workload.input.len() > 16 * 1024 * 1024);
            group.throughput(Throughput::Bytes(workload.input.len() as u64));
            for &(name, run, max_chunk) in PARSERS {
                if largest(&chunks) > max_chunk {
                    continue;
                }
                group.bench_function(name, |b| {
                    b.iter_batched(|| chunks.clone(), run, BatchSize::LargeInput);
                });
            }
            group.bench_function("memchr2-scan", |b| {
                b.iter(|| memchr2_scan(black_box(&chunks)));
            });
            group.bench_function("classify-pass", |b| {
                b.iter(|| classify_pass(black_box(&chunks)));
            });
            group.finish();
        }
    }
}

fn largest(chunks: &[Bytes]) -> usize {
    chunks.iter().map(Bytes::len).max().unwrap_or(0)
}

/// Every parser must find every event and every data byte before it is timed.
fn check(workload: &Workload, chunks: &[Bytes]) {
    for &(name, run, max_chunk) in PARSERS {
        if largest(chunks) > max_chunk {
            continue;
        }
        let got = run(chunks.to_vec());
        assert_eq!(
            got,
            (workload.events, workload.data_bytes),
            "{name} on {} ({} chunks): (events, data bytes)",
            workload.name,
            chunks.len()
        );
    }
}

/// A small event as a relay sends it: id, type and the quote data of workload (a).
fn small(id: &str) -> EventBuilder<'_> {
    EventBuilder::new().id(id).event("quote").data(QUOTE_DATA)
}

/// Total encoded length of `events`.
fn frame_bytes<'a>(events: impl Iterator<Item = EventBuilder<'a>>) -> u64 {
    let mut buf = BytesMut::new();
    events
        .map(|e| {
            buf.clear();
            e.encode(&mut buf).map_or(0, |()| buf.len() as u64)
        })
        .sum()
}

fn encode<M: Measurement>(c: &mut Criterion<M>) {
    let scale = Scale::from_args();

    // 64 KiB payloads: 100 events per iteration.
    let big: Vec<String> = {
        let w = eventgate_benches::sse::big_lines(scale.events(100).min(100));
        // The data of each event: the line between "data: " and "\n\n".
        w.chunks(eventgate_benches::sse::BIG_LINE_LEN + 8)
            .iter()
            .map(|frame| String::from_utf8_lossy(&frame[6..frame.len() - 2]).into_owned())
            .collect()
    };
    // Small events: id, type and the quote data of workload (a), 10,000 per iteration.
    let ids: Vec<String> = (0..scale.events(10_000)).map(|i| i.to_string()).collect();

    let mut group = c.benchmark_group("encode");
    configure(&mut group, false);

    let total = frame_bytes(big.iter().map(|d| EventBuilder::new().data(d)));
    group.throughput(Throughput::Bytes(total));
    group.bench_function("64KiB/Encoder-frame-per-event", |b| {
        b.iter(|| {
            let mut encoder = Encoder::new();
            let mut n = 0usize;
            for data in &big {
                if let Ok(frame) = encoder.encode(&EventBuilder::new().data(data)) {
                    n += black_box(frame).len();
                }
            }
            n
        });
    });
    group.bench_function("64KiB/EventBuilder-into-reused-buf", |b| {
        let mut buf = BytesMut::with_capacity(eventgate_benches::sse::BIG_LINE_LEN + 64);
        b.iter(|| {
            let mut n = 0usize;
            for data in &big {
                buf.clear();
                if EventBuilder::new().data(data).encode(&mut buf).is_ok() {
                    n += black_box(&buf).len();
                }
            }
            n
        });
    });

    let total = frame_bytes(ids.iter().map(|id| small(id)));
    group.throughput(Throughput::Bytes(total));
    group.bench_function("small/Encoder-frame-per-event", |b| {
        b.iter(|| {
            let mut encoder = Encoder::new();
            let mut n = 0usize;
            for id in &ids {
                if let Ok(frame) = encoder.encode(&small(id)) {
                    n += black_box(frame).len();
                }
            }
            n
        });
    });
    group.bench_function("small/EventBuilder-into-reused-buf", |b| {
        let mut buf = BytesMut::with_capacity(256);
        b.iter(|| {
            let mut n = 0usize;
            for id in &ids {
                buf.clear();
                if small(id).encode(&mut buf).is_ok() {
                    n += black_box(&buf).len();
                }
            }
            n
        });
    });
    group.finish();
}

fn run<M: Measurement>(c: Criterion<M>) {
    let mut c = c.configure_from_args();
    parse(&mut c);
    encode(&mut c);
    c.final_summary();
}

fn main() {
    match std::env::var("SSE_BENCH_CLOCK").as_deref() {
        Ok("wall") => run(Criterion::default().with_measurement(WallTime)),
        _ => run(Criterion::default().with_measurement(ThreadCpuTime)),
    }
}
