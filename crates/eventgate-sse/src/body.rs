//! Adapters between [`http_body::Body`] and streams of events.

use crate::encode::Frame;
use crate::error::{BoxError, StreamError};
use crate::event::{Event, Item};
use crate::parser::Parser;
use bytes::{Buf, Bytes};
use futures_core::Stream;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body::Body;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// The media type of an event stream.
pub const MIME_TYPE: &str = "text/event-stream";

/// True if a `Content-Type` value names `text/event-stream` (any case, parameters such as
/// `; charset=utf-8` allowed).
///
/// ```
/// use http::HeaderValue;
/// assert!(eventgate_sse::is_event_stream(&HeaderValue::from_static("Text/Event-Stream; charset=utf-8")));
/// assert!(!eventgate_sse::is_event_stream(&HeaderValue::from_static("text/event-streams")));
/// ```
pub fn is_event_stream(content_type: &HeaderValue) -> bool {
    let bytes = content_type.as_bytes();
    let essence = match memchr::memchr(b';', bytes) {
        Some(i) => &bytes[..i],
        None => bytes,
    };
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(MIME_TYPE.as_bytes())
}

/// A [`Stream`] of [`Item`]s (events, retry hints, comments) read from an HTTP body.
///
/// Body data frames are fed to a [`Parser`] without copying; trailers are ignored. A body
/// error is yielded once as [`StreamError::Body`] and ends the stream; the end of the body
/// ends the stream (an unterminated last event is discarded, as the standard says).
///
/// ```
/// use eventgate_sse::{Item, ItemStream};
/// use futures_util::StreamExt;
/// use http_body_util::Full;
///
/// # futures_executor_block_on(async {
/// let body = Full::new(bytes::Bytes::from_static(b"retry: 10\ndata: hi\n\n"));
/// let items: Vec<_> = ItemStream::new(body).collect().await;
/// assert!(matches!(items[0], Ok(Item::Retry(_))));
/// assert!(matches!(&items[1], Ok(Item::Event(e)) if e.data() == "hi"));
/// # });
/// # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ItemStream<B> {
    body: B,
    parser: Parser,
    body_done: bool,
}

impl<B> ItemStream<B> {
    /// Reads `body` with a default [`Parser`].
    pub fn new(body: B) -> Self {
        Self::with_parser(body, Parser::new())
    }

    /// Reads `body` with a configured parser (limits, comments, raw frames).
    pub fn with_parser(body: B, parser: Parser) -> Self {
        ItemStream {
            body,
            parser,
            body_done: false,
        }
    }

    /// The parser (for the last event ID and the retry time seen so far).
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The last event ID seen so far.
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The reconnection time from the last valid `retry:` field, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.parser.retry()
    }

    /// Gives back the body and the parser.
    pub fn into_parts(self) -> (B, Parser) {
        (self.body, self.parser)
    }
}

impl<B> Stream for ItemStream<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Item = Result<Item, StreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.parser.next() {
                return Poll::Ready(Some(item.map_err(StreamError::from)));
            }
            if this.body_done || this.parser.is_failed() {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        let bytes: Bytes = data.copy_to_bytes(data.remaining());
                        this.parser.feed(bytes);
                    }
                }
                Some(Err(err)) => {
                    this.body_done = true;
                    this.parser.finish();
                    return Poll::Ready(Some(Err(StreamError::Body(err.into()))));
                }
                None => {
                    this.body_done = true;
                    this.parser.finish();
                }
            }
        }
    }
}

/// A [`Stream`] of [`Event`]s read from an HTTP body: [`ItemStream`] without the retry
/// hints and comments (the latest retry time stays available from
/// [`retry`](EventStream::retry)).
///
/// The body must be `Unpin`; pin a body that is not with `Box::pin`.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct EventStream<B> {
    inner: ItemStream<B>,
}

impl<B> EventStream<B> {
    /// Reads `body` with a default [`Parser`].
    pub fn new(body: B) -> Self {
        EventStream {
            inner: ItemStream::new(body),
        }
    }

    /// Reads `body` with a configured parser.
    pub fn with_parser(body: B, parser: Parser) -> Self {
        EventStream {
            inner: ItemStream::with_parser(body, parser),
        }
    }

    /// The last event ID seen so far.
    pub fn last_event_id(&self) -> &str {
        self.inner.last_event_id()
    }

    /// The reconnection time from the last valid `retry:` field, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.inner.retry()
    }

    /// Gives back the body and the parser.
    pub fn into_parts(self) -> (B, Parser) {
        self.inner.into_parts()
    }
}

impl<B> Stream for EventStream<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Item = Result<Event, StreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Item::Event(event))) => return Poll::Ready(Some(Ok(event))),
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }
}

/// An [`http_body::Body`] that sends a stream of frames as `text/event-stream`.
///
/// The stream's items are anything that converts into a [`Frame`]: [`Event`], `&Event`,
/// or frames made with [`EventBuilder`](crate::EventBuilder), [`Frame::comment`],
/// [`Frame::retry`] or [`Frame::KEEP_ALIVE`]. Each item becomes one body data frame, sent
/// as soon as the stream yields it (no buffering). A stream error ends the body with that
/// error.
///
/// ```
/// use eventgate_sse::{Event, SseBody};
/// use http_body_util::BodyExt;
///
/// # let waker = std::task::Waker::noop();
/// # let mut cx = std::task::Context::from_waker(&waker);
/// let events = futures_util::stream::iter(vec![
///     Ok::<_, std::convert::Infallible>(Event::new("one")),
///     Ok(Event::new("two")),
/// ]);
/// let response = eventgate_sse::response(SseBody::new(events));
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// # let mut fut = std::pin::pin!(response.into_body().collect());
/// # let std::task::Poll::Ready(Ok(collected)) = fut.as_mut().poll(&mut cx) else { panic!() };
/// # use std::future::Future;
/// # assert_eq!(&collected.to_bytes()[..], b"data: one\n\ndata: two\n\n");
/// ```
#[derive(Debug)]
#[must_use = "bodies do nothing unless polled"]
pub struct SseBody<S> {
    stream: S,
    done: bool,
}

impl<S> SseBody<S> {
    /// Wraps a stream of frames.
    pub fn new(stream: S) -> Self {
        SseBody {
            stream,
            done: false,
        }
    }

    /// Gives back the stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S, T, E> Body for SseBody<S>
where
    S: Stream<Item = Result<T, E>> + Unpin,
    T: Into<Frame>,
{
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, E>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.stream).poll_next(cx)) {
            Some(Ok(item)) => {
                let frame: Frame = item.into();
                Poll::Ready(Some(Ok(http_body::Frame::data(frame.into_bytes()))))
            }
            Some(Err(err)) => {
                this.done = true;
                Poll::Ready(Some(Err(err)))
            }
            None => {
                this.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// A `200 OK` response for an event stream: `Content-Type: text/event-stream`,
/// `Cache-Control: no-cache` (caches must not store the stream) and `X-Accel-Buffering:
/// no` (tells nginx-style proxies not to buffer it).
pub fn response<B>(body: B) -> Response<B> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(MIME_TYPE));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
