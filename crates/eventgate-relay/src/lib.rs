//! eventgate-relay: the part of eventgate that keeps Server-Sent Events streams alive.
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
