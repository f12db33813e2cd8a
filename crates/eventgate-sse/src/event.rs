//! What the parser yields: [`Item`]s, of which [`Event`]s are the main kind.

use crate::encode::{EventBuilder, Frame};
use crate::error::EncodeError;
use crate::id::EventId;
use crate::utf8::{Utf8Bytes, str_from_checked};
use bytes::{Bytes, BytesMut};
use std::fmt;
use std::time::Duration;

/// One thing the parser found in the stream, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// A dispatched event (a block of fields closed by a blank line, with data).
    Event(Event),
    /// A valid `retry:` field: the reconnection time the server asks for. Yielded as soon
    /// as the field is read (it does not wait for the event to be dispatched).
    Retry(Duration),
    /// A comment line (`: text`), without the colon and one leading space. Only yielded
    /// when [`ParserBuilder::comments`](crate::ParserBuilder::comments) is on.
    Comment(Utf8Bytes),
}

/// One thing the parser found, borrowed from it: what [`Parser::next_ref`] yields.
///
/// [`Parser::next_ref`]: crate::Parser::next_ref
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemRef<'a> {
    /// A dispatched event, borrowed.
    Event(EventRef<'a>),
    /// A valid `retry:` field, as [`Item::Retry`].
    Retry(Duration),
    /// A comment line, as [`Item::Comment`].
    Comment(&'a str),
}

/// A server-sent event borrowed from the parser ([`Parser::next_ref`]): its values point
/// into the parser's input chunk or its own buffers and live until the parser is used
/// again. Making one costs no reference count and no copy of a single data line, for
/// callers that read events and do not keep them; [`to_event`](Self::to_event) makes an
/// [`Event`] of one that is to be kept.
///
/// [`Parser::next_ref`]: crate::Parser::next_ref
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    data: &'a str,
    event_type: &'a str,
    last_event_id: &'a str,
    own_id: bool,
}

impl<'a> EventRef<'a> {
    pub(crate) fn new(
        data: &'a str,
        event_type: &'a str,
        last_event_id: &'a str,
        own_id: bool,
    ) -> Self {
        EventRef {
            data,
            event_type,
            last_event_id,
            own_id,
        }
    }

    /// The data, as [`Event::data`].
    #[inline]
    pub fn data(&self) -> &'a str {
        self.data
    }

    /// The event type, as [`Event::event_type`] (`message` if none or empty).
    #[inline]
    pub fn event_type(&self) -> &'a str {
        match self.event_type {
            "" => "message",
            t => t,
        }
    }

    /// The last event ID, as [`Event::last_event_id`].
    #[inline]
    pub fn last_event_id(&self) -> &'a str {
        self.last_event_id
    }

    /// True if the event set the id itself, as [`Event::has_own_id`].
    #[inline]
    pub fn has_own_id(&self) -> bool {
        self.own_id
    }

    /// The event as an [`Event`] of its own (one new buffer), to keep.
    pub fn to_event(&self) -> Event {
        Event::assemble(self.data, self.event_type, self.last_event_id, self.own_id)
    }
}

const OWN_ID: u8 = 1;
const HAS_RAW: u8 = 2;

/// A server-sent event.
///
/// Made by the [`Parser`](crate::Parser), or by hand with [`Event::new`] and the `with_*`
/// methods, which reject values that could not be sent on the wire. An event is 64 bytes:
/// one reference-counted buffer (for a parsed event, usually a slice of the input chunk,
/// with no copy) and the offsets of its values in it. Making, cloning and dropping one
/// costs a reference-count update.
///
/// ```
/// use eventgate_sse::Event;
///
/// let event = Event::new("line one\nline two").with_type("update")?.with_id("42")?;
/// assert_eq!(event.to_frame().as_bytes().as_ref(),
///            b"id: 42\nevent: update\ndata: line one\ndata: line two\n\n");
/// # Ok::<(), eventgate_sse::EncodeError>(())
/// ```
#[derive(Clone)]
pub struct Event {
    buf: Bytes,
    data: (u32, u32),
    event_type: (u32, u32),
    last_event_id: (u32, u32),
    raw_start: u32,
    flags: u8,
}

impl Event {
    /// An event of type `message` with `data` and no id.
    ///
    /// # Panics
    /// If `data` is 4 GiB or larger.
    pub fn new(data: impl Into<Utf8Bytes>) -> Self {
        let buf = data.into().into_bytes();
        let len = u32::try_from(buf.len()).expect("event data under 4 GiB");
        Event {
            buf,
            data: (0, len),
            event_type: (len, len),
            last_event_id: (len, len),
            raw_start: 0,
            flags: 0,
        }
    }

    pub(crate) fn from_parts(
        buf: Bytes,
        data: (u32, u32),
        event_type: (u32, u32),
        last_event_id: (u32, u32),
        own_id: bool,
        raw_start: Option<u32>,
    ) -> Self {
        let mut flags = 0;
        if own_id {
            flags |= OWN_ID;
        }
        if raw_start.is_some() {
            flags |= HAS_RAW;
        }
        Event {
            buf,
            data,
            event_type,
            last_event_id,
            raw_start: raw_start.unwrap_or(0),
            flags,
        }
    }

    /// A hand-made event from its values (one new buffer).
    fn assemble(data: &str, event_type: &str, id: &str, own_id: bool) -> Self {
        let mut buf = BytesMut::with_capacity(data.len() + event_type.len() + id.len());
        let mut put = |s: &str| {
            let start = buf.len();
            buf.extend_from_slice(s.as_bytes());
            let end = u32::try_from(buf.len()).expect("event values under 4 GiB");
            (start as u32, end)
        };
        let (d, t, i) = (put(data), put(event_type), put(id));
        Event::from_parts(buf.freeze(), d, t, i, own_id, None)
    }

    #[inline]
    fn str_at(&self, (start, end): (u32, u32)) -> &str {
        str_from_checked(&self.buf[start as usize..end as usize])
    }

    #[inline]
    fn bytes_at(&self, (start, end): (u32, u32)) -> Utf8Bytes {
        Utf8Bytes::from_checked(self.buf.slice(start as usize..end as usize))
    }

    /// Sets the event type.
    ///
    /// # Errors
    /// [`EncodeError::NewlineInEventType`] if it contains CR or LF.
    pub fn with_type(self, event_type: impl Into<Utf8Bytes>) -> Result<Self, EncodeError> {
        let event_type = event_type.into();
        crate::encode::check_event_type(&event_type)?;
        Ok(Event::assemble(
            self.data(),
            &event_type,
            self.last_event_id(),
            self.has_own_id(),
        ))
    }

    /// Sets the id (written as an `id:` field when encoded).
    ///
    /// # Errors
    /// [`EncodeError::NewlineInId`] or [`EncodeError::NulInId`].
    pub fn with_id(self, id: impl Into<Utf8Bytes>) -> Result<Self, EncodeError> {
        let id = id.into();
        crate::encode::check_id(&id)?;
        Ok(Event::assemble(
            self.data(),
            self.str_at(self.event_type),
            &id,
            true,
        ))
    }

    /// Replaces the data (any text: line breaks become several `data:` lines).
    pub fn with_data(self, data: impl Into<Utf8Bytes>) -> Self {
        let data = data.into();
        Event::assemble(
            &data,
            self.str_at(self.event_type),
            self.last_event_id(),
            self.has_own_id(),
        )
    }

    /// The event borrowed, as [`EventRef`].
    pub(crate) fn as_ref(&self) -> EventRef<'_> {
        EventRef::new(
            self.data(),
            self.str_at(self.event_type),
            self.last_event_id(),
            self.has_own_id(),
        )
    }

    /// The data: the `data:` lines of the event joined with LF.
    #[inline]
    pub fn data(&self) -> &str {
        self.str_at(self.data)
    }

    /// The data as shared bytes (a reference-counted slice, no copy).
    #[inline]
    pub fn data_bytes(&self) -> Utf8Bytes {
        self.bytes_at(self.data)
    }

    /// The event type: the last `event:` field's value, or `message` if there was none or
    /// it was empty.
    #[inline]
    pub fn event_type(&self) -> &str {
        match self.str_at(self.event_type) {
            "" => "message",
            t => t,
        }
    }

    /// The last event ID: the most recent `id:` seen in the stream up to this event (it is
    /// carried to later events that have no `id:` of their own). Empty if none.
    #[inline]
    pub fn last_event_id(&self) -> &str {
        self.str_at(self.last_event_id)
    }

    /// The last event ID as shared bytes (a reference-counted slice, no copy).
    #[inline]
    pub fn last_event_id_bytes(&self) -> Utf8Bytes {
        self.bytes_at(self.last_event_id)
    }

    /// The id this event set with an `id:` field of its own, as an [`EventId`] sharing the
    /// event's buffer (no copy).
    ///
    /// `None` when the event carries an earlier event's id (see
    /// [`has_own_id`](Self::has_own_id)), when its id is empty (an empty `id:` resets the last
    /// event ID rather than naming the event), and when the id is longer than
    /// [`MAX_EVENT_ID_LEN`](crate::MAX_EVENT_ID_LEN).
    ///
    /// ```
    /// use eventgate_sse::{Item, Parser};
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(&b"id: 7\ndata: a\n\ndata: b\n\n"[..]);
    /// let Some(Ok(Item::Event(a))) = parser.next() else { panic!() };
    /// let Some(Ok(Item::Event(b))) = parser.next() else { panic!() };
    /// assert_eq!(a.id().unwrap(), "7");
    /// assert_eq!((b.id(), b.last_event_id()), (None, "7")); // carried, not its own
    /// ```
    #[inline]
    pub fn id(&self) -> Option<EventId> {
        let (start, end) = self.last_event_id;
        if !self.has_own_id() || start == end {
            return None;
        }
        EventId::from_checked(self.bytes_at(self.last_event_id))
    }

    /// True if a valid `id:` field was seen since the previous event was dispatched (in
    /// this event's block, or in a block in between that dispatched nothing), as opposed
    /// to the event carrying an earlier event's id. [`encode`](Self::encode) writes the id
    /// exactly when this is true.
    #[inline]
    pub fn has_own_id(&self) -> bool {
        self.flags & OWN_ID != 0
    }

    /// The raw frame as received (every line of the block and its line endings, through
    /// the dispatching blank line), when [`ParserBuilder::raw_frames`] is on. Blocks in
    /// between that dispatched nothing but changed the id (`id: 5` then a blank line) are
    /// kept in front of the next event's frame. So sending the raw frames of a stream's
    /// events, in order, gives a receiver the same events with the same last event IDs.
    /// A reference-counted slice of the input when the frame arrived in one chunk.
    ///
    /// `None` when raw frames are off, for events made by hand or changed with a `with_*`
    /// method, and for the rare frame that begins with the bytes of a UTF-8 BOM (a
    /// receiver would strip them if the frame opened its stream): [`to_frame`](Self::to_frame)
    /// encodes those afresh.
    ///
    /// [`ParserBuilder::raw_frames`]: crate::ParserBuilder::raw_frames
    #[inline]
    pub fn raw(&self) -> Option<Bytes> {
        (self.flags & HAS_RAW != 0).then(|| self.buf.slice(self.raw_start as usize..))
    }

    /// Encodes the event (id only if [`has_own_id`](Self::has_own_id)), appending to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        // Parsed and `with_*`-checked values are always encodable.
        let mut builder = EventBuilder::new().data(self.data());
        let event_type = self.str_at(self.event_type);
        if !event_type.is_empty() {
            builder = builder.event(event_type);
        }
        if self.has_own_id() {
            builder = builder.id(self.last_event_id());
        }
        builder.encode_unchecked(buf);
    }

    /// The event as a [`Frame`]: its raw bytes if the parser kept them, else freshly encoded.
    pub fn to_frame(&self) -> Frame {
        match self.raw() {
            Some(raw) => Frame::from_trusted(raw),
            None => {
                let mut buf = BytesMut::with_capacity(self.data().len() + 32);
                self.encode(&mut buf);
                Frame::from_trusted(buf.freeze())
            }
        }
    }
}

impl PartialEq for Event {
    /// Events are equal when their data, type, last event ID, own-id flag and raw frame are.
    fn eq(&self, other: &Self) -> bool {
        self.data() == other.data()
            && self.event_type() == other.event_type()
            && self.last_event_id() == other.last_event_id()
            && self.has_own_id() == other.has_own_id()
            && self.raw() == other.raw()
    }
}

impl Eq for Event {}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("event_type", &self.event_type())
            .field("data", &self.data())
            .field("last_event_id", &self.last_event_id())
            .field("has_own_id", &self.has_own_id());
        if let Some(raw) = self.raw() {
            d.field("raw", &raw);
        }
        d.finish()
    }
}

impl From<&Event> for Frame {
    fn from(event: &Event) -> Self {
        event.to_frame()
    }
}

impl From<Event> for Frame {
    fn from(event: Event) -> Self {
        event.to_frame()
    }
}
