//! [`RelayBuilder`]: every relay-wide setting, its default, and the checks of `build`.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventgate_sse::ParserBuilder;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::hub::Hub;
use super::{Inner, Mode, Relay};
use crate::backlog::Backlog;
#[cfg(doc)]
use crate::backlog::{DEFAULT_BACKLOG_BYTES, DEFAULT_BACKLOG_EVENTS};
use crate::backoff::{DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX};
use crate::channel::ChannelBuilder;
#[cfg(doc)]
use crate::channel::{DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_DEPTH};
use crate::error::{Error, Kind};
use crate::metrics::Metrics;
use crate::shared::{BacklogKey, SharedStore};
use crate::subscribe::UnknownId;
use crate::upstream::{DEFAULT_CONNECT_TIMEOUT, HttpUpstream, Upstream};

/// Default time to wait for the upstream's response head.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time an upstream stream may stay silent before it is considered dead and
/// reconnected (backends should send comments more often than this).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default interval of heartbeat comments ([`Frame::KEEP_ALIVE`]) on an idle channel.
///
/// [`Frame::KEEP_ALIVE`]: eventgate_sse::Frame::KEEP_ALIVE
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Default time a fan-out channel stays open after its last subscriber left.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(30);
/// Default `retry:` sent to subscribers when the relay shuts down.
pub const DEFAULT_SHUTDOWN_RETRY: Duration = Duration::from_secs(2);
/// Default longest line of an upstream stream, in bytes (1 MiB).
pub const DEFAULT_MAX_UPSTREAM_LINE_LEN: usize = 1024 * 1024;
/// Default largest event of an upstream stream, in bytes (4 MiB).
pub const DEFAULT_MAX_UPSTREAM_EVENT_LEN: usize = 4 * 1024 * 1024;
/// Default bound of the channels a relay holds open at once (each is one upstream
/// connection: one per fan-out key, one per proxy-mode client).
pub const DEFAULT_MAX_CHANNELS: usize = 10_000;
/// Default bound of every call to a shared backlog ([`RelayBuilder::shared_timeout`]).
pub const DEFAULT_SHARED_TIMEOUT: Duration = Duration::from_secs(1);
/// A suggested lease time for [`RelayBuilder::shared_upstream`] (the setting itself is off
/// by default): how long a channel's upstream lease lasts without renewal, so the longest
/// a channel goes without events when its feeding node dies.
pub const DEFAULT_UPSTREAM_LEASE: Duration = Duration::from_secs(5);

/// The shared backlog of a relay's fan-out channels.
#[derive(Clone)]
pub(crate) struct SharedConfig {
    pub(crate) store: Arc<dyn SharedStore>,
    /// Most events one resume replays from the store (older resume points are unknown).
    pub(crate) replay_limit: usize,
    pub(crate) timeout: Duration,
    /// One upstream per channel across nodes: the lease time (`None`: every node reads the
    /// upstream itself).
    pub(crate) lease: Option<Duration>,
    /// This relay's name as a lease holder (random, one per built relay).
    pub(crate) holder: Arc<str>,
}

/// A lease holder's name that no other relay (in this process or another) has: 64 bits
/// from the standard library's random hasher keys, the time and the process id.
fn new_holder() -> Arc<str> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    Arc::from(format!("{:016x}", h.finish()))
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) mode: Mode,
    /// The settings of each new channel (backlog, queue, assigned ids).
    pub(crate) channel: ChannelBuilder,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) retry_hint: Option<Duration>,
    pub(crate) pass_comments: bool,
    pub(crate) unknown_id: UnknownId,
    pub(crate) linger: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_line_len: usize,
    pub(crate) max_event_len: usize,
    pub(crate) static_headers: HeaderMap,
    pub(crate) shutdown_retry: Duration,
    pub(crate) h2c: bool,
    pub(crate) extra_roots: Vec<Vec<u8>>,
    pub(crate) max_channels: usize,
    pub(crate) shared: Option<SharedConfig>,
    pub(crate) shared_timeout: Duration,
    pub(crate) shared_lease: Option<Duration>,
}

/// Builds a [`Relay`]. Every setting has a documented default; setters take `&mut self`
/// and chain, and [`RelayBuilder::build`] checks them all (it can be called again).
///
/// Settings a gateway may want per API (heartbeat, backlog, retry hint, unknown-id policy,
/// upstream headers) are defaults here and can be set per subscriber with
/// [`SubscribeOptions`](crate::SubscribeOptions).
///
/// ```
/// use eventgate_relay::{Mode, Relay};
/// use std::time::Duration;
///
/// let relay = Relay::builder()
///     .mode(Mode::Fanout)
///     .backlog_events(4096)
///     .heartbeat(Some(Duration::from_secs(10)))
///     .build()?;
/// # drop(relay);
/// let err = Relay::builder().max_event_size(0, 1024).build().unwrap_err();
/// assert!(err.is_invalid_config());
/// # Ok::<(), eventgate_relay::Error>(())
/// ```
#[must_use]
pub struct RelayBuilder {
    config: Config,
    upstream: Option<Arc<dyn Upstream>>,
}

impl fmt::Debug for RelayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayBuilder")
            .field("mode", &self.config.mode)
            .field("max_channels", &self.config.max_channels)
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
                channel: ChannelBuilder::new(),
                heartbeat: Some(DEFAULT_HEARTBEAT),
                retry_hint: None,
                pass_comments: false,
                unknown_id: UnknownId::StartLive,
                linger: DEFAULT_LINGER,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                response_timeout: DEFAULT_RESPONSE_TIMEOUT,
                idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
                backoff_initial: DEFAULT_BACKOFF_INITIAL,
                backoff_max: DEFAULT_BACKOFF_MAX,
                max_line_len: DEFAULT_MAX_UPSTREAM_LINE_LEN,
                max_event_len: DEFAULT_MAX_UPSTREAM_EVENT_LEN,
                static_headers: HeaderMap::new(),
                shutdown_retry: DEFAULT_SHUTDOWN_RETRY,
                h2c: false,
                extra_roots: Vec::new(),
                max_channels: DEFAULT_MAX_CHANNELS,
                shared: None,
                shared_timeout: DEFAULT_SHARED_TIMEOUT,
                shared_lease: None,
            },
            upstream: None,
        }
    }

    /// The delivery mode used when a subscriber does not choose one. Default is
    /// [`Mode::Fanout`].
    pub fn mode(&mut self, mode: Mode) -> &mut RelayBuilder {
        self.config.mode = mode;
        self
    }

    /// Events kept per channel for replay. Default is [`DEFAULT_BACKLOG_EVENTS`].
    pub fn backlog_events(&mut self, n: usize) -> &mut RelayBuilder {
        self.config.channel.backlog_events(n);
        self
    }

    /// Frame bytes kept per channel for replay. Default is [`DEFAULT_BACKLOG_BYTES`].
    pub fn backlog_bytes(&mut self, n: usize) -> &mut RelayBuilder {
        self.config.channel.backlog_bytes(n);
        self
    }

    /// Makes each channel's in-process backlog with `factory`, given the channel's
    /// [`BacklogKey`], instead of a [`MemoryBacklog`](crate::MemoryBacklog). Default is
    /// none. (A store shared by several nodes is [`RelayBuilder::shared_backlog`].)
    pub fn backlog_factory(
        &mut self,
        factory: impl Fn(&BacklogKey) -> Box<dyn Backlog> + Send + Sync + 'static,
    ) -> &mut RelayBuilder {
        self.config.channel.backlog_factory(factory);
        self
    }

    /// Shares the backlog of every fan-out channel with other relays through `store` (for
    /// several gateway nodes: `RedisBacklog`, feature `redis`).
    /// Events get the store's ids, `<epoch hex>-<offset>`, so a client can resume on any
    /// node; a resume point that the channel's in-process backlog does not hold is looked
    /// up in the store, at most `replay_limit` events back (at least 1; older ones are
    /// unknown ids). Proxy-mode channels do not use it. Default is none (in-process only).
    ///
    /// When the store fails, channels keep serving live events (with the upstream's ids),
    /// and resumes it would have answered get the unknown-id policy (by default
    /// [`RESET_EVENT`](crate::RESET_EVENT)); see [`SharedStore`].
    pub fn shared_backlog(
        &mut self,
        store: Arc<dyn SharedStore>,
        replay_limit: usize,
    ) -> &mut RelayBuilder {
        self.config.shared = Some(SharedConfig {
            store,
            replay_limit,
            timeout: self.config.shared_timeout,
            lease: None,
            holder: Arc::from(""),
        });
        self
    }

    /// One upstream connection per fan-out channel across every node sharing the
    /// [`shared_backlog`](RelayBuilder::shared_backlog): `Some(lease)` turns it on. Per
    /// channel, one node holds a lease in the store ([`SharedStore::lease`], renewed every
    /// third of `lease`, given back when the channel closes) and reads the backend,
    /// appending to the shared history as without this setting; the other nodes do not
    /// connect to the backend: they follow the history ([`SharedStore::tail`]) and publish
    /// its events to their subscribers with the same ids. When the holder dies, its lease
    /// runs out and a following node takes it within about `lease`, connecting to the
    /// backend with `Last-Event-ID` = the last upstream id in the history.
    ///
    /// When the store fails (or does not implement leases), a node reads the backend
    /// itself, as without this setting, and goes back to following once the store answers
    /// and another node holds the lease. `lease` must be at least three
    /// [`shared_timeout`](RelayBuilder::shared_timeout)s;
    /// [`DEFAULT_UPSTREAM_LEASE`] is a reasonable value. Default is `None` (off: every
    /// node opens its own upstream per channel).
    ///
    /// ```
    /// # #[cfg(feature = "redis")]
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use eventgate_relay::{DEFAULT_UPSTREAM_LEASE, RedisBacklog, RedisSettings, Relay};
    ///
    /// let store = RedisBacklog::connect("redis://127.0.0.1:6379/", &RedisSettings::default()).await?;
    /// let relay = Relay::builder()
    ///     .shared_backlog(Arc::new(store), 10_000)
    ///     .shared_upstream(Some(DEFAULT_UPSTREAM_LEASE))
    ///     .build()?;
    /// # drop(relay); Ok(()) }
    /// let err = eventgate_relay::Relay::builder()
    ///     .shared_upstream(Some(std::time::Duration::from_secs(5)))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.is_invalid_config()); // it needs a shared backlog
    /// ```
    pub fn shared_upstream(&mut self, lease: Option<Duration>) -> &mut RelayBuilder {
        self.config.shared_lease = lease;
        self
    }

    /// Bound of every call to the shared backlog (not zero); a call past it counts as a
    /// failure. Default is [`DEFAULT_SHARED_TIMEOUT`].
    pub fn shared_timeout(&mut self, t: Duration) -> &mut RelayBuilder {
        self.config.shared_timeout = t;
        if let Some(s) = &mut self.config.shared {
            s.timeout = t;
        }
        self
    }

    /// How many frames a subscriber may fall behind before it is cut off; at least 1.
    /// Default is [`DEFAULT_QUEUE_DEPTH`].
    pub fn queue_depth(&mut self, depth: usize) -> &mut RelayBuilder {
        self.config.channel.queue_depth(depth);
        self
    }

    /// Frame bytes of the live ring per channel. Default is [`DEFAULT_QUEUE_BYTES`].
    pub fn queue_bytes(&mut self, bytes: usize) -> &mut RelayBuilder {
        self.config.channel.queue_bytes(bytes);
        self
    }

    /// Assign ids to events the backend sends without one. Default is off.
    pub fn assign_ids(&mut self, on: bool) -> &mut RelayBuilder {
        self.config.channel.assign_ids(on);
        self
    }

    /// Heartbeat interval on idle channels (`None`: no heartbeats; must not be zero).
    /// Default is [`DEFAULT_HEARTBEAT`].
    pub fn heartbeat(&mut self, every: Option<Duration>) -> &mut RelayBuilder {
        self.config.heartbeat = every;
        self
    }

    /// `retry:` hint sent to each subscriber first. Default is none.
    pub fn retry_hint(&mut self, retry: Option<Duration>) -> &mut RelayBuilder {
        self.config.retry_hint = retry;
        self
    }

    /// Pass the upstream's comments to subscribers. Default is off (the relay sends its own
    /// heartbeats).
    pub fn pass_comments(&mut self, on: bool) -> &mut RelayBuilder {
        self.config.pass_comments = on;
        self
    }

    /// What to do with a `Last-Event-ID` not in the backlog. Default is
    /// [`UnknownId::StartLive`].
    pub fn unknown_id(&mut self, policy: UnknownId) -> &mut RelayBuilder {
        self.config.unknown_id = policy;
        self
    }

    /// How long a fan-out channel (and its upstream connection and backlog) stays after its
    /// last subscriber left. Default is [`DEFAULT_LINGER`].
    pub fn linger(&mut self, linger: Duration) -> &mut RelayBuilder {
        self.config.linger = linger;
        self
    }

    /// TCP+TLS connect timeout of the default upstream client; not zero. Default is
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(&mut self, t: Duration) -> &mut RelayBuilder {
        self.config.connect_timeout = t;
        self
    }

    /// Time to wait for the upstream's response head (connecting included); not zero.
    /// Default is [`DEFAULT_RESPONSE_TIMEOUT`].
    pub fn response_timeout(&mut self, t: Duration) -> &mut RelayBuilder {
        self.config.response_timeout = t;
        self
    }

    /// Silence after which an upstream stream is reconnected (`None`: never; not zero).
    /// Default is [`DEFAULT_IDLE_TIMEOUT`].
    pub fn idle_timeout(&mut self, t: Option<Duration>) -> &mut RelayBuilder {
        self.config.idle_timeout = t;
        self
    }

    /// Reconnection backoff: first delay (not zero) and cap, see
    /// [`Backoff`](crate::Backoff). Defaults are [`DEFAULT_BACKOFF_INITIAL`] and
    /// [`DEFAULT_BACKOFF_MAX`].
    pub fn backoff(&mut self, initial: Duration, max: Duration) -> &mut RelayBuilder {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max;
        self
    }

    /// Parser limits for upstream streams: longest line and largest event, in bytes, each
    /// at least 1; an upstream crossing them is disconnected and reconnected. Defaults are
    /// [`DEFAULT_MAX_UPSTREAM_LINE_LEN`] and [`DEFAULT_MAX_UPSTREAM_EVENT_LEN`].
    pub fn max_event_size(&mut self, line: usize, event: usize) -> &mut RelayBuilder {
        self.config.max_line_len = line;
        self.config.max_event_len = event;
        self
    }

    /// A header sent on every upstream request, unless the subscriber's
    /// [`upstream_headers`](crate::SubscribeOptions::upstream_headers) has one of that
    /// name. Default is none.
    pub fn upstream_header(&mut self, name: HeaderName, value: HeaderValue) -> &mut RelayBuilder {
        self.config.static_headers.insert(name, value);
        self
    }

    /// The `retry:` sent to subscribers on shutdown. Default is [`DEFAULT_SHUTDOWN_RETRY`].
    pub fn shutdown_retry(&mut self, retry: Duration) -> &mut RelayBuilder {
        self.config.shutdown_retry = retry;
        self
    }

    /// Speak HTTP/2 to `http://` upstreams too (prior knowledge, h2c). Default is off
    /// (HTTP/1.1 over plain `http`, ALPN over `https`). Ignored with
    /// [`RelayBuilder::upstream`].
    pub fn upstream_h2c(&mut self, on: bool) -> &mut RelayBuilder {
        self.config.h2c = on;
        self
    }

    /// Trust this root certificate (DER) for `https` upstreams, besides the Mozilla roots
    /// (e.g. a private CA). Default is none. Ignored with [`RelayBuilder::upstream`] and
    /// without the `tls` feature; [`RelayBuilder::build`] fails if it is not a certificate.
    pub fn add_root_certificate(&mut self, der: Vec<u8>) -> &mut RelayBuilder {
        self.config.extra_roots.push(der);
        self
    }

    /// Most channels open at once (fan-out and proxy; each holds one upstream connection);
    /// at least 1. A subscribe that would open one more fails with
    /// [`Error::is_channel_limit`]; joining an open fan-out channel always works. Default
    /// is [`DEFAULT_MAX_CHANNELS`].
    pub fn max_channels(&mut self, n: usize) -> &mut RelayBuilder {
        self.config.max_channels = n;
        self
    }

    /// Reach backends through this [`Upstream`] instead of an [`HttpUpstream`]. Default is
    /// an [`HttpUpstream`] with the connect timeout, h2c and root settings above.
    pub fn upstream(&mut self, upstream: Arc<dyn Upstream>) -> &mut RelayBuilder {
        self.upstream = Some(upstream);
        self
    }

    fn check(&self) -> Result<(), Error> {
        self.config.channel.check()?;
        let c = &self.config;
        let zero = Duration::ZERO;
        let rules: [(bool, &'static str); 12] = [
            (
                c.max_line_len == 0,
                "max upstream line length must be at least 1",
            ),
            (
                c.max_event_len == 0,
                "max upstream event size must be at least 1",
            ),
            (
                c.heartbeat == Some(zero),
                "heartbeat interval must not be zero",
            ),
            (
                c.idle_timeout == Some(zero),
                "idle timeout must not be zero",
            ),
            (
                c.response_timeout == zero,
                "response timeout must not be zero",
            ),
            (
                c.connect_timeout == zero,
                "connect timeout must not be zero",
            ),
            (
                c.backoff_initial == zero,
                "first backoff delay must not be zero",
            ),
            (c.max_channels == 0, "max channels must be at least 1"),
            (
                c.shared_timeout == zero,
                "shared backlog timeout must not be zero",
            ),
            (
                c.shared.as_ref().is_some_and(|s| s.replay_limit == 0),
                "shared backlog replay limit must be at least 1",
            ),
            (
                c.shared_lease.is_some() && c.shared.is_none(),
                "a shared upstream needs a shared backlog",
            ),
            (
                c.shared_lease
                    .is_some_and(|l| l < c.shared_timeout.saturating_mul(3)),
                "the upstream lease must be at least three shared timeouts",
            ),
        ];
        match rules.iter().find(|(broken, _)| *broken) {
            Some((_, what)) => Err(Error::new(Kind::InvalidConfig(what))),
            None => Ok(()),
        }
    }

    /// Builds the relay (it needs a tokio runtime once subscribers arrive).
    ///
    /// # Errors
    /// [`Error::is_invalid_config`] if a setting is out of range (a zero queue depth,
    /// parser limit, heartbeat, timeout, first backoff delay or channel bound) or a root
    /// certificate is invalid.
    pub fn build(&self) -> Result<Relay, Error> {
        self.check()?;
        let mut config = self.config.clone();
        if let Some(shared) = &mut config.shared {
            shared.lease = config.shared_lease;
            shared.holder = new_holder();
        }
        let c = &config;
        let upstream = match &self.upstream {
            Some(t) => t.clone(),
            None => Arc::new(HttpUpstream::with_options(
                c.connect_timeout,
                c.h2c,
                &c.extra_roots,
            )?),
        };
        let mut parser = ParserBuilder::new();
        parser
            .max_line_len(c.max_line_len)
            .max_event_len(c.max_event_len)
            .comments(c.pass_comments)
            .raw_frames(true);
        Ok(Relay {
            inner: Arc::new(Inner {
                config,
                parser,
                upstream,
                hub: Mutex::new(Hub::default()),
                metrics: Arc::new(Metrics::default()),
                shutting_down: AtomicBool::new(false),
                next_reg: AtomicU64::new(1),
            }),
        })
    }
}
