//! A backlog shared by several relays (gateway nodes): the [`SharedStore`] seam.
//!
//! With [`RelayBuilder::shared_backlog`](crate::RelayBuilder::shared_backlog), every event a
//! fan-out channel receives is appended to a store shared by all nodes, which gives it an
//! offset; the event is published with the id `<epoch hex>-<offset>` (the event's own `id:`
//! lines replaced, [`Encoder::replace_id`](eventgate_sse::Encoder::replace_id)), so a
//! client can come back with that id on any node. The channel's in-process
//! [`Backlog`](crate::Backlog) stays the first place a resume is looked up; only ids it no
//! longer (or never) held go to the store.
//!
//! The epoch names one unbroken history of a channel in the store. When the history is
//! lost (the store restarted, the stream expired, or this node could not append for a while)
//! the store starts a new epoch, and ids of the old one get the
//! [`RESET_EVENT`](crate::RESET_EVENT) (by the relay's [`UnknownId`](crate::UnknownId)
//! policy) instead of a silent gap.
//!
//! With [`RelayBuilder::shared_upstream`](crate::RelayBuilder::shared_upstream) the store
//! also keeps one lease per channel ([`SharedStore::lease`], [`SharedStore::release`]):
//! the node holding it reads the backend and appends; the others follow the history
//! ([`SharedStore::tail`], a [`StoreTail`]) instead of connecting to the backend, so the
//! backend sees one connection per channel however many nodes serve it.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use eventgate_sse::EventId;
use eventgate_types::{BoxError, BoxFuture};

/// The stable name of a channel's backlog, the same on every node: the normalised upstream
/// URI, followed (when the channel sends upstream headers) by `#` and a 64-bit FNV-1a hash
/// of the headers' names and values (so a credential is not stored in clear).
///
/// [`Relay::backlog_key`](crate::Relay::backlog_key) gives the key of a subscription; a
/// backlog factory ([`RelayBuilder::backlog_factory`](crate::RelayBuilder::backlog_factory))
/// receives it.
///
/// ```
/// use eventgate_relay::BacklogKey;
///
/// let key = BacklogKey::new("http://backend:9000/ticks");
/// assert_eq!(key.as_str(), "http://backend:9000/ticks");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BacklogKey(String);

impl BacklogKey {
    /// A key from its text.
    pub fn new(text: impl Into<String>) -> BacklogKey {
        BacklogKey(text.into())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BacklogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64-bit FNV-1a: a hash that is the same in every process (for [`BacklogKey`]).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A place in a shared backlog: the epoch of the channel's history and an offset in it
/// (offsets count from 1; offset 0 is "before the first event").
///
/// Its text, the id events get, is `<epoch in lowercase hex>-<offset in decimal>`.
///
/// ```
/// use eventgate_relay::Position;
///
/// let p = Position { epoch: 0x5f3a, offset: 42 };
/// assert_eq!(p.to_string(), "5f3a-42");
/// assert_eq!(Position::parse("5f3a-42"), Some(p));
/// assert_eq!(Position::parse("42"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// The epoch: changes whenever the store lost the channel's history.
    pub epoch: u64,
    /// The offset within the epoch.
    pub offset: u64,
}

impl Position {
    /// Parses `<hex>-<decimal>` (at most 16 hex digits and 20 decimal digits); `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<Position> {
        let (e, o) = text.split_once('-')?;
        let hex =
            |s: &str| !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let dec = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !hex(e) || !dec(o) {
            return None;
        }
        Some(Position {
            epoch: u64::from_str_radix(e, 16).ok()?,
            offset: o.parse().ok()?,
        })
    }

    /// The position of an event id, if the id has the shared form.
    pub fn of_id(id: &EventId) -> Option<Position> {
        Position::parse(id.as_str())
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.offset)
    }
}

/// One event to append: the id the upstream gave it (used to append an event only once when
/// several nodes receive it from their own upstream connection) and its frame as received.
#[derive(Debug, Clone)]
pub struct Record {
    /// The upstream's id, if the event has one.
    pub upstream_id: Option<EventId>,
    /// The event's frame, as received (its `id:` lines are replaced when it is sent).
    pub frame: Bytes,
}

/// Where a store put one appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The record's position.
    pub position: Position,
    /// False when the store already had an event with the same upstream id (another node
    /// appended it first) and returned that event's position instead of appending.
    pub fresh: bool,
}

/// One stored event, as a replay returns it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its offset (in the epoch asked for).
    pub offset: u64,
    /// Its frame, as appended.
    pub frame: Bytes,
}

/// The answer to [`SharedStore::replay`].
#[derive(Debug, Clone)]
pub enum Replayed {
    /// The events after the position asked for, oldest first (at most the limit).
    Events(Vec<Stored>),
    /// The store no longer has that history: another epoch, or trimmed.
    Lost,
}

/// A failed store call. The relay reacts the same way to each (live events go on without
/// shared ids, see [`SharedStore`]); the variants say why, for logs and metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The call did not finish within
    /// [`RelayBuilder::shared_timeout`](crate::RelayBuilder::shared_timeout).
    #[error("shared backlog: no answer in time")]
    Timeout,
    /// The store could not be reached or refused the call.
    #[error("shared backlog unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The store answered something this client does not understand.
    #[error("shared backlog: unexpected answer: {0}")]
    Protocol(String),
    /// The store does not implement this call (an upstream lease or a tail, see
    /// [`SharedStore::lease`]).
    #[error("shared backlog: not supported by this store")]
    Unsupported,
}

/// A backlog shared by several relays: one ordered history per [`BacklogKey`].
///
/// The relay calls it from its tasks, never under a channel lock, each call bounded by
/// [`RelayBuilder::shared_timeout`](crate::RelayBuilder::shared_timeout). When a call fails,
/// the channel keeps serving live events with the upstream's own ids, stops calling the
/// store for a second, and then starts a new epoch ([`SharedStore::reset`]) before
/// appending again, because the events it published meanwhile are not in the store: a
/// client resuming across that hole gets the reset event rather than a silent gap.
///
/// `RedisBacklog` (feature `redis`) is the implementation for
/// several nodes.
pub trait SharedStore: Send + Sync + 'static {
    /// The newest position of `key`'s history (offset 0 when it is empty), starting a new
    /// epoch if the store has none (or lost it).
    fn head<'a>(&'a self, key: &'a BacklogKey) -> BoxFuture<'a, Result<Position, StoreError>>;

    /// Starts a new epoch for `key` (its history is dropped) and returns its head.
    fn reset<'a>(&'a self, key: &'a BacklogKey) -> BoxFuture<'a, Result<Position, StoreError>>;

    /// Appends `records` in order, in one call, and returns where each went (same length
    /// and order). A record whose upstream id the store already has is not appended again:
    /// its earlier position comes back with `fresh: false`. If the history was lost, a new
    /// epoch starts first.
    fn append<'a>(
        &'a self,
        key: &'a BacklogKey,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<Appended>, StoreError>>;

    /// The events of `after.epoch` with offsets in `(after.offset, through]`, oldest first,
    /// at most `limit`; [`Replayed::Lost`] if the store's epoch is another one.
    fn replay<'a>(
        &'a self,
        key: &'a BacklogKey,
        after: Position,
        through: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Replayed, StoreError>>;

    /// Takes or renews, for `holder`, the lease on feeding `key`'s history from the
    /// upstream (one upstream connection per channel across nodes,
    /// [`RelayBuilder::shared_upstream`](crate::RelayBuilder::shared_upstream)): true when
    /// `holder` holds it for `ttl` from now (it was free, expired, or already `holder`'s),
    /// false when another holder does.
    ///
    /// The default answers [`StoreError::Unsupported`] (the relay then reads the upstream
    /// itself on every node, as without the setting).
    fn lease<'a>(
        &'a self,
        key: &'a BacklogKey,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let _ = (key, holder, ttl);
        Box::pin(async { Err(StoreError::Unsupported) })
    }

    /// Gives `key`'s lease back if `holder` holds it (another holder's lease is left
    /// alone). The default answers [`StoreError::Unsupported`].
    fn release<'a>(
        &'a self,
        key: &'a BacklogKey,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (key, holder);
        Box::pin(async { Err(StoreError::Unsupported) })
    }

    /// A reader that waits for `key`'s new events ([`StoreTail`]), for a node that does not
    /// hold the lease. The default answers [`StoreError::Unsupported`].
    fn tail<'a>(
        &'a self,
        key: &'a BacklogKey,
    ) -> BoxFuture<'a, Result<Box<dyn StoreTail>, StoreError>> {
        let _ = key;
        Box::pin(async { Err(StoreError::Unsupported) })
    }
}

/// Follows one channel's history in a [`SharedStore`] as another node appends to it (see
/// [`SharedStore::tail`]). It may hold a connection of its own (a blocking read must not
/// hold up the store's other calls); dropping it closes that.
pub trait StoreTail: Send + 'static {
    /// The events of `after.epoch` after `after.offset`, oldest first, at most `limit`,
    /// waiting up to `wait` for the first one (an empty list when none came in time;
    /// `Duration::ZERO`: do not wait). [`Replayed::Lost`] when the store's epoch is no
    /// longer `after.epoch` or the events right after `after` were trimmed.
    fn next<'a>(
        &'a mut self,
        after: Position,
        limit: usize,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Replayed, StoreError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_print_and_parse_as_hex_epoch_dash_decimal_offset_and_nothing_else() {
        let p = Position {
            epoch: 0xabc_def0_1234,
            offset: 7,
        };
        assert_eq!(p.to_string(), "abcdef01234-7");
        assert_eq!(Position::parse(&p.to_string()), Some(p));
        assert_eq!(
            Position::parse("F-0"),
            Some(Position {
                epoch: 15,
                offset: 0
            })
        );
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "x-1",
            "1-x",
            "1-2-3",
            "1 -2",
            "+1-2",
            "1-+2",
            "11111111111111111-1",
            "1-111111111111111111111",
            "1-99999999999999999999",
        ] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fnv1a_is_stable_and_separates_parts() {
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        assert_eq!(fnv1a(&[b"key"]), fnv1a(&[b"key"]));
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
    }
}
