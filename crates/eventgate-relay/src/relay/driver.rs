//! The upstream driver: the task that owns one channel's upstream connection (connect,
//! parse, publish, reconnect with backoff) and its timers (heartbeats, linger).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use eventgate_sse::{EventId, Frame, Item, Parser};
use http::HeaderMap;
use http::Uri;
use http_body_util::BodyExt as _;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::Inner;
use super::builder::SharedConfig;
use super::hub::{ChannelKey, ConnState};
use crate::backoff::Backoff;
use crate::budget::BudgetSlot;
use crate::channel::Channel;
use crate::error::{Error, Kind, Phase};
use crate::shared::{Appended, BacklogKey, Position, Record, Replayed, StoreError, StoreTail};
use crate::upstream::{self, ClientInfo, UpstreamBody};

/// How long a channel leaves the shared backlog alone after a failed call.
pub(crate) const SHARED_RETRY: Duration = Duration::from_secs(1);

/// Most events appended in one store call (and read in one tail call).
const MAX_BATCH: usize = 256;

/// How long one tail read waits for new events before it asks again (so an epoch that
/// changed under a follower is noticed within it).
pub(crate) const TAIL_WAIT: Duration = Duration::from_secs(1);

/// Most tail reads of a takeover's catch-up (the events the old holder appended last).
const CATCH_UP_READS: usize = 64;

/// What one driver connects to.
pub(crate) struct Spec {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    /// For a dedicated (proxy) connection: the client, for `X-Forwarded-*`.
    pub(crate) forwarded: Option<ClientInfo>,
    pub(crate) heartbeat: Option<Duration>,
    /// The id the first connection sends as `Last-Event-ID`.
    pub(crate) last_id: Option<EventId>,
    pub(crate) linger: Duration,
    /// The channel's key in the shared backlog (fan-out channels of a relay that has one).
    pub(crate) shared: Option<BacklogKey>,
}

/// A driver's link to the shared backlog.
struct SharedLink {
    config: SharedConfig,
    key: BacklogKey,
    encoder: eventgate_sse::Encoder,
    /// After a failure: the store is left alone until then.
    down_until: Option<Instant>,
    /// Events were published that the store does not have: start a new epoch first.
    needs_reset: bool,
    /// Events waiting for their positions, as received.
    batch: Vec<(Option<EventId>, Frame)>,
    /// One upstream per channel across nodes (`RelayBuilder::shared_upstream`).
    lease: Option<LeaseLink>,
}

/// What a channel of a relay with a shared upstream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Reads the backend and appends to the shared history: as the lease holder, or alone
    /// while the store does not answer.
    Upstream,
    /// Follows the shared history another node's lease holder appends to.
    Follow,
}

/// A channel's upstream lease (one upstream per channel across nodes).
struct LeaseLink {
    ttl: Duration,
    holder: Arc<str>,
    /// This node holds the lease (as far as its last answer said).
    held: bool,
    role: Role,
    /// Set by a lease check that calls for the other role: the current one ends.
    switch_to: Option<Role>,
    /// Fires every third of the lease: renew it, or see whether it is free.
    sleep: Pin<Box<Sleep>>,
    /// A follower's reader (its own store connection), made when it starts following.
    tail: Option<Box<dyn StoreTail>>,
    /// Finds the upstream id of followed events (their frames are as the backend sent them).
    parser: Parser,
}

/// Runs a store call within the shared timeout.
async fn timed<T>(
    t: Duration,
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(t, fut)
        .await
        .unwrap_or(Err(StoreError::Timeout))
}

/// Takes the channel out of the hub and closes it when dropped: when the driver ends, and
/// also when it panics (the task's future is dropped while unwinding), so a failed driver
/// never leaves a channel that every later subscriber would join and wait on in vain.
pub(crate) struct Retire {
    inner: Arc<Inner>,
    channel: Channel,
    reg: u64,
    hub_key: Option<ChannelKey>,
    ready: watch::Sender<ConnState>,
    /// The subscription's budget unit, given back when the channel retires.
    _budget: Option<BudgetSlot>,
}

impl Retire {
    pub(crate) fn new(
        inner: Arc<Inner>,
        channel: Channel,
        reg: u64,
        hub_key: Option<ChannelKey>,
        ready: watch::Sender<ConnState>,
        budget: Option<BudgetSlot>,
    ) -> Retire {
        inner.metrics.channels_open.fetch_add(1, Ordering::Relaxed);
        Retire {
            inner,
            channel,
            reg,
            hub_key,
            ready,
            _budget: budget,
        }
    }
}

impl Drop for Retire {
    fn drop(&mut self) {
        {
            let mut hub = self.inner.hub();
            if let Some(key) = &self.hub_key
                && hub.fanout.get(key).is_some_and(|e| e.reg == self.reg)
            {
                hub.fanout.remove(key);
            }
            hub.all.remove(&self.reg);
            // Remaining subscribers end; they reconnect and replay elsewhere or later.
            self.channel.close(&[]);
        }
        self.inner
            .metrics
            .channels_open
            .fetch_sub(1, Ordering::Relaxed);
        // Wake anyone still waiting for the first connection.
        self.ready.send_if_modified(|s| {
            if matches!(s, ConnState::Connecting) {
                *s = ConnState::Failed(Kind::Closed);
                true
            } else {
                false
            }
        });
    }
}

/// The task that owns one channel's upstream connection.
pub(crate) struct Driver {
    inner: Arc<Inner>,
    channel: Channel,
    spec: Spec,
    backoff: Backoff,
    hb_sleep: Pin<Box<Sleep>>,
    last_out: Instant,
    linger_at: Option<Instant>,
    /// The channel's departure count when the linger started.
    departures: u64,
    retire: Retire,
    shared: Option<SharedLink>,
    /// The channel answered its first subscribers (live upstream, or following).
    ever_live: bool,
}

enum Tick<T> {
    Done(T),
    Closed,
    Heartbeat,
    Idle,
    LingerOver,
    Lease,
}

enum Pumped {
    /// The connection ended (EOF, error, idle timeout, parse failure).
    Ended,
    /// The channel must stop.
    Stop,
}

/// Far enough to never fire: the heartbeat timer's deadline when heartbeats are off.
const NEVER: Duration = Duration::from_secs(3600);

impl Driver {
    pub(crate) fn new(retire: Retire, spec: Spec) -> Driver {
        let inner = retire.inner.clone();
        let channel = retire.channel.clone();
        let c = &inner.config;
        let backoff = Backoff::new(c.backoff_initial, c.backoff_max);
        let now = Instant::now();
        let hb_sleep = Box::pin(tokio::time::sleep_until(
            now + spec.heartbeat.unwrap_or(NEVER),
        ));
        let shared = match (&spec.shared, &c.shared) {
            (Some(key), Some(config)) => Some(SharedLink {
                config: config.clone(),
                key: key.clone(),
                encoder: eventgate_sse::Encoder::new(),
                down_until: None,
                needs_reset: false,
                batch: Vec::new(),
                lease: config.lease.map(|ttl| LeaseLink {
                    ttl,
                    holder: config.holder.clone(),
                    held: false,
                    role: Role::Upstream,
                    switch_to: None,
                    sleep: Box::pin(tokio::time::sleep_until(now + ttl / 3)),
                    tail: None,
                    parser: Parser::builder().raw_frames(true).build(),
                }),
            }),
            _ => None,
        };
        Driver {
            inner,
            channel,
            spec,
            backoff,
            hb_sleep,
            last_out: now,
            linger_at: None,
            departures: 0,
            retire,
            shared,
            ever_live: false,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut parser = self.inner.parser.build();
        if !self.warm_up().await {
            return;
        }
        loop {
            if self.role() == Role::Follow {
                self.follow().await;
            } else {
                self.read_upstream(&mut parser).await;
            }
            // Each role ends when the channel stops, or when a lease check calls for the
            // other role.
            let Some(role) = self.lease_mut().and_then(|l| l.switch_to.take()) else {
                break;
            };
            if !self.switch(role).await {
                break;
            }
        }
        self.release_lease().await;
        // Dropping `self` drops `retire`, which retires the channel.
    }

    /// Reads the backend, reconnecting with backoff, until the channel stops (or the role
    /// changes).
    async fn read_upstream(&mut self, parser: &mut Parser) {
        loop {
            let attempt = self.connect();
            let Some(result) = self.guard(attempt).await else {
                break;
            };
            match result {
                Err(e) => {
                    self.inner
                        .metrics
                        .upstream_failures
                        .fetch_add(1, Ordering::Relaxed);
                    if !self.ever_live {
                        self.retire
                            .ready
                            .send_replace(ConnState::Failed(e.kind().clone()));
                        break;
                    }
                }
                Ok(body) => {
                    self.inner
                        .metrics
                        .upstream_connects
                        .fetch_add(1, Ordering::Relaxed);
                    self.mark_live();
                    match self.pump(body, parser).await {
                        Pumped::Stop => break,
                        Pumped::Ended => {
                            self.inner
                                .metrics
                                .upstream_failures
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            if let Some(r) = parser.retry() {
                self.backoff.set_retry(Some(r));
            }
            let delay = self.backoff.next_delay();
            if self.guard(tokio::time::sleep(delay)).await.is_none() {
                break;
            }
        }
    }

    /// The first subscribers may go: the channel is live.
    fn mark_live(&mut self) {
        if !self.ever_live {
            self.ever_live = true;
            self.retire.ready.send_replace(ConnState::Live);
        }
    }

    fn lease_mut(&mut self) -> Option<&mut LeaseLink> {
        self.shared.as_mut().and_then(|l| l.lease.as_mut())
    }

    fn role(&self) -> Role {
        self.shared
            .as_ref()
            .and_then(|l| l.lease.as_ref())
            .map_or(Role::Upstream, |l| l.role)
    }

    /// Takes or renews the lease (one store call); `None` when the store failed.
    async fn lease_call(&mut self) -> Option<bool> {
        let link = self.shared.as_ref()?;
        let lease = link.lease.as_ref()?;
        let answer = timed(
            link.config.timeout,
            link.config.store.lease(&link.key, &lease.holder, lease.ttl),
        )
        .await;
        let metrics = self.inner.metrics.clone();
        let lease = self.lease_mut()?;
        lease.sleep.as_mut().reset(Instant::now() + lease.ttl / 3);
        match answer {
            Ok(true) => {
                if !lease.held {
                    lease.held = true;
                    metrics.upstream_leases.fetch_add(1, Ordering::Relaxed);
                }
                Some(true)
            }
            Ok(false) => {
                lease.held = false;
                Some(false)
            }
            Err(_) => {
                metrics.shared_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// A third of the lease went by: renew it (holder), or see whether it is free
    /// (follower). True when the role must change (the current one ends).
    async fn lease_tick(&mut self) -> bool {
        let answer = self.lease_call().await;
        let Some(lease) = self.lease_mut() else {
            return false;
        };
        let next = match (lease.role, answer) {
            // Another node holds it: stop reading the backend, follow.
            (Role::Upstream, Some(false)) => Role::Follow,
            // Free (the holder died or left): take over. The store does not answer: read
            // the backend rather than wait on it.
            (Role::Follow, Some(true) | None) => Role::Upstream,
            _ => return false,
        };
        lease.switch_to = Some(next);
        true
    }

    /// Changes the channel's role. False: stop now.
    async fn switch(&mut self, role: Role) -> bool {
        let Some(lease) = self.lease_mut() else {
            return true;
        };
        lease.role = role;
        match role {
            Role::Follow => {
                if let Some(link) = self.shared.as_mut() {
                    // Events of a store call the switch cut short: the new holder reads
                    // them from the backend again (it resumes after the history's last id).
                    link.batch.clear();
                }
                if self.channel.shared_last().is_none() {
                    // This node published events the store may not have (it read the
                    // backend while the store failed): its subscribers cannot be sure
                    // they miss nothing between those and the history it now follows.
                    self.channel.publish_control(crate::channel::RESET_EVENT);
                }
                true
            }
            Role::Upstream => {
                if self.lease_mut().is_some_and(|l| l.held) {
                    self.catch_up().await
                } else {
                    // The store failed: read the backend alone, appending as without the
                    // setting (the events get positions again as soon as the store
                    // answers; an append that fails publishes them as received).
                    if let Some(l) = self.lease_mut() {
                        l.tail = None;
                    }
                    true
                }
            }
        }
    }

    /// A follower that took the lease: publishes what the old holder appended last, and
    /// resumes the backend after the last upstream id of the history. False: stop now.
    async fn catch_up(&mut self) -> bool {
        for _ in 0..CATCH_UP_READS {
            match self.tail_once(Duration::ZERO).await {
                None => return false,
                Some(Some(0)) | Some(None) => break,
                Some(Some(_)) => {}
            }
        }
        if let Some(l) = self.lease_mut() {
            l.tail = None;
        }
        true
    }

    /// Gives the lease back when the channel ends (not when the task is dropped: then it
    /// runs out by itself).
    async fn release_lease(&mut self) {
        let Some(link) = self.shared.as_ref() else {
            return;
        };
        let Some(lease) = link.lease.as_ref().filter(|l| l.held) else {
            return;
        };
        let _ = timed(
            link.config.timeout,
            link.config.store.release(&link.key, &lease.holder),
        )
        .await;
    }

    /// Follows the shared history until the channel stops or the role changes.
    async fn follow(&mut self) {
        self.mark_live();
        loop {
            match self.tail_once(TAIL_WAIT).await {
                None => return,
                Some(Some(_)) => {}
                Some(None) => {
                    // The store failed: read the backend alone.
                    if let Some(l) = self.lease_mut() {
                        l.switch_to = Some(Role::Upstream);
                    }
                    return;
                }
            }
        }
    }

    /// One tail read (waiting up to `wait`), its events published. `None`: stop now (or the
    /// role changes); `Some(None)`: the store failed; `Some(Some(n))`: `n` events.
    async fn tail_once(&mut self, wait: Duration) -> Option<Option<usize>> {
        let link = self.shared.as_mut()?;
        let (store, key, t) = (
            link.config.store.clone(),
            link.key.clone(),
            link.config.timeout,
        );
        let tail = link.lease.as_mut()?.tail.take();
        let tail = match tail {
            Some(tail) => tail,
            None => {
                let (store, key) = (store.clone(), key.clone());
                match self
                    .guard(async move { timed(t, store.tail(&key)).await })
                    .await?
                {
                    Ok(tail) => tail,
                    Err(_) => {
                        self.inner
                            .metrics
                            .shared_errors
                            .fetch_add(1, Ordering::Relaxed);
                        return Some(None);
                    }
                }
            }
        };
        let after = match self.channel.shared_last() {
            Some(p) => p,
            None => {
                let (store, key) = (store.clone(), key.clone());
                match self
                    .guard(async move { timed(t, store.head(&key)).await })
                    .await?
                {
                    Ok(head) => {
                        self.channel.set_shared_last(Some(head));
                        head
                    }
                    Err(_) => {
                        self.store_failed();
                        return Some(None);
                    }
                }
            }
        };
        let (tail, answer) = self
            .guard(async move {
                let mut tail = tail;
                let r = timed(wait + t, tail.next(after, MAX_BATCH, wait)).await;
                (tail, r)
            })
            .await?;
        if let Some(l) = self.lease_mut() {
            l.tail = Some(tail);
        }
        let metrics = self.inner.metrics.clone();
        match answer {
            Ok(Replayed::Events(events)) => {
                metrics.tail_reads.fetch_add(1, Ordering::Relaxed);
                let n = events.len();
                self.note_upstream_id(&events);
                for e in events {
                    let pos = Position {
                        epoch: after.epoch,
                        offset: e.offset,
                    };
                    if self.publish_at(pos, &e.frame) {
                        metrics.tailed_events.fetch_add(1, Ordering::Relaxed);
                        self.last_out = Instant::now();
                    }
                }
                Some(Some(n))
            }
            Ok(Replayed::Lost) => {
                metrics.tail_reads.fetch_add(1, Ordering::Relaxed);
                // The history after `after` is gone (a new epoch, or trimmed past this
                // follower): live subscribers get the reset event, never a silent gap,
                // and the channel follows from the start of the new epoch (or the head).
                let head = self
                    .guard(async move { timed(t, store.head(&key)).await })
                    .await?;
                match head {
                    Ok(head) => {
                        let from = if head.epoch == after.epoch {
                            head
                        } else {
                            Position {
                                epoch: head.epoch,
                                offset: 0,
                            }
                        };
                        self.channel.publish_control(crate::channel::RESET_EVENT);
                        self.channel.set_shared_last(Some(from));
                        Some(Some(0))
                    }
                    Err(_) => {
                        self.store_failed();
                        Some(None)
                    }
                }
            }
            Err(_) => {
                metrics.shared_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(l) = self.lease_mut() {
                    // Its connection may be broken: a new one next time.
                    l.tail = None;
                }
                Some(None)
            }
        }
    }

    /// Remembers the newest upstream id among followed events (the last one that has its
    /// own `id:`), the `Last-Event-ID` of a takeover.
    fn note_upstream_id(&mut self, events: &[crate::shared::Stored]) {
        let Some(lease) = self.shared.as_mut().and_then(|l| l.lease.as_mut()) else {
            return;
        };
        for e in events.iter().rev() {
            lease.parser.reset();
            lease.parser.feed(e.frame.clone());
            lease.parser.finish();
            let mut own = None;
            for item in lease.parser.by_ref() {
                if let Ok(Item::Event(ev)) = item
                    && let Some(id) = ev.id()
                {
                    own = Some(id);
                }
            }
            if own.is_some() {
                self.spec.last_id = own;
                return;
            }
        }
    }

    /// Under the hub lock: if the channel still has no subscriber, close it so nobody can
    /// join it any more. Returns true if it was closed.
    fn try_retire_idle(&mut self) -> bool {
        let hub = self.inner.hub();
        if self.channel.subscriber_count() > 0 {
            return false;
        }
        // Closing under the hub lock: a concurrent subscribe either attached before (count
        // > 0 above) or sees the channel closed and opens a new one.
        self.channel.close(&[]);
        drop(hub);
        true
    }

    fn connect(&self) -> impl Future<Output = Result<UpstreamBody, Error>> + Send + 'static {
        let req = upstream::build_request(
            &self.spec.uri,
            &self.spec.headers,
            self.spec.forwarded.as_ref(),
            &self.inner.config.static_headers,
            self.spec.last_id.as_ref(),
        );
        let upstream = self.inner.upstream.clone();
        let head_timeout = self.inner.config.response_timeout;
        async move {
            let req = req?;
            let resp = tokio::time::timeout(head_timeout, upstream.request(req))
                .await
                .map_err(|_| Error::timeout(Phase::ResponseHead))?
                .map_err(upstream::classify)?;
            upstream::check_response(&resp)?;
            Ok(resp.into_body())
        }
    }

    /// Runs `fut` while keeping the channel's housekeeping going: heartbeats on idle
    /// channels, linger after the last subscriber, stop on close. `None`: stop now.
    async fn guard<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            let channel = self.channel.clone();
            let linger_at = self.linger_at;
            let departures = self.departures;
            let hb_on = self.spec.heartbeat.is_some();
            let lease_sleep = self
                .shared
                .as_mut()
                .and_then(|l| l.lease.as_mut())
                .map(|l| l.sleep.as_mut());
            let lease_on = lease_sleep.is_some();
            let tick = tokio::select! {
                biased;
                () = channel.closed() => Tick::Closed,
                out = &mut fut => Tick::Done(out),
                () = self.hb_sleep.as_mut(), if hb_on => Tick::Heartbeat,
                () = async {
                    match lease_sleep {
                        Some(s) => s.await,
                        None => std::future::pending().await,
                    }
                }, if lease_on => Tick::Lease,
                tick = async {
                    match linger_at {
                        None => { channel.idle().await; Tick::Idle }
                        Some(at) => tokio::select! {
                            biased;
                            () = tokio::time::sleep_until(at) => Tick::LingerOver,
                            // Someone came and left again: the linger restarts.
                            () = channel.departed_since(departures) => Tick::Idle,
                        },
                    }
                } => tick,
            };
            match tick {
                Tick::Done(out) => return Some(out),
                Tick::Closed => return None,
                Tick::Lease => {
                    if self.lease_tick().await {
                        return None;
                    }
                }
                Tick::Heartbeat => {
                    let every = self.spec.heartbeat.unwrap_or(NEVER);
                    let now = Instant::now();
                    if now >= self.last_out + every {
                        self.channel.heartbeat();
                        self.last_out = now;
                    }
                    self.hb_sleep.as_mut().reset(self.last_out + every);
                }
                Tick::Idle => {
                    // The last subscriber just left (the channel reads no clock: this
                    // task does, as it wakes).
                    self.departures = self.channel.departures();
                    self.linger_at = Some(Instant::now() + self.spec.linger);
                }
                Tick::LingerOver => {
                    self.linger_at = None;
                    if self.channel.subscriber_count() == 0 {
                        if self.channel.departures() != self.departures {
                            // Left again just now: linger counts from the last departure.
                            self.departures = self.channel.departures();
                            self.linger_at = Some(Instant::now() + self.spec.linger);
                        } else if self.try_retire_idle() {
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// Reads one upstream response to its end, publishing its events.
    async fn pump(&mut self, mut body: UpstreamBody, parser: &mut Parser) -> Pumped {
        parser.reset();
        if let Some(id) = &self.spec.last_id {
            parser.set_last_event_id(id.as_str());
        }
        // After a reconnection the backend may send again events the channel already has:
        // drop those until the first new one.
        let mut resync = self.spec.last_id.is_some();
        let mut events = 0usize;
        let idle = self.inner.config.idle_timeout;
        loop {
            let next = async {
                match idle {
                    Some(t) => tokio::time::timeout(t, body.frame()).await.ok(),
                    None => Some(body.frame().await),
                }
            };
            let frame = match self.guard(next).await {
                None => return Pumped::Stop,
                // Idle timeout.
                Some(None) => break,
                Some(Some(None)) => {
                    parser.finish();
                    self.drain(parser, &mut resync, &mut events);
                    break;
                }
                Some(Some(Some(Err(_)))) => break,
                Some(Some(Some(Ok(frame)))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                parser.feed(data);
                let ok = self.drain(parser, &mut resync, &mut events);
                if !self.flush().await {
                    return Pumped::Stop;
                }
                if !ok {
                    break;
                }
            }
        }
        if !self.flush().await {
            return Pumped::Stop;
        }
        if events > 0 {
            self.backoff.reset();
        }
        Pumped::Ended
    }

    /// Reads the shared backlog's head before the first connection, so that the channel
    /// knows where its history stands. False: stop now.
    async fn warm_up(&mut self) -> bool {
        let Some(link) = &self.shared else {
            return true;
        };
        let (store, key, t) = (
            link.config.store.clone(),
            link.key.clone(),
            link.config.timeout,
        );
        let head = self
            .guard(async move { timed(t, store.head(&key)).await })
            .await;
        match head {
            None => return false,
            Some(Ok(head)) => {
                self.channel.set_shared_last(Some(head));
            }
            Some(Err(_)) => {
                self.store_failed();
            }
        }
        // With a shared upstream: read the backend if this node gets the lease (or the
        // store does not answer), follow the history if another node holds it.
        if self.lease_mut().is_some()
            && self.lease_call().await == Some(false)
            && let Some(l) = self.lease_mut()
        {
            l.role = Role::Follow;
        }
        true
    }

    /// A store call failed: leave the store alone for a while.
    fn store_failed(&mut self) {
        self.inner
            .metrics
            .shared_errors
            .fetch_add(1, Ordering::Relaxed);
        if let Some(link) = self.shared.as_mut() {
            link.down_until = Some(Instant::now() + SHARED_RETRY);
        }
        self.channel.set_shared_last(None);
    }

    /// Appends the batched events to the shared backlog and publishes them under the
    /// positions it gave (or, if it failed, as they came). False: stop now.
    async fn flush(&mut self) -> bool {
        loop {
            let Some(link) = self.shared.as_mut() else {
                return true;
            };
            if link.batch.is_empty() {
                return true;
            }
            let take = link.batch.len().min(MAX_BATCH);
            let events: Vec<(Option<EventId>, Frame)> = link.batch.drain(..take).collect();
            let records: Vec<Record> = events
                .iter()
                .map(|(id, frame)| Record {
                    upstream_id: id.clone(),
                    frame: frame.as_bytes().clone(),
                })
                .collect();
            let (store, key, t) = (
                link.config.store.clone(),
                link.key.clone(),
                link.config.timeout,
            );
            if link.needs_reset {
                let (store, key) = (store.clone(), key.clone());
                match self
                    .guard(async move { timed(t, store.reset(&key)).await })
                    .await
                {
                    None => return false,
                    Some(Ok(head)) => {
                        self.inner
                            .metrics
                            .shared_resets
                            .fetch_add(1, Ordering::Relaxed);
                        self.channel.set_shared_last(Some(head));
                        if let Some(link) = self.shared.as_mut() {
                            link.needs_reset = false;
                        }
                    }
                    Some(Err(_)) => {
                        self.store_failed();
                        self.publish_plain(events);
                        continue;
                    }
                }
            }
            let answer = self
                .guard(async move {
                    let r = timed(t, store.append(&key, &records)).await;
                    (records, r)
                })
                .await;
            let Some((records, answer)) = answer else {
                return false;
            };
            match answer {
                Ok(appended) if appended.len() == records.len() => {
                    if let Some(link) = self.shared.as_mut() {
                        link.down_until = None;
                    }
                    for (record, at) in records.into_iter().zip(appended) {
                        if !self.publish_appended(record, at).await {
                            return false;
                        }
                    }
                }
                Ok(_) | Err(_) => {
                    self.store_failed();
                    self.publish_plain(events);
                }
            }
        }
    }

    /// Publishes events the store does not have, as received, with the rest of the batch.
    fn publish_plain(&mut self, events: Vec<(Option<EventId>, Frame)>) {
        let rest = match self.shared.as_mut() {
            Some(link) => {
                link.needs_reset = true;
                std::mem::take(&mut link.batch)
            }
            None => Vec::new(),
        };
        for (id, frame) in events.into_iter().chain(rest) {
            self.channel.publish(id, frame);
        }
    }

    /// Publishes one appended record at its position, first filling the gap from the store
    /// when the store holds events this channel did not see (appended by another node).
    /// False: stop now.
    async fn publish_appended(&mut self, record: Record, at: Appended) -> bool {
        let metrics = self.inner.metrics.clone();
        if at.fresh {
            metrics.shared_appends.fetch_add(1, Ordering::Relaxed);
        }
        let pos = at.position;
        if let Some(last) = self.channel.shared_last()
            && last.epoch == pos.epoch
            && pos.offset > last.offset.saturating_add(1)
            && let Some(link) = &self.shared
            && pos.offset - last.offset - 1 <= link.config.replay_limit as u64
        {
            let (store, key, t) = (
                link.config.store.clone(),
                link.key.clone(),
                link.config.timeout,
            );
            let want = (pos.offset - last.offset - 1) as usize;
            let through = pos.offset - 1;
            let gap = self
                .guard(async move { timed(t, store.replay(&key, last, through, want)).await })
                .await;
            match gap {
                None => return false,
                Some(Ok(Replayed::Events(events))) => {
                    for e in events {
                        let p = Position {
                            epoch: pos.epoch,
                            offset: e.offset,
                        };
                        self.publish_at(p, &e.frame);
                    }
                }
                Some(Ok(Replayed::Lost)) => {}
                Some(Err(_)) => {
                    metrics.shared_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !self.publish_at(pos, &record.frame) {
            self.inner
                .metrics
                .duplicates_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// The event re-encoded with the id of its position, published there.
    fn publish_at(&mut self, pos: Position, frame: &[u8]) -> bool {
        let Some(link) = self.shared.as_mut() else {
            return false;
        };
        match link.encoder.replace_id(&pos.to_string(), frame) {
            Ok((frame, id)) => self.channel.publish_at(pos, id, frame),
            Err(_) => false,
        }
    }

    /// Publishes what the parser has; false if the parser failed (reconnect).
    fn drain(&mut self, parser: &mut Parser, resync: &mut bool, events: &mut usize) -> bool {
        let metrics = &self.inner.metrics;
        while let Some(item) = parser.next() {
            match item {
                Ok(Item::Event(ev)) => {
                    let id = ev.id();
                    if *resync {
                        if let Some(id) = &id
                            && self.channel.repeats(id, &ev)
                        {
                            metrics.duplicates_dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        *resync = false;
                    }
                    if id.is_some() {
                        self.spec.last_id.clone_from(&id);
                    }
                    // The raw frame as received when the parser kept it (no copy).
                    let frame = ev.to_frame();
                    if let Some(link) = self.shared.as_mut()
                        && link.down_until.is_none_or(|t| Instant::now() >= t)
                    {
                        // Published once the store gave it a position (`flush`).
                        link.batch.push((id, frame));
                        self.last_out = Instant::now();
                        *events += 1;
                        continue;
                    }
                    if let Some(link) = self.shared.as_mut() {
                        link.needs_reset = true;
                    }
                    self.channel.publish(id, frame);
                    self.last_out = Instant::now();
                    *events += 1;
                }
                Ok(Item::Retry(d)) => self.backoff.set_retry(Some(d)),
                Ok(Item::Comment(text)) => {
                    if self.inner.config.pass_comments {
                        self.channel.publish_control(Frame::comment(&text));
                        self.last_out = Instant::now();
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    if parser.is_failed() {
                        return false;
                    }
                }
            }
        }
        true
    }
}
