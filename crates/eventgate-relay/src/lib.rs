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
//! - [`Channel`]: the sans-IO core, one per upstream stream. A bounded [`Backlog`] (default
//!   [`MemoryBacklog`], by count and by bytes) and a bounded live ring shared by all
//!   subscribers. Publishing is O(1) whatever the number of subscribers: one `Bytes` frame,
//!   shared, never copied; each [`Subscription`] reads it at its own cursor. Subscribing
//!   takes the replay snapshot and the live position in one step, so replay joins live
//!   exactly. A subscriber that falls more than the queue depth behind is cut off
//!   ([`Error::is_lagged`]): it reconnects and replays, memory stays bounded.
//! - [`Relay`]: channels keyed by upstream URI, each with a task that owns the upstream
//!   connection (hyper-util's pooled client, HTTP/1.1 and HTTP/2, https through rustls):
//!   response-head and idle-read timeouts, reconnection with [`Backoff`] (exponential,
//!   jittered, never faster than the backend's `retry:`, capped) sending the last seen id,
//!   events the backend repeats after a reconnect dropped, heartbeat comments on idle
//!   channels, linger after the last subscriber, graceful [`Relay::shutdown`].
//!   [`Mode::Fanout`] shares one upstream per URI; [`Mode::Proxy`] opens one per client.
//! - [`Meter`]: asked before each event goes to a subscriber; a [`Denial`] ends that stream
//!   after a final frame of the caller's choice.
//! - [`Subscription`] is an `http_body::Body` (and a `Stream`) of encoded frames: hand it to
//!   hyper as a response body, see [`sse_response`].
//!
//! # Unknown or too-old `Last-Event-ID`
//!
//! When a client's id is not in the backlog (never seen, or evicted), the default is to
//! start live after sending [`RESET_EVENT`] (`event: eventgate-reset`), so the client can
//! tell it may have missed events ([`OnUnknownId::StartLive`]). Alternatively
//! [`OnUnknownId::ForwardToBackend`] opens a dedicated upstream connection for that client
//! that forwards its id (proxy mode), for backends that keep their own history.
//!
//! # Ids
//!
//! Replay needs ids. Events the backend sends with an `id:` keep it. With
//! [`RelayBuilder::assign_ids`] the relay gives the others an id `<epoch>-<n>` (an `id:` line
//! is prepended to the frame). Without ids, events are still relayed but a reconnecting
//! client cannot resume exactly.
//!
//! # Example
//!
//! ```
//! use eventgate_relay::{Channel, EventId, SubscribeOptions};
//! use bytes::Bytes;
//!
//! let channel = Channel::builder().build();
//! let mut alice = channel.subscribe(SubscribeOptions::new()).unwrap();
//! let mut bob = channel.subscribe(SubscribeOptions::new()).unwrap();
//! channel.publish(EventId::from_text("1"), Bytes::from_static(b"id: 1\ndata: hello\n\n"));
//!
//! // Both get the same bytes, not a copy.
//! let a = alice.try_next().unwrap().unwrap();
//! let b = bob.try_next().unwrap().unwrap();
//! assert_eq!(a.as_ptr(), b.as_ptr());
//!
//! // Bob drops and comes back with Last-Event-ID: 1 while event 2 is published.
//! drop(bob);
//! channel.publish(EventId::from_text("2"), Bytes::from_static(b"id: 2\ndata: again\n\n"));
//! let mut bob = channel
//!     .subscribe(SubscribeOptions::new().last_event_id(EventId::from_text("1")))
//!     .unwrap();
//! assert_eq!(bob.try_next().unwrap().unwrap(), "id: 2\ndata: again\n\n");
//! ```
//!
//! # Crate features
//!
//! - `tls` (default): `https` upstreams through rustls (ring provider, Mozilla roots via
//!   webpki-roots, ALPN for HTTP/2). Without it, [`HttpTransport`] speaks plain `http` only.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]
#![deny(missing_docs)]

mod backlog;
mod backoff;
mod channel;
mod error;
mod id;
mod meter;
mod metrics;
mod relay;
mod upstream;

pub use backlog::{Backlog, DEFAULT_BACKLOG_BYTES, DEFAULT_BACKLOG_EVENTS, Entry, MemoryBacklog};
pub use backoff::{Backoff, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX};
pub use channel::{
    Channel, ChannelBuilder, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_DEPTH, HEARTBEAT, RESET_EVENT,
    Replay, SubscribeOptions, Subscription, UnknownId,
};
pub use error::{BoxError, Error, Side};
pub use id::{EventId, MAX_EVENT_ID_LEN};
pub use meter::{Delivery, Denial, Meter};
pub use metrics::MetricsSnapshot;
pub use relay::{
    DEFAULT_HEARTBEAT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LINGER, DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_SHUTDOWN_RETRY, Mode, OnUnknownId, Relay, RelayBuilder, SHUTDOWN_COMMENT,
    SubscribeRequest, sse_response,
};
pub use upstream::{
    BoxFuture, ClientInfo, DEFAULT_CONNECT_TIMEOUT, HttpTransport, Transport, UpstreamBody,
    last_event_id,
};
