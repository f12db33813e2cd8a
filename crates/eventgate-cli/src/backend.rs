//! The tutorial's sample memory observer: `GET /memory` answers `text/event-stream`.
//!
//! It is modelled on WSO2's sample (`java -jar sse-server-1.0.0.jar --time=5000
//! --interval=1000`), which the WSO2 "Create and Publish a Server Sent Events API" tutorial uses
//! as its backend:
//!
//! - one sampler task reads this machine's memory every [`Settings::interval`] and broadcasts
//!   one event to every open connection (fan-out: one reading, one encoded frame, shared);
//! - each response is ended by the server [`Settings::time`] after it started, so an
//!   `EventSource` reconnects;
//! - `Content-Type: text/event-stream`, `Cache-Control: no-store`; other paths are 404.
//!
//! Unlike WSO2's sample, every event has an `id:` line and a reconnecting client's
//! `Last-Event-ID` is honoured from a bounded history
//! (default [`DEFAULT_HISTORY`] events): the events after that id are sent first, then live
//! ones. An id older than the history, or one this process never sent, starts the client on
//! live events.
//!
//! The id is a counter that goes up by one per event and starts at the Unix time in
//! milliseconds when the backend starts. Events are at least a millisecond apart, so a
//! restarted backend's first id is above every id the previous run sent (unless the clock
//! was set back): a client or a gateway holding an id from before a restart (`kill -9`,
//! then start it again) is never handed a different event under the same id.
//!
//! # The event
//! WSO2's shape, `{"heap":"N bytes","nonHeap":"N bytes","timeStamp":ms}`, with real figures.
//! A JVM's heap and non-heap do not exist here, so the fields are mapped to the operating
//! system's memory (on Linux, from `/proc/meminfo`):
//!
//! | field | meaning |
//! |---|---|
//! | `heap` | memory in use: `MemTotal - MemAvailable` |
//! | `nonHeap` | memory available: `MemAvailable` |
//! | `timeStamp` | when the sample was read, milliseconds since the Unix epoch |
//! | `total` | `MemTotal` (extra field) |
//! | `rss` | this process's resident set size, `VmRSS` of `/proc/self/status` (extra field) |
//!
//! ```text
//! id: 1764660000007
//! data: {"heap":"5123456000 bytes","nonHeap":"3012345000 bytes","timeStamp":1764660000000,"total":"8135801000 bytes","rss":"6512640 bytes"}
//! ```
//!
//! # Running it in-process
//! ```no_run
//! use eventgate_cli::backend::{self, Settings};
//! # async fn demo() -> Result<(), backend::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(backend::run(listener, Settings::default(), async {
//!     let _ = stopped.await;
//! }));
//! // ... later
//! let _ = stop.send(());
//! # let _ = server.await;
//! # Ok(()) }
//! ```

use bytes::Bytes;
use eventgate_sse::EventBuilder;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};

/// Default [`Settings::time`]: 1 s, as WSO2's sample.
pub const DEFAULT_TIME: Duration = Duration::from_millis(1000);
/// Default [`Settings::interval`]: 1 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(1000);
/// Default [`Settings::history`]: the last 1,000 events are kept for `Last-Event-ID`.
pub const DEFAULT_HISTORY: usize = 1000;
/// Default [`Settings::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The one path served.
pub const PATH: &str = "/memory";

/// How the backend behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// How long each response lasts before the server ends it. Default [`DEFAULT_TIME`].
    pub time: Duration,
    /// Time between samples. Default [`DEFAULT_INTERVAL`]; at least 1 ms is used.
    pub interval: Duration,
    /// Events kept for `Last-Event-ID` replay. Default [`DEFAULT_HISTORY`].
    pub history: usize,
    /// Open connections served at once; past it a request gets 503. Default
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            time: DEFAULT_TIME,
            interval: DEFAULT_INTERVAL,
            history: DEFAULT_HISTORY,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl Settings {
    /// Settings with this response lifetime and sample interval, other values default.
    #[must_use]
    pub fn new(time: Duration, interval: Duration) -> Self {
        Settings {
            time,
            interval,
            ..Settings::default()
        }
    }
}

/// Why the backend could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This machine's memory figures cannot be read.
    #[error("cannot read this machine's memory: {0}")]
    Memory(#[from] MemoryError),
    /// The listener failed.
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a memory sample could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The OS file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A field the sample needs is missing or not a number.
    #[error("{path} has no usable {field} line")]
    MissingField {
        /// The file.
        path: &'static str,
        /// The field.
        field: &'static str,
    },
    /// No reader for this operating system.
    #[error("reading memory figures is only implemented for Linux (/proc/meminfo)")]
    Unsupported,
}

/// One reading of this machine's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySample {
    /// Bytes in use (`MemTotal - MemAvailable`), reported as `heap`.
    pub used: u64,
    /// Bytes available (`MemAvailable`), reported as `nonHeap`.
    pub available: u64,
    /// Total bytes (`MemTotal`), reported as `total`.
    pub total: u64,
    /// This process's resident set size in bytes, reported as `rss` (0 if unknown).
    pub rss: u64,
    /// When it was read, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

const MEMINFO: &str = "/proc/meminfo";
const SELF_STATUS: &str = "/proc/self/status";

/// The value in bytes of a `Name:   1234 kB` line.
fn kb_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") => n.checked_mul(1024),
            None => Some(n),
            Some(_) => None,
        }
    })
}

impl MemorySample {
    /// Parses the contents of `/proc/meminfo` and `/proc/self/status`.
    ///
    /// # Errors
    /// [`MemoryError::MissingField`] when `MemTotal` or `MemAvailable` is absent.
    pub fn from_proc(meminfo: &str, status: &str, timestamp_ms: u64) -> Result<Self, MemoryError> {
        let need = |field| {
            kb_field(meminfo, field).ok_or(MemoryError::MissingField {
                path: MEMINFO,
                field,
            })
        };
        let total = need("MemTotal")?;
        let available = need("MemAvailable")?;
        Ok(MemorySample {
            used: total.saturating_sub(available),
            available,
            total,
            rss: kb_field(status, "VmRSS").unwrap_or(0),
            timestamp_ms,
        })
    }

    /// Reads this machine's memory now (blocking file reads of the OS's in-memory files).
    ///
    /// # Errors
    /// A [`MemoryError`] when the figures cannot be read.
    pub fn read() -> Result<Self, MemoryError> {
        if !cfg!(target_os = "linux") {
            return Err(MemoryError::Unsupported);
        }
        let meminfo = std::fs::read_to_string(MEMINFO).map_err(|source| MemoryError::Read {
            path: MEMINFO,
            source,
        })?;
        let status = std::fs::read_to_string(SELF_STATUS).unwrap_or_default();
        Self::from_proc(&meminfo, &status, now_ms())
    }

    /// The event's data: WSO2's JSON shape plus `total` and `rss`.
    #[must_use]
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"heap":"{} bytes","nonHeap":"{} bytes","timeStamp":{},"total":"{} bytes","rss":"{} bytes"}}"#,
            self.used, self.available, self.timestamp_ms, self.total, self.rss
        )
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Events kept for replay and the live feed, changed together under one lock so that a new
/// subscriber sees every event exactly once (replayed or live).
#[derive(Debug)]
struct Hub {
    history: Mutex<VecDeque<(u64, Bytes)>>,
    live: broadcast::Sender<(u64, Bytes)>,
    capacity: usize,
}

impl Hub {
    fn new(capacity: usize) -> Self {
        let (live, _) = broadcast::channel(64);
        Hub {
            history: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            live,
            capacity,
        }
    }

    fn publish(&self, id: u64, frame: Bytes) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if self.capacity > 0 {
            if history.len() == self.capacity {
                history.pop_front();
            }
            history.push_back((id, frame.clone()));
        }
        // No receivers is fine: nobody is connected.
        let _ = self.live.send((id, frame));
    }

    /// The frames after `last_id` that the history still holds (none if `last_id` is older
    /// than the history or newer than anything sent), and a receiver for what follows.
    fn subscribe(&self, last_id: Option<u64>) -> (Vec<Bytes>, broadcast::Receiver<(u64, Bytes)>) {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.live.subscribe();
        let replay = match (last_id, history.front(), history.back()) {
            (Some(last), Some(&(oldest, _)), Some(&(newest, _)))
                if last.saturating_add(1) >= oldest && last <= newest =>
            {
                history
                    .iter()
                    .filter(|(id, _)| *id > last)
                    .map(|(_, f)| f.clone())
                    .collect()
            }
            _ => Vec::new(),
        };
        (replay, rx)
    }
}

fn frame(id: u64, sample: &MemorySample) -> Bytes {
    let id = id.to_string();
    let data = sample.to_json();
    EventBuilder::new()
        .id(&id)
        .data(&data)
        .build()
        .map(eventgate_sse::Frame::into_bytes)
        // A decimal id has no line break or NUL: building cannot fail.
        .unwrap_or_default()
}

/// Serves the sample backend on `listener` until `shutdown` completes, then ends every open
/// response and returns.
///
/// # Errors
/// [`Error::Memory`] at once if this machine's memory cannot be read; [`Error::Io`] if
/// accepting connections fails for good.
pub async fn run<F>(listener: TcpListener, settings: Settings, shutdown: F) -> Result<(), Error>
where
    F: Future<Output = ()> + Send,
{
    // Fail early, and with a clear error, where the figures cannot be read.
    tokio::task::spawn_blocking(MemorySample::read)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;

    let hub = Arc::new(Hub::new(settings.history));
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sample_loop(hub.clone(), settings.interval, stop_rx.clone()));
    let open = Arc::new(AtomicUsize::new(0));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());

    let mut shutdown = std::pin::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) if is_transient(&e) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => break Err(Error::Io(e)),
                };
                let _ = stream.set_nodelay(true);
                let state = ConnState {
                    hub: hub.clone(),
                    settings: settings.clone(),
                    stop: stop_rx.clone(),
                    open: open.clone(),
                };
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.handle(req)) }
                });
                let conn = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        }
    };
    let _ = stop_tx.send(true);
    sampler.abort();
    // Open responses end as soon as they see the stop signal; give connections a moment.
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
    result
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE: wait for a descriptor to be freed
        || e.raw_os_error() == Some(23)
}

async fn sample_loop(hub: Arc<Hub>, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_id = first_id(SystemTime::now());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let Ok(Ok(sample)) = tokio::task::spawn_blocking(MemorySample::read).await else {
            continue;
        };
        hub.publish(next_id, frame(next_id, &sample));
        next_id += 1;
    }
}

/// The first event's id: the Unix time in milliseconds at `now` (1 for a clock before 1970).
fn first_id(now: SystemTime) -> u64 {
    let ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    u64::try_from(ms).unwrap_or(u64::MAX / 2).max(1)
}

#[derive(Clone)]
struct ConnState {
    hub: Arc<Hub>,
    settings: Settings,
    stop: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
}

type Body = BoxBody<Bytes, Infallible>;

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

impl ConnState {
    fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if req.uri().path() != PATH {
            return plain(
                StatusCode::NOT_FOUND,
                "not found: this backend serves GET /memory\n",
            );
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let slot = Slot::take(&self.open, self.settings.max_connections);
        let Some(slot) = slot else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open connections\n",
            );
        };
        let last_id = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let (replay, live) = self.hub.subscribe(last_id);
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(forward(
            replay,
            live,
            tx,
            self.settings.time,
            self.stop.clone(),
            slot,
        ));
        let mut resp = Response::new(ChannelBody { rx }.boxed());
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// One counted open connection; released on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Feeds one response: replayed frames, then live ones, until `time` has passed, the client
/// has gone, it fell behind the live feed (it reconnects and catches up from the history), or
/// the server stops.
async fn forward(
    replay: Vec<Bytes>,
    mut live: broadcast::Receiver<(u64, Bytes)>,
    tx: mpsc::Sender<Bytes>,
    time: Duration,
    mut stop: watch::Receiver<bool>,
    _slot: Slot,
) {
    let deadline = tokio::time::sleep(time);
    tokio::pin!(deadline);
    for frame in replay {
        if tx.send(frame).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            () = &mut deadline => return,
            _ = stop.changed() => return,
            () = tx.closed() => return,
            msg = live.recv() => match msg {
                Ok((_, frame)) => {
                    if tx.send(frame).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            },
        }
    }
}

/// A response body fed by a channel; ends when the sender is dropped.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|frame| frame.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO_SAMPLE: &str =
        "MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    3000000 kB\n";

    #[test]
    fn meminfo_maps_to_used_available_and_total() {
        let s =
            MemorySample::from_proc(MEMINFO_SAMPLE, "Name:\tx\nVmRSS:\t  2048 kB\n", 42).unwrap();
        assert_eq!(s.total, 8_000_000 * 1024);
        assert_eq!(s.available, 3_000_000 * 1024);
        assert_eq!(s.used, 5_000_000 * 1024);
        assert_eq!(s.rss, 2048 * 1024);
        assert_eq!(
            s.to_json(),
            r#"{"heap":"5120000000 bytes","nonHeap":"3072000000 bytes","timeStamp":42,"total":"8192000000 bytes","rss":"2097152 bytes"}"#
        );
    }

    #[test]
    fn meminfo_without_memavailable_is_an_error() {
        let err = MemorySample::from_proc("MemTotal: 1 kB\n", "", 0).unwrap_err();
        assert!(matches!(
            err,
            MemoryError::MissingField {
                field: "MemAvailable",
                ..
            }
        ));
    }

    #[test]
    fn the_first_id_is_the_start_time_in_milliseconds() {
        assert_eq!(first_id(UNIX_EPOCH + Duration::from_millis(1_500)), 1_500);
        assert_eq!(first_id(UNIX_EPOCH), 1, "never 0");
        assert_eq!(first_id(UNIX_EPOCH - Duration::from_secs(1)), 1);
    }

    #[test]
    fn replay_covers_ids_after_last_within_history_only() {
        let hub = Hub::new(3);
        for id in 1..=5 {
            hub.publish(id, Bytes::from(id.to_string()));
        }
        // History holds 3, 4, 5.
        let ids = |last| {
            hub.subscribe(last)
                .0
                .into_iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(Some(3)), ["4", "5"]);
        assert_eq!(ids(Some(2)), ["3", "4", "5"]);
        assert!(ids(Some(1)).is_empty(), "older than the history: live only");
        assert!(ids(Some(5)).is_empty());
        assert!(ids(Some(99)).is_empty(), "an id never sent: live only");
        assert!(ids(None).is_empty());
    }
}
