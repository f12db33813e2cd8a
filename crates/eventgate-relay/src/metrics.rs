//! Counters of the relay.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, shared by every channel of a relay (or owned by one stand-alone channel).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) channels_open: AtomicU64,
    pub(crate) channels_refused: AtomicU64,
    pub(crate) subscribers_active: AtomicU64,
    pub(crate) subscribers_total: AtomicU64,
    pub(crate) events_published: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) direct_deliveries: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) replay_misses: AtomicU64,
    pub(crate) slow_consumers_cut: AtomicU64,
    pub(crate) cutoffs: AtomicU64,
    pub(crate) heartbeats: AtomicU64,
    pub(crate) upstream_connects: AtomicU64,
    pub(crate) upstream_failures: AtomicU64,
    pub(crate) duplicates_dropped: AtomicU64,
    pub(crate) shared_appends: AtomicU64,
    pub(crate) shared_replays: AtomicU64,
    pub(crate) shared_errors: AtomicU64,
    pub(crate) shared_resets: AtomicU64,
    pub(crate) upstream_leases: AtomicU64,
    pub(crate) tail_reads: AtomicU64,
    pub(crate) tailed_events: AtomicU64,
}

impl Metrics {
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            channels_open: self.channels_open.load(Relaxed),
            channels_refused: self.channels_refused.load(Relaxed),
            subscribers_active: self.subscribers_active.load(Relaxed),
            subscribers_total: self.subscribers_total.load(Relaxed),
            events_published: self.events_published.load(Relaxed),
            deliveries: self.deliveries.load(Relaxed),
            direct_deliveries: self.direct_deliveries.load(Relaxed),
            replayed: self.replayed.load(Relaxed),
            replay_misses: self.replay_misses.load(Relaxed),
            slow_consumers_cut: self.slow_consumers_cut.load(Relaxed),
            cutoffs: self.cutoffs.load(Relaxed),
            heartbeats: self.heartbeats.load(Relaxed),
            upstream_connects: self.upstream_connects.load(Relaxed),
            upstream_failures: self.upstream_failures.load(Relaxed),
            duplicates_dropped: self.duplicates_dropped.load(Relaxed),
            shared_appends: self.shared_appends.load(Relaxed),
            shared_replays: self.shared_replays.load(Relaxed),
            shared_errors: self.shared_errors.load(Relaxed),
            shared_resets: self.shared_resets.load(Relaxed),
            upstream_leases: self.upstream_leases.load(Relaxed),
            tail_reads: self.tail_reads.load(Relaxed),
            tailed_events: self.tailed_events.load(Relaxed),
        }
    }
}

/// A point-in-time copy of the relay's counters.
///
/// `deliveries` is flushed by each subscriber every 64 deliveries and when it ends, so it
/// can lag the truth by up to 63 events per active subscriber.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Channels (upstream streams) currently open.
    pub channels_open: u64,
    /// Subscribes refused because opening their channel would cross
    /// [`RelayBuilder::max_channels`](crate::RelayBuilder::max_channels).
    pub channels_refused: u64,
    /// Subscribers currently attached.
    pub subscribers_active: u64,
    /// Subscribers ever attached.
    pub subscribers_total: u64,
    /// Events published into channels (after duplicate removal).
    pub events_published: u64,
    /// Events delivered to subscribers (replayed and live).
    pub deliveries: u64,
    /// Of `deliveries`, the events a channel wrote to a subscriber's
    /// [`DirectSink`](crate::DirectSink) itself.
    pub direct_deliveries: u64,
    /// Events replayed from a backlog.
    pub replayed: u64,
    /// Subscribers whose `Last-Event-ID` was not in the backlog.
    pub replay_misses: u64,
    /// Slow subscribers cut off because they fell behind their queue bound.
    pub slow_consumers_cut: u64,
    /// Streams a [`DeliveryGate`](crate::DeliveryGate) stopped with a
    /// [`Cutoff`](crate::Cutoff).
    pub cutoffs: u64,
    /// Heartbeat comments published.
    pub heartbeats: u64,
    /// Successful upstream connections (status and content type accepted).
    pub upstream_connects: u64,
    /// Failed upstream connections or streams (each is followed by a backoff).
    pub upstream_failures: u64,
    /// Events an upstream sent again after a reconnect (the id and the event the backlog
    /// keeps), dropped.
    pub duplicates_dropped: u64,
    /// Events this relay appended to the shared backlog (not counting those another node
    /// had appended first).
    pub shared_appends: u64,
    /// Resumes answered from the shared backlog (one store call each).
    pub shared_replays: u64,
    /// Failed or timed-out calls to the shared backlog.
    pub shared_errors: u64,
    /// New epochs this relay started in the shared backlog after it could not append.
    pub shared_resets: u64,
    /// Upstream leases this relay took (one upstream per channel across nodes,
    /// [`RelayBuilder::shared_upstream`](crate::RelayBuilder::shared_upstream)): a channel
    /// it opened first, or took over from a node that died or left.
    pub upstream_leases: u64,
    /// Answered reads of the shared history by following channels (each one store round
    /// trip, returning a batch of events, none when the wait ran out).
    pub tail_reads: u64,
    /// Events following channels published from the shared history.
    pub tailed_events: u64,
}
