//! One channel: a backlog, a bounded live ring shared by every subscriber, and the
//! subscribers' cursors into it.
//!
//! Fan-out costs O(1) per published event: the frame is pushed once into the ring and each
//! subscriber reads it at its own cursor (a reference-count increment, no copy and no
//! allocation). A subscriber's queue is the window of the ring between its cursor and the
//! newest frame; when the ring evicts a frame a subscriber has not read yet, that subscriber
//! is a slow consumer and is cut off.
//!
//! The channel does no I/O, spawns nothing and reads no clock: heartbeats, linger and
//! upstream timeouts are the relay's driver task's. Its two waits ([`Channel::closed`],
//! [`Channel::idle`]) use `tokio::sync::Notify`, which works on any executor.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use eventgate_sse::{Encoder, Event, EventId, Frame, Item, Parser};
use tokio::sync::Notify;

use crate::backlog::{
    Backlog, BacklogFactory, DEFAULT_BACKLOG_BYTES, DEFAULT_BACKLOG_EVENTS, Entry, MemoryBacklog,
};
use crate::error::{Error, Kind};
use crate::gate::{Cutoff, Delivery, DeliveryGate};
use crate::metrics::Metrics;
use crate::shared::{BacklogKey, Position};
use crate::subscribe::{SubscribeOptions, UnknownId};

/// Default bound of the live ring, in frames: how far a subscriber may fall behind before it
/// is cut off.
pub const DEFAULT_QUEUE_DEPTH: usize = 1024;
/// Default bound of the live ring, in frame bytes (8 MiB).
pub const DEFAULT_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// The event sent by default to a subscriber whose `Last-Event-ID` is not in the backlog
/// (unknown, or older than what the backlog keeps), before the live stream starts.
///
/// It is a named event (`event: eventgate-reset`), so an `EventSource` only sees it through
/// `addEventListener("eventgate-reset", ...)`; it carries no `id:` and is not gated.
pub const RESET_EVENT: Frame = Frame::from_static(
    "event: eventgate-reset\ndata: last-event-id not in backlog; starting live\n\n",
);

/// How a subscription started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// No `Last-Event-ID` was given: live from now.
    None,
    /// The id was found: this many events were replayed from the backlog before live.
    Found(usize),
    /// The id was not in the backlog: live from now (after the notice, if any).
    Unknown,
}

/// A channel: the point where one upstream stream meets its subscribers.
///
/// Cloning a `Channel` is cheap (a reference count); all clones are the same channel.
///
/// ```
/// use eventgate_relay::{Channel, EventId, SubscribeOptions};
/// use eventgate_sse::Frame;
///
/// let ch = Channel::builder().build()?;
/// ch.publish(EventId::from_text("1"), Frame::from_static("id: 1\ndata: a\n\n"));
/// ch.publish(EventId::from_text("2"), Frame::from_static("id: 2\ndata: b\n\n"));
///
/// // A client that has seen event 1 resumes: it gets 2 from the backlog, then live events.
/// let mut feed = ch.subscribe(SubscribeOptions::new().last_event_id(EventId::from_text("1")))?;
/// ch.publish(EventId::from_text("3"), Frame::from_static("id: 3\ndata: c\n\n"));
/// assert_eq!(feed.try_next().unwrap()?, "id: 2\ndata: b\n\n");
/// assert_eq!(feed.try_next().unwrap()?, "id: 3\ndata: c\n\n");
/// assert!(feed.try_next().is_none()); // nothing more for now
/// # Ok::<(), eventgate_relay::Error>(())
/// ```
#[derive(Clone)]
pub struct Channel {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped (under the lock) every time parked subscribers' wakers are taken: a push,
    /// [`Channel::close`], [`Channel::abort`]. A feed that parked at the current value is
    /// still registered and may answer `Pending` without taking the lock (see
    /// [`Feed::poll_inner`]).
    wake_epoch: AtomicU64,
    metrics: Arc<Metrics>,
    /// Set when subscribers must end now, without draining (shutdown deadline passed).
    aborted: AtomicBool,
    /// Notified when the last subscriber leaves.
    idle: Notify,
    /// Notified when the channel is closed or aborted.
    closed: Notify,
}

struct State {
    backlog: Box<dyn Backlog>,
    ring: VecDeque<Slot>,
    ring_bytes: usize,
    /// Sequence number of `ring[0]`.
    head_seq: u64,
    /// Sequence number the next pushed frame gets.
    next_seq: u64,
    queue_depth: usize,
    queue_bytes: usize,
    wakers: Vec<Option<Waker>>,
    /// Per slot: `next_seq` when the feed last parked on the live path with nothing held
    /// ([`NOT_LIVE`] otherwise). A feed may be given to a [`DirectSink`] only while this
    /// still equals `next_seq` (caught up, nothing of its own to deliver first).
    parked_at: Vec<u64>,
    /// Per slot: the feed's direct delivery ([`DirectHandle`]).
    direct: Vec<DirectState>,
    /// Per slot: which attachment holds it (a handle of a dropped feed must not reach the
    /// next feed given the same slot).
    slot_ids: Vec<u64>,
    /// Numbers attachments (for `slot_ids`).
    next_slot_id: u64,
    /// How many `direct` entries are [`DirectState::Ready`] (a push skips the scan at 0).
    direct_ready: usize,
    /// The entries the current push writes to, outside the lock (a reused buffer).
    direct_buf: Vec<(usize, DirectEntry)>,
    /// What writing to each of `direct_buf`'s entries came to (a reused buffer, so a push
    /// allocates nothing).
    direct_outcomes: Vec<Outcome>,
    free: Vec<usize>,
    wake_buf: Vec<Waker>,
    subscribers: usize,
    /// Counts the times the last subscriber left (the driver times the linger from them).
    departures: u64,
    closed: bool,
    /// Relay-assigned ids (`None`: events without an id keep none).
    ids: Option<IdAssigner>,
    /// With a shared backlog: the position of the newest event published with one, as long
    /// as the channel's events since it are contiguous in the store (`None` otherwise).
    shared_last: Option<Position>,
    /// The shared positions of the events in the ring that have one, by sequence number,
    /// oldest first (empty without a shared backlog).
    positions: VecDeque<(u64, Position)>,
}

/// `State::parked_at` of a feed that may not be given to a direct sink.
const NOT_LIVE: u64 = u64::MAX;

/// A subscriber's socket (or any byte sink) that a channel writes live frames to itself,
/// while the subscriber's feed is caught up and has nothing of its own to deliver first;
/// see [`DirectHandle`].
///
/// The publisher's task calls [`offer`](Self::offer) once per frame, outside the channel's
/// lock, for each sink in turn, with the frame already past the feed's [`DeliveryGate`]
/// (events are charged before they are offered). It must not block: a socket is written
/// with a non-blocking write.
pub trait DirectSink: Send + Sync + 'static {
    /// Takes `frame` (an event or a control frame such as a heartbeat). The frame counts as
    /// delivered whatever the answer: a sink that could not write all of it keeps the rest
    /// (to be written by the subscriber's own task before anything else) and answers
    /// [`Offer::Stop`].
    fn offer(&self, frame: &Bytes) -> Offer;
}

/// A [`DirectSink`]'s answer to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Written; the sink takes the next frame too.
    Written,
    /// Taken (written in part, kept, or failed for good), and the sink takes no more:
    /// the feed goes back to its task, which is woken and continues after this frame.
    Stop,
}

/// A feed's direct delivery, per slot.
enum DirectState {
    /// Not given to a sink.
    None,
    /// Caught up and given to a sink: the next push writes to it. In the slot itself, not
    /// boxed: a push reads every slot's state anyway, and one cache line less per direct
    /// subscriber and event is what a large fan-out is made of.
    Ready(DirectEntry),
    /// Being written by a push, outside the lock; the waker of a task that wants the feed
    /// back meanwhile.
    Out(Option<Waker>),
    /// Given back: where the feed continues, and a refusal of the gate to end it with
    /// (boxed: rare, and the state of every slot stays small).
    Back(u64, Option<Box<Cutoff>>),
    /// The feed was dropped while a push had its entry out: that push frees the slot.
    Dropped,
}

/// What a push needs to write one feed's frames itself.
struct DirectEntry {
    sink: Arc<dyn DirectSink>,
    gate: Option<Arc<dyn DeliveryGate>>,
    /// The feed's task, woken when the feed is given back.
    waker: Waker,
    /// The sequence number of the next frame this feed gets.
    cursor: u64,
}

/// Gives events without an id the id `<epoch>-<n>`, written by the SSE encoder.
struct IdAssigner {
    epoch: u64,
    counter: u64,
    encoder: Encoder,
}

#[derive(Clone)]
struct Slot {
    frame: Bytes,
    event: bool,
}

/// Builds a [`Channel`]. Setters take `&mut self` and chain; [`ChannelBuilder::build`]
/// checks the settings and can be called again for another channel.
///
/// ```
/// use eventgate_relay::Channel;
///
/// let channel = Channel::builder().queue_depth(64).backlog_events(100).build()?;
/// # drop(channel);
/// assert!(Channel::builder().queue_depth(0).build().unwrap_err().is_invalid_config());
/// # Ok::<(), eventgate_relay::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct ChannelBuilder {
    backlog_events: usize,
    backlog_bytes: usize,
    backlog_factory: Option<BacklogFactory>,
    queue_depth: usize,
    queue_bytes: usize,
    assign_ids: bool,
    metrics: Option<Arc<Metrics>>,
}

impl fmt::Debug for ChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBuilder")
            .field("backlog_events", &self.backlog_events)
            .field("backlog_bytes", &self.backlog_bytes)
            .field("backlog_factory", &self.backlog_factory.is_some())
            .field("queue_depth", &self.queue_depth)
            .field("queue_bytes", &self.queue_bytes)
            .field("assign_ids", &self.assign_ids)
            .finish_non_exhaustive()
    }
}

impl Default for ChannelBuilder {
    fn default() -> ChannelBuilder {
        ChannelBuilder::new()
    }
}

impl ChannelBuilder {
    /// A builder with the defaults below.
    pub fn new() -> ChannelBuilder {
        ChannelBuilder {
            backlog_events: DEFAULT_BACKLOG_EVENTS,
            backlog_bytes: DEFAULT_BACKLOG_BYTES,
            backlog_factory: None,
            queue_depth: DEFAULT_QUEUE_DEPTH,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            assign_ids: false,
            metrics: None,
        }
    }

    /// Events the [`MemoryBacklog`] keeps for replay (zero keeps none: every resume is an
    /// unknown id). Default is [`DEFAULT_BACKLOG_EVENTS`].
    pub fn backlog_events(&mut self, n: usize) -> &mut ChannelBuilder {
        self.backlog_events = n;
        self
    }

    /// Frame bytes the [`MemoryBacklog`] keeps for replay. Default is
    /// [`DEFAULT_BACKLOG_BYTES`].
    pub fn backlog_bytes(&mut self, n: usize) -> &mut ChannelBuilder {
        self.backlog_bytes = n;
        self
    }

    /// Makes the channel's backlog with `factory` instead of a [`MemoryBacklog`] with the
    /// bounds above (e.g. a shared store). Default is none.
    ///
    /// The factory gets the channel's [`BacklogKey`] (for a channel built here, the empty
    /// key; a [`Relay`](crate::Relay) passes each channel's own).
    pub fn backlog_factory(
        &mut self,
        factory: impl Fn(&BacklogKey) -> Box<dyn Backlog> + Send + Sync + 'static,
    ) -> &mut ChannelBuilder {
        self.backlog_factory = Some(Arc::new(factory));
        self
    }

    /// How many frames a subscriber may fall behind before it is cut off (the bound of each
    /// subscriber's queue); at least 1. Default is [`DEFAULT_QUEUE_DEPTH`].
    pub fn queue_depth(&mut self, depth: usize) -> &mut ChannelBuilder {
        self.queue_depth = depth;
        self
    }

    /// How many frame bytes the live ring keeps before evicting (cutting off subscribers
    /// that have not read the evicted frames). Default is [`DEFAULT_QUEUE_BYTES`]. The newest
    /// frame is always kept, whatever its size.
    pub fn queue_bytes(&mut self, bytes: usize) -> &mut ChannelBuilder {
        self.queue_bytes = bytes;
        self
    }

    /// Give events that arrive without an id a relay-assigned id `<epoch>-<n>` (`n` counts
    /// from 1, `epoch` differs between channel instances so ids from an earlier instance are
    /// unknown rather than wrong), so that clients can resume. Default is off.
    pub fn assign_ids(&mut self, on: bool) -> &mut ChannelBuilder {
        self.assign_ids = on;
        self
    }

    /// The bounds of the [`MemoryBacklog`]: events and bytes.
    pub(crate) fn backlog_bounds(&self) -> (usize, usize) {
        (self.backlog_events, self.backlog_bytes)
    }

    /// The checks of [`ChannelBuilder::build`].
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.queue_depth == 0 {
            return Err(Error::new(Kind::InvalidConfig(
                "queue depth must be at least 1",
            )));
        }
        Ok(())
    }

    pub(crate) fn metrics(&mut self, metrics: Arc<Metrics>) -> &mut ChannelBuilder {
        self.metrics = Some(metrics);
        self
    }

    /// Builds a channel.
    ///
    /// # Errors
    /// [`Error::is_invalid_config`] if the queue depth is zero.
    pub fn build(&self) -> Result<Channel, Error> {
        self.build_for(&BacklogKey::default())
    }

    /// [`ChannelBuilder::build`] for the channel named `key` (given to the backlog factory).
    pub(crate) fn build_for(&self, key: &BacklogKey) -> Result<Channel, Error> {
        self.check()?;
        let backlog = match &self.backlog_factory {
            Some(f) => f(key),
            None => Box::new(MemoryBacklog::new(self.backlog_events, self.backlog_bytes)),
        };
        let metrics = self.metrics.clone().unwrap_or_default();
        Ok(Channel {
            shared: Arc::new(Shared {
                wake_epoch: AtomicU64::new(0),
                state: Mutex::new(State {
                    backlog,
                    ring: VecDeque::new(),
                    ring_bytes: 0,
                    head_seq: 0,
                    next_seq: 0,
                    queue_depth: self.queue_depth,
                    queue_bytes: self.queue_bytes,
                    wakers: Vec::new(),
                    parked_at: Vec::new(),
                    direct: Vec::new(),
                    slot_ids: Vec::new(),
                    next_slot_id: 0,
                    direct_ready: 0,
                    direct_buf: Vec::new(),
                    direct_outcomes: Vec::new(),
                    free: Vec::new(),
                    wake_buf: Vec::new(),
                    subscribers: 0,
                    departures: 0,
                    closed: false,
                    ids: self.assign_ids.then(|| IdAssigner {
                        epoch: epoch(),
                        counter: 0,
                        encoder: Encoder::new(),
                    }),
                    shared_last: None,
                    positions: VecDeque::new(),
                }),
                metrics,
                aborted: AtomicBool::new(false),
                idle: Notify::new(),
                closed: Notify::new(),
            }),
        })
    }
}

/// A value that differs between channel instances (and between processes), seeded from the
/// system time once per channel: the epoch of relay-assigned ids.
fn epoch() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // Mix in a process-wide counter so two channels built in the same nanosecond differ.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & 0xFFFF_FFFF_FFFF
}

impl IdAssigner {
    /// The frame with an `id:` line in front, and that id; no allocation of its own (the
    /// id is formatted on the stack, the encoder writes into its block).
    fn assign(&mut self, frame: &Frame) -> Option<(Frame, EventId)> {
        self.counter += 1;
        let mut text = [0u8; 40];
        let mut cursor = &mut text[..];
        write!(cursor, "{:x}-{}", self.epoch, self.counter).ok()?;
        let len = 40 - cursor.len();
        let id = std::str::from_utf8(&text[..len]).ok()?;
        self.encoder.prepend_id(id, frame).ok()
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Channel")
            .field("subscribers", &st.subscribers)
            .field("backlog_len", &st.backlog.len())
            .field("ring_len", &st.ring.len())
            .field("closed", &st.closed)
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that
        // matters more than stopping the relay would; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// The shared position of the event at sequence number `seq`, if it has one.
    fn position_of(&self, seq: u64) -> Option<Position> {
        let i = self.positions.partition_point(|(s, _)| *s < seq);
        match self.positions.get(i) {
            Some((s, p)) if *s == seq => Some(*p),
            _ => None,
        }
    }

    /// Pushes a frame into the ring, evicting to stay within bounds, and collects the
    /// wakers of parked subscribers into `wake_buf`.
    fn push(&mut self, frame: Bytes, event: bool) {
        let len = frame.len();
        while !self.ring.is_empty()
            && (self.ring.len() >= self.queue_depth || self.ring_bytes + len > self.queue_bytes)
        {
            if let Some(old) = self.ring.pop_front() {
                self.ring_bytes -= old.frame.len();
                self.head_seq += 1;
            }
        }
        self.ring_bytes += len;
        self.ring.push_back(Slot { frame, event });
        self.next_seq += 1;
        for w in self.wakers.iter_mut() {
            if let Some(w) = w.take() {
                self.wake_buf.push(w);
            }
        }
        if self.direct_ready > 0 {
            self.direct_ready = 0;
            for (slot, d) in self.direct.iter_mut().enumerate() {
                if matches!(d, DirectState::Ready(_))
                    && let DirectState::Ready(e) = std::mem::replace(d, DirectState::Out(None))
                {
                    self.direct_buf.push((slot, e));
                }
            }
        }
    }

    /// Gives every feed a direct sink holds back to its task (close, abort): its waker goes
    /// to `wake_buf`. Entries out with a push are given back by that push.
    fn return_direct(&mut self) {
        if self.direct_ready == 0 {
            return;
        }
        self.direct_ready = 0;
        for d in self.direct.iter_mut() {
            if matches!(d, DirectState::Ready(_))
                && let DirectState::Ready(e) = std::mem::replace(d, DirectState::None)
            {
                *d = DirectState::Back(e.cursor, None);
                self.wake_buf.push(e.waker);
            }
        }
    }
}

/// What writing one frame to one direct sink came to.
enum Outcome {
    /// Written: the entry stays with its sink.
    Keep,
    /// The feed goes back to its task, continuing at this sequence number (after a refusal
    /// of the gate, with it).
    Back(u64, Option<Box<Cutoff>>),
}

/// Writes the newest frame to one direct entry the push took (outside the lock): the
/// feed's gate first for an event, then the sink. Also says whether the frame was
/// delivered (the sink took it).
fn offer_direct(entry: &mut DirectEntry, frame: &Bytes, event: bool) -> (Outcome, bool) {
    if event && let Some(gate) = &entry.gate {
        let delivery = Delivery {
            frame,
            replay: false,
        };
        // A gate that must wait gives the event back to the feed, which asks again with
        // its own waker (as it would after any pending answer).
        match gate.poll_admit(&mut Context::from_waker(Waker::noop()), &delivery) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(cutoff)) => {
                return (
                    Outcome::Back(entry.cursor + 1, Some(Box::new(cutoff))),
                    false,
                );
            }
            Poll::Pending => return (Outcome::Back(entry.cursor, None), false),
        }
    }
    entry.cursor += 1;
    match entry.sink.offer(frame) {
        Offer::Written => (Outcome::Keep, true),
        Offer::Stop => (Outcome::Back(entry.cursor, None), true),
    }
}

/// Wakes the collected wakers outside the lock and gives the buffer back.
fn wake_all(shared: &Shared, mut st: MutexGuard<'_, State>) {
    if !st.direct_buf.is_empty() {
        return write_direct(shared, st);
    }
    if st.wake_buf.is_empty() {
        return;
    }
    // Under the lock, before any of them is woken: a feed that reads the old value still
    // has its waker in `wake_buf` (see `Parked`).
    shared.wake_epoch.fetch_add(1, Ordering::Release);
    let mut buf = std::mem::take(&mut st.wake_buf);
    drop(st);
    for w in buf.drain(..) {
        w.wake();
    }
    let mut st = shared.lock();
    if st.wake_buf.capacity() < buf.capacity() {
        st.wake_buf = buf;
    }
}

/// [`wake_all`] for a push that took direct entries: wakes the parked feeds, writes the
/// newest frame to each direct sink, then (under the lock again) gives each entry back to
/// its slot, or its feed back to its task (the sink stopped, the gate refused or must
/// wait, the channel closed, the task asked for it, or another push came meanwhile).
#[cold]
fn write_direct(shared: &Shared, mut st: MutexGuard<'_, State>) {
    let mut taken = std::mem::take(&mut st.direct_buf);
    let mut outcomes = std::mem::take(&mut st.direct_outcomes);
    // The frame the push just put at the back of the ring (a push evicts before it adds).
    let Some((frame, event)) = st.ring.back().map(|s| (s.frame.clone(), s.event)) else {
        // Cannot happen; give the feeds back rather than lose them.
        for (slot, e) in taken.drain(..) {
            if let Some(d) = st.direct.get_mut(slot) {
                *d = DirectState::Back(e.cursor, None);
            }
            st.wake_buf.push(e.waker);
        }
        return wake_all(shared, st);
    };
    if !st.wake_buf.is_empty() {
        shared.wake_epoch.fetch_add(1, Ordering::Release);
    }
    let mut wakers = std::mem::take(&mut st.wake_buf);
    drop(st);
    for w in wakers.drain(..) {
        w.wake();
    }
    let mut delivered = 0u64;
    for (_, entry) in taken.iter_mut() {
        let (outcome, taken_by_sink) = offer_direct(entry, &frame, event);
        delivered += u64::from(event && taken_by_sink);
        outcomes.push(outcome);
    }
    let mut st = shared.lock();
    let mut handed_back = false;
    for ((slot, entry), outcome) in taken.drain(..).zip(outcomes.drain(..)) {
        let next_seq = st.next_seq;
        let closed = st.closed;
        let Some(d) = st.direct.get_mut(slot) else {
            continue;
        };
        match std::mem::replace(d, DirectState::None) {
            DirectState::Out(leave) => {
                let back = match outcome {
                    Outcome::Keep if leave.is_none() && entry.cursor == next_seq && !closed => {
                        *d = DirectState::Ready(entry);
                        st.direct_ready += 1;
                        continue;
                    }
                    Outcome::Keep => (entry.cursor, None),
                    Outcome::Back(cursor, cutoff) => (cursor, cutoff),
                };
                *d = DirectState::Back(back.0, back.1);
                wakers.push(entry.waker);
                wakers.extend(leave);
                handed_back = true;
            }
            DirectState::Dropped => st.free.push(slot),
            other => *d = other, // cannot happen: only this push holds the entry
        }
    }
    if st.direct_buf.capacity() < taken.capacity() {
        st.direct_buf = taken;
    }
    if st.direct_outcomes.capacity() < outcomes.capacity() {
        st.direct_outcomes = outcomes;
    }
    if handed_back {
        // A feed given back may be parked at the current epoch: make it look again.
        shared.wake_epoch.fetch_add(1, Ordering::Release);
    } else if st.wake_buf.capacity() < wakers.capacity() {
        st.wake_buf = std::mem::take(&mut wakers);
    }
    drop(st);
    if delivered > 0 {
        let m = &shared.metrics;
        m.deliveries.fetch_add(delivered, Ordering::Relaxed);
        m.direct_deliveries.fetch_add(delivered, Ordering::Relaxed);
    }
    if wakers.is_empty() {
        return;
    }
    for w in wakers.drain(..) {
        w.wake();
    }
    let mut st = shared.lock();
    if st.wake_buf.capacity() < wakers.capacity() {
        st.wake_buf = wakers;
    }
}

impl Channel {
    /// A builder with default settings.
    pub fn builder() -> ChannelBuilder {
        ChannelBuilder::new()
    }

    #[cfg(test)]
    fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Publishes one event: appends it to the backlog (if it has an id, or gets one) and
    /// makes it visible to every subscriber, in one step.
    ///
    /// `frame` is the complete encoded event, for example an upstream event's raw frame
    /// ([`Event::to_frame`](eventgate_sse::Event::to_frame)); it is shared, not copied. With
    /// [`ChannelBuilder::assign_ids`] an event without id gets one: the SSE encoder writes
    /// an `id:` line in front of the frame (a copy into its block, no allocation per event).
    /// Returns the id the event is stored under. Publishing to a closed channel does
    /// nothing.
    pub fn publish(&self, id: Option<EventId>, frame: Frame) -> Option<EventId> {
        let mut st = self.shared.lock();
        if st.closed {
            return None;
        }
        let (id, frame) = match (id, st.ids.as_mut()) {
            (None, Some(ids)) => match ids.assign(&frame) {
                Some((framed, id)) => (Some(id), framed),
                None => (None, frame),
            },
            (id, _) => (id, frame),
        };
        let frame = frame.into_bytes();
        let seq = st.next_seq;
        st.backlog.push(Entry::new(seq, id.clone(), frame.clone()));
        st.push(frame, true);
        if st.shared_last.is_some() {
            // Not in the shared store: what follows is not contiguous with it.
            st.shared_last = None;
        }
        self.shared
            .metrics
            .events_published
            .fetch_add(1, Ordering::Relaxed);
        wake_all(&self.shared, st);
        id
    }

    /// Publishes a frame that is not an event (a comment, a `retry:` hint): live
    /// subscribers get it, the backlog does not keep it and gates are not asked.
    pub fn publish_control(&self, frame: Frame) {
        let mut st = self.shared.lock();
        if st.closed {
            return;
        }
        st.push(frame.into_bytes(), false);
        wake_all(&self.shared, st);
    }

    /// Publishes an event at `pos` in the shared backlog (`frame` carries the id `pos`
    /// names). Returns false, publishing nothing, if the channel already published that
    /// position or a later one of the same epoch (an upstream repeating events after a
    /// reconnect), or is closed.
    pub(crate) fn publish_at(&self, pos: Position, id: EventId, frame: Frame) -> bool {
        let mut st = self.shared.lock();
        if st.closed {
            return false;
        }
        if let Some(last) = st.shared_last
            && last.epoch == pos.epoch
            && pos.offset <= last.offset
        {
            return false;
        }
        let frame = frame.into_bytes();
        let seq = st.next_seq;
        st.backlog.push(Entry::new(seq, Some(id), frame.clone()));
        st.push(frame, true);
        st.shared_last = Some(pos);
        let head = st.head_seq;
        while st.positions.front().is_some_and(|(seq, _)| *seq < head) {
            st.positions.pop_front();
        }
        st.positions.push_back((seq, pos));
        self.shared
            .metrics
            .events_published
            .fetch_add(1, Ordering::Relaxed);
        wake_all(&self.shared, st);
        true
    }

    /// The newest shared position published (see `State::shared_last`).
    pub(crate) fn shared_last(&self) -> Option<Position> {
        self.shared.lock().shared_last
    }

    /// Sets the newest shared position: the store's head when the channel starts or a new
    /// epoch begins, `None` when the channel's events stop being contiguous in the store.
    pub(crate) fn set_shared_last(&self, pos: Option<Position>) {
        self.shared.lock().shared_last = pos;
    }

    /// Publishes the keep-alive comment, [`Frame::KEEP_ALIVE`].
    pub fn heartbeat(&self) {
        self.shared
            .metrics
            .heartbeats
            .fetch_add(1, Ordering::Relaxed);
        self.publish_control(Frame::KEEP_ALIVE);
    }

    /// True if the backlog keeps an event with this id.
    pub fn contains(&self, id: &EventId) -> bool {
        self.shared.lock().backlog.contains(id)
    }

    /// True if `event`, which has id `id`, is the event the backlog keeps under that id (the
    /// same type and data): an upstream sending again what it sent before a reconnect. A
    /// different event under a kept id is new: an upstream restarted with its ids from the
    /// start again. A backlog that keeps no frames ([`Backlog::frame_of`]) compares ids only.
    pub(crate) fn repeats(&self, id: &EventId, event: &Event) -> bool {
        let kept = {
            let st = self.shared.lock();
            match st.backlog.frame_of(id) {
                Some(frame) => frame,
                None => return st.backlog.contains(id),
            }
        };
        let mut parser = Parser::new();
        parser.feed(kept);
        parser.finish();
        parser
            .find_map(|item| match item {
                Ok(Item::Event(e)) => Some(e),
                _ => None,
            })
            .is_some_and(|e| e.event_type() == event.event_type() && e.data() == event.data())
    }

    /// Number of subscribers attached.
    pub fn subscriber_count(&self) -> usize {
        self.shared.lock().subscribers
    }

    /// How many times the last subscriber has left (a count, not a time: the relay's driver
    /// reads its own clock when [`Channel::idle`] returns).
    pub(crate) fn departures(&self) -> u64 {
        self.shared.lock().departures
    }

    /// Number of frames in the live ring (bounded by the queue depth).
    pub fn queued_frames(&self) -> usize {
        self.shared.lock().ring.len()
    }

    /// Number of events in the backlog.
    pub fn backlog_len(&self) -> usize {
        self.shared.lock().backlog.len()
    }

    /// True once [`Channel::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Closes the channel: `final_frames` (for example [`SHUTDOWN_COMMENT`] and a `retry:`
    /// hint) go to every live subscriber, which then ends once it has read everything before
    /// them. No new subscriber can attach.
    ///
    /// [`SHUTDOWN_COMMENT`]: crate::SHUTDOWN_COMMENT
    pub fn close(&self, final_frames: &[Frame]) {
        let mut st = self.shared.lock();
        if st.closed {
            return;
        }
        st.return_direct();
        for f in final_frames {
            st.push(f.as_bytes().clone(), false);
        }
        st.closed = true;
        let State {
            wakers, wake_buf, ..
        } = &mut *st;
        wake_buf.extend(wakers.iter_mut().filter_map(Option::take));
        wake_all(&self.shared, st);
        self.shared.closed.notify_waiters();
    }

    /// Ends every subscriber now, without delivering what it has not read yet (the end of a
    /// shutdown deadline). Closes the channel too.
    pub fn abort(&self) {
        self.shared.aborted.store(true, Ordering::Release);
        let mut st = self.shared.lock();
        st.closed = true;
        st.return_direct();
        let mut wakers: Vec<Waker> = std::mem::take(&mut st.wake_buf);
        wakers.extend(st.wakers.iter_mut().filter_map(Option::take));
        self.shared.wake_epoch.fetch_add(1, Ordering::Release);
        drop(st);
        for w in wakers {
            w.wake();
        }
        self.shared.closed.notify_waiters();
    }

    /// Waits until the channel is closed (returns at once if it is).
    pub async fn closed(&self) {
        loop {
            let notified = self.shared.closed.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Waits until the channel has no subscriber (returns at once if it has none).
    pub async fn idle(&self) {
        loop {
            let notified = self.shared.idle.notified();
            if self.subscriber_count() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Waits until the last subscriber leaves again after `departures` (see
    /// [`Channel::departures`]); returns at once if it already did.
    pub(crate) async fn departed_since(&self, departures: u64) {
        loop {
            let notified = self.shared.idle.notified();
            if self.departures() != departures {
                return;
            }
            notified.await;
        }
    }

    /// Attaches a subscriber: takes its replay snapshot from the backlog and its position in
    /// the live stream in one step, so the first live frame follows the last replayed one
    /// with no gap and no duplicate. Reads the subscriber settings of `opts` (resume point,
    /// gate, retry hint, unknown-id policy) and ignores its channel settings.
    ///
    /// # Errors
    /// [`Error::is_closed`] if the channel is closed; [`Error::is_unknown_id`] if the
    /// `Last-Event-ID` is not in the backlog and the policy is [`UnknownId::Reject`] or
    /// [`UnknownId::ForwardToBackend`].
    pub fn subscribe(&self, opts: &SubscribeOptions) -> Result<Feed, Error> {
        self.attach(
            opts.last_event_id.as_ref(),
            opts.gate.as_ref(),
            opts.retry_hint.flatten(),
            opts.unknown_id.as_ref().unwrap_or(&UnknownId::StartLive),
            false,
        )
    }

    /// [`Channel::subscribe`] with the subscriber settings resolved (the relay fills in its
    /// defaults).
    pub(crate) fn attach(
        &self,
        last_event_id: Option<&EventId>,
        gate: Option<&Arc<dyn DeliveryGate>>,
        retry_hint: Option<Duration>,
        unknown_id: &UnknownId,
        shared: bool,
    ) -> Result<Feed, Error> {
        let metrics = &self.shared.metrics;
        let mut pending = None;
        let mut replay_frames = VecDeque::new();
        let mut st = self.shared.lock();
        if st.closed {
            return Err(Error::new(Kind::Closed));
        }
        let replay = match last_event_id {
            None => Replay::None,
            Some(id) => {
                if st.backlog.replay_after(id, &mut replay_frames) {
                    Replay::Found(replay_frames.len())
                } else if let Some(pos) = Position::of_id(id).filter(|_| shared) {
                    // Maybe in the shared store: the relay asks it once the feed exists.
                    pending = Some(pos);
                    Replay::None
                } else {
                    Replay::Unknown
                }
            }
        };
        if replay == Replay::Unknown
            && matches!(unknown_id, UnknownId::Reject | UnknownId::ForwardToBackend)
        {
            return Err(Error::new(Kind::UnknownId));
        }
        let slot = match st.free.pop() {
            Some(i) => i,
            None => {
                st.wakers.push(None);
                st.parked_at.push(NOT_LIVE);
                st.direct.push(DirectState::None);
                st.slot_ids.push(0);
                st.wakers.len() - 1
            }
        };
        st.next_slot_id += 1;
        st.slot_ids[slot] = st.next_slot_id;
        st.parked_at[slot] = NOT_LIVE;
        st.subscribers += 1;
        let cursor = st.next_seq;
        drop(st);
        let resume = pending.map(|pos| Box::new(SharedResume::Pending(pos)));

        metrics.subscribers_active.fetch_add(1, Ordering::Relaxed);
        metrics.subscribers_total.fetch_add(1, Ordering::Relaxed);
        match replay {
            Replay::Unknown => {
                metrics.replay_misses.fetch_add(1, Ordering::Relaxed);
            }
            Replay::Found(n) => {
                metrics.replayed.fetch_add(n as u64, Ordering::Relaxed);
            }
            Replay::None => {}
        }

        let notice = match (replay, unknown_id) {
            (Replay::Unknown, UnknownId::StartLive) => Some(RESET_EVENT),
            (Replay::Unknown, UnknownId::StartLiveWith(f)) => f.clone(),
            _ => None,
        };
        let retry = retry_hint.map(Frame::retry);
        let prelude = match (retry, notice) {
            (None, None) => None,
            (Some(f), None) | (None, Some(f)) => Some(f.into_bytes()),
            (Some(r), Some(n)) => {
                let mut both = BytesMut::with_capacity(r.len() + n.len());
                both.extend_from_slice(r.as_bytes());
                both.extend_from_slice(n.as_bytes());
                Some(both.freeze())
            }
        };
        Ok(Feed {
            shared: self.shared.clone(),
            slot,
            cursor,
            prelude,
            replay_frames,
            gate: gate.cloned(),
            unflushed: 0,
            replay,
            resume,
            held: None,
            parked: Parked::default(),
            done: false,
        })
    }
}

/// A feed's resume from the shared backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SharedResume {
    /// Resuming after this position: the relay has not asked the store yet.
    Pending(Position),
    /// Live events of this epoch up to this offset were replayed or seen: skip them.
    Seam(Position),
}

/// One subscriber's feed from a [`Channel`]: a stream of encoded frames (`Bytes`), in
/// order: the prelude (`retry:` hint, unknown-id notice), the replayed events, then live
/// frames.
///
/// It is a [`futures_core::Stream`] of `Result<Bytes, Error>` and an
/// [`http_body::Body`] of `Bytes`, so it can be a hyper response body as is (see
/// [`sse_response`](crate::sse_response)). The stream ends when the channel is closed
/// (after the final frames), after a [`Cutoff`] (after its final frame), or with an error
/// when the subscriber was cut off as a slow consumer ([`Error::is_lagged`]). Dropping it
/// detaches it.
pub struct Feed {
    shared: Arc<Shared>,
    slot: usize,
    cursor: u64,
    prelude: Option<Bytes>,
    replay_frames: VecDeque<Bytes>,
    gate: Option<Arc<dyn DeliveryGate>>,
    unflushed: u32,
    replay: Replay,
    /// Boxed: rare, and the common feed stays small.
    resume: Option<Box<SharedResume>>,
    /// An event the gate has not decided on yet ([`DeliveryGate::poll_admit`] was pending),
    /// and whether it is a replayed one. Boxed: rare.
    held: Option<Box<(Bytes, bool)>>,
    /// Where this feed last parked in the live ring (see [`Parked`]).
    parked: Parked,
    done: bool,
}

/// A feed's last registration in the live ring: the channel's `wake_epoch` then and which
/// waker it left in its slot (`Waker::data` and `Waker::vtable`, as `will_wake` compares
/// them). While the epoch has not moved, no push, close or abort has taken that waker, so
/// a poll with the same waker and nothing else to do may answer `Pending` without the
/// channel's lock: every subscriber of a fan-out channel shares that lock, and this saves
/// one lock and unlock per delivered event (the poll after each event that parks again).
#[derive(Clone, Copy, Default)]
struct Parked {
    /// `wake_epoch` + 1 at registration (0: not parked).
    epoch: u64,
    data: usize,
    vtable: usize,
}

impl Parked {
    fn of(epoch: u64, w: &Waker) -> Self {
        Self {
            epoch: epoch.wrapping_add(1),
            data: w.data() as usize,
            vtable: std::ptr::from_ref(w.vtable()) as usize,
        }
    }

    /// Still registered with `w` at `epoch`.
    fn holds(&self, epoch: u64, w: &Waker) -> bool {
        self.epoch == epoch.wrapping_add(1)
            && self.data == w.data() as usize
            && self.vtable == std::ptr::from_ref(w.vtable()) as usize
    }
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("cursor", &self.cursor)
            .field("replay", &self.replay)
            .field("replay_left", &self.replay_frames.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

const FLUSH_EVERY: u32 = 64;

impl Feed {
    /// How the subscription started (replay found, unknown id, or no id).
    pub fn replay(&self) -> Replay {
        self.replay
    }

    /// The next frame if one is ready now: `None` if nothing is ready (or the stream ended),
    /// `Some(Err(_))` if the subscriber was cut off. Never waits.
    pub fn try_next(&mut self) -> Option<Result<Bytes, Error>> {
        match self.poll_inner(None) {
            Poll::Ready(r) => r,
            Poll::Pending => None,
        }
    }

    /// Waits for the next frame; `None` when the stream has ended.
    pub async fn next_frame(&mut self) -> Option<Result<Bytes, Error>> {
        std::future::poll_fn(|cx| self.poll_inner(Some(cx.waker()))).await
    }

    /// True once the stream has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The shared position this feed resumes after, while the relay has not asked the
    /// store yet.
    pub(crate) fn pending_shared(&self) -> Option<Position> {
        match self.resume.as_deref() {
            Some(SharedResume::Pending(p)) => Some(*p),
            _ => None,
        }
    }

    /// The shared position just before this feed's first live event, if the channel knows
    /// it: the replay from the store must end there.
    pub(crate) fn shared_upper(&self) -> Option<Position> {
        let st = self.shared.lock();
        if self.cursor < st.head_seq {
            return None;
        }
        let from = (self.cursor - st.head_seq) as usize;
        let first = st
            .ring
            .range(from.min(st.ring.len())..)
            .position(|s| s.event);
        match first {
            Some(i) => st.position_of(self.cursor + i as u64).map(|p| Position {
                epoch: p.epoch,
                offset: p.offset.saturating_sub(1),
            }),
            None => st.shared_last,
        }
    }

    /// The pending resume was found in the store: `frames` come before the live events,
    /// and live events of `seam`'s epoch up to its offset are skipped.
    pub(crate) fn resolve_found(&mut self, frames: VecDeque<Bytes>, seam: Option<Position>) {
        let n = frames.len();
        self.replay_frames = frames;
        self.replay = Replay::Found(n);
        self.resume = seam.map(|p| Box::new(SharedResume::Seam(p)));
        self.shared
            .metrics
            .replayed
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The pending resume is not in the store either: the feed starts live, after
    /// `notice` (the unknown-id policy's frame).
    pub(crate) fn resolve_lost(&mut self, notice: Option<Frame>) {
        self.replay = Replay::Unknown;
        self.resume = None;
        self.shared
            .metrics
            .replay_misses
            .fetch_add(1, Ordering::Relaxed);
        if let Some(n) = notice {
            self.prelude = Some(match self.prelude.take() {
                None => n.into_bytes(),
                Some(r) => {
                    let mut both = BytesMut::with_capacity(r.len() + n.len());
                    both.extend_from_slice(&r);
                    both.extend_from_slice(n.as_bytes());
                    both.freeze()
                }
            });
        }
    }

    /// Asks the gate about `frame`; a gate that must wait keeps it in `held` (the cursor has
    /// moved past it) and the feed answers `Pending` until the gate decides.
    fn admit(
        &mut self,
        frame: Bytes,
        replay: bool,
        waker: Option<&Waker>,
    ) -> Poll<Option<Result<Bytes, Error>>> {
        if let Some(gate) = &self.gate {
            let delivery = Delivery {
                frame: &frame,
                replay,
            };
            let mut cx = Context::from_waker(waker.unwrap_or(Waker::noop()));
            match gate.poll_admit(&mut cx, &delivery) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(cutoff)) => return Poll::Ready(self.cut_off(cutoff)),
                Poll::Pending => {
                    self.held = Some(Box::new((frame, replay)));
                    // Parked early (taking the newest event) but holding this one: no
                    // direct sink may take the feed before it is delivered.
                    if let Some(p) = self.shared.lock().parked_at.get_mut(self.slot) {
                        *p = NOT_LIVE;
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(self.admitted(frame))
    }

    fn admitted(&mut self, frame: Bytes) -> Option<Result<Bytes, Error>> {
        self.unflushed += 1;
        if self.unflushed >= FLUSH_EVERY {
            self.flush_metrics();
        }
        Some(Ok(frame))
    }

    fn cut_off(&mut self, cutoff: Cutoff) -> Option<Result<Bytes, Error>> {
        self.shared.metrics.cutoffs.fetch_add(1, Ordering::Relaxed);
        self.finish();
        cutoff.into_frame().map(|f| Ok(f.into_bytes()))
    }

    fn flush_metrics(&mut self) {
        if self.unflushed > 0 {
            self.shared
                .metrics
                .deliveries
                .fetch_add(u64::from(self.unflushed), Ordering::Relaxed);
            self.unflushed = 0;
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.held = None;
        self.replay_frames = VecDeque::new();
        self.prelude = None;
    }

    #[cold]
    fn lagged(&mut self) -> Poll<Option<Result<Bytes, Error>>> {
        self.shared
            .metrics
            .slow_consumers_cut
            .fetch_add(1, Ordering::Relaxed);
        self.finish();
        Poll::Ready(Some(Err(Error::new(Kind::Lagged))))
    }

    /// The live part of [`Feed::poll_inner`] for a feed resumed from the shared backlog:
    /// live events up to its seam are skipped (they were replayed, or the client saw them
    /// on another node). Once past the seam the feed takes the common path again.
    #[cold]
    fn poll_resumed(&mut self, waker: Option<&Waker>) -> Poll<Option<Result<Bytes, Error>>> {
        let seam = match self.resume.as_deref() {
            Some(SharedResume::Seam(p)) => Some(*p),
            _ => None,
        };
        let mut st = self.shared.lock();
        loop {
            if self.cursor < st.head_seq {
                drop(st);
                return self.lagged();
            }
            if self.cursor >= st.next_seq {
                break;
            }
            let idx = (self.cursor - st.head_seq) as usize;
            let Some(slot) = st.ring.get(idx).cloned() else {
                drop(st);
                self.finish();
                return Poll::Ready(None);
            };
            let seq = self.cursor;
            self.cursor += 1;
            if slot.event {
                if let Some(seam) = seam
                    && st
                        .position_of(seq)
                        .is_some_and(|p| p.epoch == seam.epoch && p.offset <= seam.offset)
                {
                    continue;
                }
                self.resume = None;
            }
            drop(st);
            return if slot.event {
                self.admit(slot.frame, false, waker)
            } else {
                Poll::Ready(Some(Ok(slot.frame)))
            };
        }
        if st.closed {
            drop(st);
            self.finish();
            return Poll::Ready(None);
        }
        if let Some(w) = waker {
            self.parked = park(&mut st, self.slot, &self.shared, w, false);
        }
        Poll::Pending
    }

    fn poll_inner(&mut self, waker: Option<&Waker>) -> Poll<Option<Result<Bytes, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.shared.aborted.load(Ordering::Acquire) {
            // Not while a push writes to this feed's sink: the stream's end would be
            // written in the middle of it.
            let mut st = self.shared.lock();
            if let Some(DirectState::Out(leave)) = st.direct.get_mut(self.slot) {
                *leave = waker.cloned();
                return Poll::Pending;
            }
            drop(st);
            self.finish();
            return Poll::Ready(None);
        }
        if let Some(held) = self.held.take() {
            let (f, replay) = *held;
            return self.admit(f, replay, waker);
        }
        if let Some(p) = self.prelude.take() {
            return Poll::Ready(Some(Ok(p)));
        }
        if let Some(f) = self.replay_frames.pop_front() {
            return self.admit(f, true, waker);
        }
        if self.resume.is_some() {
            return self.poll_resumed(waker);
        }
        if let Some(w) = waker
            && self
                .parked
                .holds(self.shared.wake_epoch.load(Ordering::Acquire), w)
        {
            // Nothing was pushed since this feed parked with `w`: still parked.
            return Poll::Pending;
        }
        let mut st = self.shared.lock();
        match take_back(&mut st, self.slot, &mut self.cursor, waker) {
            TakeBack::Go => {}
            TakeBack::Wait => return Poll::Pending,
            TakeBack::Cut(cutoff) => {
                drop(st);
                return Poll::Ready(self.cut_off(*cutoff));
            }
        }
        if self.cursor < st.head_seq {
            drop(st);
            return self.lagged();
        }
        if self.cursor < st.next_seq {
            let idx = (self.cursor - st.head_seq) as usize;
            let Some(slot) = st.ring.get(idx).cloned() else {
                // Cannot happen: head_seq <= cursor < next_seq = head_seq + ring.len().
                drop(st);
                self.finish();
                return Poll::Ready(None);
            };
            self.cursor += 1;
            // Caught up: park now, under this lock, so the poll that follows a delivery (the
            // caller looking for more before it yields) answers `Pending` without taking the
            // lock a second time. Registering early is harmless: a push before that poll
            // wakes the task, which would have to run again for it anyway.
            if self.cursor == st.next_seq
                && !st.closed
                && let Some(w) = waker
            {
                self.parked = park(&mut st, self.slot, &self.shared, w, true);
            }
            drop(st);
            return if slot.event {
                self.admit(slot.frame, false, waker)
            } else {
                Poll::Ready(Some(Ok(slot.frame)))
            };
        }
        if st.closed {
            drop(st);
            self.finish();
            return Poll::Ready(None);
        }
        if let Some(w) = waker {
            self.parked = park(&mut st, self.slot, &self.shared, w, true);
        }
        Poll::Pending
    }
}

/// What taking a feed back from its direct sink found.
enum TakeBack {
    /// Go on from the cursor (moved to where the sink left off, if one had the feed).
    Go,
    /// A push is writing to the sink: it wakes the feed's task when done.
    Wait,
    /// The gate refused the event the sink was to get: the feed ends.
    Cut(Box<Cutoff>),
}

/// Takes feed `slot` back from a direct sink, if one has it (see [`DirectHandle`]), moving
/// `cursor` to where the sink left off.
fn take_back(st: &mut State, slot: usize, cursor: &mut u64, waker: Option<&Waker>) -> TakeBack {
    let Some(d) = st.direct.get_mut(slot) else {
        return TakeBack::Go;
    };
    if let DirectState::Out(leave) = d {
        if let Some(w) = waker {
            *leave = Some(w.clone());
        }
        return TakeBack::Wait;
    }
    match std::mem::replace(d, DirectState::None) {
        DirectState::None | DirectState::Out(_) => TakeBack::Go,
        DirectState::Ready(e) => {
            st.direct_ready -= 1;
            *cursor = e.cursor;
            TakeBack::Go
        }
        DirectState::Back(at, cutoff) => {
            *cursor = at;
            cutoff.map_or(TakeBack::Go, TakeBack::Cut)
        }
        DirectState::Dropped => {
            *d = DirectState::Dropped; // cannot happen: the feed is not dropped
            TakeBack::Go
        }
    }
}

/// Lets a subscriber's connection have its [`Feed`]'s live frames written by the channel
/// itself, straight to a [`DirectSink`] (its socket), instead of waking the subscriber's task
/// for every frame: with many subscribers on one channel, the wake, the poll of the task and
/// of its body per subscriber and event are most of what a fan-out costs outside the
/// kernel. Made by [`Feed::direct_handle`]; cheap to clone.
///
/// The connection calls [`try_park`](Self::try_park) when the feed has just answered
/// `Pending` (caught up): from then on, each push charges the feed's gate and offers the
/// frame to the sink, and the task is not woken. The feed goes back to its task (which is
/// woken, and whose next poll continues exactly where the sink left off) when the sink
/// answers [`Offer::Stop`], when the gate refuses (the feed then ends with the gate's final
/// frame) or must wait, when the channel closes, and when the task polls the feed for
/// another reason. [`poll_leave`](Self::poll_leave) takes it back before the task writes
/// anything else to the socket.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use bytes::Bytes;
/// use eventgate_relay::{Channel, DirectSink, Frame, Offer, SubscribeOptions};
///
/// #[derive(Default)]
/// struct Wire(Mutex<Vec<u8>>);
/// impl DirectSink for Wire {
///     fn offer(&self, frame: &Bytes) -> Offer {
///         self.0.lock().unwrap().extend_from_slice(frame);
///         Offer::Written
///     }
/// }
///
/// let channel = Channel::builder().build()?;
/// let mut feed = channel.subscribe(&SubscribeOptions::new())?;
/// let handle = feed.direct_handle();
/// let wire = Arc::new(Wire::default());
/// let sink: Arc<dyn DirectSink> = wire.clone();
/// # struct Task;
/// # impl std::task::Wake for Task { fn wake(self: Arc<Self>) {} }
/// let waker = std::task::Waker::from(Arc::new(Task)); // the connection's task
/// let mut cx = std::task::Context::from_waker(&waker);
/// // Caught up: the feed parks, and may be given to the sink.
/// assert!(std::pin::pin!(feed.next_frame()).as_mut().poll(&mut cx).is_pending());
/// assert!(handle.try_park(&sink, &waker));
/// channel.publish(None, Frame::from_static("data: 1\n\n"));
/// assert_eq!(&wire.0.lock().unwrap()[..], b"data: 1\n\n");
/// // Taken back: the feed goes on after what the sink got.
/// assert!(handle.poll_leave(&mut cx).is_ready());
/// channel.publish(None, Frame::from_static("data: 2\n\n"));
/// assert_eq!(feed.try_next().unwrap()?, "data: 2\n\n");
/// # use std::future::Future as _;
/// # Ok::<(), eventgate_relay::Error>(())
/// ```
#[derive(Clone)]
pub struct DirectHandle {
    shared: Arc<Shared>,
    slot: usize,
    slot_id: u64,
    gate: Option<Arc<dyn DeliveryGate>>,
}

impl fmt::Debug for DirectHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectHandle")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// A handle that can give this feed's live frames to a [`DirectSink`].
    pub fn direct_handle(&self) -> DirectHandle {
        let slot_id = self
            .shared
            .lock()
            .slot_ids
            .get(self.slot)
            .copied()
            .unwrap_or(0);
        DirectHandle {
            shared: Arc::clone(&self.shared),
            slot: self.slot,
            slot_id,
            gate: self.gate.clone(),
        }
    }
}

impl DirectHandle {
    /// Gives the feed to `sink` if it is parked, caught up, with `waker` (it answered
    /// `Pending` to a poll with that waker and nothing has been pushed since) and has nothing
    /// of its own to deliver first (no held event, no replay, no resume in progress). True
    /// if it did; `waker` is woken when the feed comes back.
    pub fn try_park(&self, sink: &Arc<dyn DirectSink>, waker: &Waker) -> bool {
        let mut st = self.shared.lock();
        let st = &mut *st;
        let slot = self.slot;
        if st.closed
            || st.slot_ids.get(slot) != Some(&self.slot_id)
            || !matches!(st.direct.get(slot), Some(DirectState::None))
            || st.parked_at.get(slot) != Some(&st.next_seq)
        {
            return false;
        }
        let Some(w) = st
            .wakers
            .get_mut(slot)
            .and_then(|w| w.take_if(|w| w.will_wake(waker)))
        else {
            return false;
        };
        st.direct[slot] = DirectState::Ready(DirectEntry {
            sink: Arc::clone(sink),
            gate: self.gate.clone(),
            waker: w,
            cursor: st.next_seq,
        });
        st.direct_ready += 1;
        true
    }

    /// Takes the feed back from its sink: `Ready` once no push can write to the sink any
    /// more (at once unless one is writing now; then `cx` is woken when it is done). The
    /// feed's next poll goes on where the sink left off.
    pub fn poll_leave(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.shared.lock();
        let st = &mut *st;
        if st.slot_ids.get(self.slot) != Some(&self.slot_id) {
            return Poll::Ready(());
        }
        let Some(d) = st.direct.get_mut(self.slot) else {
            return Poll::Ready(());
        };
        match d {
            DirectState::Out(leave) => {
                *leave = Some(cx.waker().clone());
                Poll::Pending
            }
            DirectState::Ready(_) => {
                if let DirectState::Ready(e) = std::mem::replace(d, DirectState::None) {
                    *d = DirectState::Back(e.cursor, None);
                }
                st.direct_ready -= 1;
                // The feed may be parked at the current epoch: make it look.
                self.shared.wake_epoch.fetch_add(1, Ordering::Release);
                Poll::Ready(())
            }
            _ => Poll::Ready(()),
        }
    }
}

/// Leaves `w` in feed `slot`'s place in the live ring, to be woken by the next push, close or
/// abort; where it parked (see [`Parked`]), or no parking when the slot is gone. `live`: the
/// feed parked caught up on the live path, with nothing of its own to deliver first.
fn park(st: &mut State, slot: usize, shared: &Shared, w: &Waker, live: bool) -> Parked {
    if let Some(p) = st.parked_at.get_mut(slot) {
        *p = if live { st.next_seq } else { NOT_LIVE };
    }
    let registered = match st.wakers.get_mut(slot) {
        Some(Some(old)) if old.will_wake(w) => true,
        Some(entry) => {
            *entry = Some(w.clone());
            true
        }
        None => false,
    };
    // `wake_epoch` only moves under the lock, so this is the value a taker of the waker just
    // registered will move it from.
    match registered {
        true => Parked::of(shared.wake_epoch.load(Ordering::Relaxed), w),
        false => Parked::default(),
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.flush_metrics();
        let mut st = self.shared.lock();
        if let Some(w) = st.wakers.get_mut(self.slot) {
            *w = None;
        }
        let out = match st.direct.get_mut(self.slot) {
            Some(d @ DirectState::Out(_)) => {
                // The push writing to its sink frees the slot when it is done.
                *d = DirectState::Dropped;
                true
            }
            Some(d) => {
                if matches!(d, DirectState::Ready(_)) {
                    st.direct_ready -= 1;
                }
                st.direct[self.slot] = DirectState::None;
                false
            }
            None => false,
        };
        if !out {
            st.free.push(self.slot);
        }
        st.subscribers -= 1;
        let last = st.subscribers == 0;
        if last {
            st.departures += 1;
        }
        drop(st);
        self.shared
            .metrics
            .subscribers_active
            .fetch_sub(1, Ordering::Relaxed);
        if last {
            self.shared.idle.notify_waiters();
        }
    }
}

impl futures_core::Stream for Feed {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_inner(Some(cx.waker()))
    }
}

impl http_body::Body for Feed {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        self.get_mut()
            .poll_inner(Some(cx.waker()))
            .map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use eventgate_sse::EventBuilder;

    fn frame(n: u64) -> Frame {
        let n = n.to_string();
        EventBuilder::new().id(&n).data(&n).build().unwrap()
    }

    fn ev(n: u64) -> (Option<EventId>, Bytes) {
        (EventId::from_text(&n.to_string()), frame(n).into_bytes())
    }

    fn publish(ch: &Channel, n: u64) {
        ch.publish(EventId::from_text(&n.to_string()), frame(n));
    }

    fn opts() -> SubscribeOptions {
        SubscribeOptions::new()
    }

    fn drain(sub: &mut Feed) -> Vec<Bytes> {
        std::iter::from_fn(|| sub.try_next().map(|r| r.unwrap())).collect()
    }

    #[test]
    fn live_subscriber_gets_events_published_after_it_attached() {
        let ch = Channel::builder().build().unwrap();
        publish(&ch, 1);
        let mut sub = ch.subscribe(&opts()).unwrap();
        assert_eq!(sub.replay(), Replay::None);
        publish(&ch, 2);
        publish(&ch, 3);
        assert_eq!(drain(&mut sub), [ev(2).1, ev(3).1]);
    }

    #[test]
    fn replay_then_live_has_no_gap_and_no_duplicate_at_the_seam() {
        let ch = Channel::builder().build().unwrap();
        for n in 1..=10 {
            publish(&ch, n);
        }
        let mut sub = ch
            .subscribe(opts().last_event_id(EventId::from_text("4")))
            .unwrap();
        assert_eq!(sub.replay(), Replay::Found(6));
        for n in 11..=12 {
            publish(&ch, n);
        }
        let got = drain(&mut sub);
        let want: Vec<Bytes> = (5..=12).map(|n| ev(n).1).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unknown_id_starts_live_with_the_reset_event_by_default() {
        let ch = Channel::builder().build().unwrap();
        publish(&ch, 1);
        let mut sub = ch
            .subscribe(opts().last_event_id(EventId::from_text("zzz")))
            .unwrap();
        assert_eq!(sub.replay(), Replay::Unknown);
        publish(&ch, 2);
        assert_eq!(drain(&mut sub), [RESET_EVENT.into_bytes(), ev(2).1]);
    }

    #[test]
    fn unknown_id_can_be_rejected_or_start_silently() {
        let ch = Channel::builder().build().unwrap();
        let err = ch
            .subscribe(
                opts()
                    .last_event_id(EventId::from_text("9"))
                    .unknown_id(UnknownId::Reject),
            )
            .unwrap_err();
        assert!(err.is_unknown_id());
        assert_eq!(ch.subscriber_count(), 0);
        let mut sub = ch
            .subscribe(
                opts()
                    .last_event_id(EventId::from_text("9"))
                    .unknown_id(UnknownId::StartLiveWith(None)),
            )
            .unwrap();
        assert!(sub.try_next().is_none());
    }

    #[test]
    fn id_older_than_the_backlog_is_unknown() {
        let ch = Channel::builder()
            .backlog_events(3)
            .backlog_bytes(1 << 20)
            .build()
            .unwrap();
        for n in 1..=5 {
            publish(&ch, n);
        }
        let sub = ch
            .subscribe(opts().last_event_id(EventId::from_text("1")))
            .unwrap();
        assert_eq!(sub.replay(), Replay::Unknown);
        let sub = ch
            .subscribe(opts().last_event_id(EventId::from_text("2")))
            .unwrap();
        assert_eq!(sub.replay(), Replay::Unknown);
        let sub = ch
            .subscribe(opts().last_event_id(EventId::from_text("3")))
            .unwrap();
        assert_eq!(sub.replay(), Replay::Found(2));
    }

    #[test]
    fn every_subscriber_shares_the_same_frame_allocation() {
        let ch = Channel::builder().build().unwrap();
        let mut a = ch.subscribe(&opts()).unwrap();
        let mut b = ch.subscribe(&opts()).unwrap();
        publish(&ch, 1);
        let fa = a.try_next().unwrap().unwrap();
        let fb = b.try_next().unwrap().unwrap();
        assert_eq!(fa.as_ptr(), fb.as_ptr());
    }

    #[test]
    fn slow_consumer_is_cut_off_while_a_fast_one_keeps_up_and_memory_stays_bounded() {
        let ch = Channel::builder().queue_depth(8).build().unwrap();
        let mut slow = ch.subscribe(&opts()).unwrap();
        let mut fast = ch.subscribe(&opts()).unwrap();
        for n in 1..=100 {
            publish(&ch, n);
            assert_eq!(fast.try_next().unwrap().unwrap(), ev(n).1);
            assert!(ch.queued_frames() <= 8);
        }
        assert!(slow.try_next().unwrap().unwrap_err().is_lagged());
        assert!(slow.try_next().is_none());
        assert!(slow.is_done());
        assert_eq!(ch.metrics().snapshot().slow_consumers_cut, 1);
    }

    #[test]
    fn queue_bytes_bound_cuts_off_a_subscriber_behind_it() {
        let ch = Channel::builder().queue_bytes(64).build().unwrap();
        let mut sub = ch.subscribe(&opts()).unwrap();
        for n in 1..=10 {
            publish(&ch, n);
        }
        assert!(sub.try_next().unwrap().unwrap_err().is_lagged());
    }

    #[test]
    fn cutoff_ends_the_stream_after_the_callers_final_frame() {
        let ch = Channel::builder().build().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let gate = move |_: &Delivery<'_>| {
            if c.fetch_add(1, Ordering::Relaxed) < 2 {
                Ok(())
            } else {
                Err(Cutoff::with_frame(Frame::from_static(
                    "event: error\ndata: quota\n\n",
                )))
            }
        };
        let mut sub = ch.subscribe(opts().gate(Arc::new(gate))).unwrap();
        for n in 1..=4 {
            publish(&ch, n);
        }
        ch.heartbeat();
        let got = drain(&mut sub);
        assert_eq!(
            got,
            [
                ev(1).1,
                ev(2).1,
                Bytes::from_static(b"event: error\ndata: quota\n\n")
            ]
        );
        assert!(sub.is_done());
        assert_eq!(ch.metrics().snapshot().cutoffs, 1);
    }

    #[test]
    fn heartbeats_and_control_frames_are_not_gated_nor_kept() {
        let ch = Channel::builder().build().unwrap();
        let gate = |_: &Delivery<'_>| Err(Cutoff::silent());
        let mut sub = ch.subscribe(opts().gate(Arc::new(gate))).unwrap();
        ch.heartbeat();
        ch.publish_control(Frame::retry(Duration::from_millis(10)));
        assert_eq!(
            drain(&mut sub),
            [
                Frame::KEEP_ALIVE.into_bytes(),
                Bytes::from_static(b"retry: 10\n\n")
            ]
        );
        assert_eq!(ch.backlog_len(), 0);
    }

    #[test]
    fn retry_hint_comes_first() {
        let ch = Channel::builder().build().unwrap();
        let mut sub = ch
            .subscribe(opts().retry_hint(Some(Duration::from_millis(2500))))
            .unwrap();
        publish(&ch, 1);
        assert_eq!(drain(&mut sub), [Bytes::from("retry: 2500\n\n"), ev(1).1]);
    }

    #[test]
    fn assigned_ids_are_monotonic_and_resumable() {
        let ch = Channel::builder().assign_ids(true).build().unwrap();
        let a = ch.publish(None, Frame::from_static("data: a\n\n")).unwrap();
        let b = ch.publish(None, Frame::from_static("data: b\n\n")).unwrap();
        let (ea, na) = a.as_str().split_once('-').unwrap();
        let (eb, nb) = b.as_str().split_once('-').unwrap();
        assert_eq!(ea, eb);
        assert_eq!((na, nb), ("1", "2"));
        let mut sub = ch.subscribe(opts().last_event_id(Some(a.clone()))).unwrap();
        assert_eq!(
            drain(&mut sub),
            [Bytes::from(format!("id: {b}\ndata: b\n\n"))]
        );
        // An explicit id is kept as is.
        let c = ch.publish(
            EventId::from_text("x"),
            Frame::from_static("id: x\ndata: c\n\n"),
        );
        assert_eq!(c.unwrap().as_str(), "x");
        // Another instance never produces the same ids.
        let other = Channel::builder().assign_ids(true).build().unwrap();
        let o = other
            .publish(None, Frame::from_static("data: a\n\n"))
            .unwrap();
        assert_ne!(o.as_str().split_once('-').unwrap().0, ea);
    }

    #[test]
    fn close_delivers_final_frames_then_ends_and_refuses_new_subscribers() {
        let ch = Channel::builder().build().unwrap();
        let mut sub = ch.subscribe(&opts()).unwrap();
        publish(&ch, 1);
        ch.close(&[Frame::comment("bye")]);
        publish(&ch, 2);
        assert_eq!(drain(&mut sub), [ev(1).1, Bytes::from_static(b": bye\n\n")]);
        assert!(sub.is_done());
        assert!(ch.subscribe(&opts()).unwrap_err().is_closed());
    }

    #[test]
    fn dropping_subscribers_frees_their_slots() {
        let ch = Channel::builder().build().unwrap();
        let subs: Vec<_> = (0..10).map(|_| ch.subscribe(&opts()).unwrap()).collect();
        assert_eq!(ch.subscriber_count(), 10);
        drop(subs);
        assert_eq!(ch.subscriber_count(), 0);
        let _again = ch.subscribe(&opts()).unwrap();
        assert_eq!(ch.shared.lock().wakers.len(), 10);
        assert_eq!(ch.metrics().snapshot().subscribers_active, 1);
    }

    #[test]
    fn subscriber_state_is_small() {
        // 144 bytes before the parked-waker check (24 bytes) was added.
        assert!(std::mem::size_of::<Feed>() <= 168);
    }

    #[tokio::test]
    async fn parked_subscriber_is_woken_by_publish() {
        let ch = Channel::builder().build().unwrap();
        let mut sub = ch.subscribe(&opts()).unwrap();
        let task = tokio::spawn(async move { sub.next_frame().await });
        tokio::task::yield_now().await;
        publish(&ch, 7);
        let got = task.await.unwrap().unwrap().unwrap();
        assert_eq!(got, ev(7).1);
    }

    /// A waker that counts its wakes.
    struct CountWake(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<CountWake>, Waker) {
        let c = Arc::new(CountWake(std::sync::atomic::AtomicUsize::new(0)));
        (Arc::clone(&c), Waker::from(c))
    }

    fn poll_with(sub: &mut Feed, w: &Waker) -> Poll<Option<Result<Bytes, Error>>> {
        futures_core::Stream::poll_next(Pin::new(sub), &mut Context::from_waker(w))
    }

    #[test]
    fn a_parked_feed_polled_again_stays_pending_without_the_channel_lock() {
        let ch = Channel::builder().build().unwrap();
        let mut sub = ch.subscribe(&opts()).unwrap();
        let (_, w) = counting_waker();
        assert!(poll_with(&mut sub, &w).is_pending()); // parks (takes the lock)
        let guard = ch.shared.lock();
        // Polled on another thread while this one holds the lock: it must answer at once.
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let pending = poll_with(&mut sub, &w).is_pending();
            tx.send(pending).unwrap();
            sub
        });
        let pending = rx.recv_timeout(Duration::from_secs(10));
        drop(guard);
        let mut sub = t.join().unwrap();
        assert_eq!(pending, Ok(true), "the second poll waited for the lock");
        // A different waker is registered through the lock, and still gets the event.
        let (count, w2) = counting_waker();
        assert!(poll_with(&mut sub, &w2).is_pending());
        publish(&ch, 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            poll_with(&mut sub, &w2).map(|r| r.map(|r| r.unwrap())),
            Poll::Ready(Some(ev(1).1))
        );
    }

    #[test]
    fn a_feed_that_takes_the_newest_event_parks_under_the_same_lock() {
        let ch = Channel::builder().build().unwrap();
        let mut sub = ch.subscribe(&opts()).unwrap();
        let (count, w) = counting_waker();
        publish(&ch, 1);
        publish(&ch, 2);
        // Not the newest: no waker is left behind for it.
        let got = poll_with(&mut sub, &w).map(|r| r.map(|r| r.unwrap()));
        assert_eq!(got, Poll::Ready(Some(ev(1).1)));
        assert!(ch.shared.lock().wakers[sub.slot].is_none());
        // The newest: the feed parks as it takes it.
        let got = poll_with(&mut sub, &w).map(|r| r.map(|r| r.unwrap()));
        assert_eq!(got, Poll::Ready(Some(ev(2).1)));
        assert!(ch.shared.lock().wakers[sub.slot].is_some());
        // So the poll that follows answers at once while another thread holds the lock.
        let guard = ch.shared.lock();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            tx.send(poll_with(&mut sub, &w).is_pending()).unwrap();
            sub
        });
        let pending = rx.recv_timeout(Duration::from_secs(10));
        drop(guard);
        let mut sub = t.join().unwrap();
        assert_eq!(
            pending,
            Ok(true),
            "the poll after the newest event took the lock"
        );
        // And the early registration is a real one: the next push wakes it, once.
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        publish(&ch, 3);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let (_, w2) = counting_waker();
        let got = poll_with(&mut sub, &w2).map(|r| r.map(|r| r.unwrap()));
        assert_eq!(got, Poll::Ready(Some(ev(3).1)));
        // Closed while it takes the newest event: it does not park, and ends next.
        publish(&ch, 4);
        ch.close(&[]);
        let got = poll_with(&mut sub, &w2).map(|r| r.map(|r| r.unwrap()));
        assert_eq!(got, Poll::Ready(Some(ev(4).1)));
        assert!(matches!(poll_with(&mut sub, &w2), Poll::Ready(None)));
    }

    #[test]
    fn a_parked_feed_is_woken_and_sees_each_publish_close_and_abort() {
        let ch = Channel::builder().build().unwrap();
        let mut a = ch.subscribe(&opts()).unwrap();
        let mut b = ch.subscribe(&opts()).unwrap();
        let (ca, wa) = counting_waker();
        let (cb, wb) = counting_waker();
        for n in 0..3 {
            assert!(poll_with(&mut a, &wa).is_pending());
            assert!(
                poll_with(&mut a, &wa).is_pending(),
                "repeat poll while parked"
            );
            publish(&ch, n);
            assert_eq!(ca.0.load(Ordering::SeqCst), n as usize + 1);
            let got = poll_with(&mut a, &wa).map(|r| r.map(|r| r.unwrap()));
            assert_eq!(got, Poll::Ready(Some(ev(n).1)), "event {n} after the wake");
        }
        assert!(poll_with(&mut a, &wa).is_pending());
        ch.close(&[]);
        assert_eq!(ca.0.load(Ordering::SeqCst), 4);
        // b parked long before, at an older epoch: it still gets every event, then the end.
        let got: Vec<Bytes> = std::iter::from_fn(|| match poll_with(&mut b, &wb) {
            Poll::Ready(Some(r)) => Some(r.unwrap()),
            _ => None,
        })
        .collect();
        assert_eq!(got, (0..3).map(|n| ev(n).1).collect::<Vec<_>>());
        assert!(matches!(poll_with(&mut a, &wa), Poll::Ready(None)));
        assert_eq!(cb.0.load(Ordering::SeqCst), 0);

        let ch = Channel::builder().build().unwrap();
        let mut c = ch.subscribe(&opts()).unwrap();
        let (cc, wc) = counting_waker();
        assert!(poll_with(&mut c, &wc).is_pending());
        assert!(poll_with(&mut c, &wc).is_pending());
        ch.abort();
        assert_eq!(cc.0.load(Ordering::SeqCst), 1);
        assert!(matches!(poll_with(&mut c, &wc), Poll::Ready(None)));
    }

    #[tokio::test]
    async fn idle_returns_when_the_last_subscriber_leaves() {
        let ch = Channel::builder().build().unwrap();
        let sub = ch.subscribe(&opts()).unwrap();
        let ch2 = ch.clone();
        let waiter = tokio::spawn(async move { ch2.idle().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(sub);
        waiter.await.unwrap();
    }

    #[test]
    fn zero_queue_depth_is_refused_when_building() {
        let err = Channel::builder().queue_depth(0).build().unwrap_err();
        assert!(err.is_invalid_config(), "{err:?}");
    }

    #[test]
    fn forward_to_backend_on_a_bare_channel_refuses_like_reject() {
        let ch = Channel::builder().build().unwrap();
        let err = ch
            .subscribe(
                opts()
                    .last_event_id(EventId::from_text("9"))
                    .unknown_id(UnknownId::ForwardToBackend),
            )
            .unwrap_err();
        assert!(err.is_unknown_id());
    }

    #[test]
    fn assigned_ids_are_written_by_the_encoder_without_an_allocation_per_event() {
        let ch = Channel::builder().assign_ids(true).build().unwrap();
        let f = Frame::from_static("data: a\n\n");
        let mut frames = Vec::new();
        for _ in 0..3 {
            let id = ch.publish(None, f.clone()).unwrap();
            frames.push(id);
        }
        let mut sub = ch
            .subscribe(opts().last_event_id(Some(frames[0].clone())))
            .unwrap();
        let got = drain(&mut sub);
        // Consecutive frames are carved from one encoder block.
        assert_eq!(got[1].as_ptr(), got[0][got[0].len()..].as_ptr());
        assert_eq!(got[0], format!("id: {}\ndata: a\n\n", frames[1]));
    }

    #[test]
    fn a_shared_resume_replays_up_to_its_first_live_event_and_skips_live_events_up_to_its_seam() {
        let ch = Channel::builder().build().unwrap();
        let at = |offset| Position { epoch: 7, offset };
        let shared = |n: u64| {
            let (frame, id) = Encoder::new()
                .replace_id(&at(n).to_string(), format!("data: {n}\n\n").as_bytes())
                .unwrap();
            (id, frame)
        };
        ch.set_shared_last(Some(at(2)));
        // Not in the in-process backlog, but of the shared form: pending.
        let attach = |id: &str| {
            ch.attach(
                EventId::from_text(id).as_ref(),
                None,
                None,
                &UnknownId::StartLive,
                true,
            )
            .unwrap()
        };
        let mut behind = attach("7-1");
        let mut ahead = attach("7-4");
        assert_eq!(behind.pending_shared(), Some(at(1)));
        // Nothing live yet: the replay ends at the channel's newest position.
        assert_eq!(behind.shared_upper(), Some(at(2)));
        for n in 3..=6 {
            let (id, frame) = shared(n);
            assert!(ch.publish_at(at(n), id, frame));
        }
        // A position already published is refused (an upstream repeating itself).
        let (id, frame) = shared(5);
        assert!(!ch.publish_at(at(5), id, frame));
        // With live events queued, the replay ends just before the first one.
        assert_eq!(behind.shared_upper(), Some(at(2)));
        behind.resolve_found(VecDeque::from([shared(2).1.into_bytes()]), None);
        let got: Vec<Bytes> = drain(&mut behind);
        let want: Vec<Bytes> = (2..=6).map(|n| shared(n).1.into_bytes()).collect();
        assert_eq!(got, want);
        // The client saw up to 4 on another node: 3 and 4 are skipped.
        ahead.resolve_found(VecDeque::new(), Some(at(4)));
        let got: Vec<Bytes> = drain(&mut ahead);
        let want: Vec<Bytes> = (5..=6).map(|n| shared(n).1.into_bytes()).collect();
        assert_eq!(got, want);
        // Unknown to the store: the reset event, then live.
        let mut lost = attach("7-0");
        lost.resolve_lost(Some(RESET_EVENT));
        let (id, frame) = shared(7);
        ch.publish_at(at(7), id, frame);
        assert_eq!(
            drain(&mut lost),
            [RESET_EVENT.into_bytes(), shared(7).1.into_bytes()]
        );
        assert_eq!(lost.replay(), Replay::Unknown);
    }

    #[test]
    fn departures_count_each_time_the_last_subscriber_leaves() {
        let ch = Channel::builder().build().unwrap();
        assert_eq!(ch.departures(), 0);
        let a = ch.subscribe(&opts()).unwrap();
        let b = ch.subscribe(&opts()).unwrap();
        drop(a);
        assert_eq!(ch.departures(), 0);
        drop(b);
        assert_eq!(ch.departures(), 1);
        drop(ch.subscribe(&opts()).unwrap());
        assert_eq!(ch.departures(), 2);
    }
}
