//! The relay: channels keyed by upstream (the hub), their upstream drivers, delivery modes
//! and graceful shutdown.
//!
//! - `builder.rs`: [`RelayBuilder`], the relay-wide settings and their checks;
//! - `hub.rs`: open channels, fan-out keys, first-connection readiness;
//! - `driver.rs`: the task per channel that connects, parses, publishes, reconnects, sends
//!   heartbeats and ends a lingering channel.

mod builder;
mod driver;
mod hub;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use eventgate_sse::{Frame, ParserBuilder};
use http::{Response, Uri};
use tokio::sync::watch;

pub use builder::{
    DEFAULT_HEARTBEAT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LINGER, DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_UPSTREAM_EVENT_LEN, DEFAULT_MAX_UPSTREAM_LINE_LEN, DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_SHARED_TIMEOUT, DEFAULT_SHUTDOWN_RETRY, DEFAULT_UPSTREAM_LEASE, RelayBuilder,
};

use builder::{Config, SharedConfig};
use driver::{Driver, Retire, Spec};
use hub::{ChannelSettings, ConnState, Hub, HubEntry, wait_ready};

use crate::budget::{BudgetSlot, ChannelBudget};
use crate::channel::{Channel, Feed};
use crate::error::{Error, Kind, Phase};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::shared::{BacklogKey, Position, Replayed};
use crate::subscribe::{SubscribeOptions, UnknownId};
use crate::upstream::{Upstream, normalize_uri};

/// The comment sent to every subscriber when the relay shuts down (before a `retry:` hint).
pub const SHUTDOWN_COMMENT: Frame = Frame::from_static(": eventgate: shutting down\n\n");

/// How clients of a topic reach the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// One upstream connection per channel key (normalised endpoint, backend path and
    /// query, and channel settings), shared by every client; opened on the first
    /// subscriber, closed a linger after the last. This is the default.
    #[default]
    Fanout,
    /// One upstream connection per client, carrying the subscriber's
    /// [`upstream_headers`](crate::SubscribeOptions::upstream_headers), `X-Forwarded-*` and
    /// its `Last-Event-ID`: for backends whose answer depends on the client.
    Proxy,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) parser: ParserBuilder,
    pub(crate) upstream: Arc<dyn Upstream>,
    pub(crate) hub: Mutex<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) next_reg: AtomicU64,
}

impl Inner {
    pub(crate) fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An SSE relay: subscribe clients to upstream streams.
///
/// Cloning is cheap; clones share channels. Needs a tokio runtime (it spawns one task per
/// upstream connection).
///
/// ```no_run
/// use eventgate_relay::{Relay, SubscribeOptions};
/// # async fn demo() -> Result<(), eventgate_relay::Error> {
/// let relay = Relay::builder().build()?;
/// let uri = "http://127.0.0.1:9000/ticks".parse().unwrap();
/// let feed = relay.subscribe(uri, &SubscribeOptions::new()).await?;
/// let response = eventgate_relay::sse_response(feed); // an http::Response for hyper
/// # let _ = response; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

/// Wraps a feed in an `http::Response` with the SSE headers of
/// [`eventgate_sse::response`] (`Content-Type: text/event-stream`, `Cache-Control:
/// no-cache`, `X-Accel-Buffering: no`).
pub fn sse_response(feed: Feed) -> Response<Feed> {
    eventgate_sse::response(feed)
}

impl Relay {
    /// A builder with the defaults.
    pub fn builder() -> RelayBuilder {
        RelayBuilder::new()
    }

    /// A copy of the counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self.inner.metrics.snapshot();
        m.channels_open = self.inner.hub().all.len() as u64;
        m
    }

    /// Number of fan-out channels open.
    pub fn fanout_channels(&self) -> usize {
        self.inner.hub().fanout.len()
    }

    /// Subscribes a client to the upstream at `uri` (absolute `http` or `https`): attaches
    /// it to the channel for that upstream and its channel settings (opening the channel and
    /// its upstream connection if needed) and returns its feed of frames.
    ///
    /// When this call opens a channel, it waits for the upstream's response head, so a
    /// backend that is down or answers wrongly is reported here (see
    /// [`Error::suggested_status`]) instead of as an empty stream. A client joining a channel
    /// that is already live (or reconnecting) attaches at once.
    ///
    /// # Errors
    /// [`Error::is_invalid_request`] for a URI that is not absolute `http`/`https` or a zero
    /// heartbeat; [`Error::is_shutdown`] after [`Relay::shutdown`] began;
    /// [`Error::is_channel_limit`] when opening a channel would cross
    /// [`RelayBuilder::max_channels`]; [`Error::is_unknown_id`] with
    /// [`UnknownId::Reject`]; upstream errors ([`Error::is_upstream`]) when the first
    /// connection of a new channel fails.
    pub async fn subscribe(&self, uri: Uri, opts: &SubscribeOptions) -> Result<Feed, Error> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(Error::new(Kind::Shutdown));
        }
        let settings = self.settings(&uri, opts)?;
        match opts.mode.unwrap_or(self.inner.config.mode) {
            Mode::Proxy => self.open_proxy(settings, opts).await,
            Mode::Fanout => self.join_fanout(settings, opts).await,
        }
    }

    /// The [`BacklogKey`] of the fan-out channel [`Relay::subscribe`] would attach `opts` to
    /// for `uri`: the name of its history in a shared backlog, the same on every node with
    /// the same settings.
    ///
    /// ```
    /// use eventgate_relay::{Relay, SubscribeOptions};
    ///
    /// let relay = Relay::builder().build()?;
    /// let uri = "http://Backend:9000/ticks".parse().unwrap();
    /// let key = relay.backlog_key(&uri, &SubscribeOptions::new())?;
    /// assert_eq!(key.as_str(), "http://backend:9000/ticks");
    /// # Ok::<(), eventgate_relay::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::is_invalid_request`] as [`Relay::subscribe`].
    pub fn backlog_key(&self, uri: &Uri, opts: &SubscribeOptions) -> Result<BacklogKey, Error> {
        Ok(self.settings(uri, opts)?.backlog_key())
    }

    fn settings(&self, uri: &Uri, opts: &SubscribeOptions) -> Result<ChannelSettings, Error> {
        let c = &self.inner.config;
        let heartbeat = opts.heartbeat.unwrap_or(c.heartbeat);
        if heartbeat == Some(Duration::ZERO) {
            return Err(Error::new(Kind::InvalidRequest(
                "heartbeat interval must not be zero",
            )));
        }
        Ok(ChannelSettings {
            uri: normalize_uri(uri)?,
            headers: opts.upstream_headers.clone(),
            heartbeat,
            backlog: opts.backlog.unwrap_or(c.channel.backlog_bounds()),
        })
    }

    fn new_channel(&self, settings: &ChannelSettings) -> Result<Channel, Error> {
        self.inner
            .config
            .channel
            .clone()
            .backlog_events(settings.backlog.0)
            .backlog_bytes(settings.backlog.1)
            .metrics(self.inner.metrics.clone())
            .build_for(&settings.backlog_key())
    }

    /// Registers a new channel under the hub lock, within the relay's channel bound and the
    /// subscription's budget (whose unit the returned slot holds until the channel retires).
    fn register(
        &self,
        hub: &mut Hub,
        channel: &Channel,
        budget: Option<&ChannelBudget>,
    ) -> Result<(u64, Option<BudgetSlot>), Error> {
        // Checked under the hub lock: `shutdown` closes every channel it finds there.
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(Error::new(Kind::Shutdown));
        }
        let refused = || {
            self.inner
                .metrics
                .channels_refused
                .fetch_add(1, Ordering::Relaxed);
            Error::new(Kind::ChannelLimit)
        };
        if hub.all.len() >= self.inner.config.max_channels {
            return Err(refused());
        }
        let slot = match budget {
            Some(b) => Some(b.try_take().ok_or_else(refused)?),
            None => None,
        };
        let reg = self.inner.next_reg.fetch_add(1, Ordering::Relaxed);
        hub.all.insert(reg, channel.clone());
        Ok((reg, slot))
    }

    fn retry_hint(&self, opts: &SubscribeOptions) -> Option<Duration> {
        opts.retry_hint.unwrap_or(self.inner.config.retry_hint)
    }

    /// A dedicated channel and upstream connection for one subscriber; it forwards the
    /// subscriber's `Last-Event-ID` to the backend.
    async fn open_proxy(
        &self,
        settings: ChannelSettings,
        opts: &SubscribeOptions,
    ) -> Result<Feed, Error> {
        let channel = self.new_channel(&settings)?;
        let feed = channel.attach(
            None,
            opts.gate.as_ref(),
            self.retry_hint(opts),
            &UnknownId::StartLive,
            false,
        )?;
        let (tx, rx) = watch::channel(ConnState::Connecting);
        let (reg, slot) = self.register(&mut self.inner.hub(), &channel, opts.budget.as_ref())?;
        let retire = Retire::new(self.inner.clone(), channel, reg, None, tx, slot);
        let spec = Spec {
            uri: settings.uri,
            headers: settings.headers,
            forwarded: Some(opts.client.clone()),
            heartbeat: settings.heartbeat,
            last_id: opts.last_event_id.clone(),
            linger: Duration::ZERO,
            shared: None,
        };
        tokio::spawn(Driver::new(retire, spec).run());
        wait_ready(rx).await?;
        Ok(feed)
    }

    async fn join_fanout(
        &self,
        settings: ChannelSettings,
        opts: &SubscribeOptions,
    ) -> Result<Feed, Error> {
        let key = settings.key();
        let shared = self.inner.config.shared.as_ref();
        let unknown_id = opts
            .unknown_id
            .as_ref()
            .unwrap_or(&self.inner.config.unknown_id);
        let attached = {
            let mut hub = self.inner.hub();
            if self.inner.shutting_down.load(Ordering::Acquire) {
                return Err(Error::new(Kind::Shutdown));
            }
            let entry = match hub.fanout.get(&key) {
                Some(e) if !e.channel.is_closed() => e.clone(),
                _ => {
                    let channel = self.new_channel(&settings)?;
                    let (reg, slot) = self.register(&mut hub, &channel, opts.budget.as_ref())?;
                    let (tx, rx) = watch::channel(ConnState::Connecting);
                    let entry = HubEntry {
                        reg,
                        channel: channel.clone(),
                        ready: rx,
                    };
                    hub.fanout.insert(key.clone(), entry.clone());
                    let retire = Retire::new(self.inner.clone(), channel, reg, Some(key), tx, slot);
                    let spec = Spec {
                        uri: settings.uri.clone(),
                        headers: settings.headers.clone(),
                        forwarded: None,
                        heartbeat: settings.heartbeat,
                        last_id: None,
                        linger: self.inner.config.linger,
                        shared: shared.map(|_| settings.backlog_key()),
                    };
                    tokio::spawn(Driver::new(retire, spec).run());
                    entry
                }
            };
            entry
                .channel
                .attach(
                    opts.last_event_id.as_ref(),
                    opts.gate.as_ref(),
                    self.retry_hint(opts),
                    unknown_id,
                    shared.is_some(),
                )
                .map(|s| (s, entry.ready))
        };
        match attached {
            Ok((mut feed, ready)) => {
                wait_ready(ready).await?;
                match (shared, feed.pending_shared()) {
                    (Some(shared), Some(after)) => {
                        let found = self
                            .shared_replay(shared, &settings.backlog_key(), &mut feed, after)
                            .await;
                        if found {
                            return Ok(feed);
                        }
                        let notice = match unknown_id {
                            UnknownId::StartLive => Some(crate::channel::RESET_EVENT),
                            UnknownId::StartLiveWith(f) => f.clone(),
                            UnknownId::Reject => {
                                feed.resolve_lost(None);
                                return Err(Error::new(Kind::UnknownId));
                            }
                            UnknownId::ForwardToBackend => {
                                feed.resolve_lost(None);
                                drop(feed);
                                return self.open_proxy(settings, opts).await;
                            }
                        };
                        feed.resolve_lost(notice);
                        Ok(feed)
                    }
                    _ => Ok(feed),
                }
            }
            Err(e) if e.is_unknown_id() && matches!(unknown_id, UnknownId::ForwardToBackend) => {
                self.open_proxy(settings, opts).await
            }
            Err(e) => Err(e),
        }
    }

    /// Answers a feed's resume from the shared backlog: the events after `after` up to the
    /// feed's first live event. False (the feed untouched) if the store does not have them
    /// (another epoch, trimmed, too many, or the store failed).
    async fn shared_replay(
        &self,
        shared: &SharedConfig,
        key: &BacklogKey,
        feed: &mut Feed,
        after: Position,
    ) -> bool {
        let metrics = &self.inner.metrics;
        let Some(upper) = feed.shared_upper() else {
            return false;
        };
        if upper.epoch != after.epoch {
            return false;
        }
        let store = &shared.store;
        if after.offset == upper.offset {
            feed.resolve_found(std::collections::VecDeque::new(), None);
            return true;
        }
        if after.offset > upper.offset {
            // The client is ahead of this node's channel (another node saw more already):
            // nothing to replay, skip live events up to its position, if the store has it.
            let head = tokio::time::timeout(shared.timeout, store.head(key)).await;
            return match head {
                Ok(Ok(head)) if head.epoch == after.epoch && head.offset >= after.offset => {
                    feed.resolve_found(std::collections::VecDeque::new(), Some(after));
                    true
                }
                Ok(Ok(_)) => false,
                Ok(Err(_)) | Err(_) => {
                    metrics.shared_errors.fetch_add(1, Ordering::Relaxed);
                    false
                }
            };
        }
        let want = upper.offset - after.offset;
        if want > shared.replay_limit as u64 {
            return false;
        }
        metrics.shared_replays.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(
            shared.timeout,
            store.replay(key, after, upper.offset, want as usize),
        )
        .await;
        let events = match answer {
            Ok(Ok(Replayed::Events(events))) => events,
            Ok(Ok(Replayed::Lost)) => return false,
            Ok(Err(_)) | Err(_) => {
                metrics.shared_errors.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        // Exactly the offsets after..=upper, in order, or nothing (a trimmed history).
        let contiguous = events.len() as u64 == want
            && events
                .iter()
                .zip(after.offset + 1..)
                .all(|(e, want)| e.offset == want);
        if !contiguous {
            return false;
        }
        let mut encoder = eventgate_sse::Encoder::new();
        let mut frames = std::collections::VecDeque::with_capacity(events.len());
        for e in &events {
            let pos = Position {
                epoch: after.epoch,
                offset: e.offset,
            };
            match encoder.replace_id(&pos.to_string(), &e.frame) {
                Ok((frame, _)) => frames.push_back(frame.into_bytes()),
                Err(_) => return false,
            }
        }
        feed.resolve_found(frames, None);
        true
    }

    /// Graceful shutdown: refuses new subscribers, sends every subscriber the
    /// [`SHUTDOWN_COMMENT`] and a `retry:` hint after what it has not read yet, closes the
    /// upstream connections, and waits until every subscriber has ended. After `deadline`
    /// the remaining subscribers are ended without their pending frames and the error
    /// says so ([`Error::is_shutdown`] and [`Error::is_timeout`]).
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), Error> {
        {
            // Under the hub lock, so a subscribe either registered its channel already (and
            // is closed below) or sees the flag.
            let _hub = self.inner.hub();
            self.inner.shutting_down.store(true, Ordering::Release);
        }
        let finals = [
            SHUTDOWN_COMMENT,
            Frame::retry(self.inner.config.shutdown_retry),
        ];
        let channels: Vec<Channel> = self.inner.hub().all.values().cloned().collect();
        for ch in &channels {
            ch.close(&finals);
        }
        let all_idle = async {
            for ch in &channels {
                ch.idle().await;
            }
        };
        match tokio::time::timeout(deadline, all_idle).await {
            Ok(()) => Ok(()),
            Err(_) => {
                for ch in &channels {
                    ch.abort();
                }
                Err(Error::timeout(Phase::Shutdown))
            }
        }
    }
}
