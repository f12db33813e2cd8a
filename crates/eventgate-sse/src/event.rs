//! What the parser yields: [`Item`]s, of which [`Event`]s are the main kind.

use crate::encode::{EventBuilder, Frame};
use crate::error::EncodeError;
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

/// Where one of an event's values lives: in the event's shared buffer (checked UTF-8),
/// in text of its own, or nowhere (empty / absent).
#[derive(Clone, Default)]
pub(crate) enum Span {
    #[default]
    Empty,
    In(usize, usize),
    Own(Utf8Bytes),
}

#[derive(Clone, Default)]
pub(crate) enum RawSpan {
    #[default]
    None,
    In(usize, usize),
    Own(Bytes),
}

/// A server-sent event.
///
/// Made by the [`Parser`](crate::Parser), or by hand with [`Event::new`] and the `with_*`
/// methods, which reject values that could not be sent on the wire. A parsed event holds
/// one reference to the input chunk its values were found in (no copies), so making,
/// cloning and dropping one costs a reference-count update.
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
    data: Span,
    event_type: Span,
    last_event_id: Span,
    id_in_frame: bool,
    raw: RawSpan,
}

impl Event {
    /// An event of type `message` with `data` and no id.
    pub fn new(data: impl Into<Utf8Bytes>) -> Self {
        Event {
            buf: Bytes::new(),
            data: Span::Own(data.into()),
            event_type: Span::Empty,
            last_event_id: Span::Empty,
            id_in_frame: false,
            raw: RawSpan::None,
        }
    }

    pub(crate) fn from_parts(
        buf: Bytes,
        data: Span,
        event_type: Span,
        last_event_id: Span,
        id_in_frame: bool,
        raw: RawSpan,
    ) -> Self {
        Event {
            buf,
            data,
            event_type,
            last_event_id,
            id_in_frame,
            raw,
        }
    }

    #[inline]
    fn str_of<'a>(&'a self, span: &'a Span) -> &'a str {
        match span {
            Span::Empty => "",
            Span::In(s, e) => str_from_checked(&self.buf[*s..*e]),
            Span::Own(u) => u.as_str(),
        }
    }

    #[inline]
    fn bytes_of(&self, span: &Span) -> Utf8Bytes {
        match span {
            Span::Empty => Utf8Bytes::new(),
            Span::In(s, e) => Utf8Bytes::from_checked(self.buf.slice(*s..*e)),
            Span::Own(u) => u.clone(),
        }
    }

    /// Sets the event type.
    ///
    /// # Errors
    /// [`EncodeError::NewlineInEventType`] if it contains CR or LF.
    pub fn with_type(mut self, event_type: impl Into<Utf8Bytes>) -> Result<Self, EncodeError> {
        let event_type = event_type.into();
        crate::encode::check_event_type(&event_type)?;
        self.event_type = Span::Own(event_type);
        self.raw = RawSpan::None;
        Ok(self)
    }

    /// Sets the id (written as an `id:` field when encoded).
    ///
    /// # Errors
    /// [`EncodeError::NewlineInId`] or [`EncodeError::NulInId`].
    pub fn with_id(mut self, id: impl Into<Utf8Bytes>) -> Result<Self, EncodeError> {
        let id = id.into();
        crate::encode::check_id(&id)?;
        self.last_event_id = Span::Own(id);
        self.id_in_frame = true;
        self.raw = RawSpan::None;
        Ok(self)
    }

    /// Replaces the data (any text: line breaks become several `data:` lines).
    pub fn with_data(mut self, data: impl Into<Utf8Bytes>) -> Self {
        self.data = Span::Own(data.into());
        self.raw = RawSpan::None;
        self
    }

    /// The data: the `data:` lines of the event joined with LF.
    #[inline]
    pub fn data(&self) -> &str {
        self.str_of(&self.data)
    }

    /// The data as shared bytes (a reference-counted slice, no copy).
    #[inline]
    pub fn data_bytes(&self) -> Utf8Bytes {
        self.bytes_of(&self.data)
    }

    /// The event type: the last `event:` field's value, or `message` if there was none or
    /// it was empty.
    #[inline]
    pub fn event_type(&self) -> &str {
        match self.str_of(&self.event_type) {
            "" => "message",
            t => t,
        }
    }

    /// The last event ID: the most recent `id:` seen in the stream up to this event (it is
    /// carried to later events that have no `id:` of their own). Empty if none.
    #[inline]
    pub fn last_event_id(&self) -> &str {
        self.str_of(&self.last_event_id)
    }

    /// The last event ID as shared bytes (a reference-counted slice, no copy).
    #[inline]
    pub fn last_event_id_bytes(&self) -> Utf8Bytes {
        self.bytes_of(&self.last_event_id)
    }

    /// True if a valid `id:` field was seen since the previous event was dispatched (in
    /// this event's block, or in a block in between that dispatched nothing), as opposed
    /// to the event carrying an earlier event's id. [`encode`](Self::encode) writes the id
    /// exactly when this is true.
    #[inline]
    pub fn has_own_id(&self) -> bool {
        self.id_in_frame
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
        match &self.raw {
            RawSpan::None => None,
            RawSpan::In(s, e) => Some(self.buf.slice(*s..*e)),
            RawSpan::Own(b) => Some(b.clone()),
        }
    }

    /// Encodes the event (id only if [`has_own_id`](Self::has_own_id)), appending to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        // Parsed and `with_*`-checked values are always encodable.
        let mut builder = EventBuilder::new().data(self.data());
        if !matches!(self.event_type, Span::Empty) {
            builder = builder.event(self.str_of(&self.event_type));
        }
        if self.id_in_frame {
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
            && self.id_in_frame == other.id_in_frame
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
            .field("has_own_id", &self.id_in_frame);
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
