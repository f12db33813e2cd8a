//! The hub: the relay's open channels, fan-out channels by key, and the readiness of a
//! channel's first upstream connection.

use std::collections::HashMap;
use std::time::Duration;

use http::Uri;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::watch;

use crate::channel::Channel;
use crate::error::{Error, Kind};
use crate::shared::{BacklogKey, fnv1a};

#[derive(Default)]
pub(crate) struct Hub {
    /// Fan-out channels by key.
    pub(crate) fanout: HashMap<ChannelKey, HubEntry>,
    /// Every open channel (fan-out and proxy), for shutdown and the channel bound.
    pub(crate) all: HashMap<u64, Channel>,
}

#[derive(Clone)]
pub(crate) struct HubEntry {
    pub(crate) reg: u64,
    pub(crate) channel: Channel,
    pub(crate) ready: watch::Receiver<ConnState>,
}

#[derive(Clone, Debug)]
pub(crate) enum ConnState {
    Connecting,
    Live,
    Failed(Kind),
}

/// What a channel is made of: its (normalised) upstream URI and its channel settings.
#[derive(Clone)]
pub(crate) struct ChannelSettings {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) backlog: (usize, usize),
}

/// Fan-out subscribers share a channel exactly when their keys are equal: same normalised
/// URI, same upstream headers (in any order), same heartbeat and backlog bounds.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ChannelKey {
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    heartbeat: Option<Duration>,
    backlog: (usize, usize),
}

impl ChannelSettings {
    /// The headers sent upstream, in a stable order.
    fn sorted_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        // What is sent, so headers the relay drops anyway (a client's `Host` or
        // `Last-Event-ID`) do not split a channel.
        let mut headers: Vec<(HeaderName, HeaderValue)> =
            crate::upstream::sent_headers(&self.headers)
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
        headers.sort_by(|a, b| (a.0.as_str(), a.1.as_bytes()).cmp(&(b.0.as_str(), b.1.as_bytes())));
        headers
    }

    /// The channel's name in a backlog, the same on every node (see [`BacklogKey`]).
    pub(crate) fn backlog_key(&self) -> BacklogKey {
        let headers = self.sorted_headers();
        if headers.is_empty() {
            return BacklogKey::new(self.uri.to_string());
        }
        let parts: Vec<&[u8]> = headers
            .iter()
            .flat_map(|(n, v)| [n.as_str().as_bytes(), v.as_bytes()])
            .collect();
        BacklogKey::new(format!("{}#{:016x}", self.uri, fnv1a(&parts)))
    }

    pub(crate) fn key(&self) -> ChannelKey {
        let headers = self.sorted_headers();
        ChannelKey {
            uri: self.uri.clone(),
            headers,
            heartbeat: self.heartbeat,
            backlog: self.backlog,
        }
    }
}

/// Waits for a channel's first upstream answer.
pub(crate) async fn wait_ready(mut rx: watch::Receiver<ConnState>) -> Result<(), Error> {
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
