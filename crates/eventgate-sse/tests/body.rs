//! The http-body adapters: body chunks in, events out (any chunking, errors surfaced),
//! and events in, a text/event-stream body out.

use bytes::Bytes;
use eventgate_sse::{Event, EventStream, Frame, Item, ItemStream, Parser, SseBody, StreamError};
use futures_util::{StreamExt, stream};
use http_body::Frame as BodyFrame;
use http_body_util::{BodyExt, StreamBody};
use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Runs a future whose inputs are all ready (no I/O): polls until done.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[derive(Debug)]
struct Broken;
impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}
impl std::error::Error for Broken {}

fn body_of(
    chunks: Vec<Result<&'static [u8], Broken>>,
) -> StreamBody<impl futures_core::Stream<Item = Result<BodyFrame<Bytes>, Broken>> + Unpin> {
    StreamBody::new(stream::iter(
        chunks
            .into_iter()
            .map(|c| c.map(|b| BodyFrame::data(Bytes::from_static(b)))),
    ))
}

#[test]
fn event_stream_reads_events_from_a_body_split_one_byte_at_a_time() {
    let input: &'static [u8] = b"id: 1\r\ndata: a\r\n\r\n: comment\n\nretry: 5\ndata: b\n\n";
    let chunks = input.chunks(1).map(Ok).collect();
    let events: Vec<Event> = block_on(
        EventStream::new(body_of(chunks))
            .map(|r| r.expect("ok"))
            .collect(),
    );
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.data(), e.last_event_id()))
        .collect();
    assert_eq!(got, vec![("a", "1"), ("b", "1")]);
}

#[test]
fn item_stream_yields_retry_and_comments_in_stream_order() {
    let body = body_of(vec![Ok(b": hi\nretry: 250\ndata: x\n\n")]);
    let items: Vec<Item> = block_on(
        ItemStream::with_parser(body, Parser::builder().comments(true).build())
            .map(|r| r.expect("ok"))
            .collect(),
    );
    assert!(matches!(&items[0], Item::Comment(c) if c == "hi"));
    assert!(matches!(items[1], Item::Retry(d) if d.as_millis() == 250));
    assert!(matches!(&items[2], Item::Event(e) if e.data() == "x"));
    assert_eq!(items.len(), 3);
}

#[test]
fn body_error_is_reported_once_and_ends_the_stream_without_the_partial_event() {
    let body = body_of(vec![
        Ok(b"data: whole\n\ndata: part"),
        Err(Broken),
        Ok(b"ial\n\n"),
    ]);
    let results: Vec<Result<Event, StreamError>> = block_on(EventStream::new(body).collect());
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().expect("first event").data(), "whole");
    let err = results[1].as_ref().expect_err("body error");
    assert!(err.is_body());
    assert_eq!(
        std::error::Error::source(err).map(ToString::to_string),
        Some("connection reset".to_string())
    );
}

#[test]
fn body_end_discards_an_unterminated_event() {
    let body = body_of(vec![Ok(b"data: done\n\ndata: never dispatched\n")]);
    let events: Vec<_> = block_on(EventStream::new(body).collect());
    assert_eq!(events.len(), 1);
}

#[test]
fn sse_body_sends_each_frame_as_its_own_data_frame() {
    let frames = stream::iter(vec![
        Ok::<Frame, Infallible>(Frame::retry(std::time::Duration::from_secs(1))),
        Ok(Event::new("a\nb").with_id("9").expect("valid id").into()),
        Ok(Frame::KEEP_ALIVE),
    ]);
    let mut body = SseBody::new(frames);
    let mut pieces = Vec::new();
    while let Some(frame) = block_on(body.frame()) {
        pieces.push(frame.expect("infallible").into_data().expect("data frame"));
    }
    assert_eq!(
        pieces,
        vec![
            Bytes::from_static(b"retry: 1000\n\n"),
            Bytes::from_static(b"id: 9\ndata: a\ndata: b\n\n"),
            Bytes::from_static(b":\n\n"),
        ]
    );
    assert!(http_body::Body::is_end_stream(&body));
}

#[test]
fn response_helper_sets_event_stream_headers() {
    let response =
        eventgate_sse::response(SseBody::new(stream::empty::<Result<Frame, Infallible>>()));
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert!(eventgate_sse::is_event_stream(
        &response.headers()["content-type"]
    ));
}
