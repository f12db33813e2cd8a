//! eventgate-relay, in-process (no sockets): fan-out of one upstream to 1, 100, 1,000 and
//! 10,000 subscribers, and replay of 10,000 backlog events.
//!
//! Besides criterion's timings, the suite prints (once, before measuring) what a counting
//! global allocator saw: bytes and allocations per published event and per delivery, and the
//! memory one subscriber costs.
//!
//! Timed in the benchmark thread's CPU time ([`ThreadCpuTime`]), as the other suites: the
//! machine is shared, and wall time would count the time the thread spends descheduled.
//!
//! Run: `cargo bench -p eventgate-benches --bench relay`
#![allow(unsafe_code)] // A counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eventgate_benches::measurement::ThreadCpuTime;
use eventgate_relay::{Channel, EventId, Feed, Frame, SubscribeOptions};
use eventgate_sse::EventBuilder;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counters() -> (u64, u64) {
    (ALLOCS.load(Relaxed), BYTES.load(Relaxed))
}

/// A 64-byte event frame, as an upstream would send it (a static frame: cloning it touches
/// no reference count, so the figures are the relay's own work).
fn event_frame() -> Frame {
    const FRAME: Frame = Frame::from_static(
        "id: 1000000\nevent: tick\ndata: {\"t\":1700000000123,\"v\":42.50000}\n\n",
    );
    assert_eq!(FRAME.len(), 64);
    FRAME
}

fn setup(subscribers: usize) -> (Channel, Vec<Feed>) {
    let channel = Channel::builder()
        .backlog_events(1024)
        .backlog_bytes(1 << 20)
        .build()
        .expect("valid settings");
    let live = SubscribeOptions::new();
    let subs = (0..subscribers)
        .map(|_| channel.subscribe(&live).expect("open channel"))
        .collect();
    (channel, subs)
}

/// One upstream event: publish it, then every subscriber takes it.
fn round(channel: &Channel, subs: &mut [Feed], id: &EventId, frame: &Frame) {
    channel.publish(Some(id.clone()), frame.clone());
    for s in subs.iter_mut() {
        let f = s.try_next();
        black_box(&f);
    }
}

fn report_allocations() {
    let id = EventId::from_text("1000000").expect("valid id");
    let frame = event_frame();
    for n in [1usize, 100, 1_000, 10_000] {
        let (channel, mut subs) = setup(n);
        // Warm up: fill the backlog and the ring to their bounds so they stop growing.
        for _ in 0..2_000 {
            round(&channel, &mut subs, &id, &frame);
        }
        let events = 1_000u64;
        let (a0, b0) = counters();
        for _ in 0..events {
            round(&channel, &mut subs, &id, &frame);
        }
        let (a1, b1) = counters();
        println!(
            "relay alloc: {n:>6} subscribers: {:.3} allocations and {:.1} bytes per event, {:.5} allocations per delivery",
            (a1 - a0) as f64 / events as f64,
            (b1 - b0) as f64 / events as f64,
            (a1 - a0) as f64 / (events * n as u64) as f64,
        );
    }
    // What one more subscriber costs: its struct plus what subscribing allocates (a waker
    // slot in the channel; amortised over many subscribers).
    let (channel, subs) = setup(10_000);
    let mut more: Vec<Feed> = Vec::with_capacity(10_000);
    let live = SubscribeOptions::new();
    let (_, b0) = counters();
    for _ in 0..10_000 {
        more.push(channel.subscribe(&live).expect("open channel"));
    }
    let (_, b1) = counters();
    println!(
        "relay subscriber state: {} bytes inline (Feed) + {:.1} heap bytes per subscriber (waker slot, amortised)",
        std::mem::size_of::<Feed>(),
        (b1 - b0) as f64 / 10_000.0,
    );
    drop((subs, more));
}

fn fanout(c: &mut Criterion<ThreadCpuTime>) {
    report_allocations();
    let id = EventId::from_text("1000000").expect("valid id");
    let frame = event_frame();
    let mut g = c.benchmark_group("relay/fanout");
    for n in [1usize, 100, 1_000, 10_000] {
        let (channel, mut subs) = setup(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| round(&channel, &mut subs, &id, &frame));
        });
    }
    g.finish();
}

fn replay(c: &mut Criterion<ThreadCpuTime>) {
    let n = 10_000usize;
    let channel = Channel::builder()
        .backlog_events(n + 1)
        .backlog_bytes(64 << 20)
        .build()
        .expect("valid settings");
    let ids: Vec<EventId> = (0..=n)
        .map(|i| EventId::from_text(&i.to_string()).expect("valid id"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let data = format!("{{\"n\":{i}}}");
        let frame = EventBuilder::new()
            .id(id.as_str())
            .data(&data)
            .build()
            .expect("valid event");
        channel.publish(Some(id.clone()), frame);
    }
    let mut g = c.benchmark_group("relay/replay");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("10000_events", |b| {
        b.iter(|| {
            let mut sub = channel
                .subscribe(SubscribeOptions::new().last_event_id(Some(ids[0].clone())))
                .expect("open channel");
            let mut count = 0;
            while let Some(Ok(f)) = sub.try_next() {
                black_box(&f);
                count += 1;
            }
            assert_eq!(count, n);
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = fanout, replay
}
criterion_main!(benches);
