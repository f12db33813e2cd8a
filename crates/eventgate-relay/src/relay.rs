//! The relay: channels keyed by upstream, their upstream drivers (connect, parse, publish,
//! reconnect with backoff), delivery modes, heartbeats, linger and graceful shutdown.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use eventgate_sse::{Item, Parser};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, Uri};
use http_body_util::BodyExt as _;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::backlog::{Backlog, DEFAULT_BACKLOG_BYTES, DEFAULT_BACKLOG_EVENTS, MemoryBacklog};
use crate::backoff::{Backoff, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX};
use crate::channel::{
    Channel, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_DEPTH, SubscribeOptions, Subscription, UnknownId,
};
use crate::error::{Error, Kind, Phase};
use crate::id::EventId;
use crate::meter::Meter;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::upstream::{
    self, ClientInfo, DEFAULT_CONNECT_TIMEOUT, HttpTransport, Transport, UpstreamBody,
};

/// Default time to wait for the upstream's response head.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time an upstream stream may stay silent before it is considered dead and
/// reconnected (backends should send comments more often than this).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default interval of heartbeat comments on an idle channel.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Default time a fan-out channel stays open after its last subscriber left.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(30);
/// Default `retry:` sent to subscribers when the relay shuts down.
pub const DEFAULT_SHUTDOWN_RETRY: Duration = Duration::from_secs(2);
/// The comment sent to every subscriber when the relay shuts down.
pub const SHUTDOWN_COMMENT: &[u8] = b": eventgate: shutting down\n\n";

/// How clients of a topic reach the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// One upstream connection per (endpoint, backend path, query), shared by every client;
    /// opened on the first subscriber, closed a linger after the last. Client headers are
    /// not forwarded (the stream is shared). This is the default.
    #[default]
    Fanout,
    /// One upstream connection per client, carrying the client's headers (minus hop-by-hop
    /// ones) and its `Last-Event-ID`: for backends whose answer depends on the client.
    Proxy,
}

/// What a fan-out channel does with a `Last-Event-ID` that is not in its backlog (unknown,
/// or older than what the backlog keeps).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum OnUnknownId {
    /// Start live after sending [`RESET_EVENT`](crate::RESET_EVENT). The default.
    #[default]
    StartLive,
    /// Start live after sending this frame (or nothing).
    StartLiveWith(Option<Bytes>),
    /// Open a dedicated upstream connection for this client (proxy mode) that forwards its
    /// `Last-Event-ID` to the backend, so a backend that keeps history can replay.
    ForwardToBackend,
}

type BacklogFactory = Arc<dyn Fn() -> Box<dyn Backlog> + Send + Sync>;

#[derive(Clone)]
struct Config {
    mode: Mode,
    backlog_events: usize,
    backlog_bytes: usize,
    backlog_factory: Option<BacklogFactory>,
    queue_depth: usize,
    queue_bytes: usize,
    assign_ids: bool,
    heartbeat: Option<Duration>,
    retry_hint: Option<Duration>,
    pass_comments: bool,
    on_unknown: OnUnknownId,
    linger: Duration,
    connect_timeout: Duration,
    response_timeout: Duration,
    idle_timeout: Option<Duration>,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_line_len: usize,
    max_event_len: usize,
    static_headers: HeaderMap,
    shutdown_retry: Duration,
    h2c: bool,
    extra_roots: Vec<Vec<u8>>,
}

/// Builds a [`Relay`]. Every setting has a documented default.
#[must_use]
pub struct RelayBuilder {
    config: Config,
    transport: Option<Arc<dyn Transport>>,
}

impl fmt::Debug for RelayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayBuilder")
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

impl Default for RelayBuilder {
    fn default() -> RelayBuilder {
        RelayBuilder::new()
    }
}

impl RelayBuilder {
    /// A builder with the defaults.
    pub fn new() -> RelayBuilder {
        RelayBuilder {
            config: Config {
                mode: Mode::Fanout,
                backlog_events: DEFAULT_BACKLOG_EVENTS,
                backlog_bytes: DEFAULT_BACKLOG_BYTES,
                backlog_factory: None,
                queue_depth: DEFAULT_QUEUE_DEPTH,
                queue_bytes: DEFAULT_QUEUE_BYTES,
                assign_ids: false,
                heartbeat: Some(DEFAULT_HEARTBEAT),
                retry_hint: None,
                pass_comments: false,
                on_unknown: OnUnknownId::StartLive,
                linger: DEFAULT_LINGER,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                response_timeout: DEFAULT_RESPONSE_TIMEOUT,
                idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
                backoff_initial: DEFAULT_BACKOFF_INITIAL,
                backoff_max: DEFAULT_BACKOFF_MAX,
                max_line_len: 1024 * 1024,
                max_event_len: 4 * 1024 * 1024,
                static_headers: HeaderMap::new(),
                shutdown_retry: DEFAULT_SHUTDOWN_RETRY,
                h2c: false,
                extra_roots: Vec::new(),
            },
            transport: None,
        }
    }

    /// The delivery mode used when a request does not choose one. Default is
    /// [`Mode::Fanout`].
    pub fn mode(mut self, mode: Mode) -> RelayBuilder {
        self.config.mode = mode;
        self
    }

    /// Events kept per channel for replay. Default is [`DEFAULT_BACKLOG_EVENTS`].
    pub fn backlog_events(mut self, n: usize) -> RelayBuilder {
        self.config.backlog_events = n;
        self
    }

    /// Frame bytes kept per channel for replay. Default is [`DEFAULT_BACKLOG_BYTES`].
    pub fn backlog_bytes(mut self, n: usize) -> RelayBuilder {
        self.config.backlog_bytes = n;
        self
    }

    /// Makes each channel's backlog with `factory` instead of a [`MemoryBacklog`] (e.g. a
    /// shared store). Default is none.
    pub fn backlog_factory(
        mut self,
        factory: impl Fn() -> Box<dyn Backlog> + Send + Sync + 'static,
    ) -> RelayBuilder {
        self.config.backlog_factory = Some(Arc::new(factory));
        self
    }

    /// How many frames a subscriber may fall behind before it is cut off. Default is
    /// [`DEFAULT_QUEUE_DEPTH`].
    ///
    /// # Panics
    /// If `depth` is zero.
    pub fn queue_depth(mut self, depth: usize) -> RelayBuilder {
        assert!(depth > 0, "queue depth must be at least 1");
        self.config.queue_depth = depth;
        self
    }

    /// Frame bytes of the live ring per channel. Default is [`DEFAULT_QUEUE_BYTES`].
    pub fn queue_bytes(mut self, bytes: usize) -> RelayBuilder {
        self.config.queue_bytes = bytes;
        self
    }

    /// Assign ids to events the backend sends without one. Default is off.
    pub fn assign_ids(mut self, on: bool) -> RelayBuilder {
        self.config.assign_ids = on;
        self
    }

    /// Heartbeat comment interval on idle channels (`None`: no heartbeats). Default is
    /// [`DEFAULT_HEARTBEAT`].
    pub fn heartbeat(mut self, every: Option<Duration>) -> RelayBuilder {
        self.config.heartbeat = every;
        self
    }

    /// `retry:` hint sent to each subscriber first. Default is none.
    pub fn retry_hint(mut self, retry: Option<Duration>) -> RelayBuilder {
        self.config.retry_hint = retry;
        self
    }

    /// Pass the upstream's comments to subscribers. Default is off (the relay sends its own
    /// heartbeats).
    pub fn pass_comments(mut self, on: bool) -> RelayBuilder {
        self.config.pass_comments = on;
        self
    }

    /// What to do with a `Last-Event-ID` not in the backlog. Default is
    /// [`OnUnknownId::StartLive`].
    pub fn on_unknown_id(mut self, policy: OnUnknownId) -> RelayBuilder {
        self.config.on_unknown = policy;
        self
    }

    /// How long a fan-out channel (and its upstream connection and backlog) stays after its
    /// last subscriber left. Default is [`DEFAULT_LINGER`].
    pub fn linger(mut self, linger: Duration) -> RelayBuilder {
        self.config.linger = linger;
        self
    }

    /// TCP+TLS connect timeout of the default transport. Default is
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, t: Duration) -> RelayBuilder {
        self.config.connect_timeout = t;
        self
    }

    /// Time to wait for the upstream's response head (connecting included). Default is
    /// [`DEFAULT_RESPONSE_TIMEOUT`].
    pub fn response_timeout(mut self, t: Duration) -> RelayBuilder {
        self.config.response_timeout = t;
        self
    }

    /// Silence after which an upstream stream is reconnected (`None`: never). Default is
    /// [`DEFAULT_IDLE_TIMEOUT`].
    pub fn idle_timeout(mut self, t: Option<Duration>) -> RelayBuilder {
        self.config.idle_timeout = t;
        self
    }

    /// Reconnection backoff: first delay and cap (see [`Backoff`]). Defaults are
    /// [`DEFAULT_BACKOFF_INITIAL`] and [`DEFAULT_BACKOFF_MAX`].
    pub fn backoff(mut self, initial: Duration, max: Duration) -> RelayBuilder {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max;
        self
    }

    /// Parser limits for upstream streams: longest line and largest event, in bytes; an
    /// upstream crossing them is disconnected and reconnected. Defaults are 1 MiB and 4 MiB.
    pub fn max_event_size(mut self, line: usize, event: usize) -> RelayBuilder {
        self.config.max_line_len = line;
        self.config.max_event_len = event;
        self
    }

    /// A header sent on every upstream request (e.g. a backend credential). Default is none.
    pub fn upstream_header(mut self, name: HeaderName, value: HeaderValue) -> RelayBuilder {
        self.config.static_headers.insert(name, value);
        self
    }

    /// The `retry:` sent to subscribers on shutdown. Default is [`DEFAULT_SHUTDOWN_RETRY`].
    pub fn shutdown_retry(mut self, retry: Duration) -> RelayBuilder {
        self.config.shutdown_retry = retry;
        self
    }

    /// Speak HTTP/2 to `http://` upstreams too (prior knowledge, h2c). Default is off
    /// (HTTP/1.1 over plain `http`, ALPN over `https`). Ignored with [`RelayBuilder::transport`].
    pub fn upstream_h2c(mut self, on: bool) -> RelayBuilder {
        self.config.h2c = on;
        self
    }

    /// Trust this root certificate (DER) for `https` upstreams, besides the Mozilla roots
    /// (e.g. a private CA). Default is none. Ignored with [`RelayBuilder::transport`] and
    /// without the `tls` feature; [`RelayBuilder::build`] fails if it is not a certificate.
    pub fn add_root_certificate(mut self, der: Vec<u8>) -> RelayBuilder {
        self.config.extra_roots.push(der);
        self
    }

    /// Use this transport instead of [`HttpTransport`]. Default is an [`HttpTransport`]
    /// with the connect timeout above.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> RelayBuilder {
        self.transport = Some(transport);
        self
    }

    /// Builds the relay. Fails only if the default transport's TLS setup fails (an invalid
    /// root certificate).
    pub fn build(self) -> Result<Relay, Error> {
        let transport = match self.transport {
            Some(t) => t,
            None => Arc::new(HttpTransport::with_options(
                self.config.connect_timeout,
                self.config.h2c,
                &self.config.extra_roots,
            )?),
        };
        Ok(Relay {
            inner: Arc::new(Inner {
                config: self.config,
                transport,
                hub: Mutex::new(Hub::default()),
                metrics: Arc::new(Metrics::default()),
                shutting_down: AtomicBool::new(false),
                next_reg: AtomicU64::new(1),
            }),
        })
    }
}

#[derive(Default)]
struct Hub {
    /// Fan-out channels by upstream URI.
    fanout: HashMap<String, HubEntry>,
    /// Every open channel (fan-out and proxy), for shutdown.
    all: HashMap<u64, Channel>,
}

#[derive(Clone)]
struct HubEntry {
    reg: u64,
    channel: Channel,
    ready: watch::Receiver<ConnState>,
}

#[derive(Clone, Debug)]
enum ConnState {
    Connecting,
    Live,
    Failed(Kind),
}

struct Inner {
    config: Config,
    transport: Arc<dyn Transport>,
    hub: Mutex<Hub>,
    metrics: Arc<Metrics>,
    shutting_down: AtomicBool,
    next_reg: AtomicU64,
}

impl Inner {
    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An SSE relay: subscribe clients to upstream streams.
///
/// Cloning is cheap; clones share channels. Needs a tokio runtime (it spawns one task per
/// upstream connection).
///
/// ```no_run
/// use eventgate_relay::{Relay, SubscribeRequest};
/// # async fn demo() -> Result<(), eventgate_relay::Error> {
/// let relay = Relay::builder().build()?;
/// let sub = relay
///     .subscribe(SubscribeRequest::new("http://127.0.0.1:9000/ticks".parse().unwrap()))
///     .await?;
/// let response = eventgate_relay::sse_response(sub); // an http::Response for hyper
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

/// One client's subscription request; see [`Relay::subscribe`].
#[must_use]
pub struct SubscribeRequest {
    uri: Uri,
    mode: Option<Mode>,
    headers: Option<HeaderMap>,
    client: ClientInfo,
    last_event_id: Option<EventId>,
    meter: Option<Arc<dyn Meter>>,
}

impl fmt::Debug for SubscribeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeRequest")
            .field("mode", &self.mode)
            .field("last_event_id", &self.last_event_id)
            .finish_non_exhaustive()
    }
}

impl SubscribeRequest {
    /// A request for the upstream at `uri` (absolute `http` or `https` URI).
    pub fn new(uri: Uri) -> SubscribeRequest {
        SubscribeRequest {
            uri,
            mode: None,
            headers: None,
            client: ClientInfo::default(),
            last_event_id: None,
            meter: None,
        }
    }

    /// A request relaying `parts` (the client's request head) to `upstream_base` with the
    /// client's path and query appended, its headers kept for proxy mode, and its
    /// `Last-Event-ID`.
    pub fn from_parts(
        parts: &http::request::Parts,
        upstream_base: &Uri,
    ) -> Result<SubscribeRequest, Error> {
        let base_path = upstream_base.path().trim_end_matches('/');
        let pq = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let scheme = upstream_base
            .scheme_str()
            .ok_or(Error::new(Kind::InvalidRequest(
                "upstream URI without scheme",
            )))?;
        let authority = upstream_base
            .authority()
            .ok_or(Error::new(Kind::InvalidRequest(
                "upstream URI without authority",
            )))?;
        let uri: Uri = format!("{scheme}://{authority}{base_path}{pq}")
            .parse()
            .map_err(|e| Error::with_source(Kind::InvalidRequest("invalid upstream URI"), e))?;
        let last = upstream::last_event_id(&parts.headers);
        Ok(SubscribeRequest::new(uri)
            .headers(parts.headers.clone())
            .last_event_id(last))
    }

    /// Overrides the relay's default [`Mode`] for this request.
    pub fn mode(mut self, mode: Mode) -> SubscribeRequest {
        self.mode = Some(mode);
        self
    }

    /// The client's request headers (forwarded in proxy mode, minus hop-by-hop ones).
    pub fn headers(mut self, headers: HeaderMap) -> SubscribeRequest {
        self.headers = Some(headers);
        self
    }

    /// What the relay knows about the client, for `X-Forwarded-*` (proxy mode).
    pub fn client(mut self, client: ClientInfo) -> SubscribeRequest {
        self.client = client;
        self
    }

    /// The client's `Last-Event-ID`.
    pub fn last_event_id(mut self, id: Option<EventId>) -> SubscribeRequest {
        self.last_event_id = id;
        self
    }

    /// The meter asked before each event (see [`Meter`]).
    pub fn meter(mut self, meter: Arc<dyn Meter>) -> SubscribeRequest {
        self.meter = Some(meter);
        self
    }
}

/// Wraps a subscription in an `http::Response` with the SSE headers (`Content-Type:
/// text/event-stream`, `Cache-Control: no-cache`, `X-Accel-Buffering: no`).
pub fn sse_response(sub: Subscription) -> Response<Subscription> {
    let mut resp = Response::new(sub);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(eventgate_sse::MIME_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    resp
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

    /// Subscribes a client: attaches it to the channel for its upstream (opening the channel
    /// and its upstream connection if needed) and returns its stream of frames.
    ///
    /// When this call opens a channel, it waits for the upstream's response head, so a
    /// backend that is down or answers wrongly is reported here (see
    /// [`Error::suggested_status`]) instead of as an empty stream. A client joining a channel
    /// that is already live (or reconnecting) attaches at once.
    pub async fn subscribe(&self, req: SubscribeRequest) -> Result<Subscription, Error> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(Error::new(Kind::Shutdown));
        }
        if !matches!(req.uri.scheme_str(), Some("http" | "https")) || req.uri.authority().is_none()
        {
            return Err(Error::new(Kind::InvalidRequest(
                "upstream URI must be absolute http or https",
            )));
        }
        match req.mode.unwrap_or(self.inner.config.mode) {
            Mode::Proxy => self.open_proxy(req).await,
            Mode::Fanout => self.join_fanout(req).await,
        }
    }

    fn new_channel(&self) -> Channel {
        let c = &self.inner.config;
        let backlog = match &c.backlog_factory {
            Some(f) => f(),
            None => Box::new(MemoryBacklog::new(c.backlog_events, c.backlog_bytes)),
        };
        Channel::builder()
            .backlog(backlog)
            .queue_depth(c.queue_depth)
            .queue_bytes(c.queue_bytes)
            .assign_ids(c.assign_ids)
            .metrics(self.inner.metrics.clone())
            .build()
    }

    fn sub_options(&self, meter: Option<Arc<dyn Meter>>) -> SubscribeOptions {
        let mut o = SubscribeOptions::new().retry_hint(self.inner.config.retry_hint);
        if let Some(m) = meter {
            o = o.meter(m);
        }
        o
    }

    async fn open_proxy(&self, req: SubscribeRequest) -> Result<Subscription, Error> {
        let channel = self.new_channel();
        let sub = channel.subscribe(self.sub_options(req.meter))?;
        let (tx, rx) = watch::channel(ConnState::Connecting);
        let reg = self.inner.next_reg.fetch_add(1, Ordering::Relaxed);
        {
            let mut hub = self.inner.hub();
            // Checked under the hub lock: `shutdown` closes every channel it finds there.
            if self.inner.shutting_down.load(Ordering::Acquire) {
                return Err(Error::new(Kind::Shutdown));
            }
            hub.all.insert(reg, channel.clone());
        }
        let driver = Driver::new(
            self.inner.clone(),
            channel,
            reg,
            None,
            req.uri,
            req.headers,
            req.client,
            req.last_event_id,
            tx,
            Duration::ZERO,
        );
        tokio::spawn(driver.run());
        wait_ready(rx).await?;
        Ok(sub)
    }

    async fn join_fanout(&self, req: SubscribeRequest) -> Result<Subscription, Error> {
        let key = req.uri.to_string();
        let unknown = match &self.inner.config.on_unknown {
            OnUnknownId::StartLive => UnknownId::StartLive,
            OnUnknownId::StartLiveWith(f) => UnknownId::StartLiveWith(f.clone()),
            OnUnknownId::ForwardToBackend => UnknownId::Reject,
        };
        let opts = self
            .sub_options(req.meter.clone())
            .last_event_id(req.last_event_id.clone())
            .unknown_id(unknown);
        let attached = {
            let mut hub = self.inner.hub();
            if self.inner.shutting_down.load(Ordering::Acquire) {
                return Err(Error::new(Kind::Shutdown));
            }
            let entry = match hub.fanout.get(&key) {
                Some(e) if !e.channel.is_closed() => e.clone(),
                _ => {
                    let channel = self.new_channel();
                    let (tx, rx) = watch::channel(ConnState::Connecting);
                    let reg = self.inner.next_reg.fetch_add(1, Ordering::Relaxed);
                    let entry = HubEntry {
                        reg,
                        channel: channel.clone(),
                        ready: rx,
                    };
                    hub.fanout.insert(key.clone(), entry.clone());
                    hub.all.insert(reg, channel.clone());
                    let driver = Driver::new(
                        self.inner.clone(),
                        channel,
                        reg,
                        Some(key),
                        req.uri.clone(),
                        None,
                        ClientInfo::default(),
                        None,
                        tx,
                        self.inner.config.linger,
                    );
                    tokio::spawn(driver.run());
                    entry
                }
            };
            entry.channel.subscribe(opts).map(|s| (s, entry.ready))
        };
        match attached {
            Ok((sub, ready)) => {
                wait_ready(ready).await?;
                Ok(sub)
            }
            Err(e) if e.is_unknown_id() => self.open_proxy(req).await,
            Err(e) => Err(e),
        }
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
        let retry = Bytes::from(format!(
            "retry: {}\n\n",
            self.inner.config.shutdown_retry.as_millis()
        ));
        let finals = [Bytes::from_static(SHUTDOWN_COMMENT), retry];
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

async fn wait_ready(mut rx: watch::Receiver<ConnState>) -> Result<(), Error> {
    loop {
        let state = rx.borrow_and_update().clone();
        match state {
            ConnState::Live => return Ok(()),
            ConnState::Failed(kind) => return Err(Error::new(kind)),
            ConnState::Connecting => {
                if rx.changed().await.is_err() {
                    return Err(Error::new(Kind::Closed));
                }
            }
        }
    }
}

/// The task that owns one channel's upstream connection.
struct Driver {
    inner: Arc<Inner>,
    channel: Channel,
    reg: u64,
    hub_key: Option<String>,
    uri: Uri,
    client_headers: Option<HeaderMap>,
    client: ClientInfo,
    /// The last id the backend sent (what the next connection sends as Last-Event-ID).
    last_id: Option<EventId>,
    ready: watch::Sender<ConnState>,
    linger: Duration,
    backoff: Backoff,
    heartbeat: Option<Duration>,
    hb_sleep: Pin<Box<Sleep>>,
    last_out: Instant,
    linger_at: Option<Instant>,
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

impl Driver {
    #[allow(clippy::too_many_arguments)]
    fn new(
        inner: Arc<Inner>,
        channel: Channel,
        reg: u64,
        hub_key: Option<String>,
        uri: Uri,
        client_headers: Option<HeaderMap>,
        client: ClientInfo,
        last_id: Option<EventId>,
        ready: watch::Sender<ConnState>,
        linger: Duration,
    ) -> Driver {
        let c = &inner.config;
        let backoff = Backoff::new(c.backoff_initial, c.backoff_max);
        let heartbeat = c.heartbeat;
        let now = Instant::now();
        let hb_sleep = Box::pin(tokio::time::sleep_until(
            now + heartbeat.unwrap_or(Duration::from_secs(3600)),
        ));
        Driver {
            inner,
            channel,
            reg,
            hub_key,
            uri,
            client_headers,
            client,
            last_id,
            ready,
            linger,
            backoff,
            heartbeat,
            hb_sleep,
            last_out: now,
            linger_at: None,
        }
    }

    async fn run(mut self) {
        self.inner
            .metrics
            .channels_open
            .fetch_add(1, Ordering::Relaxed);
        let c = &self.inner.config;
        let mut parser = Parser::builder()
            .max_line_len(c.max_line_len)
            .max_event_len(c.max_event_len)
            .comments(c.pass_comments)
            .raw_frames(true)
            .build();
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
                        self.ready.send_replace(ConnState::Failed(e.kind().clone()));
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
                        self.ready.send_replace(ConnState::Live);
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
        self.retire();
    }

    /// Removes the channel from the hub and closes it (remaining subscribers end; they
    /// reconnect and replay elsewhere or later).
    fn retire(&mut self) {
        {
            let mut hub = self.inner.hub();
            if let Some(key) = &self.hub_key
                && hub.fanout.get(key).is_some_and(|e| e.reg == self.reg)
            {
                hub.fanout.remove(key);
            }
            hub.all.remove(&self.reg);
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

    /// Under the hub lock: if the channel still has no subscriber, take it out of the hub
    /// so nobody can join it any more. Returns true if it was retired.
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
            &self.uri,
            self.client_headers.as_ref(),
            &self.client,
            &self.inner.config.static_headers,
            self.last_id.as_ref(),
        );
        let transport = self.inner.transport.clone();
        let head_timeout = self.inner.config.response_timeout;
        async move {
            let req = req?;
            let resp = tokio::time::timeout(head_timeout, transport.request(req))
                .await
                .map_err(|_| Error::timeout(Phase::ResponseHead))??;
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
            let hb_on = self.heartbeat.is_some();
            let tick = tokio::select! {
                biased;
                () = channel.closed() => Tick::Closed,
                out = &mut fut => Tick::Done(out),
                () = self.hb_sleep.as_mut(), if hb_on => Tick::Heartbeat,
                tick = async {
                    match linger_at {
                        None => { channel.idle().await; Tick::Idle }
                        Some(at) => { tokio::time::sleep_until(at).await; Tick::LingerOver }
                    }
                } => tick,
            };
            match tick {
                Tick::Done(out) => return Some(out),
                Tick::Closed => return None,
                Tick::Heartbeat => {
                    let every = self.heartbeat.unwrap_or(Duration::from_secs(3600));
                    let now = Instant::now();
                    if now >= self.last_out + every {
                        self.channel.heartbeat();
                        self.last_out = now;
                    }
                    self.hb_sleep.as_mut().reset(self.last_out + every);
                }
                Tick::Idle => {
                    let since = self.channel.idle_since().unwrap_or_else(Instant::now);
                    self.linger_at = Some(since + self.linger);
                }
                Tick::LingerOver => {
                    self.linger_at = None;
                    // Subscribers may have come and gone meanwhile: linger counts from the
                    // last departure.
                    match self.channel.idle_since() {
                        Some(since) if since + self.linger > Instant::now() => {
                            self.linger_at = Some(since + self.linger);
                        }
                        Some(_) if self.try_retire_idle() => return None,
                        Some(_) | None => {}
                    }
                }
            }
        }
    }

    /// Reads one upstream response to its end, publishing its events.
    async fn pump(&mut self, mut body: UpstreamBody, parser: &mut Parser) -> Pumped {
        parser.reset();
        if let Some(id) = &self.last_id {
            parser.set_last_event_id(id.as_str());
        }
        // After a reconnection the backend may send again events the channel already has:
        // drop those until the first new one.
        let mut resync = self.last_id.is_some();
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
                    let id = if ev.has_own_id() && !ev.last_event_id().is_empty() {
                        EventId::new(ev.last_event_id_bytes().clone().into_bytes())
                    } else {
                        None
                    };
                    if *resync {
                        if let Some(id) = &id
                            && self.channel.contains(id)
                        {
                            metrics.duplicates_dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        *resync = false;
                    }
                    let frame = match ev.raw() {
                        Some(raw) => raw.clone(),
                        None => ev.to_frame().into_bytes(),
                    };
                    if id.is_some() {
                        self.last_id.clone_from(&id);
                    }
                    self.channel.publish(id, frame);
                    self.last_out = Instant::now();
                    *events += 1;
                }
                Ok(Item::Retry(d)) => self.backoff.set_retry(Some(d)),
                Ok(Item::Comment(text)) => {
                    if self.inner.config.pass_comments {
                        self.channel
                            .publish_control(Bytes::from(format!(": {text}\n\n")));
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
