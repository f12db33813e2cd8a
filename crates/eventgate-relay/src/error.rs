//! The relay's one error type: opaque, with predicates.

use std::error::Error as StdError;
use std::fmt;

use eventgate_types::BoxError;
use http::StatusCode;

/// Errors of the relay.
///
/// The type is opaque on purpose (its `Display` text is not part of the API): ask it what
/// happened with the `is_*` predicates, which side failed with [`Error::side`], and which
/// HTTP status a gateway should answer with [`Error::suggested_status`]. Errors never carry
/// request URIs, headers or credentials.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<BoxError>,
}

/// Where a timeout happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Connect,
    ResponseHead,
    Shutdown,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Timeout(Phase),
    /// The TCP/TLS connection or the request to the upstream failed.
    UpstreamConnect,
    /// The upstream answered with a non-2xx status.
    UpstreamStatus(StatusCode),
    /// The upstream answered 2xx but not with `text/event-stream`.
    UpstreamContentType,
    /// The subscriber fell further behind than its queue allows and was cut off.
    Lagged,
    /// The relay (or the channel) is shutting down.
    Shutdown,
    /// The channel was closed (its upstream failed for good or it was closed explicitly).
    Closed,
    /// The subscriber's `Last-Event-ID` is not in the backlog (and the policy rejects it).
    UnknownId,
    /// The request is not usable (for example a URI without authority).
    InvalidRequest(&'static str),
    /// A builder setting is out of range (found by `build`, before anything runs).
    InvalidConfig(&'static str),
    /// Opening a channel would cross the relay's `max_channels`.
    ChannelLimit,
}

/// Which side of the relay an [`Error`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// The backend (upstream) connection.
    Upstream,
    /// A subscriber (downstream client).
    Downstream,
    /// The relay itself: shutdown, closed channels, invalid requests.
    Internal,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Error {
        Error {
            inner: Box::new(Inner { kind, source: None }),
        }
    }

    pub(crate) fn with_source(kind: Kind, source: impl Into<BoxError>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                source: Some(source.into()),
            }),
        }
    }

    pub(crate) fn timeout(phase: Phase) -> Error {
        Error::new(Kind::Timeout(phase))
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.inner.kind
    }

    /// Which side failed.
    pub fn side(&self) -> Side {
        match self.inner.kind {
            Kind::Timeout(Phase::Shutdown)
            | Kind::Shutdown
            | Kind::Closed
            | Kind::UnknownId
            | Kind::InvalidRequest(_)
            | Kind::InvalidConfig(_)
            | Kind::ChannelLimit => Side::Internal,
            Kind::Timeout(_)
            | Kind::UpstreamConnect
            | Kind::UpstreamStatus(_)
            | Kind::UpstreamContentType => Side::Upstream,
            Kind::Lagged => Side::Downstream,
        }
    }

    /// True if a timeout expired (connect, response head, or shutdown deadline).
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }

    /// True if the upstream (backend) side failed: connect, status, content type, or an
    /// upstream timeout.
    pub fn is_upstream(&self) -> bool {
        self.side() == Side::Upstream
    }

    /// True if the downstream (subscriber) side failed: a slow consumer was cut off.
    pub fn is_downstream(&self) -> bool {
        self.side() == Side::Downstream
    }

    /// True if connecting to the upstream failed (DNS, TCP, TLS, or the request itself).
    pub fn is_connect(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::UpstreamConnect | Kind::Timeout(Phase::Connect)
        )
    }

    /// True if the upstream answered with a non-2xx status; see [`Error::status`].
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, Kind::UpstreamStatus(_))
    }

    /// The upstream's non-2xx status, if that is what failed.
    pub fn status(&self) -> Option<StatusCode> {
        match self.inner.kind {
            Kind::UpstreamStatus(s) => Some(s),
            _ => None,
        }
    }

    /// True if the upstream answered 2xx with a content type other than `text/event-stream`.
    pub fn is_content_type(&self) -> bool {
        matches!(self.inner.kind, Kind::UpstreamContentType)
    }

    /// True if a subscriber fell too far behind and was cut off (slow consumer). The client
    /// should reconnect with `Last-Event-ID` and replay from the backlog.
    pub fn is_lagged(&self) -> bool {
        matches!(self.inner.kind, Kind::Lagged)
    }

    /// True if the relay or the channel is shutting down.
    pub fn is_shutdown(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Shutdown | Kind::Timeout(Phase::Shutdown)
        )
    }

    /// True if the channel is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.inner.kind, Kind::Closed)
    }

    /// True if the subscriber's `Last-Event-ID` was not in the backlog and the
    /// [`UnknownId::Reject`](crate::UnknownId::Reject) policy refused the subscription (or a
    /// bare channel met [`UnknownId::ForwardToBackend`](crate::UnknownId::ForwardToBackend)).
    pub fn is_unknown_id(&self) -> bool {
        matches!(self.inner.kind, Kind::UnknownId)
    }

    /// True if the request was rejected before any I/O (for example an upstream URI that
    /// is not absolute `http` or `https`, or a zero heartbeat in its options).
    pub fn is_invalid_request(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidRequest(_))
    }

    /// True if a builder refused its settings (a limit out of range, an invalid root
    /// certificate): returned by `build`, before anything runs.
    pub fn is_invalid_config(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidConfig(_))
    }

    /// True if a new channel was refused because the relay already holds
    /// [`RelayBuilder::max_channels`](crate::RelayBuilder::max_channels) channels. Joining
    /// an open fan-out channel is never refused.
    pub fn is_channel_limit(&self) -> bool {
        matches!(self.inner.kind, Kind::ChannelLimit)
    }

    /// The status a gateway should answer a client with when this error ends a subscribe
    /// attempt: 504 for upstream timeouts, 502 for a bad upstream answer, 503 when the
    /// upstream cannot be reached, the relay is shutting down or holds its maximum of
    /// channels, 400 for invalid requests, 500 for an invalid configuration.
    pub fn suggested_status(&self) -> StatusCode {
        match self.inner.kind {
            Kind::Timeout(Phase::Shutdown) | Kind::Shutdown | Kind::Closed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Kind::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Kind::UpstreamConnect => StatusCode::SERVICE_UNAVAILABLE,
            Kind::UpstreamStatus(_) | Kind::UpstreamContentType => StatusCode::BAD_GATEWAY,
            Kind::Lagged => StatusCode::SERVICE_UNAVAILABLE,
            Kind::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Kind::InvalidConfig(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::ChannelLimit => StatusCode::SERVICE_UNAVAILABLE,
            Kind::UnknownId => StatusCode::CONFLICT,
        }
    }

    fn description(&self) -> &'static str {
        match self.inner.kind {
            Kind::Timeout(Phase::Connect) => "timed out connecting to upstream",
            Kind::Timeout(Phase::ResponseHead) => "timed out waiting for the upstream response",
            Kind::Timeout(Phase::Shutdown) => "shutdown deadline expired",
            Kind::UpstreamConnect => "could not connect to upstream",
            Kind::UpstreamStatus(_) => "upstream answered with an error status",
            Kind::UpstreamContentType => "upstream did not answer with text/event-stream",
            Kind::Lagged => "subscriber fell behind and was cut off",
            Kind::Shutdown => "relay is shutting down",
            Kind::Closed => "channel closed",
            Kind::UnknownId => "last-event-id not in backlog",
            Kind::InvalidRequest(what) | Kind::InvalidConfig(what) => what,
            Kind::ChannelLimit => "too many channels open",
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("eventgate_relay::Error");
        d.field("kind", &self.inner.kind);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())?;
        if let Kind::UpstreamStatus(s) = self.inner.kind {
            write!(f, " ({})", s.as_u16())?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_map_to_bad_gateway_and_report_the_status() {
        let e = Error::new(Kind::UpstreamStatus(StatusCode::NOT_FOUND));
        assert!(e.is_upstream() && e.is_status() && !e.is_timeout());
        assert_eq!(e.status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(e.suggested_status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            e.to_string(),
            "upstream answered with an error status (404)"
        );
    }

    #[test]
    fn timeouts_and_lag_report_their_side() {
        let t = Error::timeout(Phase::ResponseHead);
        assert!(t.is_timeout() && t.is_upstream());
        assert_eq!(t.suggested_status(), StatusCode::GATEWAY_TIMEOUT);
        let c = Error::timeout(Phase::Connect);
        assert!(c.is_connect());
        let l = Error::new(Kind::Lagged);
        assert!(l.is_lagged() && l.is_downstream() && !l.is_upstream());
        let s = Error::timeout(Phase::Shutdown);
        assert!(s.is_shutdown() && s.side() == Side::Internal);
    }

    #[test]
    fn error_is_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
