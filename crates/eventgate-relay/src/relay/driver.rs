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
use super::hub::{ChannelKey, ConnState};
use crate::backoff::Backoff;
use crate::budget::BudgetSlot;
use crate::channel::Channel;
use crate::error::{Error, Kind, Phase};
use crate::upstream::{self, ClientInfo, UpstreamBody};

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
        }
    }

    pub(crate) async fn run(mut self) {
        let mut parser = self.inner.parser.build();
        let mut ever_live = false;
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
                if !self.drain(parser, &mut resync, &mut events) {
                    break;
                }
            }
        }
        if events > 0 {
            self.backoff.reset();
        }
        Pumped::Ended
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
                    self.channel.publish(id, ev.to_frame());
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
