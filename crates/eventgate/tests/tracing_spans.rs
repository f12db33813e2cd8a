//! The server runner's per-connection `tracing` span: the gateway's stream records carry it
//! (opened inside it, closed with it as explicit parent), and it is entered while a request
//! is handled, not on every poll of the connection (an event stream would pay an enter and
//! an exit per event written).

mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wire::*;

#[derive(Default)]
struct Seen {
    /// Span id -> name.
    names: HashMap<u64, &'static str>,
    /// Span id -> metadata (for `Span::current`).
    meta: HashMap<u64, &'static Metadata<'static>>,
    /// Span name -> times entered.
    enters: HashMap<&'static str, u64>,
    /// The spans entered on this (the test's only) thread, innermost last.
    stack: Vec<u64>,
    /// (message, parent span id): the explicit parent, else the current span.
    events: Vec<(String, Option<u64>)>,
}

/// A subscriber that remembers span names, enters and each event's parent.
#[derive(Clone, Default)]
struct Recorder {
    next: Arc<AtomicU64>,
    seen: Arc<Mutex<Seen>>,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut seen = self.seen.lock().unwrap();
        seen.names.insert(id, span.metadata().name());
        seen.meta.insert(id, span.metadata());
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        let mut seen = self.seen.lock().unwrap();
        let parent = match event.parent() {
            Some(p) => Some(p.into_u64()),
            None if event.is_contextual() => seen.stack.last().copied(),
            None => None,
        };
        seen.events.push((m.0, parent));
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let seen = self.seen.lock().unwrap();
        match seen.stack.last() {
            Some(id) => tracing_core::span::Current::new(Id::from_u64(*id), seen.meta[id]),
            None => tracing_core::span::Current::none(),
        }
    }
    fn enter(&self, span: &Id) {
        let mut seen = self.seen.lock().unwrap();
        let name = seen.names.get(&span.into_u64()).copied().unwrap_or("?");
        *seen.enters.entry(name).or_default() += 1;
        seen.stack.push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut seen = self.seen.lock().unwrap();
        if let Some(i) = seen.stack.iter().rposition(|s| *s == span.into_u64()) {
            seen.stack.remove(i);
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn stream_records_carry_the_connection_span_which_is_not_entered_per_event() {
    let rec = Recorder::default();
    let _guard = tracing::subscriber::set_default(rec.clone());
    let (_backend, gw, _) = tutorial(Duration::from_millis(5), Duration::from_secs(600)).await;
    let tok = token("client-1", "", Duration::from_secs(600));
    let mut s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 200);
    for _ in 0..40 {
        assert!(s.next(Duration::from_secs(5)).await.is_some(), "no event");
    }
    drop(s);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let closed = loop {
        let found = rec
            .seen
            .lock()
            .unwrap()
            .events
            .iter()
            .find(|(m, _)| m == "stream closed")
            .cloned();
        if let Some(f) = found {
            break f;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `stream closed` record within 5 s of the client leaving"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen = rec.seen.lock().unwrap();
    let opened = seen
        .events
        .iter()
        .find(|(m, _)| m == "stream opened")
        .expect("a `stream opened` record");
    let name_of = |id: Option<u64>| id.and_then(|i| seen.names.get(&i).copied());
    assert_eq!(
        name_of(opened.1),
        Some("connection"),
        "opened in the connection span"
    );
    assert_eq!(
        closed.1, opened.1,
        "the close record's parent is the span the stream was opened in"
    );
    let enters = seen.enters.get("connection").copied().unwrap_or(0);
    assert!(
        (1..10).contains(&enters),
        "the connection span was entered {enters} times for 40 events (once per poll of the \
         request's handling is expected, not once per event)"
    );
}
