//! The sans-IO `text/event-stream` parser.

use crate::error::ParseError;
use crate::event::{Event, Item};
use crate::utf8::Utf8Bytes;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::Duration;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Default for [`ParserBuilder::max_line_len`]: 4 MiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 4 * 1024 * 1024;
/// Default for [`ParserBuilder::max_event_len`]: 16 MiB.
pub const DEFAULT_MAX_EVENT_LEN: usize = 16 * 1024 * 1024;

/// The largest value either limit can take (512 MiB); larger settings are capped. It keeps
/// an event's offsets within 32 bits, which keeps [`Event`] at 64 bytes.
pub const LIMIT_CAP: usize = 512 * 1024 * 1024;

/// What the parser does after a [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LimitPolicy {
    /// Report the error once, then stop: the parser yields nothing more and drops further
    /// input until [`Parser::reset`]. The default: an upstream that crosses a limit is
    /// broken or hostile, and a relay should reconnect rather than guess.
    #[default]
    Fail,
    /// Report the error, drop the offending event (the rest of the oversized line and every
    /// line up to the next blank line, without buffering them), and carry on with the next
    /// event. Fields of the dropped event processed before the limit was crossed keep their
    /// effect, as they would in a browser (an `id:` seen before the oversized line has
    /// already set the last event ID).
    SkipEvent,
}

/// Builds a [`Parser`] with limits and options.
///
/// ```
/// use eventgate_sse::{LimitPolicy, Parser};
///
/// let parser = Parser::builder()
///     .max_line_len(64 * 1024)
///     .max_event_len(256 * 1024)
///     .on_limit(LimitPolicy::SkipEvent)
///     .comments(true)
///     .build();
/// # drop(parser);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ParserBuilder {
    max_line_len: usize,
    max_event_len: usize,
    on_limit: LimitPolicy,
    comments: bool,
    raw_frames: bool,
}

impl Default for ParserBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ParserBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        ParserBuilder {
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_event_len: DEFAULT_MAX_EVENT_LEN,
            on_limit: LimitPolicy::Fail,
            comments: false,
            raw_frames: false,
        }
    }

    /// Longest line (without its line ending) the parser buffers before it reports
    /// [`ParseError::LineTooLong`]. This bounds the memory an upstream that never sends a
    /// line ending can make the parser hold.
    ///
    /// Default is [`DEFAULT_MAX_LINE_LEN`] (4 MiB); at most [`LIMIT_CAP`].
    ///
    /// # Panics
    /// If `len` is 0.
    pub fn max_line_len(&mut self, len: usize) -> &mut Self {
        assert!(len > 0, "max_line_len must be at least 1");
        self.max_line_len = len.min(LIMIT_CAP);
        self
    }

    /// Largest event data (lines joined with LF) before the parser reports
    /// [`ParseError::EventTooLarge`]. With [`raw_frames`](Self::raw_frames) on, the raw
    /// frame (every line of the event with its line ending) is held to the same limit.
    ///
    /// Default is [`DEFAULT_MAX_EVENT_LEN`] (16 MiB); at most [`LIMIT_CAP`].
    ///
    /// # Panics
    /// If `len` is 0.
    pub fn max_event_len(&mut self, len: usize) -> &mut Self {
        assert!(len > 0, "max_event_len must be at least 1");
        self.max_event_len = len.min(LIMIT_CAP);
        self
    }

    /// What to do after a limit is crossed. Default is [`LimitPolicy::Fail`].
    pub fn on_limit(&mut self, policy: LimitPolicy) -> &mut Self {
        self.on_limit = policy;
        self
    }

    /// Yield comment lines as [`Item::Comment`] (a relay passes heartbeats on).
    /// Default is `false` (comments are ignored, as in a browser).
    pub fn comments(&mut self, yes: bool) -> &mut Self {
        self.comments = yes;
        self
    }

    /// Keep each event's raw frame (every line of the event, as received, through the blank
    /// line that dispatched it) in [`Event::raw`], for pass-through without re-encoding. The
    /// frame is a slice of the input when it arrived in one chunk, and one copy otherwise.
    /// Default is `false`.
    pub fn raw_frames(&mut self, yes: bool) -> &mut Self {
        self.raw_frames = yes;
        self
    }

    /// Builds the parser.
    pub fn build(&self) -> Parser {
        Parser::with_builder(self.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    /// Dropping input up to the next blank line. `in_line`: the current line has content.
    Skipping {
        in_line: bool,
    },
    Failed,
}

/// Where the line being processed lives.
#[derive(Clone, Copy)]
enum LineSrc {
    /// `cur[start..end]`, zero-copy.
    Chunk(usize, usize),
    /// The line spanned chunks and was assembled in `partial`.
    Partial,
}

/// A field value while its event is assembled: a range of the current chunk (so making
/// it costs nothing), or text of its own.
#[derive(Debug, Clone, Default)]
enum PSpan {
    #[default]
    None,
    Cur(usize, usize),
    Own(Utf8Bytes),
}

impl PSpan {
    #[inline]
    fn len(&self) -> usize {
        match self {
            PSpan::None => 0,
            PSpan::Cur(s, e) => e - s,
            PSpan::Own(u) => u.len(),
        }
    }

    /// Gives the value text of its own (a slice of `cur`), before `cur` goes away.
    #[inline]
    fn detach(&mut self, cur: &Bytes) {
        if let PSpan::Cur(s, e) = *self {
            *self = PSpan::Own(Utf8Bytes::from_checked(cur.slice(s..e)));
        }
    }

    #[inline]
    fn as_bytes<'a>(&'a self, cur: &'a [u8]) -> &'a [u8] {
        match self {
            PSpan::None => b"",
            PSpan::Cur(s, e) => &cur[*s..*e],
            PSpan::Own(u) => u.as_str().as_bytes(),
        }
    }

    #[inline]
    fn start(&self) -> Option<usize> {
        match self {
            PSpan::Cur(s, _) => Some(*s),
            _ => None,
        }
    }
}

/// Splits a field line into the name's end and the value's start (after the colon and one
/// optional space). The four field names are tried first, so the common case needs no
/// search for the colon.
#[inline]
fn split_field(line: &[u8]) -> (usize, usize) {
    #[inline(always)]
    fn after(line: &[u8], name_len: usize) -> Option<(usize, usize)> {
        match line.get(name_len) {
            None => Some((name_len, name_len)),
            Some(b':') if line.get(name_len + 1) == Some(&b' ') => Some((name_len, name_len + 2)),
            Some(b':') => Some((name_len, name_len + 1)),
            Some(_) => None,
        }
    }
    let known = match line.first() {
        Some(b'd') if line.starts_with(b"data") => after(line, 4),
        Some(b'i') if line.starts_with(b"id") => after(line, 2),
        Some(b'e') if line.starts_with(b"event") => after(line, 5),
        Some(b'r') if line.starts_with(b"retry") => after(line, 5),
        _ => None,
    };
    if let Some(split) = known {
        return split;
    }
    match memchr::memchr(b':', line) {
        Some(c) if line.get(c + 1) == Some(&b' ') => (c, c + 2),
        Some(c) => (c, c + 1),
        None => (line.len(), line.len()),
    }
}

/// Size of the blocks that copied values (lines that spanned chunks, joined data) are
/// carved from, so that copying costs one allocation per block rather than per event.
const BLOCK_LEN: usize = 16 * 1024;

/// Makes room for `need` more bytes in `block`, starting a new block if it is full.
#[inline]
fn reserve_block(block: &mut BytesMut, need: usize) {
    if block.capacity() - block.len() < need {
        *block = BytesMut::with_capacity(need.max(BLOCK_LEN));
    }
}

/// Copies `bytes` into `block` and hands the copy out as its own `Bytes`.
#[inline]
fn copy_into_block(block: &mut BytesMut, bytes: &[u8]) -> Bytes {
    reserve_block(block, bytes.len());
    block.extend_from_slice(bytes);
    block.split().freeze()
}

/// An incremental, sans-IO parser for `text/event-stream`, exactly as the WHATWG HTML
/// standard interprets it ("Interpreting an event stream").
///
/// Push bytes in with [`feed`](Self::feed) in chunks of any size; pull [`Item`]s out with
/// [`next`](Iterator::next) until it returns `None`; call [`finish`](Self::finish) at the
/// end of the stream. The result does not depend on how the input was chunked.
///
/// Line endings are CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of
/// the next are one line ending). A UTF-8 BOM at the start of the stream is dropped.
/// Invalid UTF-8 is replaced by U+FFFD, line by line, which gives the same text as decoding
/// the whole stream first. Event data is a zero-copy slice of the input when it is a single
/// line that arrived in one chunk; joined lines are copied once.
///
/// Every buffer is bounded: see [`ParserBuilder`] for the limits and [`LimitPolicy`] for
/// what happens when one is crossed.
///
/// # Untrusted input
/// The parser never panics on input, holds at most `max_line_len` bytes of an unterminated
/// line and `max_event_len` bytes of event data, and its work is linear in the input.
/// Chunks passed to `feed` are kept until drained: call `next` until `None` between feeds.
///
/// ```
/// use eventgate_sse::{Item, Parser};
///
/// let mut parser = Parser::new();
/// parser.feed(&b"id: 7\nevent: tick\ndata: hello\ndata: wor"[..]);
/// assert!(parser.next().is_none()); // the event is not complete yet
/// parser.feed(&b"ld\r\n\r\n"[..]);
/// let Some(Ok(Item::Event(event))) = parser.next() else { panic!() };
/// assert_eq!(event.data(), "hello\nworld");
/// assert_eq!(event.event_type(), "tick");
/// assert_eq!(event.last_event_id(), "7");
/// parser.finish();
/// assert!(parser.next().is_none());
/// ```
#[derive(Debug)]
pub struct Parser {
    config: ParserBuilder,
    // Input.
    queue: VecDeque<Bytes>,
    cur: Bytes,
    pos: usize,
    partial: BytesMut,
    partial_hint: usize,
    long_lines: bool,
    skip_lf: bool,
    bom_matched: u8,
    bom_done: bool,
    finished: bool,
    state: State,
    // The event being assembled.
    data_lines: Vec<PSpan>,
    data_len: usize,
    event_type: PSpan,
    last_event_id: PSpan,
    id_in_frame: bool,
    retry: Option<Duration>,
    // Raw frame tracking (only with `raw_frames`).
    raw_start: Option<usize>,
    raw_acc: BytesMut,
    // Copies are carved from here.
    block: BytesMut,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser with the default limits, comments ignored and raw frames off.
    pub fn new() -> Self {
        ParserBuilder::new().build()
    }

    /// A builder to set limits and options.
    pub fn builder() -> ParserBuilder {
        ParserBuilder::new()
    }

    fn with_builder(config: ParserBuilder) -> Self {
        Parser {
            config,
            queue: VecDeque::new(),
            cur: Bytes::new(),
            pos: 0,
            partial: BytesMut::new(),
            partial_hint: 0,
            long_lines: false,
            skip_lf: false,
            bom_matched: 0,
            bom_done: false,
            finished: false,
            state: State::Normal,
            data_lines: Vec::new(),
            data_len: 0,
            event_type: PSpan::None,
            last_event_id: PSpan::None,
            id_in_frame: false,
            retry: None,
            raw_start: None,
            raw_acc: BytesMut::new(),
            block: BytesMut::new(),
        }
    }

    /// Pushes the next chunk of the stream. Accepts [`Bytes`] (kept without copying, so
    /// events can point into it) or anything convertible, such as `&'static [u8]`,
    /// `Vec<u8>` or `String`. Use [`feed_slice`](Self::feed_slice) for borrowed input.
    ///
    /// Input fed after [`finish`](Self::finish) or after a [`LimitPolicy::Fail`] error is
    /// dropped until [`reset`](Self::reset).
    pub fn feed(&mut self, chunk: impl Into<Bytes>) {
        let mut chunk: Bytes = chunk.into();
        if chunk.is_empty() || self.finished || self.state == State::Failed {
            return;
        }
        if !self.bom_done {
            // Match the BOM byte by byte: it may itself arrive split across chunks.
            let before = self.bom_matched as usize;
            let mut i = 0;
            while (self.bom_matched as usize) < BOM.len()
                && i < chunk.len()
                && chunk[i] == BOM[self.bom_matched as usize]
            {
                self.bom_matched += 1;
                i += 1;
            }
            if self.bom_matched as usize == BOM.len() {
                self.bom_done = true;
                chunk = chunk.slice(i..);
                if chunk.is_empty() {
                    return;
                }
            } else if i == chunk.len() {
                return; // Still a BOM prefix: wait for more.
            } else {
                // Not a BOM: give back the prefix bytes held from earlier chunks.
                self.bom_done = true;
                if before > 0 {
                    self.queue.push_back(Bytes::from_static(&BOM[..before]));
                }
            }
        }
        self.queue.push_back(chunk);
    }

    /// Pushes a borrowed chunk (copied once into a new buffer).
    pub fn feed_slice(&mut self, chunk: &[u8]) {
        if !chunk.is_empty() {
            self.feed(Bytes::copy_from_slice(chunk));
        }
    }

    /// Marks the end of the stream. Complete lines already fed are still processed by
    /// `next`; an unterminated last line and an event without its closing blank line are
    /// discarded, as the standard says.
    pub fn finish(&mut self) {
        if !self.bom_done && self.bom_matched > 0 {
            // A stream that is only a BOM prefix: the bytes form an unterminated line.
            self.bom_done = true;
            self.queue
                .push_back(Bytes::from_static(&BOM[..self.bom_matched as usize]));
        }
        self.finished = true;
    }

    /// True after [`finish`](Self::finish) once every item has been taken.
    pub fn is_done(&self) -> bool {
        self.finished && self.queue.is_empty() && self.pos >= self.cur.len()
    }

    /// True after an error under [`LimitPolicy::Fail`].
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Prepares for a new response on the same event source (a reconnection): drops all
    /// buffered input and the event being assembled, expects a new BOM, and clears the
    /// error state. The last event ID and the reconnection time are kept, as a browser's
    /// `EventSource` keeps them across reconnections.
    pub fn reset(&mut self) {
        self.last_event_id.detach(&self.cur);
        let last_event_id = std::mem::take(&mut self.last_event_id);
        let retry = self.retry;
        let config = self.config.clone();
        // Keep the allocations that can be reused.
        let mut queue = std::mem::take(&mut self.queue);
        queue.clear();
        let mut data_lines = std::mem::take(&mut self.data_lines);
        data_lines.clear();
        let mut partial = std::mem::take(&mut self.partial);
        partial.clear();
        *self = Parser::with_builder(config);
        self.queue = queue;
        self.data_lines = data_lines;
        self.partial = partial;
        self.last_event_id = last_event_id;
        self.retry = retry;
    }

    /// The last event ID buffer: the value of the most recent valid `id:` field (empty if
    /// none). This is what a client sends as `Last-Event-ID` when it reconnects.
    pub fn last_event_id(&self) -> &str {
        crate::utf8::str_from_checked(self.last_event_id.as_bytes(&self.cur))
    }

    /// Sets the last event ID buffer, e.g. to the `Last-Event-ID` a reconnecting relay
    /// sent upstream, so events without an `id:` field carry it.
    pub fn set_last_event_id(&mut self, id: impl Into<Utf8Bytes>) {
        self.last_event_id = PSpan::Own(id.into());
    }

    /// The reconnection time from the most recent valid `retry:` field, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Bytes held but not yet parsed (fed chunks plus a partial line); bounded by the
    /// limits as long as the caller drains the parser between feeds.
    pub fn buffered_len(&self) -> usize {
        self.queue.iter().map(Bytes::len).sum::<usize>()
            + (self.cur.len() - self.pos)
            + self.partial.len()
    }

    /// Takes the next chunk off the queue, carrying a raw frame in progress over.
    fn advance_chunk(&mut self) -> bool {
        // Values that point into the chunk being left get bytes of their own.
        for line in &mut self.data_lines {
            line.detach(&self.cur);
        }
        self.event_type.detach(&self.cur);
        self.last_event_id.detach(&self.cur);
        if let Some(start) = self.raw_start {
            if start < self.cur.len() {
                self.raw_acc.extend_from_slice(&self.cur[start..]);
            }
            self.raw_start = Some(0);
        }
        match self.queue.pop_front() {
            Some(chunk) => {
                self.cur = chunk;
                self.pos = 0;
                true
            }
            None => {
                self.cur = Bytes::new();
                self.pos = 0;
                if self.raw_start.is_some() {
                    self.raw_start = Some(0);
                }
                false
            }
        }
    }

    fn discard_event(&mut self) {
        self.data_lines.clear();
        self.data_len = 0;
        self.event_type = PSpan::None;
        self.id_in_frame = false;
        self.raw_start = None;
        self.raw_acc.clear();
    }

    fn limit_error(&mut self, err: ParseError, in_line: bool) -> Option<Result<Item, ParseError>> {
        self.partial.clear();
        self.discard_event();
        match self.config.on_limit {
            LimitPolicy::Fail => {
                self.last_event_id.detach(&self.cur);
                self.state = State::Failed;
                self.queue.clear();
                self.cur = Bytes::new();
                self.pos = 0;
            }
            LimitPolicy::SkipEvent => self.state = State::Skipping { in_line },
        }
        Some(Err(err))
    }

    fn next_item(&mut self) -> Option<Result<Item, ParseError>> {
        loop {
            if self.state == State::Failed {
                return None;
            }
            if self.pos >= self.cur.len() && !self.advance_chunk() {
                if self.finished {
                    // End of stream: drop the unterminated line and event.
                    self.partial.clear();
                    self.discard_event();
                }
                return None;
            }
            if self.skip_lf {
                self.skip_lf = false;
                if self.cur[self.pos] == b'\n' {
                    // The LF of a CRLF split across chunks (part of the raw frame, if any).
                    self.pos += 1;
                    continue;
                }
            }
            let start = self.pos;
            let rest = &self.cur[start..];
            // Lines tend to be alike: after a long one, go straight to the vector search.
            let found = if self.long_lines {
                memchr::memchr2(b'\n', b'\r', rest)
            } else {
                find_eol(rest)
            };
            let Some(i) = found else {
                // No line ending in this chunk: keep the partial line (bounded).
                let len = rest.len();
                match self.state {
                    State::Skipping { .. } => {
                        self.state = State::Skipping { in_line: true };
                    }
                    _ => {
                        if self.partial.len() + len > self.config.max_line_len {
                            self.pos = self.cur.len();
                            let limit = self.config.max_line_len;
                            return self.limit_error(ParseError::LineTooLong { limit }, true);
                        }
                        if self.config.raw_frames && self.raw_start.is_none() {
                            self.raw_start = Some(start);
                        }
                        if self.partial.is_empty() && self.partial.capacity() < self.partial_hint {
                            let hint = self.partial_hint.min(self.config.max_line_len);
                            self.partial.reserve(hint);
                        }
                        self.partial.extend_from_slice(rest);
                    }
                }
                self.pos = self.cur.len();
                continue;
            };
            self.long_lines = i > 32;
            let end = start + i;
            let term = if rest[i] == b'\r' {
                match rest.get(i + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    None => {
                        self.skip_lf = true;
                        1
                    }
                }
            } else {
                1
            };
            self.pos = end + term;

            if let State::Skipping { in_line } = self.state {
                if !in_line && i == 0 {
                    self.state = State::Normal; // The blank line ends the dropped event.
                } else {
                    self.state = State::Skipping { in_line: false };
                }
                continue;
            }

            let line_len = self.partial.len() + i;
            if line_len > self.config.max_line_len {
                let limit = self.config.max_line_len;
                return self.limit_error(ParseError::LineTooLong { limit }, false);
            }
            if self.config.raw_frames && self.raw_start.is_none() {
                self.raw_start = Some(start);
            }
            let out = if self.partial.is_empty() {
                self.process_line(LineSrc::Chunk(start, end))
            } else {
                self.partial.extend_from_slice(&self.cur[start..end]);
                let out = self.process_line(LineSrc::Partial);
                self.partial.clear();
                out
            };
            if out.is_some() {
                return out;
            }
        }
    }

    /// The value `line[from..]` as a span: a range of the chunk when the line is in it
    /// and is UTF-8, else text of its own (copied into the shared block; invalid UTF-8
    /// replaced).
    #[inline(always)]
    fn value(&mut self, line: LineSrc, from: usize) -> PSpan {
        match line {
            LineSrc::Chunk(start, end) => {
                let bytes = &self.cur[start + from..end];
                if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
                    PSpan::Cur(start + from, end)
                } else {
                    PSpan::Own(Utf8Bytes::from(String::from_utf8_lossy(bytes).into_owned()))
                }
            }
            LineSrc::Partial if self.partial.len() - from >= BLOCK_LEN => {
                // A long line: hand over the buffer it was assembled in (no second copy),
                // and remember its size so the next long line gets room in one go.
                self.partial_hint = self.partial.len();
                let line = self.partial.split().freeze();
                PSpan::Own(Utf8Bytes::from_utf8_lossy(line.slice(from..)))
            }
            LineSrc::Partial => {
                let copy = copy_into_block(&mut self.block, &self.partial[from..]);
                PSpan::Own(Utf8Bytes::from_utf8_lossy(copy))
            }
        }
    }

    /// Interprets one complete line.
    #[inline(always)]
    fn process_line(&mut self, line: LineSrc) -> Option<Result<Item, ParseError>> {
        let bytes: &[u8] = match line {
            LineSrc::Chunk(start, end) => &self.cur[start..end],
            LineSrc::Partial => &self.partial,
        };
        let Some(&first) = bytes.first() else {
            return self.dispatch();
        };
        if first == b':' {
            let from = if bytes.get(1) == Some(&b' ') { 2 } else { 1 };
            if let Some(err) = self.check_raw_len() {
                return Some(err);
            }
            if self.config.comments {
                let text = match self.value(line, from) {
                    PSpan::Cur(s, e) => Utf8Bytes::from_checked(self.cur.slice(s..e)),
                    PSpan::Own(u) => u,
                    PSpan::None => Utf8Bytes::new(),
                };
                return Some(Ok(Item::Comment(text)));
            }
            return None;
        }
        let (name_end, value_from) = split_field(bytes);
        let field = match &bytes[..name_end] {
            b"data" => Field::Data,
            b"event" => Field::Event,
            // An id containing NUL is ignored.
            b"id" if !bytes[value_from..].contains(&0) => Field::Id,
            b"retry" => {
                let digits = &bytes[value_from..];
                if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                    let ms = digits.iter().fold(0u64, |acc, d| {
                        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                    });
                    Field::Retry(Duration::from_millis(ms))
                } else {
                    Field::Ignored
                }
            }
            _ => Field::Ignored,
        };
        if let Some(err) = self.check_raw_len() {
            return Some(err);
        }
        match field {
            Field::Data => {
                let value = self.value(line, value_from);
                let added = value.len() + usize::from(!self.data_lines.is_empty());
                if self.data_len + added > self.config.max_event_len {
                    let limit = self.config.max_event_len;
                    return self.limit_error(ParseError::EventTooLarge { limit }, false);
                }
                self.data_len += added;
                self.data_lines.push(value);
            }
            Field::Event => self.event_type = self.value(line, value_from),
            Field::Id => {
                self.last_event_id = self.value(line, value_from);
                self.id_in_frame = true;
            }
            Field::Retry(retry) => {
                self.retry = Some(retry);
                return Some(Ok(Item::Retry(retry)));
            }
            Field::Ignored => {}
        }
        None
    }

    #[inline(always)]
    fn check_raw_len(&mut self) -> Option<Result<Item, ParseError>> {
        if !self.config.raw_frames {
            return None;
        }
        self.check_raw_len_slow()
    }

    #[cold]
    fn check_raw_len_slow(&mut self) -> Option<Result<Item, ParseError>> {
        let in_cur = self.raw_start.map_or(0, |s| self.pos.saturating_sub(s));
        if self.raw_acc.len() + in_cur > self.config.max_event_len {
            let limit = self.config.max_event_len;
            return self.limit_error(ParseError::EventTooLarge { limit }, false);
        }
        None
    }

    fn dispatch(&mut self) -> Option<Result<Item, ParseError>> {
        if self.data_lines.is_empty() {
            // Nothing to dispatch (a comment- or id-only block). An id change stays, and
            // so does its raw block: it is sent ahead of the next event's frame, so a
            // pass-through receiver ends up with the same last event ID.
            self.event_type = PSpan::None;
            if !self.id_in_frame {
                self.raw_start = None;
                self.raw_acc.clear();
            }
            return None;
        }
        let event_type = std::mem::take(&mut self.event_type);
        let own_id = std::mem::take(&mut self.id_in_frame);
        let raw_start = self.raw_start.take();
        let raw_in_chunk = raw_start.filter(|_| self.raw_acc.is_empty());

        // Fast path: one data line and every value in the current chunk. The event is
        // one reference-counted slice of the chunk plus offsets.
        if self.data_lines.len() == 1 && (raw_start.is_none() || raw_in_chunk.is_some()) {
            let data = &self.data_lines[0];
            let in_chunk = |s: &PSpan| !matches!(s, PSpan::Own(_));
            if in_chunk(data) && in_chunk(&event_type) && in_chunk(&self.last_event_id) {
                let lo = min_start(
                    min_start(data.start(), event_type.start()),
                    min_start(self.last_event_id.start(), raw_in_chunk),
                )
                .unwrap_or(self.pos);
                if let Ok(len) = u32::try_from(self.pos - lo) {
                    let off = |s: &PSpan| match *s {
                        PSpan::Cur(a, b) => ((a - lo) as u32, (b - lo) as u32),
                        _ => (len, len),
                    };
                    let raw = raw_in_chunk
                        .filter(|&r| !self.cur[r..].starts_with(BOM))
                        .map(|r| (r - lo) as u32);
                    let event = Event::from_parts(
                        self.cur.slice(lo..self.pos),
                        off(data),
                        off(&event_type),
                        off(&self.last_event_id),
                        own_id,
                        raw,
                    );
                    self.data_lines.clear();
                    self.data_len = 0;
                    return Some(Ok(Item::Event(event)));
                }
            }
        }

        // Data of its own (a long line handed over) and nothing else to keep: the event is
        // that buffer, with no second copy.
        if self.data_lines.len() == 1
            && raw_start.is_none()
            && event_type.len() == 0
            && self.last_event_id.len() == 0
            && matches!(self.data_lines.first(), Some(PSpan::Own(_)))
            && let Some(PSpan::Own(data)) = self.data_lines.pop()
        {
            self.data_len = 0;
            let len = data.len() as u32; // Within the limits, so within u32.
            let event = Event::from_parts(
                data.into_bytes(),
                (0, len),
                (len, len),
                (len, len),
                own_id,
                None,
            );
            return Some(Ok(Item::Event(event)));
        }

        // Otherwise one copy of the values, laid out as data, type, id, raw frame, in a
        // buffer carved from the shared block: at most one allocation.
        let raw_len = raw_start.map_or(0, |r| self.raw_acc.len() + (self.pos - r));
        let total = self.data_len + event_type.len() + self.last_event_id.len() + raw_len;
        reserve_block(&mut self.block, total);
        let block = &mut self.block;
        let cur: &[u8] = &self.cur;
        let mut put = |bytes: &[u8]| -> (u32, u32) {
            let start = block.len();
            block.extend_from_slice(bytes);
            // The limits (at most 512 MiB each) keep every offset within u32.
            (start as u32, block.len() as u32)
        };
        let mut data = (0, 0);
        for (n, line) in self.data_lines.iter().enumerate() {
            if n > 0 {
                put(b"\n");
            }
            data.1 = put(line.as_bytes(cur)).1;
        }
        let ty = put(event_type.as_bytes(cur));
        let id = put(self.last_event_id.as_bytes(cur));
        let raw = raw_start.map(|r| {
            let start = put(&self.raw_acc).0;
            put(&cur[r..self.pos]);
            start
        });
        let buf = self.block.split().freeze();
        let raw = raw.filter(|&r| !buf[r as usize..].starts_with(BOM));
        self.raw_acc.clear();
        self.data_lines.clear();
        self.data_len = 0;
        let event = Event::from_parts(buf, data, ty, id, own_id, raw);
        Some(Ok(Item::Event(event)))
    }
}

/// The first CR or LF in `haystack`. Event-stream lines are mostly short, where a
/// word-at-a-time scan beats the setup of a vector search; past 32 bytes, memchr's SIMD
/// search takes over.
#[inline(always)]
fn find_eol(haystack: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i < 32 {
        let Some(word) = haystack.get(i..i + 8) else {
            break;
        };
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let lf = w ^ (LO * u64::from(b'\n'));
        let cr = w ^ (LO * u64::from(b'\r'));
        // A byte is zero in `lf` / `cr` where `w` holds LF / CR; the lowest flagged byte is
        // always a true match (borrows only flag bytes above a true zero).
        let found = ((lf.wrapping_sub(LO) & !lf) | (cr.wrapping_sub(LO) & !cr)) & HI;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr2(b'\n', b'\r', &haystack[i..]).map(|p| p + i)
}

#[inline(always)]
fn min_start(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A field line, classified.
enum Field {
    Data,
    Event,
    Id,
    Retry(Duration),
    Ignored,
}

impl Iterator for Parser {
    type Item = Result<Item, ParseError>;

    /// The next event, retry or comment; `None` when more input is needed (or, after
    /// [`finish`](Parser::finish), at the end).
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_item()
    }
}
