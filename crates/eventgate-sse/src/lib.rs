//! A spec-exact, zero-copy `text/event-stream` (Server-Sent Events) parser and encoder.
//!
//! `eventgate-sse` reads and writes the event-stream format exactly as the WHATWG HTML
//! standard defines it ("Interpreting an event stream"), fast: line endings are found by
//! a vectorised pass over each chunk ([`classify`]: AVX-512BW, AVX2, SSE2 or NEON, picked
//! at run time, and a portable fallback), event data is handed out as slices of the input
//! [`Bytes`](bytes::Bytes) (no copy when an event's data is one line that arrived in one
//! chunk), and every buffer is bounded so a hostile upstream cannot grow memory.
//!
//! # Should I use this crate?
//! Use it when you need to read or write SSE in Rust and want correctness on every edge
//! of the format (CR / LF / CRLF line endings split across chunks, the BOM, `id` carried
//! to later events, NUL in ids, invalid UTF-8) with bounded memory: an LLM streaming
//! client, a proxy, a test tool. It does no I/O and needs no runtime: the [`Parser`] is a
//! sans-IO state machine (push bytes in, pull events out). Thin adapters turn any
//! [`http_body::Body`] into a [`Stream`](futures_core::Stream) of events ([`EventStream`],
//! [`ItemStream`]) and a stream of events into a body ([`SseBody`]). It is the codec of
//! the eventgate SSE gateway; it knows nothing of routing, auth or tokio.
//!
//! # Parsing
//! ```
//! use eventgate_sse::{Item, Parser};
//!
//! let mut parser = Parser::new();
//! parser.feed(&b"\xEF\xBB\xBFretry: 3000\r\nid: 1\r\ndata: {\"price\":1}\r\n\r\ndata: no id\r"[..]);
//! parser.feed(&b"\n\r\n"[..]); // a CRLF split across chunks is one line ending
//! let mut items = Vec::new();
//! while let Some(item) = parser.next() {
//!     items.push(item.expect("within limits"));
//! }
//! assert!(matches!(items[0], Item::Retry(d) if d.as_millis() == 3000));
//! let Item::Event(first) = &items[1] else { panic!() };
//! assert_eq!((first.data(), first.last_event_id()), ("{\"price\":1}", "1"));
//! let Item::Event(second) = &items[2] else { panic!() };
//! assert_eq!((second.data(), second.last_event_id()), ("no id", "1")); // the id carries over
//! ```
//!
//! # Encoding
//! ```
//! use eventgate_sse::{Encoder, EventBuilder};
//!
//! let mut encoder = Encoder::new();
//! let frame = encoder.encode(&EventBuilder::new().id("2").event("quote").data("a\nb"))?;
//! assert_eq!(frame.as_bytes().as_ref(), b"id: 2\nevent: quote\ndata: a\ndata: b\n\n");
//! # Ok::<(), eventgate_sse::EncodeError>(())
//! ```
//!
//! Constant frames are checked at compile time ([`Frame::from_static`]); the keep-alive
//! comment is [`Frame::KEEP_ALIVE`]. A relay that gives ids to an upstream's events
//! prepends an `id:` line to the raw frame without re-encoding it
//! ([`Encoder::prepend_id`]); the id is an [`EventId`], the one event-id type of the
//! eventgate crates (also [`Event::id`]).
//!
//! ```
//! use eventgate_sse::{Encoder, Frame};
//!
//! const RESET: Frame = Frame::from_static("event: reset\ndata: starting live\n\n");
//! let (framed, id) = Encoder::new().prepend_id("e-1", &RESET)?;
//! assert_eq!(framed.as_bytes().as_ref(), b"id: e-1\nevent: reset\ndata: starting live\n\n");
//! assert_eq!(id, "e-1");
//! # Ok::<(), eventgate_sse::EncodeError>(())
//! ```
//!
//! # Limits and errors
//! | limit | default | error |
//! |---|---|---|
//! | [`ParserBuilder::max_line_len`] | [`DEFAULT_MAX_LINE_LEN`] (4 MiB) | [`ParseError::LineTooLong`] |
//! | [`ParserBuilder::max_event_len`] | [`DEFAULT_MAX_EVENT_LEN`] (16 MiB) | [`ParseError::EventTooLarge`] |
//!
//! After a limit error the parser either stops ([`LimitPolicy::Fail`], the default) or
//! drops the offending event and goes on ([`LimitPolicy::SkipEvent`]). The encoder never
//! panics on input: values that cannot be written faithfully are [`EncodeError`]s.
//!
//! # Data that cannot round-trip
//! The format cannot carry a CR in data: the encoder splits data on CRLF, LF and CR into
//! several `data:` lines, which a parser joins with LF. So `"a\r\nb"` arrives as `"a\nb"`.
//!
//! # Crate features
//! None. The http-body adapters are always built; they add only `http`, `http-body` and
//! `futures-core`, which carry no runtime.
//!
//! # The `sse2json` tool
//! `cargo run -q -p eventgate-sse --example sse2json < stream.txt` prints one JSON line
//! per dispatched event (`{"type":..,"data":..,"last_event_id":..}`) and per valid retry
//! field (`{"retry":N}`). `SSE_CHUNK_SIZES=1,7,3` feeds the parser in chunks of those
//! sizes, cycling; `--count` prints only `events=N data_bytes=M`.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]

mod body;
pub mod classify;
mod encode;
mod error;
mod event;
mod id;
mod parser;
mod utf8;

pub use body::{EventStream, ItemStream, MIME_TYPE, SseBody, is_event_stream, response};
pub use encode::{Encoder, EventBuilder, Frame};
pub use error::{BoxError, EncodeError, ParseError, StreamError};
pub use event::{Event, EventRef, Item, ItemRef};
pub use id::{EventId, MAX_EVENT_ID_LEN};
pub use parser::{
    DEFAULT_MAX_EVENT_LEN, DEFAULT_MAX_LINE_LEN, LIMIT_CAP, LimitPolicy, Parser, ParserBuilder,
};
pub use utf8::Utf8Bytes;

// The README's examples are compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
