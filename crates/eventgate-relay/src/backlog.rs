//! The per-channel backlog of recent events, used for `Last-Event-ID` replay.

use std::collections::VecDeque;

use std::sync::Arc;

use bytes::Bytes;
use eventgate_sse::EventId;

use crate::shared::BacklogKey;

/// Makes one channel's backlog from the channel's key (see `backlog_factory` on the
/// builders).
pub(crate) type BacklogFactory = Arc<dyn Fn(&BacklogKey) -> Box<dyn Backlog> + Send + Sync>;

/// Default number of events a [`MemoryBacklog`] keeps.
pub const DEFAULT_BACKLOG_EVENTS: usize = 1024;
/// Default number of frame bytes a [`MemoryBacklog`] keeps (4 MiB).
pub const DEFAULT_BACKLOG_BYTES: usize = 4 * 1024 * 1024;

/// One event in a backlog: its position in the channel, its id (if it has one) and its
/// encoded `text/event-stream` frame.
#[derive(Debug, Clone)]
pub struct Entry {
    seq: u64,
    id: Option<EventId>,
    frame: Bytes,
}

impl Entry {
    /// Creates an entry. `seq` must grow strictly from one entry to the next.
    pub fn new(seq: u64, id: Option<EventId>, frame: Bytes) -> Entry {
        Entry { seq, id, frame }
    }
    /// The entry's position in its channel (strictly increasing).
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The event's id, if it has one.
    pub fn id(&self) -> Option<&EventId> {
        self.id.as_ref()
    }
    /// The encoded event, ready to send.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

/// Storage of recent events for replay.
///
/// The relay calls these methods while it holds its channel lock, which is what makes
/// "replay then live" exact: an event is appended to the backlog and made visible to live
/// subscribers in one step, and a subscriber takes its replay snapshot and its live position
/// in one step. Implementations must therefore be quick and must not block: no I/O.
///
/// The default is [`MemoryBacklog`]. A store shared by several gateway nodes is not a
/// `Backlog`: it is asynchronous and can fail, so it plugs in beside it as a
/// [`SharedStore`](crate::SharedStore) ([`RelayBuilder::shared_backlog`]), and the channel's
/// `Backlog` stays the local mirror every resume is looked up in first.
///
/// [`RelayBuilder::shared_backlog`]: crate::RelayBuilder::shared_backlog
pub trait Backlog: Send + 'static {
    /// Appends an entry, evicting the oldest entries to stay within the store's bounds.
    fn push(&mut self, entry: Entry);

    /// Appends to `out` the frames of every entry after the newest entry whose id is `id`,
    /// oldest first, and returns `true`; returns `false` (and leaves `out` alone) if no kept
    /// entry has that id (it is unknown, or older than what the backlog keeps).
    fn replay_after(&self, id: &EventId, out: &mut VecDeque<Bytes>) -> bool;

    /// True if an entry with this id is kept (used to drop events an upstream sends again
    /// after a reconnect).
    fn contains(&self, id: &EventId) -> bool;

    /// The frame of the newest entry whose id is `id`, if one is kept.
    ///
    /// After a reconnect the relay compares it with what the upstream sends under that id:
    /// the same event (type and data) is one it sends again and is dropped; a different one
    /// is new (a backend restarted with its counter back at 1) and is delivered. The default
    /// keeps no frame to compare, so any event under a kept id is taken for one sent again.
    fn frame_of(&self, id: &EventId) -> Option<Bytes> {
        let _ = id;
        None
    }

    /// Number of entries kept.
    fn len(&self) -> usize;

    /// True if no entry is kept.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the frame lengths kept, in bytes.
    fn bytes(&self) -> usize;

    /// The id of the oldest kept entry that has one (`None` by default, or when no kept
    /// entry has an id).
    fn oldest_id(&self) -> Option<&EventId> {
        None
    }
}

/// The in-memory backlog: a ring buffer bounded by a number of events and a number of frame
/// bytes (defaults [`DEFAULT_BACKLOG_EVENTS`] and [`DEFAULT_BACKLOG_BYTES`]).
///
/// Frames are shared `Bytes`, so keeping an event costs one entry (72 bytes) plus a
/// reference to the frame the subscribers already share. Lookup by id scans from the newest
/// entry backwards, which is what resuming clients need (they are usually a few events
/// behind).
///
/// ```
/// use bytes::Bytes;
/// use eventgate_relay::{Backlog, Entry, EventId, MemoryBacklog};
/// use std::collections::VecDeque;
///
/// let mut b = MemoryBacklog::new(2, 1 << 20);
/// for n in 1..=3u64 {
///     let id = EventId::from_text(&n.to_string());
///     b.push(Entry::new(n, id, Bytes::from(format!("id: {n}\ndata: x\n\n"))));
/// }
/// let mut out = VecDeque::new();
/// assert!(b.replay_after(&EventId::from_text("2").unwrap(), &mut out));
/// assert_eq!(out, [Bytes::from("id: 3\ndata: x\n\n")]);
/// // "1" was evicted (the backlog keeps two events): unknown.
/// assert!(!b.replay_after(&EventId::from_text("1").unwrap(), &mut out));
/// ```
#[derive(Debug)]
pub struct MemoryBacklog {
    entries: VecDeque<Entry>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
}

impl MemoryBacklog {
    /// A backlog keeping at most `max_events` events and `max_bytes` frame bytes. A single
    /// frame larger than `max_bytes` is not kept (it is still relayed live). A
    /// `max_events` of zero keeps nothing (replay is then always "unknown id").
    pub fn new(max_events: usize, max_bytes: usize) -> MemoryBacklog {
        MemoryBacklog {
            entries: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
        }
    }
}

impl Default for MemoryBacklog {
    fn default() -> MemoryBacklog {
        MemoryBacklog::new(DEFAULT_BACKLOG_EVENTS, DEFAULT_BACKLOG_BYTES)
    }
}

impl Backlog for MemoryBacklog {
    fn push(&mut self, entry: Entry) {
        let len = entry.frame.len();
        if self.max_events == 0 || len > self.max_bytes {
            // Cannot be kept; an event that cannot be kept also ends what older ones can
            // replay (a resume across it would skip it), so forget them.
            self.entries.clear();
            self.bytes = 0;
            return;
        }
        while self.entries.len() >= self.max_events || self.bytes + len > self.max_bytes {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.frame.len(),
                None => break,
            }
        }
        self.bytes += len;
        self.entries.push_back(entry);
    }

    fn replay_after(&self, id: &EventId, out: &mut VecDeque<Bytes>) -> bool {
        let Some(pos) = self.entries.iter().rposition(|e| e.id.as_ref() == Some(id)) else {
            return false;
        };
        out.extend(self.entries.range(pos + 1..).map(|e| e.frame.clone()));
        true
    }

    fn contains(&self, id: &EventId) -> bool {
        self.entries.iter().rev().any(|e| e.id.as_ref() == Some(id))
    }

    fn frame_of(&self, id: &EventId) -> Option<Bytes> {
        let e = self
            .entries
            .iter()
            .rev()
            .find(|e| e.id.as_ref() == Some(id))?;
        Some(e.frame.clone())
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn oldest_id(&self) -> Option<&EventId> {
        self.entries.iter().find_map(|e| e.id.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64, len: usize) -> Entry {
        Entry::new(
            n,
            EventId::from_text(&n.to_string()),
            Bytes::from(vec![b'x'; len]),
        )
    }

    #[test]
    fn evicts_by_count_and_by_bytes() {
        let mut b = MemoryBacklog::new(3, 100);
        for n in 1..=5 {
            b.push(entry(n, 10));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.bytes(), 30);
        b.push(entry(6, 90));
        assert_eq!(b.len(), 2, "bytes bound evicts until the new frame fits");
        assert_eq!(b.bytes(), 100);
    }

    #[test]
    fn oversized_frame_is_not_kept_and_breaks_older_resume_points() {
        let mut b = MemoryBacklog::new(10, 100);
        b.push(entry(1, 10));
        b.push(entry(2, 101));
        assert!(b.is_empty());
        let mut out = VecDeque::new();
        assert!(!b.replay_after(&EventId::from_text("1").unwrap(), &mut out));
    }

    #[test]
    fn replay_after_newest_id_is_empty_and_found() {
        let mut b = MemoryBacklog::default();
        b.push(entry(1, 1));
        let mut out = VecDeque::new();
        assert!(b.replay_after(&EventId::from_text("1").unwrap(), &mut out));
        assert!(out.is_empty());
        assert!(b.contains(&EventId::from_text("1").unwrap()));
        assert!(!b.contains(&EventId::from_text("2").unwrap()));
        assert_eq!(b.oldest_id().map(EventId::as_str), Some("1"));
    }

    #[test]
    fn events_without_ids_after_the_resume_point_are_replayed() {
        let mut b = MemoryBacklog::default();
        b.push(entry(1, 1));
        b.push(Entry::new(2, None, Bytes::from_static(b"data: a\n\n")));
        let mut out = VecDeque::new();
        assert!(b.replay_after(&EventId::from_text("1").unwrap(), &mut out));
        assert_eq!(out.len(), 1);
    }
}
