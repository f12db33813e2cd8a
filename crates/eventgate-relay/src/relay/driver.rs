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
use crate::shared::{Appended, BacklogKey, Position, Record, Replayed, StoreError};
use crate::upstream::{self, ClientInfo, UpstreamBody};

/// How long a channel leaves the shared backlog alone after a failed call.
pub(crate) const SHARED_RETRY: Duration = Duration::from_secs(1);

/// Most events appended in one store call.
const MAX_BATCH: usize = 256;

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
}

enum Tick<T> {
    Done(T),
    Closed,
    Heartbeat,
    Idle,
    LingerOver,
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
        }
    }

    pub(crate) async fn run(mut self) {
        let mut parser = self.inner.parser.build();
        let mut ever_live = false;
        if !self.warm_up().await {
            return;
        }
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
                    if !ever_live {
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
                    if !ever_live {
                        ever_live = true;
                        self.retire.ready.send_replace(ConnState::Live);
                    }
                    match self.pump(body, &mut parser).await {
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
        // Dropping `self` drops `retire`, which retires the channel.
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
            let tick = tokio::select! {
                biased;
                () = channel.closed() => Tick::Closed,
                out = &mut fut => Tick::Done(out),
                () = self.hb_sleep.as_mut(), if hb_on => Tick::Heartbeat,
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
            None => false,
            Some(Ok(head)) => {
                self.channel.set_shared_last(Some(head));
                true
            }
            Some(Err(_)) => {
                self.store_failed();
                true
            }
        }
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
                            && self.channel.contains(id)
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
