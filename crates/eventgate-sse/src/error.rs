//! Error types. Every variant is matchable; none of them carries input data.

/// A boxed error from an HTTP body or another source outside this crate: the one alias of
/// every eventgate crate, [`eventgate_types::BoxError`].
pub use eventgate_types::BoxError;

/// The parser met input that crosses one of its limits.
///
/// What the parser does afterwards is set by [`LimitPolicy`](crate::LimitPolicy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A line (field or comment) grew past `limit` bytes without a line ending.
    #[error("event-stream line longer than {limit} bytes")]
    LineTooLong {
        /// The configured maximum line length in bytes.
        limit: usize,
    },
    /// An event's data (or, with raw frames on, its frame) grew past `limit` bytes.
    #[error("event-stream event larger than {limit} bytes")]
    EventTooLarge {
        /// The configured maximum event size in bytes.
        limit: usize,
    },
}

/// An error from [`EventStream`](crate::EventStream) / [`ItemStream`](crate::ItemStream).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The event stream itself is bad (a limit was crossed).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The underlying HTTP body failed; the stream ends after this error.
    #[error("event-stream body failed")]
    Body(#[source] BoxError),
}

impl StreamError {
    /// True when the error comes from the body (transport), not from the stream's content.
    pub fn is_body(&self) -> bool {
        matches!(self, StreamError::Body(_))
    }
}

/// A value that cannot be written as `text/event-stream` without changing its meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An `id` containing CR or LF would end the field early and inject new fields.
    #[error("event id contains a line break")]
    NewlineInId,
    /// An `id` containing U+0000 is ignored by every conforming parser.
    #[error("event id contains NUL")]
    NulInId,
    /// An event type containing CR or LF would end the field early and inject new fields.
    #[error("event type contains a line break")]
    NewlineInEventType,
    /// An id longer than [`MAX_EVENT_ID_LEN`](crate::MAX_EVENT_ID_LEN) bytes cannot be an
    /// [`EventId`](crate::EventId) (from [`Encoder::prepend_id`](crate::Encoder::prepend_id)).
    #[error("event id is {len} bytes long, longer than {max}")]
    IdTooLong {
        /// The id's length in bytes.
        len: usize,
        /// The limit, [`MAX_EVENT_ID_LEN`](crate::MAX_EVENT_ID_LEN).
        max: usize,
    },
}
