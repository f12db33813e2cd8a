//! [`EventId`]: an event id as a client echoes it back in `Last-Event-ID`.

use crate::utf8::Utf8Bytes;
use bytes::Bytes;
use std::fmt;

/// Longest [`EventId`], in bytes (1 KiB).
///
/// The SSE format itself bounds an id only by the line length; a relay that keeps ids for
/// replay and a client that sends them back in a `Last-Event-ID` header need a smaller bound.
/// An event whose own id is longer has no [`Event::id`](crate::Event::id) (it is still an
/// event, with its [`last_event_id`](crate::Event::last_event_id)).
pub const MAX_EVENT_ID_LEN: usize = 1024;

/// An SSE event id: valid UTF-8, at most [`MAX_EVENT_ID_LEN`] bytes, without CR, LF or NUL
/// (what an `id:` field can carry and a `Last-Event-ID` header can send back).
///
/// Cloning is a reference-count increment. The id of a parsed event
/// ([`Event::id`](crate::Event::id)) is a slice of the event's buffer, not a copy.
///
/// ```
/// use eventgate_sse::{EventId, MAX_EVENT_ID_LEN};
///
/// let id = EventId::new(bytes::Bytes::from_static(b"42")).unwrap();
/// assert_eq!(id.as_str(), "42");
/// assert_eq!(id, "42");
/// assert!(EventId::from_text("4\n2").is_none());
/// assert!(EventId::from_text(&"x".repeat(MAX_EVENT_ID_LEN + 1)).is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventId(Utf8Bytes);

fn valid(bytes: &[u8]) -> bool {
    bytes.len() <= MAX_EVENT_ID_LEN && !bytes.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

impl EventId {
    /// Checks `bytes` and wraps them without copying. `None` when they are not a valid id:
    /// not UTF-8, longer than [`MAX_EVENT_ID_LEN`], or holding CR, LF or NUL.
    pub fn new(bytes: Bytes) -> Option<EventId> {
        if !valid(&bytes) {
            return None;
        }
        Utf8Bytes::try_from(bytes).ok().map(EventId)
    }

    /// Like [`EventId::new`], from a string slice (copies it).
    pub fn from_text(s: &str) -> Option<EventId> {
        EventId::new(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// Wraps text this crate has checked: UTF-8 already, CR, LF and NUL free.
    pub(crate) fn from_checked(text: Utf8Bytes) -> Option<EventId> {
        (text.len() <= MAX_EVENT_ID_LEN).then_some(EventId(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The id's bytes as a shared `Bytes` (a reference-count increment).
    pub fn to_bytes(&self) -> Bytes {
        self.0.as_bytes().clone()
    }
}

impl PartialEq<str> for EventId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_line_breaks_nul_invalid_utf8_and_oversized_ids() {
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"\xff"] {
            assert!(
                EventId::new(Bytes::copy_from_slice(bad)).is_none(),
                "{bad:?}"
            );
        }
        assert!(EventId::new(Bytes::from(vec![b'a'; MAX_EVENT_ID_LEN + 1])).is_none());
        assert!(EventId::new(Bytes::from(vec![b'a'; MAX_EVENT_ID_LEN])).is_some());
        assert_eq!(EventId::from_text("").map(|i| i.as_str().len()), Some(0));
    }

    #[test]
    fn wraps_without_copying() {
        let bytes = Bytes::from_static(b"17");
        let id = EventId::new(bytes.clone()).unwrap();
        assert_eq!(id.to_bytes().as_ptr(), bytes.as_ptr());
    }
}
