//! Heap allocations per event, counted with a global counting allocator: zero when an
//! event's data is one line that arrived in one chunk, at most one otherwise.
#![allow(unsafe_code)] // A counting global allocator.

use eventgate_sse::{Item, Parser};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts (per thread, so tests running in
// parallel do not disturb each other).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Parses `input` fed as `chunks` and returns (events, allocations while parsing).
fn count(chunks: Vec<bytes::Bytes>) -> (usize, u64) {
    let mut parser = Parser::new();
    let mut events = Vec::with_capacity(100_000);
    // Warm up the parser's reusable buffers.
    parser.feed(&b"id: 0\nevent: warm\ndata: a\ndata: b\n\n"[..]);
    events.extend(parser.by_ref());
    events.clear();
    let before = allocs();
    for chunk in chunks {
        parser.feed(chunk);
        for item in parser.by_ref() {
            events.push(item);
        }
    }
    let after = allocs();
    let n = events
        .iter()
        .filter(|r| matches!(r, Ok(Item::Event(_))))
        .count();
    (n, after - before)
}

fn stream(n: usize, lines: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..n {
        s.extend_from_slice(format!("id: {i}\nevent: quote\n").as_bytes());
        for _ in 0..lines {
            s.extend_from_slice(b"data: {\"price\":123.45,\"symbol\":\"ACME\"}\n");
        }
        s.extend_from_slice(b"\n");
    }
    s
}

#[test]
fn single_line_events_in_one_chunk_allocate_nothing_per_event() {
    let input = bytes::Bytes::from(stream(10_000, 1));
    let (events, allocations) = count(vec![input]);
    assert_eq!(events, 10_000);
    // One allocation for the chunk's shared header (Vec-backed Bytes are promoted on
    // their first slice), none per event.
    assert!(
        allocations <= 2,
        "{allocations} allocations for {events} events"
    );
}

#[test]
fn multi_line_or_split_events_allocate_at_most_once_per_event() {
    let input = stream(10_000, 5);
    let chunks: Vec<bytes::Bytes> = input
        .chunks(1460)
        .map(bytes::Bytes::copy_from_slice)
        .collect();
    let n_chunks = chunks.len() as u64;
    let (events, allocations) = count(chunks);
    assert_eq!(events, 10_000);
    // One per event (the joined data) plus at most one per chunk (its shared header).
    assert!(
        allocations <= events as u64 + n_chunks,
        "{allocations} allocations for {events} events in {n_chunks} chunks"
    );
}

#[test]
fn an_event_is_at_most_64_bytes_and_an_item_at_most_72() {
    assert!(
        std::mem::size_of::<eventgate_sse::Event>() <= 64,
        "{}",
        std::mem::size_of::<eventgate_sse::Event>()
    );
    assert!(std::mem::size_of::<Option<Result<Item, eventgate_sse::ParseError>>>() <= 72);
}
