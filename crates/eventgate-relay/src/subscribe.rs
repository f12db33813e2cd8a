//! How one subscriber attaches: [`SubscribeOptions`], for [`Channel::subscribe`] and
//! [`Relay::subscribe`], and what to do with an unknown `Last-Event-ID` ([`UnknownId`]).
//!
//! [`Channel::subscribe`]: crate::Channel::subscribe
//! [`Relay::subscribe`]: crate::Relay::subscribe

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use eventgate_sse::{EventId, Frame};
use http::HeaderMap;

use crate::budget::ChannelBudget;
use crate::gate::DeliveryGate;
use crate::relay::Mode;
use crate::upstream::ClientInfo;

/// What to do when a subscriber's `Last-Event-ID` is not in the backlog (unknown, or older
/// than what the backlog keeps).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum UnknownId {
    /// Start live after sending [`RESET_EVENT`](crate::RESET_EVENT), so the client can tell
    /// it may have missed events. The default.
    #[default]
    StartLive,
    /// Start live after sending this frame instead of [`RESET_EVENT`](crate::RESET_EVENT)
    /// (`None`: nothing).
    StartLiveWith(Option<Frame>),
    /// Refuse the subscription with an error for which
    /// [`Error::is_unknown_id`](crate::Error::is_unknown_id) is true.
    Reject,
    /// [`Relay::subscribe`](crate::Relay::subscribe) opens a dedicated upstream connection
    /// for this client (as in proxy mode) that sends its `Last-Event-ID` to the backend, so
    /// a backend that keeps its own history can replay. A bare [`Channel`](crate::Channel)
    /// has no upstream and treats this like [`UnknownId::Reject`].
    ForwardToBackend,
}

/// How a subscriber attaches: its resume point, its delivery gate, its prelude, and (for
/// [`Relay::subscribe`](crate::Relay::subscribe)) the settings of the channel it attaches to.
///
/// Setters take `&mut self` and chain; the subscribe calls take `&SubscribeOptions`, so one
/// value can serve many subscribers. Settings left unset take the relay's defaults (from
/// [`RelayBuilder`](crate::RelayBuilder)); a bare [`Channel`](crate::Channel) reads only
/// the subscriber settings (the first four below) and ignores the channel settings.
///
/// | setting | kind | default |
/// |---|---|---|
/// | [`last_event_id`](Self::last_event_id) | subscriber | none: live from now |
/// | [`gate`](Self::gate) | subscriber | none: every event is delivered |
/// | [`retry_hint`](Self::retry_hint) | subscriber | the relay's (none) |
/// | [`unknown_id`](Self::unknown_id) | subscriber | the relay's ([`UnknownId::StartLive`]) |
/// | [`mode`](Self::mode) | channel | the relay's ([`Mode::Fanout`]) |
/// | [`upstream_headers`](Self::upstream_headers) | channel | none |
/// | [`client`](Self::client) | channel (proxy) | nothing known |
/// | [`heartbeat`](Self::heartbeat) | channel | the relay's (15 s) |
/// | [`backlog`](Self::backlog) | channel | the relay's (1024 events, 4 MiB) |
///
/// Fan-out subscribers share a channel when their normalised upstream URI and their channel
/// settings (upstream headers, heartbeat, backlog) are equal; per-API settings thus give
/// each API its own channels even where two APIs name the same backend URL.
///
/// ```
/// use eventgate_relay::{EventId, SubscribeOptions, UnknownId};
/// use std::time::Duration;
///
/// let mut opts = SubscribeOptions::new();
/// opts.last_event_id(EventId::from_text("41"))
///     .retry_hint(Some(Duration::from_secs(3)))
///     .unknown_id(UnknownId::Reject)
///     .heartbeat(Some(Duration::from_secs(5)));
/// # let _ = opts;
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct SubscribeOptions {
    pub(crate) last_event_id: Option<EventId>,
    pub(crate) gate: Option<Arc<dyn DeliveryGate>>,
    pub(crate) retry_hint: Option<Option<Duration>>,
    pub(crate) unknown_id: Option<UnknownId>,
    pub(crate) mode: Option<Mode>,
    pub(crate) upstream_headers: HeaderMap,
    pub(crate) client: ClientInfo,
    pub(crate) heartbeat: Option<Option<Duration>>,
    pub(crate) backlog: Option<(usize, usize)>,
    pub(crate) budget: Option<ChannelBudget>,
}

impl fmt::Debug for SubscribeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: only their names are shown.
        f.debug_struct("SubscribeOptions")
            .field("last_event_id", &self.last_event_id)
            .field("gated", &self.gate.is_some())
            .field("retry_hint", &self.retry_hint)
            .field("unknown_id", &self.unknown_id)
            .field("mode", &self.mode)
            .field(
                "upstream_headers",
                &self.upstream_headers.keys().collect::<Vec<_>>(),
            )
            .field("heartbeat", &self.heartbeat)
            .field("backlog", &self.backlog)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl SubscribeOptions {
    /// Every setting at its default (see the table above).
    pub fn new() -> SubscribeOptions {
        SubscribeOptions::default()
    }

    /// Resume after this id (the client's `Last-Event-ID`, see
    /// [`last_event_id`](crate::last_event_id)). Default is none: live from now.
    pub fn last_event_id(&mut self, id: Option<EventId>) -> &mut SubscribeOptions {
        self.last_event_id = id;
        self
    }

    /// Ask this gate before each event (see [`DeliveryGate`]). Default is none: every
    /// event is delivered.
    pub fn gate(&mut self, gate: Arc<dyn DeliveryGate>) -> &mut SubscribeOptions {
        self.gate = Some(gate);
        self
    }

    /// Send `retry: <ms>` first (`None`: no hint). Default is the relay's
    /// [`RelayBuilder::retry_hint`](crate::RelayBuilder::retry_hint) (none by default);
    /// on a bare channel, none.
    pub fn retry_hint(&mut self, retry: Option<Duration>) -> &mut SubscribeOptions {
        self.retry_hint = Some(retry);
        self
    }

    /// What to do when the `Last-Event-ID` is not in the backlog. Default is the relay's
    /// [`RelayBuilder::unknown_id`](crate::RelayBuilder::unknown_id); on a bare channel,
    /// [`UnknownId::StartLive`].
    pub fn unknown_id(&mut self, policy: UnknownId) -> &mut SubscribeOptions {
        self.unknown_id = Some(policy);
        self
    }

    /// Fan-out or proxy for this subscriber. Default is the relay's
    /// [`RelayBuilder::mode`](crate::RelayBuilder::mode).
    pub fn mode(&mut self, mode: Mode) -> &mut SubscribeOptions {
        self.mode = Some(mode);
        self
    }

    /// Headers the upstream request carries (for example a backend credential, or in proxy
    /// mode the client headers the backend should see). Default is none.
    ///
    /// The relay never copies a client's request headers by itself: what is given here is
    /// all it sends besides its own (`Accept`, `Cache-Control`, `Last-Event-ID`, and in proxy
    /// mode `X-Forwarded-*`), minus hop-by-hop headers and those named in `Connection`. The
    /// caller decides what to strip, such as the credential a gateway consumed. These win
    /// over [`RelayBuilder::upstream_header`](crate::RelayBuilder::upstream_header).
    pub fn upstream_headers(&mut self, headers: HeaderMap) -> &mut SubscribeOptions {
        self.upstream_headers = headers;
        self
    }

    /// What the relay knows about the client, for the `X-Forwarded-For` (appended to one
    /// in [`upstream_headers`](Self::upstream_headers)) and `X-Forwarded-Proto` headers of
    /// a dedicated (proxy mode) upstream request; `X-Forwarded-Host` is the `Host` of
    /// [`upstream_headers`](Self::upstream_headers), if any. A shared fan-out request
    /// carries none of them. Default is nothing known.
    pub fn client(&mut self, client: ClientInfo) -> &mut SubscribeOptions {
        self.client = client;
        self
    }

    /// Interval of heartbeat comments ([`Frame::KEEP_ALIVE`]) on the channel while the
    /// upstream is silent (`None`: no heartbeats; must not be zero). Default is the relay's
    /// [`RelayBuilder::heartbeat`](crate::RelayBuilder::heartbeat).
    pub fn heartbeat(&mut self, every: Option<Duration>) -> &mut SubscribeOptions {
        self.heartbeat = Some(every);
        self
    }

    /// Bounds of the channel's backlog kept for replay: events and frame bytes. Default is
    /// the relay's [`RelayBuilder::backlog_events`](crate::RelayBuilder::backlog_events) and
    /// [`RelayBuilder::backlog_bytes`](crate::RelayBuilder::backlog_bytes). Ignored when the
    /// relay has a [`backlog_factory`](crate::RelayBuilder::backlog_factory).
    pub fn backlog(&mut self, events: usize, bytes: usize) -> &mut SubscribeOptions {
        self.backlog = Some((events, bytes));
        self
    }

    /// Count a channel this subscription opens against `budget` (the group's bound, e.g.
    /// one API's), besides the relay's `max_channels`. Default is none. A subscribe that
    /// would open a channel past the budget fails with
    /// [`Error::is_channel_limit`](crate::Error::is_channel_limit); joining an open fan-out
    /// channel always works.
    pub fn channel_budget(&mut self, budget: ChannelBudget) -> &mut SubscribeOptions {
        self.budget = Some(budget);
        self
    }
}
