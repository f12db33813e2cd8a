//! The sans-IO `text/event-stream` parser.

use crate::classify::Classifier;
use crate::error::ParseError;
use crate::event::{Event, EventRef, Item, ItemRef};
use crate::utf8::Utf8Bytes;
use crate::utf8::str_from_checked;
use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;
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
    classifier: Classifier,
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
            classifier: Classifier::best(),
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

    /// The vector instructions that classify line endings (see [`crate::classify`]). The
    /// result never depends on it; tests use it to run every path. One that the CPU does
    /// not support is replaced by [`Classifier::best`].
    ///
    /// Default is [`Classifier::best`], detected when the builder is made.
    pub fn classifier(&mut self, classifier: Classifier) -> &mut Self {
        self.classifier = classifier.or_best();
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

/// Classifies a field line (not a comment, not empty): which of the four fields it is,
/// and where its value starts (after the colon and one optional space). A line whose name
/// is not exactly one of the four is ignored, whatever follows, so only the four names
/// need looking at; no search for the colon is made.
#[inline(always)]
fn field_of(line: &[u8]) -> (FieldName, usize) {
    #[inline(always)]
    fn after(line: &[u8], name: FieldName, name_len: usize) -> (FieldName, usize) {
        match line.get(name_len) {
            None => (name, name_len),
            Some(b':') if line.get(name_len + 1) == Some(&b' ') => (name, name_len + 2),
            Some(b':') => (name, name_len + 1),
            Some(_) => (FieldName::Other, 0),
        }
    }
    match line[0] {
        b'd' if line.starts_with(b"data") => after(line, FieldName::Data, 4),
        b'i' if line.starts_with(b"id") => after(line, FieldName::Id, 2),
        b'e' if line.starts_with(b"event") => after(line, FieldName::Event, 5),
        b'r' if line.starts_with(b"retry") => after(line, FieldName::Retry, 5),
        _ => (FieldName::Other, 0),
    }
}

#[derive(Clone, Copy)]
enum FieldName {
    Data,
    Id,
    Event,
    Retry,
    Other,
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

/// Makes room for `need` more bytes after what `buf` holds, keeping it: a buffer that is
/// full moves into a new block (one copy of what it holds, at most once per block).
#[inline]
fn reserve_keep(buf: &mut BytesMut, need: usize) {
    if buf.capacity() - buf.len() < need {
        let mut new = BytesMut::with_capacity((buf.len() + need).max(BLOCK_LEN));
        new.extend_from_slice(buf);
        *buf = new;
    }
}

/// Masks per classification window: 4 KiB of input per call of the classifier.
const WINDOW: usize = 64;

/// A line this long without a line ending is searched to its end
/// ([`Classifier::find_line_end`]) rather than classified: one window's worth.
const LONG_LINE: usize = WINDOW * 64;

/// A line held at least this long when a chunk starts is carried on with the fused
/// search and copy ([`Parser::extend_partial`]): a long line goes on over most of the
/// chunk, which that pass reads once instead of twice. A shorter one (what a chunk
/// boundary splits off most events) mostly ends a few bytes in, where the classification
/// of the chunk finds its end anyway and the copy is short, and the fused pass would only
/// add its set-up (a few dozen instructions a chunk, measured on (a), (c) and (d) in
/// 1,460-byte chunks).
const CARRY_FUSED: usize = 1024;

/// Data lines after the first kept as ranges of the chunk until dispatch.
const SPANS: usize = 8;

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
/// Chunks passed to `feed` are kept until drained (the last one until the next is taken):
/// call `next` until `None` between feeds.
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
    // Every byte of `partial` is known to be ASCII (so its text needs no UTF-8 check).
    // Set when its first bytes go in; only meaningful while it is not empty.
    partial_ascii: bool,
    partial_hint: usize,
    skip_lf: bool,
    bom_matched: u8,
    bom_done: bool,
    finished: bool,
    state: State,
    // Line-ending masks of `cur[win_start..]`, `win_blocks` of them; `blk` is the first
    // one not yet walked past.
    classifier: Classifier,
    masks: [u64; WINDOW],
    win_start: usize,
    win_blocks: usize,
    blk: usize,
    // Every classified byte of `cur` from here on is ASCII, so values there need no UTF-8
    // check.
    ascii_from: usize,
    // The event being assembled: its first data line as a span, and up to `SPANS` more
    // lines of the current chunk as ranges of it, joined only at dispatch. Lines past
    // those, lines that spanned chunks, lines with invalid UTF-8, and every line when the
    // chunk is left, are joined into `joined` (`data_joined`), which at dispatch also
    // takes type, id and raw frame and becomes the event's buffer.
    data_first: PSpan,
    data_lines: usize,
    spans: [(usize, usize); SPANS],
    nspans: usize,
    data_joined: bool,
    joined: BytesMut,
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
    // The whole-event fast path ([`Parser::whole_event`]) is not tried before this
    // offset of `cur`: it gave up on an event there, and the line loop takes it.
    fast_from: usize,
    // The last thing done was an event read by the whole-event path, so the state is
    // the one [`Parser::fast_ready`] checks for (cleared by `next_item` and `no_fast`).
    fast_ok: bool,
    // With `fast_ok`: the line endings of block `blk` at or after `pos`, as that path
    // left them.
    mask_rest: u64,
    // Lending events instead of building them ([`Parser::next_ref`]): the event the
    // whole-event path lent (`ref_ready`) has its data at `ref_data` in `cur` (or in
    // `ref_buf` when joined), its type at `ref_ty` and its id in `last_event_id`; an
    // item made the general way is held in `held` while it is lent.
    borrowing: bool,
    ref_ready: bool,
    ref_data: Option<(usize, usize)>,
    ref_ty: (usize, usize),
    ref_own_id: bool,
    ref_buf: Vec<u8>,
    held: Option<Item>,
    // Counting instead of building events ([`Parser::count`]).
    counting: bool,
    counted_events: u64,
    counted_data_bytes: u64,
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
            classifier: config.classifier.or_best(),
            config,
            queue: VecDeque::new(),
            cur: Bytes::new(),
            pos: 0,
            partial: BytesMut::new(),
            partial_ascii: false,
            partial_hint: 0,
            skip_lf: false,
            bom_matched: 0,
            bom_done: false,
            finished: false,
            state: State::Normal,
            masks: [0; WINDOW],
            win_start: 0,
            win_blocks: 0,
            blk: 0,
            ascii_from: 0,
            data_first: PSpan::None,
            data_lines: 0,
            spans: [(0, 0); SPANS],
            nspans: 0,
            data_joined: false,
            joined: BytesMut::new(),
            data_len: 0,
            event_type: PSpan::None,
            last_event_id: PSpan::None,
            id_in_frame: false,
            retry: None,
            raw_start: None,
            raw_acc: BytesMut::new(),
            block: BytesMut::new(),
            fast_from: 0,
            fast_ok: false,
            mask_rest: 0,
            borrowing: false,
            ref_ready: false,
            ref_data: None,
            ref_ty: (0, 0),
            ref_own_id: false,
            ref_buf: Vec::new(),
            held: None,
            counting: false,
            counted_events: 0,
            counted_data_bytes: 0,
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
    /// `EventSource` keeps them across reconnections; the [`count_events`](Self::count_events) totals
    /// start again from 0.
    pub fn reset(&mut self) {
        self.last_event_id.detach(&self.cur);
        let last_event_id = std::mem::take(&mut self.last_event_id);
        let retry = self.retry;
        let config = self.config.clone();
        // Keep the allocations that can be reused.
        let mut queue = std::mem::take(&mut self.queue);
        queue.clear();
        let mut joined = std::mem::take(&mut self.joined);
        joined.clear();
        let mut partial = std::mem::take(&mut self.partial);
        partial.clear();
        *self = Parser::with_builder(config);
        self.queue = queue;
        self.joined = joined;
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

    /// Counts the events in everything fed so far, without building them: for metering,
    /// where only how many events (and how much data) passed matters. Returns the number
    /// of events dispatched by this call; [`counted_events`](Self::counted_events) and
    /// [`counted_data_bytes`](Self::counted_data_bytes) keep the totals.
    ///
    /// The stream is interpreted exactly as by [`next`](Iterator::next) (the same
    /// line-ending classifier, limits and state): an event is counted when `next` would
    /// have yielded it, and its data bytes are those of [`Event::data`]. Retry fields
    /// update [`retry`](Self::retry) and ids [`last_event_id`](Self::last_event_id);
    /// comments are skipped. Call it after each [`feed`](Self::feed) (a gateway calls it
    /// per chunk); it may be mixed with `next` on the same stream.
    ///
    /// # Errors
    /// A limit error, as `next` would report it. The events before it are in the totals;
    /// under [`LimitPolicy::SkipEvent`] call `count_events` again to go on.
    ///
    /// ```
    /// use eventgate_sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(&b"data: a\n\nid: 1\ndata: b\ndata: c\n\ndata: par"[..]);
    /// assert_eq!(parser.count_events()?, 2);
    /// parser.feed(&b"tial\n\n"[..]);
    /// assert_eq!(parser.count_events()?, 1);
    /// assert_eq!((parser.counted_events(), parser.counted_data_bytes()), (3, 1 + 3 + 7));
    /// assert_eq!(parser.last_event_id(), "1");
    /// # Ok::<(), eventgate_sse::ParseError>(())
    /// ```
    pub fn count_events(&mut self) -> Result<u64, ParseError> {
        self.counting = true;
        let before = self.counted_events;
        let result = loop {
            match self.next_item() {
                None => break Ok(self.counted_events - before),
                Some(Err(err)) => break Err(err),
                Some(Ok(_)) => {} // A retry or a comment: not an event.
            }
        };
        self.counting = false;
        result
    }

    /// The next item, like [`next`](Iterator::next), but borrowed from the parser: an
    /// event's values point into the input chunk (or the parser's own buffer when its data
    /// lines are joined) instead of sharing it, so no reference count is taken per event.
    /// For callers that read each event and do not keep it; the item lives until the parser
    /// is used again. The stream is interpreted exactly as by `next` (the two may be mixed).
    ///
    /// ```
    /// use eventgate_sse::{ItemRef, Parser};
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(&b"id: 7\nevent: tick\ndata: a\ndata: b\n\nretry: 10\n"[..]);
    /// let Some(Ok(ItemRef::Event(event))) = parser.next_ref() else { panic!() };
    /// assert_eq!((event.data(), event.event_type(), event.last_event_id()), ("a\nb", "tick", "7"));
    /// let kept = event.to_event();
    /// assert!(matches!(parser.next_ref(), Some(Ok(ItemRef::Retry(_)))));
    /// assert!(parser.next_ref().is_none());
    /// assert_eq!(kept.data(), "a\nb");
    /// ```
    pub fn next_ref(&mut self) -> Option<Result<ItemRef<'_>, ParseError>> {
        self.borrowing = true;
        let item = self.next_item();
        self.borrowing = false;
        if self.ref_ready {
            self.ref_ready = false;
            let cur: &[u8] = &self.cur;
            let data = match self.ref_data {
                Some((s, e)) => &cur[s..e],
                None => &self.ref_buf[..],
            };
            let (ts, te) = self.ref_ty;
            return Some(Ok(ItemRef::Event(EventRef::new(
                str_from_checked(data),
                str_from_checked(&cur[ts..te]),
                str_from_checked(self.last_event_id.as_bytes(cur)),
                self.ref_own_id,
            ))));
        }
        let held = match item? {
            Ok(item) => self.held.insert(item),
            Err(err) => return Some(Err(err)),
        };
        Some(Ok(match held {
            Item::Event(event) => ItemRef::Event(event.as_ref()),
            Item::Retry(retry) => ItemRef::Retry(*retry),
            Item::Comment(text) => ItemRef::Comment(text.as_str()),
        }))
    }

    /// Events counted by [`count_events`](Self::count_events) since the parser was built or
    /// [`reset`](Self::reset).
    pub fn counted_events(&self) -> u64 {
        self.counted_events
    }

    /// Total data bytes (as [`Event::data`] would hold them) of the events counted by
    /// [`count_events`](Self::count_events) since the parser was built or [`reset`](Self::reset).
    pub fn counted_data_bytes(&self) -> u64 {
        self.counted_data_bytes
    }

    /// The line-ending classifier this parser uses (see [`crate::classify`]).
    pub fn classifier(&self) -> Classifier {
        self.classifier
    }

    /// Bytes held but not yet parsed (fed chunks plus a partial line); bounded by the
    /// limits as long as the caller drains the parser between feeds.
    pub fn buffered_len(&self) -> usize {
        self.queue.iter().map(Bytes::len).sum::<usize>()
            + (self.cur.len() - self.pos)
            + self.partial.len()
    }

    /// Takes the next chunk off the queue (if there is one), carrying a raw frame in
    /// progress over.
    fn advance_chunk(&mut self) {
        let Some(chunk) = self.queue.pop_front() else {
            return;
        };
        // Values that point into the chunk being left get bytes of their own.
        if self.nspans > 0 {
            self.join_spans(0);
        }
        self.data_first.detach(&self.cur);
        self.event_type.detach(&self.cur);
        self.last_event_id.detach(&self.cur);
        if let Some(start) = self.raw_start {
            if start < self.cur.len() {
                self.raw_acc.extend_from_slice(&self.cur[start..]);
            }
            self.raw_start = Some(0);
        }
        self.win_start = 0;
        self.win_blocks = 0;
        self.blk = 0;
        self.ascii_from = 0;
        self.fast_from = 0;
        self.cur = chunk;
        self.pos = 0;
    }

    fn discard_event(&mut self) {
        self.clear_data();
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
                self.win_blocks = 0;
                self.blk = 0;
            }
            LimitPolicy::SkipEvent => self.state = State::Skipping { in_line },
        }
        Some(Err(err))
    }

    fn clear_data(&mut self) {
        self.data_first = PSpan::None;
        self.data_lines = 0;
        self.nspans = 0;
        self.data_joined = false;
        self.data_len = 0;
        self.joined.clear();
    }

    /// The first CR or LF at or after `from` in the current chunk, found in the masks;
    /// the next window is classified when the current one is used up. `from` never goes
    /// back within a chunk, so each byte is classified once.
    #[inline(always)]
    fn next_eol(&mut self, from: usize) -> Option<usize> {
        loop {
            while self.blk < self.win_blocks {
                let base = self.win_start + self.blk * 64;
                // 0 when the block starts after `from`; 64 or more when it ends before.
                let skip = from.saturating_sub(base);
                if skip < 64 {
                    let m = self.masks[self.blk] & (u64::MAX << skip);
                    if m != 0 {
                        return Some(base + m.trailing_zeros() as usize);
                    }
                }
                self.blk += 1;
            }
            if !self.classify_window(from) {
                return None;
            }
        }
    }

    /// Classifies the next window of the current chunk (from the end of the last one, or
    /// from `from` in a fresh chunk). False at the end of the chunk.
    #[inline(never)]
    fn classify_window(&mut self, from: usize) -> bool {
        let mut at = (self.win_start + self.win_blocks * 64).max(from);
        if at >= self.cur.len() {
            return false;
        }
        // A long line (`LONG_LINE` bytes or more without an ending so far, in this chunk
        // or held from earlier ones): its end is searched for with the classifier's
        // compares but no masks written (`find_line_end`), and the window is classified
        // from there. If the bytes run through were not all ASCII, the ASCII tail cannot
        // start before the window.
        if at - from + self.partial.len() >= LONG_LINE {
            let (found, high) = self.classifier.find_line_end_available(&self.cur[at..]);
            match found {
                Some(i) => {
                    at += i;
                    if high {
                        self.ascii_from = self.ascii_from.max(at);
                    }
                }
                None => {
                    if high {
                        self.ascii_from = self.cur.len();
                    }
                    self.win_start = self.cur.len();
                    self.win_blocks = 0;
                    self.blk = 0;
                    return false;
                }
            }
        }
        let end = self.cur.len().min(at + WINDOW * 64);
        let (n, ascii_from) = self
            .classifier
            .classify_available(&self.cur[at..end], &mut self.masks);
        if ascii_from > 0 {
            self.ascii_from = at + ascii_from;
        }
        self.win_start = at;
        self.win_blocks = n.div_ceil(64);
        self.blk = 0;
        true
    }

    /// The rest of the chunk from `start` holds no line ending: keep it as the start of a
    /// line that continues in the next chunk (bounded by the line limit).
    #[inline(always)]
    fn hold_partial(&mut self, start: usize) -> Option<Result<Item, ParseError>> {
        let len = self.cur.len() - start;
        self.pos = self.cur.len();
        if let State::Skipping { .. } = self.state {
            self.state = State::Skipping { in_line: true };
            return None;
        }
        if self.partial.len() + len > self.config.max_line_len {
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
        // The rest of the chunk has been classified or run through (no line ending was
        // found in it), so `ascii_from` covers it.
        let ascii = start >= self.ascii_from;
        self.partial_ascii = ascii && (self.partial.is_empty() || self.partial_ascii);
        self.partial.extend_from_slice(&self.cur[start..]);
        None
    }

    /// The line held in `partial` goes on in the current chunk from `start`: one pass
    /// ([`Classifier::copy_to_line_end`]) finds its end and copies it into `partial` up
    /// to there, but no further than the line limit allows (`partial` never holds more
    /// than `max_line_len` bytes). Returns where the copy stopped: the line ending, the
    /// end of the chunk, or the limit, from where the line loop goes on as before (the
    /// rest of the line is then empty or, at the limit, crosses it exactly where it
    /// would have). The copy goes first into the room `partial` has, so that a line that
    /// ends there (one no longer than the last long line, `partial_hint`, which that room
    /// was made for) grows no buffer for the rest of its chunk; room is made only for a
    /// line going on past it: at least the rest of the chunk, as much as the line so far
    /// (or the last long line) when that is more, within the limit.
    #[inline(always)]
    fn extend_partial(&mut self, start: usize) -> usize {
        let held = self.partial.len();
        let room = self.config.max_line_len.saturating_sub(held);
        let end = self.cur.len().min(start.saturating_add(room));
        let spare = self.partial.capacity() - held;
        let mut at = start;
        if spare < end - start {
            let fit = start + spare;
            if spare > 0 {
                let stop = self.copy_to_partial(start, fit);
                if stop < fit {
                    return stop;
                }
            }
            // Or it ends right after the room (`fit < end`): where a line as long as the
            // last one ends.
            if matches!(self.cur.get(fit), Some(b'\r' | b'\n')) {
                return fit;
            }
            at = fit;
            let held = self.partial.len();
            let want = (end - at)
                .max(held)
                .max(self.partial_hint.saturating_sub(held));
            self.partial.reserve(want.min(room - (at - start)));
        }
        self.copy_to_partial(at, end)
    }

    /// Appends `cur[from..to]` up to its first line ending to `partial`, in one pass with
    /// the search for that ending; returns where it stopped (the ending, or `to`).
    #[inline(always)]
    fn copy_to_partial(&mut self, from: usize, to: usize) -> usize {
        let (found, high) = self
            .classifier
            .copy_to_line_end_available(&self.cur[from..to], &mut self.partial);
        let stop = found.map_or(to, |i| from + i);
        if high {
            // As after `find_line_end`: the bytes run through were not all ASCII.
            self.partial_ascii = false;
            self.ascii_from = self.ascii_from.max(stop);
        }
        stop
    }

    /// [`next`](Iterator::next) when the whole-event fast path may be tried: that path
    /// first, in a function of its own (so an event built there costs no entry into the
    /// general loop), then [`next_item`](Self::next_item).
    #[inline(never)]
    fn next_event_first(&mut self) -> Option<Result<Item, ParseError>> {
        if let Whole::Event(event) = self.whole_event() {
            return Some(Ok(Item::Event(event)));
        }
        self.next_item()
    }

    /// True when [`whole_event`](Self::whole_event) may be tried at `pos`: the common
    /// state of [`chunk_lines`](Self::chunk_lines), and no event being assembled. Right
    /// after an event read by that path `fast_ok` says so without looking.
    #[inline(always)]
    fn fast_ready(&self) -> bool {
        !self.config.raw_frames
            && matches!(self.state, State::Normal)
            && !self.skip_lf
            && self.partial.is_empty()
            && self.data_lines == 0
            && !self.id_in_frame
            && matches!(self.event_type, PSpan::None)
            && self.pos >= self.fast_from
    }

    fn next_item(&mut self) -> Option<Result<Item, ParseError>> {
        self.fast_ok = false;
        // Only a limit error makes the state `Failed`, and it returns at once.
        if self.state == State::Failed {
            return None;
        }
        loop {
            if let Some(out) = self.chunk_lines() {
                return Some(out);
            }
            if self.ref_ready {
                return None;
            }
            if self.pos >= self.cur.len() {
                if self.queue.is_empty() {
                    // The chunk is kept until the next one is taken (values may still
                    // point into it), which saves leaving it now and again at the next.
                    if self.finished {
                        // End of stream: drop the unterminated line and event.
                        self.partial.clear();
                        self.discard_event();
                    }
                    return None;
                }
                self.advance_chunk();
            }
            if self.skip_lf {
                self.skip_lf = false;
                if self.cur[self.pos] == b'\n' {
                    // The LF of a CRLF split across chunks (part of the raw frame, if any).
                    self.pos += 1;
                    continue;
                }
            }
            let mut start = self.pos;
            if self.partial.len() >= CARRY_FUSED && matches!(self.state, State::Normal) {
                // The held long line goes on here: copied up to its end as its end is
                // found.
                start = self.extend_partial(start);
            }
            let Some(end) = self.next_eol(start) else {
                if let Some(err) = self.hold_partial(start) {
                    return Some(err);
                }
                if self.queue.is_empty() && !self.finished {
                    // The chunk is used up and no other is queued: nothing more to do
                    // (what the loop would find by going round again).
                    return None;
                }
                continue;
            };
            let term = if self.cur[end] == b'\r' {
                match self.cur.get(end + 1) {
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
                if !in_line && end == start {
                    self.state = State::Normal; // The blank line ends the dropped event.
                } else {
                    self.state = State::Skipping { in_line: false };
                }
                continue;
            }

            let line_len = self.partial.len() + (end - start);
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
                // The line ending at `end` was found, so `ascii_from` covers the bytes
                // before it.
                self.partial_ascii &= start >= self.ascii_from;
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

    /// The line loop for the common state: lines that end in the current chunk, no
    /// partial line held, no split CRLF pending, not skipping, no raw frames. Processes
    /// lines until one yields an item (returned) or the state is not the common one any
    /// more (`None`: [`next_item`](Self::next_item)'s general loop takes over, at the
    /// line where this one stopped).
    #[inline(always)]
    fn chunk_lines(&mut self) -> Option<Result<Item, ParseError>> {
        if self.config.raw_frames
            || !matches!(self.state, State::Normal)
            || self.skip_lf
            || !self.partial.is_empty()
        {
            return None;
        }
        // Within the loop the state stays the common one: only `limit_error` changes it
        // (and its error is returned), lines of the chunk never touch `partial`, and a CR
        // that sets `skip_lf` is the chunk's last byte, so no line ending is found after it.
        loop {
            if self.data_lines == 0
                && !self.id_in_frame
                && matches!(self.event_type, PSpan::None)
                && self.pos >= self.fast_from
            {
                match self.whole_events() {
                    Whole::Event(event) => return Some(Ok(Item::Event(event))),
                    Whole::Counted => continue,
                    Whole::Lent => return None,
                    Whole::No => {}
                }
            }
            let start = self.pos;
            let end = self.next_eol(start)?;
            let term = match self.cur[end] {
                b'\r' => match self.cur.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    None => {
                        self.skip_lf = true;
                        1
                    }
                },
                _ => 1,
            };
            self.pos = end + term;
            if end - start > self.config.max_line_len {
                let limit = self.config.max_line_len;
                return self.limit_error(ParseError::LineTooLong { limit }, false);
            }
            if let Some(out) = self.process_line(LineSrc::Chunk(start, end)) {
                return Some(out);
            }
        }
    }

    /// [`whole_event`](Self::whole_event) in a function of its own (where its loop gets
    /// the registers to itself), for the line loop: while counting it goes on from one
    /// event to the next, so it returns only an event built or lent, or `Whole::No`.
    #[inline(never)]
    fn whole_events(&mut self) -> Whole {
        loop {
            match self.whole_event() {
                Whole::Counted => {}
                other => return other,
            }
        }
    }

    /// The whole-event fast path, tried by [`chunk_lines`](Self::chunk_lines) when no
    /// event is being assembled: when the classified lines from `pos` up to a blank line
    /// are in the current chunk and are plain fields (`data`, `event`, `id`, ignored
    /// names and, with comments off, comments; at most `SPANS + 1` data lines, valid
    /// UTF-8, within the limits), the event is parsed straight from the masks, its
    /// values kept in locals, and built (or counted) in one go. Anything else (a retry,
    /// a comment to yield, an event past the chunk, a block without data, a lone CR at
    /// the end of the chunk, a limit) gives `Whole::No` with nothing changed but the
    /// classified window: the line loop takes the event from `pos`, and this path is not
    /// tried again before the line it stopped at.
    #[inline(always)]
    fn whole_event(&mut self) -> Whole {
        let mut blk = self.blk;
        let mut start = self.pos;
        // The line endings of block `blk` (at `base`) at or after `start`: the mask is
        // loaded once per block and the endings passed over are cleared from it, so a
        // line's end is one `trailing_zeros`.
        let mut base = self.win_start + blk * 64;
        let mut m = if self.fast_ok {
            // Right after an event read here: the mask as it was left.
            self.mask_rest
        } else if blk < self.win_blocks {
            // `blk < win_blocks <= WINDOW`, so the index mask changes nothing.
            at_or_after(self.masks[blk & (WINDOW - 1)], start.saturating_sub(base))
        } else {
            0
        };
        let first = start;
        let mut data = (0, 0);
        let mut ndata = 0usize;
        let mut data_len = 0usize;
        // An absent type or id is an empty range (any empty range reads as "").
        let mut ty = (first, first);
        let mut id = (first, first);
        let mut own_id = false;
        loop {
            // The next line ending, from the masks (the next window classified when this
            // one is used up).
            while m == 0 {
                blk += 1;
                if blk >= self.win_blocks {
                    if !self.classify_window(start) {
                        return self.no_fast(start);
                    }
                    blk = 0;
                    base = self.win_start;
                } else {
                    base += 64;
                }
                m = at_or_after(self.masks[blk & (WINDOW - 1)], start.saturating_sub(base));
            }
            let end = base + m.trailing_zeros() as usize;
            // Drop the ending from the mask (and, below, the LF of a CRLF: the next set
            // bit, or in the next block, where `start` masks it).
            m &= m.wrapping_sub(1);
            let cur: &[u8] = &self.cur;
            let next = if cur[end] == b'\n' {
                end + 1
            } else {
                match cur.get(end + 1) {
                    Some(b'\n') => {
                        m &= m.wrapping_sub(1);
                        end + 2
                    }
                    Some(_) => end + 1,
                    None => return self.no_fast(start),
                }
            };
            if end == start {
                if ndata == 0 {
                    return self.no_fast(start);
                }
                self.blk = blk;
                self.mask_rest = m;
                let data = (data, ndata - 1, data_len);
                return self.whole_dispatch(first, end, next, data, ty, (id, own_id));
            }
            if end - start > self.config.max_line_len {
                return self.no_fast(start);
            }
            // A `data: ` line, the most common by far, on a path of its own.
            let word = word_at(cur, start);
            if word & 0xFFFF_FFFF_FFFF == DATA_WORD {
                let value = (start + 6, end);
                if value.0 < self.ascii_from && !is_text(&cur[value.0..end])
                    || !push_data(
                        &mut self.spans,
                        (&mut data, &mut ndata, &mut data_len),
                        value,
                    )
                    || data_len > self.config.max_event_len
                {
                    return self.no_fast(start);
                }
                start = next;
                continue;
            }
            let (name, value) = match field_word(word, start) {
                Some(found) => found,
                None => {
                    let line = &cur[start..end];
                    if line[0] == b':' {
                        if self.config.comments {
                            return self.no_fast(start);
                        }
                        start = next;
                        continue;
                    }
                    let (name, from) = field_of(line);
                    (name, start + from)
                }
            };
            let value = (value, end);
            if matches!(name, FieldName::Other) {
                start = next;
                continue;
            }
            // Within the classified ASCII tail, or checked.
            let utf8 = value.0 >= self.ascii_from || is_text(&cur[value.0..end]);
            match name {
                FieldName::Retry | FieldName::Other => return self.no_fast(start),
                _ if !utf8 => return self.no_fast(start),
                FieldName::Data => {
                    let acc = (&mut data, &mut ndata, &mut data_len);
                    if !push_data(&mut self.spans, acc, value)
                        || data_len > self.config.max_event_len
                    {
                        return self.no_fast(start);
                    }
                }
                FieldName::Event => ty = value,
                // An id containing NUL is ignored.
                FieldName::Id if has_nul(&cur[value.0..end]) => {}
                FieldName::Id => (id, own_id) = (value, true),
            }
            start = next;
        }
    }

    /// [`whole_event`](Self::whole_event) gives up at the line starting at `at`. A window
    /// it classified past `pos` is dropped, so that the line loop classifies from `pos`.
    #[cold]
    fn no_fast(&mut self, at: usize) -> Whole {
        self.fast_ok = false;
        self.fast_from = at + 1;
        if self.win_start > self.pos {
            self.win_start = self.pos;
            self.win_blocks = 0;
            self.blk = 0;
        }
        Whole::No
    }

    /// The blank line at `end` (the next line at `next`) closes the event that
    /// [`whole_event`](Self::whole_event) read from its first line at `first`: its data
    /// (the first line, how many further lines are in `spans`, and the joined length),
    /// type and id (with whether the event set it). Counts it, lends it or builds it, and
    /// moves past it.
    #[inline(always)]
    fn whole_dispatch(
        &mut self,
        first: usize,
        end: usize,
        next: usize,
        (data, more, data_len): ((usize, usize), usize, usize),
        ty: (usize, usize),
        (id, own_id): ((usize, usize), bool),
    ) -> Whole {
        if own_id {
            self.last_event_id = PSpan::Cur(id.0, id.1);
        }
        self.pos = next;
        // Past a whole event, nothing is assembled and the state is the common one.
        self.fast_ok = true;
        if self.counting {
            self.counted_events += 1;
            self.counted_data_bytes += data_len as u64;
            return Whole::Counted;
        }
        let (ds, de) = data;
        if self.borrowing {
            self.ref_ready = true;
            self.ref_ty = ty;
            self.ref_own_id = own_id;
            if more == 0 {
                self.ref_data = Some(data);
            } else {
                let cur: &[u8] = &self.cur;
                let buf = &mut self.ref_buf;
                buf.clear();
                buf.reserve(data_len);
                buf.extend_from_slice(&cur[ds..de]);
                for &(s, e) in &self.spans[..more] {
                    buf.push(b'\n');
                    buf.extend_from_slice(&cur[s..e]);
                }
                self.ref_data = None;
            }
            return Whole::Lent;
        }
        // The id: this event's, or the last one's (a range of the chunk before `first`,
        // or text of its own).
        let id = match (own_id, &self.last_event_id) {
            (true, _) | (false, PSpan::None) => Some(id),
            (false, PSpan::Cur(s, e)) => Some((*s, *e)),
            (false, PSpan::Own(_)) => None,
        };
        if more == 0
            && let Some(id) = id
        {
            // One data line and every value in the chunk: a slice of it (from the event's
            // first line, or the earlier id) plus offsets.
            let lo = first.min(id.0);
            if u32::try_from(end - lo).is_ok() {
                let off = |(s, e): (usize, usize)| ((s - lo) as u32, (e - lo) as u32);
                let buf = self.cur.slice(lo..end);
                return Whole::Event(Event::from_parts(
                    buf,
                    off(data),
                    off(ty),
                    off(id),
                    own_id,
                    None,
                ));
            }
        }
        // Otherwise one exact-size buffer carved from the block: the data lines joined
        // with LF, then the type and the id.
        let cur: &[u8] = &self.cur;
        let id_bytes = match id {
            Some((s, e)) => &cur[s..e],
            None => self.last_event_id.as_bytes(cur),
        };
        let block = &mut self.block;
        reserve_block(block, data_len + (ty.1 - ty.0) + id_bytes.len());
        block.extend_from_slice(&cur[ds..de]);
        for &(s, e) in &self.spans[..more] {
            block.put_u8(b'\n');
            block.extend_from_slice(&cur[s..e]);
        }
        block.extend_from_slice(&cur[ty.0..ty.1]);
        block.extend_from_slice(id_bytes);
        let buf = block.split().freeze();
        // The limits (at most 512 MiB each) keep every offset within u32.
        let d = data_len as u32;
        let t = d + (ty.1 - ty.0) as u32;
        let i = t + id_bytes.len() as u32;
        Whole::Event(Event::from_parts(buf, (0, d), (d, t), (t, i), own_id, None))
    }

    /// The value `line[from..]` as a span: a range of the chunk when the line is in it
    /// and is UTF-8, else text of its own (copied into the shared block; invalid UTF-8
    /// replaced).
    #[inline(always)]
    fn value(&mut self, line: LineSrc, from: usize) -> PSpan {
        match line {
            LineSrc::Chunk(start, end) => {
                let bytes = &self.cur[start + from..end];
                // Within the classified ASCII tail, or checked.
                if start + from >= self.ascii_from
                    || bytes.is_ascii()
                    || std::str::from_utf8(bytes).is_ok()
                {
                    PSpan::Cur(start + from, end)
                } else {
                    PSpan::Own(Utf8Bytes::from(String::from_utf8_lossy(bytes).into_owned()))
                }
            }
            LineSrc::Partial if self.partial.len() - from >= BLOCK_LEN => {
                // A long line: hand over the buffer it was assembled in (no second copy),
                // and remember its size so the next long line gets room in one go.
                self.partial_hint = self.partial.len();
                let ascii = self.partial_ascii;
                let line = self.partial.split().freeze().slice(from..);
                PSpan::Own(if ascii {
                    Utf8Bytes::from_checked(line)
                } else {
                    Utf8Bytes::from_utf8_lossy(line)
                })
            }
            LineSrc::Partial => {
                let copy = copy_into_block(&mut self.block, &self.partial[from..]);
                PSpan::Own(if self.partial_ascii {
                    Utf8Bytes::from_checked(copy)
                } else {
                    Utf8Bytes::from_utf8_lossy(copy)
                })
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
        let (name, value_from) = field_of(bytes);
        let field = match name {
            FieldName::Data => Field::Data,
            FieldName::Event => Field::Event,
            // An id containing NUL is ignored.
            FieldName::Id if !has_nul(&bytes[value_from..]) => Field::Id,
            FieldName::Retry => {
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
            FieldName::Id | FieldName::Other => Field::Ignored,
        };
        if let Some(err) = self.check_raw_len() {
            return Some(err);
        }
        match field {
            Field::Data if self.data_lines == 0 => {
                let value = self.value(line, value_from);
                if value.len() > self.config.max_event_len {
                    let limit = self.config.max_event_len;
                    return self.limit_error(ParseError::EventTooLarge { limit }, false);
                }
                self.data_len = value.len();
                self.data_first = value;
                self.data_lines = 1;
            }
            Field::Data => return self.push_joined(line, value_from),
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

    /// A second or later data line. While the event's lines are in the current chunk
    /// and valid UTF-8, it is kept as a range of the chunk (joined at dispatch, one copy
    /// per line); otherwise it is appended, after an LF, to the data joined so far.
    #[inline(always)]
    fn push_joined(&mut self, line: LineSrc, from: usize) -> Option<Result<Item, ParseError>> {
        if !self.data_joined
            && self.nspans < SPANS
            && let LineSrc::Chunk(start, end) = line
            && (start + from >= self.ascii_from || {
                let raw = &self.cur[start + from..end];
                raw.is_ascii() || std::str::from_utf8(raw).is_ok()
            })
        {
            let added = end - (start + from) + 1;
            if self.data_len + added <= self.config.max_event_len {
                self.spans[self.nspans] = (start + from, end);
                self.nspans += 1;
                self.data_lines += 1;
                self.data_len += added;
                return None;
            }
        }
        self.push_joined_copy(line, from)
    }

    /// [`push_joined`](Self::push_joined) for a line that is not kept as a range: it is
    /// appended to the data joined so far (or the limit is crossed).
    #[inline(never)]
    fn push_joined_copy(&mut self, line: LineSrc, from: usize) -> Option<Result<Item, ParseError>> {
        if !self.data_joined {
            self.join_spans(0);
        }
        let too_large = {
            let raw: &[u8] = match line {
                LineSrc::Chunk(start, end) => &self.cur[start + from..end],
                LineSrc::Partial => &self.partial[from..],
            };
            let text = if raw.is_ascii() {
                Cow::Borrowed(crate::utf8::str_from_checked(raw))
            } else {
                match std::str::from_utf8(raw) {
                    Ok(text) => Cow::Borrowed(text),
                    Err(_) => String::from_utf8_lossy(raw),
                }
            };
            let added = text.len() + 1;
            if self.data_len + added > self.config.max_event_len {
                true
            } else {
                reserve_keep(&mut self.joined, added);
                self.joined.put_u8(b'\n');
                self.joined.extend_from_slice(text.as_bytes());
                self.data_lines += 1;
                self.data_len += added;
                false
            }
        };
        if too_large {
            let limit = self.config.max_event_len;
            return self.limit_error(ParseError::EventTooLarge { limit }, false);
        }
        None
    }

    /// Copies the data lines held as spans (the first line and the ranges of the chunk)
    /// into `joined`, LF between lines, with room for `extra` more bytes after them.
    fn join_spans(&mut self, extra: usize) {
        let first = self.data_first.as_bytes(&self.cur);
        reserve_keep(&mut self.joined, self.data_len + extra);
        self.joined.extend_from_slice(first);
        for &(start, end) in &self.spans[..self.nspans] {
            self.joined.put_u8(b'\n');
            self.joined.extend_from_slice(&self.cur[start..end]);
        }
        self.data_first = PSpan::None;
        self.nspans = 0;
        self.data_joined = true;
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

    /// The common event, dispatched without the general path's bookkeeping: one data
    /// line, type and id (if any) ranges of the current chunk, no raw frame. The event is
    /// one reference-counted slice of the chunk plus offsets. `None` (and nothing
    /// changed) for any other event.
    #[inline(always)]
    fn dispatch_in_chunk(&mut self) -> Option<Event> {
        let PSpan::Cur(ds, de) = self.data_first else {
            return None;
        };
        // An absent value is an empty range (any empty range reads as "").
        let ty = match self.event_type {
            PSpan::None => (de, de),
            PSpan::Cur(s, e) => (s, e),
            PSpan::Own(_) => return None,
        };
        let id = match self.last_event_id {
            PSpan::None => (de, de),
            PSpan::Cur(s, e) => (s, e),
            PSpan::Own(_) => return None,
        };
        let lo = ds.min(ty.0).min(id.0);
        if u32::try_from(self.pos - lo).is_err() {
            return None;
        }
        let off = |(s, e): (usize, usize)| ((s - lo) as u32, (e - lo) as u32);
        let event = Event::from_parts(
            self.cur.slice(lo..self.pos),
            off((ds, de)),
            off(ty),
            off(id),
            self.id_in_frame,
            None,
        );
        self.id_in_frame = false;
        self.event_type = PSpan::None;
        self.data_first = PSpan::None;
        self.data_lines = 0;
        self.data_len = 0;
        Some(event)
    }

    /// A blank line: dispatch the event being assembled. The common cases (nothing to
    /// dispatch, counting, [`dispatch_in_chunk`](Self::dispatch_in_chunk)) are inlined
    /// into the line loop; the rest is [`dispatch_general`](Self::dispatch_general).
    #[inline(always)]
    fn dispatch(&mut self) -> Option<Result<Item, ParseError>> {
        if self.data_lines == 0 {
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
        if self.counting {
            self.counted_events += 1;
            self.counted_data_bytes += self.data_len as u64;
            self.discard_event();
            return None;
        }
        if self.data_lines == 1
            && self.raw_start.is_none()
            && let Some(event) = self.dispatch_in_chunk()
        {
            return Some(Ok(Item::Event(event)));
        }
        self.dispatch_general()
    }

    /// Dispatches an event that has several data lines, values of their own or a raw
    /// frame: one buffer of its own (carved from a block) unless its data alone was handed
    /// over.
    #[inline(never)]
    fn dispatch_general(&mut self) -> Option<Result<Item, ParseError>> {
        let event_type = std::mem::take(&mut self.event_type);
        let own_id = std::mem::take(&mut self.id_in_frame);
        let raw_start = self.raw_start.take();
        let raw_in_chunk = raw_start.filter(|_| self.raw_acc.is_empty());

        // Fast path: one data line and every value in the current chunk. The event is
        // one reference-counted slice of the chunk plus offsets.
        if self.data_lines == 1 && (raw_start.is_none() || raw_in_chunk.is_some()) {
            let data = &self.data_first;
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
                    self.clear_data();
                    return Some(Ok(Item::Event(event)));
                }
            }
        }

        // Data of its own (a long line handed over) and nothing else to keep: the event is
        // that buffer, with no second copy.
        if self.data_lines == 1
            && raw_start.is_none()
            && event_type.len() == 0
            && self.last_event_id.len() == 0
            && matches!(self.data_first, PSpan::Own(_))
            && let PSpan::Own(data) = std::mem::take(&mut self.data_first)
        {
            self.clear_data();
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

        // Otherwise one buffer laid out as data, type, id, raw frame: the joined data
        // (already in `joined` when there were several lines) and copies of the rest, in
        // a buffer carved from a shared block, so at most one allocation per block.
        let raw_len = raw_start.map_or(0, |r| self.raw_acc.len() + (self.pos - r));
        let rest = event_type.len() + self.last_event_id.len() + raw_len;
        if self.data_lines > 1 && !self.data_joined {
            self.join_spans(rest);
        }
        let first = self.data_first.as_bytes(&self.cur);
        let joined = &mut self.joined;
        reserve_keep(joined, first.len() + rest);
        joined.extend_from_slice(first);
        let cur: &[u8] = &self.cur;
        let mut put = |bytes: &[u8]| -> (u32, u32) {
            let start = joined.len();
            joined.extend_from_slice(bytes);
            // The limits (at most 512 MiB each) keep every offset within u32.
            (start as u32, joined.len() as u32)
        };
        let data = (0, self.data_len as u32);
        let ty = put(event_type.as_bytes(cur));
        let id = put(self.last_event_id.as_bytes(cur));
        let raw = raw_start.map(|r| {
            let start = put(&self.raw_acc).0;
            put(&cur[r..self.pos]);
            start
        });
        let buf = self.joined.split().freeze();
        let raw = raw.filter(|&r| !buf[r as usize..].starts_with(BOM));
        self.raw_acc.clear();
        self.clear_data();
        let event = Event::from_parts(buf, data, ty, id, own_id, raw);
        Some(Ok(Item::Event(event)))
    }
}

/// The bits of `mask` at or after bit `skip` (none when `skip` is 64 or more).
#[inline(always)]
fn at_or_after(mask: u64, skip: usize) -> u64 {
    if skip < 64 {
        mask & (u64::MAX << skip)
    } else {
        0
    }
}

/// `data: ` as the low six bytes of a little-endian word (see [`word_at`]).
const DATA_WORD: u64 = u64::from_le_bytes(*b"data: \0\0");

/// The eight bytes of `cur` at `start` as a little-endian word, or 0 (which starts no
/// field) when fewer are left.
#[inline(always)]
fn word_at(cur: &[u8], start: usize) -> u64 {
    match cur.get(start..).and_then(<[u8]>::first_chunk::<8>) {
        Some(bytes) => u64::from_le_bytes(*bytes),
        None => 0,
    }
}

/// True when `bytes` are valid UTF-8 (checked for ASCII first, the common case).
#[inline(always)]
fn is_text(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// Adds the data line at `value` to an event read by [`Parser::whole_event`]: the first
/// line in `data`, the next `SPANS` in `spans`; `len` is the joined length. False (and
/// nothing added) when the event has more lines than that.
#[inline(always)]
fn push_data(
    spans: &mut [(usize, usize); SPANS],
    (data, ndata, len): (&mut (usize, usize), &mut usize, &mut usize),
    value: (usize, usize),
) -> bool {
    if *ndata == 0 {
        *data = value;
        *len = value.1 - value.0;
    } else if let Some(span) = spans.get_mut(*ndata - 1) {
        *span = value;
        *len += value.1 - value.0 + 1;
    } else {
        return false;
    }
    *ndata += 1;
    true
}

/// The other fields events are commonly made of, `event: ` and `id: ` (with the space;
/// `data: ` is looked for before), recognised from the line's first eight bytes (`word`,
/// see [`word_at`]) at `start`: the name and where its value starts. `None` for anything
/// else, which [`field_of`] then reads. The prefixes hold no CR or LF, so a line that
/// starts with one is at least that long.
#[inline(always)]
fn field_word(word: u64, start: usize) -> Option<(FieldName, usize)> {
    const EVENT: u64 = u64::from_le_bytes(*b"event: \0");
    const ID: u64 = u64::from_le_bytes(*b"id: \0\0\0\0");
    if word & 0xFF_FFFF_FFFF_FFFF == EVENT {
        Some((FieldName::Event, start + 7))
    } else if word & 0xFFFF_FFFF == ID {
        Some((FieldName::Id, start + 4))
    } else {
        None
    }
}

/// True when `bytes` holds a NUL. Ids are short: a plain loop beats the call to
/// `memchr` that `contains` makes, up to a few words.
#[inline(always)]
fn has_nul(bytes: &[u8]) -> bool {
    if bytes.len() <= 32 {
        bytes.iter().fold(false, |any, &b| any | (b == 0))
    } else {
        memchr::memchr(0, bytes).is_some()
    }
}

#[inline(always)]
fn min_start(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// What [`Parser::whole_event`] did.
enum Whole {
    /// Built the event.
    Event(Event),
    /// Counted the event (while counting).
    Counted,
    /// Lent the event (for [`Parser::next_ref`]).
    Lent,
    /// Nothing: the line loop takes the event.
    No,
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
        debug_assert!(!self.fast_ok || self.fast_ready());
        if self.fast_ok || self.fast_ready() {
            self.next_event_first()
        } else {
            self.next_item()
        }
    }
}
