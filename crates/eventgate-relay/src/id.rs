//! Event ids as the relay keeps them.

use std::fmt;

use bytes::Bytes;

/// Longest event id the relay accepts, in bytes (from `Last-Event-ID` or from the upstream).
///
/// Longer ids are not stored in the backlog (the event is still relayed); a longer
/// `Last-Event-ID` from a client is treated like an unknown id.
pub const MAX_EVENT_ID_LEN: usize = 1024;

/// An SSE event id: UTF-8, at most [`MAX_EVENT_ID_LEN`] bytes, without CR, LF or NUL
/// (what the SSE spec lets an `id:` field carry). Cloning is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventId(Bytes);

impl EventId {
    /// Checks `bytes` and wraps them without copying. Returns `None` when the bytes are not
    /// a valid id (not UTF-8, too long, or containing CR, LF or NUL).
    ///
    /// ```
    /// use eventgate_relay::EventId;
    /// let id = EventId::new(bytes::Bytes::from_static(b"42")).unwrap();
    /// assert_eq!(id.as_str(), "42");
    /// assert!(EventId::new(bytes::Bytes::from_static(b"4\n2")).is_none());
    /// ```
    pub fn new(bytes: Bytes) -> Option<EventId> {
        if bytes.len() > MAX_EVENT_ID_LEN
            || bytes.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
            || std::str::from_utf8(&bytes).is_err()
        {
            return None;
        }
        Some(EventId(bytes))
    }

    /// Like [`EventId::new`] from a string slice (copies it).
    pub fn from_text(s: &str) -> Option<EventId> {
        EventId::new(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Checked in the constructor; the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id's bytes as a shared `Bytes`.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
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
}
