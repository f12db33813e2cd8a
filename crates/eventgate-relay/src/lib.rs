//! Server-Sent Events relay: keeps SSE streams alive between clients and a backend.
//!
//! `eventgate-relay` sits between SSE clients and an SSE backend and gives them what the SSE
//! specification promises but most proxies leave to the backend: streams that survive a
//! backend restart, and clients that come back with `Last-Event-ID` getting exactly the
//! events they missed, no gap and no duplicate. It is the relay layer of the eventgate API
//! gateway, usable on its own (see the `relay` example: a fan-out SSE proxy in one command).
//!
//! **Should I use this crate?** Use it to put many SSE clients in front of one SSE backend
//! (fan-out), to add `Last-Event-ID` replay to a backend that has none, or to meter each
//! delivered event. If you only need to parse or write `text/event-stream`, use
//! `eventgate-sse` (no tokio, no hyper). If you need routing, auth and plans, use the
//! `eventgate` gateway, which composes this crate.
//!
//! # Pieces
//!
//! - [`Channel`]: the core, one per upstream stream, with no I/O, no clock and no task of
//!   its own. A bounded [`Backlog`] (default [`MemoryBacklog`], by count and by bytes) and a
//!   bounded live ring shared by all subscribers. Publishing is O(1) whatever the number of
//!   subscribers: one frame, shared, never copied; each subscriber's [`Feed`] reads it at
//!   its own cursor; a feed polled again while parked, with nothing pushed since, answers
//!   `Pending` from one atomic load, without the channel's lock. Subscribing takes the
//!   replay snapshot and the live position in one
//!   step, so replay joins live exactly. A subscriber that falls more than the queue depth
//!   behind is cut off ([`Error::is_lagged`]): it reconnects and replays, memory stays
//!   bounded.
//! - [`Relay`]: channels keyed by normalised upstream URI and channel settings, each with a
//!   driver task that owns the upstream connection (through an [`Upstream`]; by default
//!   [`HttpUpstream`], hyper-util's pooled client, HTTP/1.1 and HTTP/2, https through
//!   rustls) and the channel's timers: response-head and idle-read timeouts, reconnection
//!   with [`Backoff`] (exponential, jittered, never faster than the backend's `retry:`,
//!   capped) sending the last seen id, events the backend repeats after a reconnect
//!   dropped (a new event under a reused id is kept), heartbeats ([`Frame::KEEP_ALIVE`]) on idle channels, linger after the last
//!   subscriber, a bound on open channels ([`RelayBuilder::max_channels`]), graceful
//!   [`Relay::shutdown`]. [`Mode::Fanout`] shares one upstream per channel key;
//!   [`Mode::Proxy`] opens one per client.
//! - [`SubscribeOptions`]: one subscriber's resume point, [`DeliveryGate`], `retry:` hint
//!   and [`UnknownId`] policy, and the settings of the channel it needs (upstream headers,
//!   heartbeat, backlog), so a gateway can set them per API.
//! - [`DeliveryGate`]: asked before each event goes to a subscriber (where a gateway
//!   meters); a [`Cutoff`] ends that stream after a final frame of the caller's choice.
//! - [`SharedStore`]: a backlog shared by several relays (gateway nodes), beside the
//!   in-process one ([`RelayBuilder::shared_backlog`]); calls are asynchronous, bounded by
//!   a timeout, never made under a channel lock, and a failing store leaves live events
//!   flowing (resumes it would have answered get [`RESET_EVENT`]). Optionally one node per
//!   channel feeds it and the others follow the store ([`RelayBuilder::shared_upstream`]),
//!   so the backend sees one connection per channel across nodes.
//! - [`Feed`] is an `http_body::Body` (and a `Stream`) of encoded frames: hand it to hyper
//!   as a response body, see [`sse_response`].
//! - [`DirectHandle`]: a server that owns the subscriber's socket can give a caught-up feed
//!   to a [`DirectSink`] (the socket, written without blocking): each push then charges
//!   the feed's gate and writes the frame itself, and the subscriber's task is not woken
//!   per event; the feed goes back to its task, exactly where the sink left off, when the
//!   sink stops (a full socket), the gate refuses or waits, or the channel closes. The
//!   `eventgate` gateway's HTTP/1.1 server does this for plain TCP streams.
//!
//! Every byte of `text/event-stream` the relay writes itself (heartbeats, [`RESET_EVENT`],
//! [`SHUTDOWN_COMMENT`], `retry:` hints, assigned `id:` lines) is a [`Frame`] from
//! `eventgate-sse`; upstream events pass through as the raw frames the parser kept.
//!
//! # Headers sent upstream
//!
//! The relay never copies a client's request headers by itself. An upstream request carries
//! `Accept: text/event-stream`, `Cache-Control: no-cache`, the `Last-Event-ID` the relay
//! resumes from, the subscriber's [`SubscribeOptions::upstream_headers`] (minus hop-by-hop
//! ones), the relay-wide [`RelayBuilder::upstream_header`]s, and on a dedicated (proxy)
//! connection `X-Forwarded-For` / `-Proto` / `-Host`. A gateway passes what the backend
//! should see and strips the credential it consumed.
//!
//! # Unknown or too-old `Last-Event-ID`
//!
//! When a client's id is not in the backlog (never seen, or evicted), the default is to
//! start live after sending [`RESET_EVENT`] (`event: eventgate-reset`), so the client can
//! tell it may have missed events ([`UnknownId::StartLive`]). Alternatively
//! [`UnknownId::ForwardToBackend`] opens a dedicated upstream connection for that client
//! that forwards its id (proxy mode), for backends that keep their own history, and
//! [`UnknownId::Reject`] refuses the subscription.
//!
//! # Ids
//!
//! Replay needs ids ([`EventId`], the one id type of `eventgate-sse`). Events the backend
//! sends with an `id:` keep it. With [`RelayBuilder::assign_ids`] the relay gives the others
//! an id `<epoch>-<n>` (the SSE encoder prepends an `id:` line to the frame,
//! [`Encoder::prepend_id`](eventgate_sse::Encoder::prepend_id)). Without ids, events are
//! still relayed but a reconnecting client cannot resume exactly.
//!
//! # Example
//!
//! ```
//! use eventgate_relay::{Channel, EventId, SubscribeOptions};
//! use eventgate_sse::Frame;
//!
//! let channel = Channel::builder().build()?;
//! let mut alice = channel.subscribe(&SubscribeOptions::new())?;
//! let mut bob = channel.subscribe(&SubscribeOptions::new())?;
//! channel.publish(EventId::from_text("1"), Frame::from_static("id: 1\ndata: hello\n\n"));
//!
//! // Both get the same bytes, not a copy.
//! let a = alice.try_next().unwrap()?;
//! let b = bob.try_next().unwrap()?;
//! assert_eq!(a.as_ptr(), b.as_ptr());
//!
//! // Bob drops and comes back with Last-Event-ID: 1 while event 2 is published.
//! drop(bob);
//! channel.publish(EventId::from_text("2"), Frame::from_static("id: 2\ndata: again\n\n"));
//! let mut bob = channel.subscribe(SubscribeOptions::new().last_event_id(EventId::from_text("1")))?;
//! assert_eq!(bob.try_next().unwrap()?, "id: 2\ndata: again\n\n");
//! # Ok::<(), eventgate_relay::Error>(())
//! ```
//!
//! # Crate features
//!
//! - `tls` (default): `https` upstreams through rustls (ring provider, Mozilla roots via
//!   webpki-roots, ALPN for HTTP/2). Without it, [`HttpUpstream`] speaks plain `http` only.
//! - `redis`: `RedisBacklog`, a [`SharedStore`] on Redis Streams, so that several gateway
//!   nodes share their fan-out channels' backlogs and a client resumes exactly on any node
//!   ([`RelayBuilder::shared_backlog`]; ids become `<epoch hex>-<offset>`, see
//!   `docs/shared-backlog.md`), and keeps the upstream leases of
//!   [`RelayBuilder::shared_upstream`].
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]
#![deny(missing_docs)]

mod backlog;
mod backoff;
mod budget;
mod channel;
mod error;
mod gate;
mod metrics;
#[cfg(feature = "redis")]
mod redis_backlog;
mod relay;
mod shared;
mod subscribe;
mod upstream;

pub use backlog::{Backlog, DEFAULT_BACKLOG_BYTES, DEFAULT_BACKLOG_EVENTS, Entry, MemoryBacklog};
pub use backoff::{Backoff, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX};
pub use budget::ChannelBudget;
pub use channel::{
    Channel, ChannelBuilder, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_DEPTH, DirectHandle, DirectSink,
    Feed, Offer, RESET_EVENT, Replay,
};
pub use error::{Error, Side};
pub use eventgate_sse::{EventId, Frame, MAX_EVENT_ID_LEN};
pub use eventgate_types::{BoxError, BoxFuture};
pub use gate::{Cutoff, Delivery, DeliveryGate};
pub use metrics::MetricsSnapshot;
#[cfg(feature = "redis")]
pub use redis_backlog::{DEFAULT_REDIS_MAXLEN, DEFAULT_REDIS_TTL, RedisBacklog, RedisSettings};
pub use relay::{
    DEFAULT_HEARTBEAT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LINGER, DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_UPSTREAM_EVENT_LEN, DEFAULT_MAX_UPSTREAM_LINE_LEN, DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_SHARED_TIMEOUT, DEFAULT_SHUTDOWN_RETRY, DEFAULT_UPSTREAM_LEASE, Mode, Relay,
    RelayBuilder, SHUTDOWN_COMMENT, sse_response,
};
pub use shared::{
    Appended, BacklogKey, Position, Record, Replayed, SharedStore, StoreError, StoreTail, Stored,
};
pub use subscribe::{SubscribeOptions, UnknownId};
pub use upstream::{
    ClientInfo, DEFAULT_CONNECT_TIMEOUT, HttpUpstream, Upstream, UpstreamBody, last_event_id,
    upstream_uri,
};
