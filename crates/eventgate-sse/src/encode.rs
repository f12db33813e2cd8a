//! The encoder: events, comments and retry hints to `text/event-stream` bytes.

use crate::error::EncodeError;
use crate::id::{EventId, MAX_EVENT_ID_LEN};
use crate::utf8::Utf8Bytes;
use bytes::{BufMut, Bytes, BytesMut};
use std::time::Duration;

pub(crate) fn check_id(id: &str) -> Result<(), EncodeError> {
    // One pass; a line break is reported before a NUL.
    let mut nul = false;
    for &b in id.as_bytes() {
        match b {
            b'\r' | b'\n' => return Err(EncodeError::NewlineInId),
            0 => nul = true,
            _ => {}
        }
    }
    if nul {
        Err(EncodeError::NulInId)
    } else {
        Ok(())
    }
}

pub(crate) fn check_event_type(event_type: &str) -> Result<(), EncodeError> {
    if memchr::memchr2(b'\r', b'\n', event_type.as_bytes()).is_some() {
        return Err(EncodeError::NewlineInEventType);
    }
    Ok(())
}

/// Writes `prefix` + each line of `text` + LF, splitting on CRLF, LF and CR, so that no
/// input can end the field early and start another one.
#[inline]
fn put_lines(buf: &mut BytesMut, prefix: &[u8], text: &[u8]) {
    let mut rest = text;
    loop {
        match memchr::memchr2(b'\r', b'\n', rest) {
            None => {
                buf.put_slice(prefix);
                buf.put_slice(rest);
                buf.put_u8(b'\n');
                return;
            }
            Some(i) => {
                buf.put_slice(prefix);
                buf.put_slice(&rest[..i]);
                buf.put_u8(b'\n');
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
        }
    }
}

/// An encoded piece of `text/event-stream`: one event, a comment, or a retry hint.
///
/// A `Frame` is always well formed: it ends with a blank line, so frames can be sent one
/// after another in any order. Cloning is a reference-count increment.
///
/// ```
/// use eventgate_sse::Frame;
/// use std::time::Duration;
///
/// assert_eq!(Frame::comment("hi\nthere").as_bytes().as_ref(), b": hi\n: there\n\n");
/// assert_eq!(Frame::retry(Duration::from_secs(3)).as_bytes().as_ref(), b"retry: 3000\n\n");
/// assert_eq!(Frame::KEEP_ALIVE.as_bytes().as_ref(), b":\n\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// The keep-alive comment: an empty comment line and a blank line (3 bytes). Clients
    /// ignore it; proxies and load balancers see traffic and keep the stream open.
    pub const KEEP_ALIVE: Frame = Frame(Bytes::from_static(b":\n\n"));

    /// A frame from a constant: the text must already be one well-formed frame, and is
    /// checked (at compile time when used in a `const` item, as it should be).
    ///
    /// Well formed means what the encoder writes: LF line endings only (no CR), every line a
    /// comment (`:` first) or a `data:`, `event:`, `id:` or `retry:` field (`retry:` with
    /// digits, `id:` without NUL), and exactly one blank line, at the end (a lone blank line
    /// is the smallest frame). So constant frames need no encoding at run time and follow
    /// the same rules as encoded ones.
    ///
    /// ```
    /// use eventgate_sse::Frame;
    ///
    /// const BYE: Frame = Frame::from_static(": shutting down\n\n");
    /// const RESET: Frame = Frame::from_static("event: reset\ndata: starting live\n\n");
    /// assert_eq!(BYE, Frame::comment("shutting down"));
    /// assert_eq!(RESET.len(), 34);
    /// ```
    ///
    /// A malformed constant does not compile:
    ///
    /// ```compile_fail
    /// const BAD: eventgate_sse::Frame = eventgate_sse::Frame::from_static("data: no blank line\n");
    /// ```
    ///
    /// # Panics
    /// If `text` is not one well-formed frame (in a `const` item: a compile error).
    pub const fn from_static(text: &'static str) -> Frame {
        if let Err(why) = check_static(text.as_bytes()) {
            panic!("{}", why);
        }
        Frame(Bytes::from_static(text.as_bytes()))
    }

    pub(crate) fn from_trusted(bytes: Bytes) -> Self {
        Frame(bytes)
    }

    /// A comment frame. Line breaks in `text` start new comment lines.
    pub fn comment(text: &str) -> Self {
        let mut buf = BytesMut::with_capacity(text.len() + 4);
        put_lines(&mut buf, b": ", text.as_bytes());
        buf.put_u8(b'\n');
        Frame(buf.freeze())
    }

    /// A frame holding only a `retry:` field (milliseconds; sub-millisecond parts are
    /// dropped).
    pub fn retry(retry: Duration) -> Self {
        let mut buf = BytesMut::with_capacity(32);
        put_retry(&mut buf, retry);
        buf.put_u8(b'\n');
        Frame(buf.freeze())
    }

    /// The frame's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The frame's bytes, to write to the wire.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    #[allow(clippy::len_without_is_empty)] // A frame is never empty.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<Frame> for Bytes {
    fn from(frame: Frame) -> Self {
        frame.0
    }
}

/// Whether `b[i..]` starts with `prefix` (a `const` `starts_with`).
const fn has_at(b: &[u8], i: usize, prefix: &[u8]) -> bool {
    if b.len() - i < prefix.len() {
        return false;
    }
    let mut k = 0;
    while k < prefix.len() {
        if b[i + k] != prefix[k] {
            return false;
        }
        k += 1;
    }
    true
}

/// The rules of [`Frame::from_static`].
const fn check_static(b: &[u8]) -> Result<(), &'static str> {
    let n = b.len();
    if n == 0 || b[n - 1] != b'\n' {
        return Err("a frame ends with a blank line (LF)");
    }
    let mut i = 0;
    // One line per turn; `i` is the start of a line.
    while i < n {
        if b[i] == b'\n' {
            if i != n - 1 {
                return Err("a frame has one blank line, at its end");
            }
            return Ok(());
        }
        let mut end = i;
        while b[end] != b'\n' {
            if b[end] == b'\r' {
                return Err("frames use LF line endings only");
            }
            end += 1;
        }
        if b[i] == b':' || has_at(b, i, b"data:") || has_at(b, i, b"event:") {
            // A comment, data or an event type: any text without CR.
        } else if has_at(b, i, b"id:") {
            let mut k = i + 3;
            while k < end {
                if b[k] == 0 {
                    return Err("an id holds no NUL");
                }
                k += 1;
            }
        } else if has_at(b, i, b"retry:") {
            let mut k = i + 6;
            if k < end && b[k] == b' ' {
                k += 1;
            }
            if k == end {
                return Err("retry: needs digits");
            }
            while k < end {
                if !b[k].is_ascii_digit() {
                    return Err("retry: takes digits only");
                }
                k += 1;
            }
        } else {
            return Err("each line is a comment or a data, event, id or retry field");
        }
        i = end + 1;
    }
    Err("a frame ends with a blank line (LF)")
}

fn put_retry(buf: &mut BytesMut, retry: Duration) {
    let ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
    buf.put_slice(b"retry: ");
    let mut digits = [0u8; 20];
    let mut n = ms;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.put_slice(&digits[i..]);
    buf.put_u8(b'\n');
}

/// Builds one event frame from borrowed parts, without allocating until it is written.
///
/// Data is split on CRLF, LF and CR into several `data:` lines, so no input can inject a
/// field. Values that cannot be encoded faithfully (a line break or NUL in the id, a line
/// break in the event type) are reported as [`EncodeError`]s, never panics; nothing is
/// written then.
///
/// ```
/// use bytes::BytesMut;
/// use eventgate_sse::{EncodeError, EventBuilder};
/// use std::time::Duration;
///
/// let mut buf = BytesMut::new();
/// EventBuilder::new()
///     .id("7")
///     .event("tick")
///     .data("a\r\nb")
///     .retry(Duration::from_millis(1500))
///     .encode(&mut buf)?;
/// assert_eq!(&buf[..], b"retry: 1500\nid: 7\nevent: tick\ndata: a\ndata: b\n\n");
///
/// let bad = EventBuilder::new().id("1\ninjected: x").data("x").build();
/// assert_eq!(bad, Err(EncodeError::NewlineInId));
/// # Ok::<(), EncodeError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct EventBuilder<'a> {
    comment: Option<&'a str>,
    retry: Option<Duration>,
    id: Option<&'a str>,
    event: Option<&'a str>,
    data: Option<&'a str>,
}

impl<'a> EventBuilder<'a> {
    /// An empty builder (encodes to a lone blank line).
    pub const fn new() -> Self {
        EventBuilder {
            comment: None,
            retry: None,
            id: None,
            event: None,
            data: None,
        }
    }

    /// The data. Without data, a receiver dispatches no event (the frame can still set
    /// the id or the retry time).
    pub const fn data(mut self, data: &'a str) -> Self {
        self.data = Some(data);
        self
    }

    /// The event type (`event:` field).
    pub const fn event(mut self, event: &'a str) -> Self {
        self.event = Some(event);
        self
    }

    /// The id (`id:` field). An empty id resets the receiver's last event ID.
    pub const fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// The reconnection time (`retry:` field, in milliseconds).
    pub const fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// A comment written before the fields.
    pub const fn comment(mut self, comment: &'a str) -> Self {
        self.comment = Some(comment);
        self
    }

    /// An upper bound of the encoded length.
    /// The encoded length when no value has a line break (a frame with more lines makes
    /// the buffer grow while it is written). Cheap: no scan of the values.
    fn size_hint(&self) -> usize {
        let line = |s: Option<&str>, overhead: usize| s.map_or(0, |s| s.len() + overhead);
        line(self.comment, 3)
            + self.retry.map_or(0, |_| 28)
            + line(self.id, 5)
            + line(self.event, 8)
            + line(self.data, 7)
            + 1
    }

    fn check(&self) -> Result<(), EncodeError> {
        if let Some(id) = self.id {
            check_id(id)?;
        }
        if let Some(event) = self.event {
            check_event_type(event)?;
        }
        Ok(())
    }

    /// Appends the frame to `buf`.
    ///
    /// # Errors
    /// An [`EncodeError`] if the id or event type cannot be encoded; `buf` is unchanged.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.check()?;
        self.encode_unchecked(buf);
        Ok(())
    }

    pub(crate) fn encode_unchecked(&self, buf: &mut BytesMut) {
        // Reserve from the exact sizes when there is no line break to count.
        buf.reserve(self.size_hint());
        if let Some(comment) = self.comment {
            put_lines(buf, b": ", comment.as_bytes());
        }
        if let Some(retry) = self.retry {
            put_retry(buf, retry);
        }
        if let Some(id) = self.id {
            buf.put_slice(b"id: ");
            buf.put_slice(id.as_bytes());
            buf.put_u8(b'\n');
        }
        if let Some(event) = self.event {
            buf.put_slice(b"event: ");
            buf.put_slice(event.as_bytes());
            buf.put_u8(b'\n');
        }
        if let Some(data) = self.data {
            put_lines(buf, b"data: ", data.as_bytes());
        }
        buf.put_u8(b'\n');
    }

    /// Encodes into a new [`Frame`] (one allocation).
    ///
    /// # Errors
    /// An [`EncodeError`] if the id or event type cannot be encoded.
    pub fn build(&self) -> Result<Frame, EncodeError> {
        self.check()?;
        let mut buf = BytesMut::new();
        self.encode_unchecked(&mut buf);
        Ok(Frame(buf.freeze()))
    }
}

/// Encodes many frames into one growing buffer and hands each out as its own [`Frame`],
/// so encoding a stream of small events costs far less than one allocation per event.
///
/// ```
/// use eventgate_sse::{Encoder, EventBuilder};
///
/// let mut encoder = Encoder::new();
/// let a = encoder.encode(&EventBuilder::new().data("one"))?;
/// let b = encoder.encode(&EventBuilder::new().data("two"))?;
/// assert_eq!(a.as_bytes().as_ref(), b"data: one\n\n");
/// assert_eq!(b.as_bytes().as_ref(), b"data: two\n\n");
/// # Ok::<(), eventgate_sse::EncodeError>(())
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    buf: BytesMut,
    block: usize,
}

impl Encoder {
    /// Default for [`with_block_size`](Self::with_block_size): 16 KiB.
    pub const DEFAULT_BLOCK: usize = 16 * 1024;

    /// An encoder that allocates buffer space 16 KiB at a time.
    pub fn new() -> Self {
        Self::with_block_size(Self::DEFAULT_BLOCK)
    }

    /// An encoder that allocates buffer space `block` bytes at a time (frames larger than
    /// a block get a buffer of their own size).
    pub fn with_block_size(block: usize) -> Self {
        Encoder {
            buf: BytesMut::new(),
            block: block.max(64),
        }
    }

    fn reserve(&mut self, need: usize) {
        if self.buf.capacity() - self.buf.len() < need {
            self.buf = BytesMut::with_capacity(need.max(self.block));
        }
    }

    /// Encodes one event.
    ///
    /// # Errors
    /// An [`EncodeError`] if the id or event type cannot be encoded.
    pub fn encode(&mut self, event: &EventBuilder<'_>) -> Result<Frame, EncodeError> {
        event.check()?;
        self.reserve(event.size_hint());
        event.encode_unchecked(&mut self.buf);
        Ok(Frame(self.buf.split().freeze()))
    }

    /// Prepends an `id: <id>` line to `frame`, an event that has no id of its own (a relay
    /// giving ids to an upstream's events), without parsing or re-encoding the frame: one
    /// copy of its bytes into the encoder's block, no allocation of its own.
    ///
    /// Returns the new frame and the id as an [`EventId`] that shares the frame's buffer.
    /// Prepend only to frames whose event sets no id itself: a later `id:` line in `frame`
    /// would replace this one at the receiver.
    ///
    /// ```
    /// use eventgate_sse::{Encoder, EventBuilder};
    ///
    /// let mut encoder = Encoder::new();
    /// let upstream = EventBuilder::new().event("tick").data("1").build()?;
    /// let (frame, id) = encoder.prepend_id("a-1", &upstream)?;
    /// assert_eq!(frame.as_bytes().as_ref(), b"id: a-1\nevent: tick\ndata: 1\n\n");
    /// assert_eq!(id, "a-1");
    /// assert!(encoder.prepend_id("a\n2", &upstream).is_err());
    /// # Ok::<(), eventgate_sse::EncodeError>(())
    /// ```
    ///
    /// # Errors
    /// [`EncodeError::NewlineInId`], [`EncodeError::NulInId`], or
    /// [`EncodeError::IdTooLong`] past [`MAX_EVENT_ID_LEN`](crate::MAX_EVENT_ID_LEN) bytes.
    pub fn prepend_id(&mut self, id: &str, frame: &Frame) -> Result<(Frame, EventId), EncodeError> {
        check_id(id)?;
        if id.len() > MAX_EVENT_ID_LEN {
            return Err(EncodeError::IdTooLong {
                len: id.len(),
                max: MAX_EVENT_ID_LEN,
            });
        }
        self.reserve(id.len() + 5 + frame.len());
        self.buf.put_slice(b"id: ");
        self.buf.put_slice(id.as_bytes());
        self.buf.put_u8(b'\n');
        self.buf.put_slice(frame.as_bytes());
        let bytes = self.buf.split().freeze();
        let id_bytes = Utf8Bytes::from_checked(bytes.slice(4..4 + id.len()));
        let id = EventId::from_checked(id_bytes).ok_or(EncodeError::IdTooLong {
            len: id.len(),
            max: MAX_EVENT_ID_LEN,
        })?;
        Ok((Frame(bytes), id))
    }

    /// Re-encodes one event under a new id: writes `id: <id>`, then the lines of `event`
    /// except its own `id` fields, up to its first blank line, with LF line endings (CR and
    /// CRLF are accepted), then the blank line. One copy into the encoder's block, no
    /// allocation of its own.
    ///
    /// `event` is the text of one event: a [`Frame`]'s bytes, an upstream event's raw
    /// frame, or bytes kept elsewhere (a shared backlog). Whatever it holds, the result is
    /// one event: text after its first blank line is dropped, and a missing blank line is
    /// added. A relay uses it when a shared store assigns the ids (`<epoch>-<offset>`), so
    /// that every node writes the same bytes for the same event.
    ///
    /// ```
    /// use eventgate_sse::Encoder;
    ///
    /// let mut encoder = Encoder::new();
    /// let (frame, id) = encoder.replace_id("5f-7", b"id: 41\r\nevent: tick\r\ndata: 1\r\n\r\n")?;
    /// assert_eq!(frame.as_bytes().as_ref(), b"id: 5f-7\nevent: tick\ndata: 1\n\n");
    /// assert_eq!(id, "5f-7");
    /// # Ok::<(), eventgate_sse::EncodeError>(())
    /// ```
    ///
    /// # Errors
    /// [`EncodeError::NewlineInId`], [`EncodeError::NulInId`], or
    /// [`EncodeError::IdTooLong`] past [`MAX_EVENT_ID_LEN`](crate::MAX_EVENT_ID_LEN) bytes.
    pub fn replace_id(&mut self, id: &str, event: &[u8]) -> Result<(Frame, EventId), EncodeError> {
        check_id(id)?;
        if id.len() > MAX_EVENT_ID_LEN {
            return Err(EncodeError::IdTooLong {
                len: id.len(),
                max: MAX_EVENT_ID_LEN,
            });
        }
        self.reserve(id.len() + 6 + event.len());
        self.buf.put_slice(b"id: ");
        self.buf.put_slice(id.as_bytes());
        self.buf.put_u8(b'\n');
        let mut rest = event;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr2(b'\r', b'\n', rest) {
                None => (rest, &rest[rest.len()..]),
                Some(i) => {
                    let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    (&rest[..i], &rest[i + skip..])
                }
            };
            if line.is_empty() {
                break;
            }
            if line != b"id" && !line.starts_with(b"id:") {
                self.buf.put_slice(line);
                self.buf.put_u8(b'\n');
            }
            rest = next;
        }
        self.buf.put_u8(b'\n');
        let bytes = self.buf.split().freeze();
        let id_bytes = Utf8Bytes::from_checked(bytes.slice(4..4 + id.len()));
        let id = EventId::from_checked(id_bytes).ok_or(EncodeError::IdTooLong {
            len: id.len(),
            max: MAX_EVENT_ID_LEN,
        })?;
        Ok((Frame(bytes), id))
    }

    /// Encodes a parsed or hand-made [`Event`](crate::Event).
    pub fn encode_event(&mut self, event: &crate::Event) -> Frame {
        self.reserve(
            event.data().len() + event.last_event_id().len() + event.event_type().len() + 64,
        );
        event.encode(&mut self.buf);
        Frame(self.buf.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_frames_follow_the_encoders_rules() {
        for ok in [
            "\n",
            ":\n\n",
            ": hi\n: there\n\n",
            "retry: 10\n\n",
            "retry:10\n\n",
            "id: 1\nevent: e\ndata: a\ndata:\n\n",
            "id:\ndata: x\n\n",
        ] {
            assert_eq!(check_static(ok.as_bytes()), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "data: x\n",
            "data: x\n\ndata: y\n\n",
            "data: x\r\n\r\n",
            "data: x\r\r",
            "dat: x\n\n",
            "data\n\n",
            "\u{feff}data: x\n\n",
            "id: a\0b\ndata: x\n\n",
            "retry: 1s\n\n",
            "retry:\n\n",
            "\n\n",
        ] {
            assert!(check_static(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn static_frames_parse_to_what_they_say() {
        const F: Frame = Frame::from_static("id: 9\nevent: reset\ndata: a\ndata: b\n\n");
        let mut p = crate::Parser::new();
        p.feed(F.into_bytes());
        let Some(Ok(crate::Item::Event(e))) = p.next() else {
            panic!("one event")
        };
        assert_eq!(
            (e.data(), e.event_type(), e.last_event_id()),
            ("a\nb", "reset", "9")
        );
    }

    #[test]
    fn replace_id_drops_the_events_ids_normalises_line_ends_and_stops_at_the_blank_line() {
        let mut enc = Encoder::with_block_size(1024);
        let cases: [(&[u8], &[u8]); 7] = [
            (b"id: 1\ndata: x\n\n", b"id: e-1\ndata: x\n\n"),
            (b"data: x\r\nid:2\r\nid\r\n\r\n", b"id: e-1\ndata: x\n\n"),
            (b"data: x\rdata: y\r\r", b"id: e-1\ndata: x\ndata: y\n\n"),
            // An `idx:` field and a comment are not ids.
            (b"idx: 1\n: c\ndata\n\n", b"id: e-1\nidx: 1\n: c\ndata\n\n"),
            // Only the first event; a missing blank line is added.
            (b"data: a\n\ndata: b\n\n", b"id: e-1\ndata: a\n\n"),
            (b"data: a", b"id: e-1\ndata: a\n\n"),
            (b"", b"id: e-1\n\n"),
        ];
        for (input, want) in cases {
            let (frame, id) = enc.replace_id("e-1", input).unwrap();
            assert_eq!(
                frame.as_bytes().as_ref(),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(id.as_str(), "e-1");
            assert_eq!(id.as_bytes().as_ptr(), frame.as_bytes()[4..].as_ptr());
        }
        assert_eq!(
            enc.replace_id("a\nb", b"data: x\n\n"),
            Err(EncodeError::NewlineInId)
        );
        assert_eq!(
            enc.replace_id("a\0b", b"data: x\n\n"),
            Err(EncodeError::NulInId)
        );
        let long = "x".repeat(MAX_EVENT_ID_LEN + 1);
        assert!(matches!(
            enc.replace_id(&long, b"data: x\n\n"),
            Err(EncodeError::IdTooLong { .. })
        ));
    }

    #[test]
    fn prepend_id_writes_the_id_first_and_shares_one_buffer() {
        let mut enc = Encoder::with_block_size(1024);
        let upstream = Frame::from_static("data: x\n\n");
        let (a, ida) = enc.prepend_id("e-1", &upstream).unwrap();
        let (b, idb) = enc.prepend_id("e-2", &upstream).unwrap();
        assert_eq!(a.as_bytes().as_ref(), b"id: e-1\ndata: x\n\n");
        assert_eq!(b.as_bytes().as_ref(), b"id: e-2\ndata: x\n\n");
        assert_eq!((ida.as_str(), idb.as_str()), ("e-1", "e-2"));
        // The id is a slice of its frame, and both frames come from one block.
        assert_eq!(ida.as_bytes().as_ptr(), a.as_bytes()[4..].as_ptr());
        assert_eq!(b.as_bytes().as_ptr(), a.as_bytes()[a.len()..].as_ptr());
        assert_eq!(
            enc.prepend_id("a\rb", &upstream),
            Err(EncodeError::NewlineInId)
        );
        assert_eq!(enc.prepend_id("a\0b", &upstream), Err(EncodeError::NulInId));
        let long = "x".repeat(MAX_EVENT_ID_LEN + 1);
        assert_eq!(
            enc.prepend_id(&long, &upstream),
            Err(EncodeError::IdTooLong {
                len: MAX_EVENT_ID_LEN + 1,
                max: MAX_EVENT_ID_LEN
            })
        );
        let (_, max) = enc
            .prepend_id(&"x".repeat(MAX_EVENT_ID_LEN), &upstream)
            .unwrap();
        assert_eq!(max.as_str().len(), MAX_EVENT_ID_LEN);
    }
}
