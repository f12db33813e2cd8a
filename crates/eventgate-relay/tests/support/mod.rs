//! Test support: an SSE backend on 127.0.0.1 that can be killed and restarted mid-stream,
//! an in-memory transport, and helpers to read frames back as events.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eventgate_relay::{BoxError, BoxFuture, Feed, Upstream, UpstreamBody};
use eventgate_sse::{Item, Parser};
use http::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How the backend writes its stream.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// Send `id: n` on each event (and honour `Last-Event-ID`).
    pub ids: bool,
    /// Line ending: "\n", "\r" or "\r\n".
    pub eol: &'static str,
    /// Minimum data size of each event, in bytes.
    pub event_size: usize,
    /// Time between events on one connection.
    pub interval: Duration,
    /// End each connection abruptly after this many events.
    pub die_after: Option<u64>,
    /// Send `retry: <ms>` first.
    pub retry_ms: Option<u64>,
    /// On resume, start this many events before the requested id (a sloppy backend).
    pub overlap: u64,
    /// Stop producing at this event number (the stream then stays open, idle).
    pub last_event: Option<u64>,
    /// Serve HTTP/2 (h2c, prior knowledge) instead of HTTP/1.1.
    pub h2: bool,
    /// Serve https with this configuration (HTTP/2 when ALPN picks `h2`).
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            ids: true,
            eol: "\n",
            event_size: 0,
            interval: Duration::from_millis(1),
            die_after: None,
            retry_ms: None,
            overlap: 0,
            last_event: None,
            h2: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// The data of event `n` (padded to `size` bytes): "n" then dots.
/// Event `n` as a frame, with `n` as its id and its data.
pub fn numbered(n: u64) -> eventgate_relay::Frame {
    let n = n.to_string();
    eventgate_sse::EventBuilder::new()
        .id(&n)
        .data(&n)
        .build()
        .unwrap()
}

pub fn payload(n: u64, size: usize) -> String {
    let mut s = n.to_string();
    while s.len() < size {
        s.push('.');
    }
    s
}

/// Event number of a payload.
pub fn number(data: &str) -> u64 {
    data.trim_end_matches('.').parse().expect("payload number")
}

pub fn frame(n: u64, cfg: &BackendConfig) -> Bytes {
    let e = cfg.eol;
    let data = payload(n, cfg.event_size);
    let mut s = String::with_capacity(data.len() + 32);
    if cfg.ids {
        s.push_str(&format!("id: {n}{e}"));
    }
    // Split huge data into several data lines of 1000 bytes (joined with \n by parsers):
    // keep single-line events for numbers so `number` can parse them.
    s.push_str(&format!("data: {data}{e}{e}"));
    Bytes::from(s)
}

struct State {
    cfg: Mutex<BackendConfig>,
    /// Highest event number sent on any connection.
    head: AtomicU64,
    connections: AtomicU64,
    requests: Mutex<Vec<http::HeaderMap>>,
    versions: Mutex<Vec<http::Version>>,
}

/// A killable SSE backend bound to 127.0.0.1.
pub struct Backend {
    pub addr: SocketAddr,
    state: Arc<State>,
    tasks: Option<JoinSet<()>>,
}

impl Backend {
    pub async fn start(cfg: BackendConfig) -> Backend {
        let state = Arc::new(State {
            cfg: Mutex::new(cfg),
            head: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            versions: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut b = Backend {
            addr,
            state,
            tasks: None,
        };
        b.serve(listener);
        b
    }

    pub fn url(&self, path: &str) -> http::Uri {
        format!("http://{}{}", self.addr, path).parse().unwrap()
    }

    pub fn head(&self) -> u64 {
        self.state.head.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<http::HeaderMap> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn versions(&self) -> Vec<http::Version> {
        self.state.versions.lock().unwrap().clone()
    }

    pub fn set_config(&self, f: impl FnOnce(&mut BackendConfig)) {
        f(&mut self.state.cfg.lock().unwrap());
    }

    /// Kills the server: stops listening and drops every open connection.
    pub fn kill(&mut self) {
        if let Some(mut t) = self.tasks.take() {
            t.abort_all();
        }
    }

    /// Starts listening again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = self.state.clone();
        let mut set = JoinSet::new();
        let conns = Arc::new(Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let conns2 = conns.clone();
        set.spawn(async move {
            // Connections are aborted when this task is (see the guard below).
            let _guard = AbortOnDrop(conns2.clone());
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                let h2 = state.cfg.lock().unwrap().h2;
                #[cfg(feature = "tls")]
                let tls = state.cfg.lock().unwrap().tls.clone();
                let h = tokio::spawn(async move {
                    #[cfg(feature = "tls")]
                    if let Some(cfg) = tls {
                        let Ok(stream) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                        else {
                            return;
                        };
                        let h2 = stream.get_ref().1.alpn_protocol() == Some(&b"h2"[..]);
                        serve_io(stream, h2, state).await;
                        return;
                    }
                    serve_io(stream, h2, state).await;
                });
                conns2.lock().unwrap().push(h.abort_handle());
            }
        });
        self.tasks = Some(set);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve_io<I>(io: I, h2: bool, state: Arc<State>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(respond(state, req)) }
    });
    let io = hyper_util::rt::TokioIo::new(io);
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(io, svc)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, svc)
            .await;
    }
}

struct AbortOnDrop(Arc<Mutex<Vec<tokio::task::AbortHandle>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in self.0.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

fn respond(state: Arc<State>, req: Request<hyper::body::Incoming>) -> Response<ChannelBody> {
    state.connections.fetch_add(1, Ordering::SeqCst);
    state.versions.lock().unwrap().push(req.version());
    state.requests.lock().unwrap().push(req.headers().clone());
    let cfg = state.cfg.lock().unwrap().clone();
    let resume: Option<u64> = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let start = match (cfg.ids, resume) {
        (true, Some(id)) => (id + 1).saturating_sub(cfg.overlap).max(1),
        _ => state.head.load(Ordering::SeqCst) + 1,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(16);
    tokio::spawn(async move {
        if let Some(ms) = cfg.retry_ms
            && tx
                .send(Ok(Bytes::from(format!("retry: {ms}\n\n"))))
                .await
                .is_err()
        {
            return;
        }
        let mut sent = 0u64;
        let mut n = start;
        loop {
            if cfg.last_event.is_some_and(|last| n > last) {
                // Stay open, idle.
                tx.closed().await;
                return;
            }
            tokio::time::sleep(cfg.interval).await;
            state.head.fetch_max(n, Ordering::SeqCst);
            if tx.send(Ok(frame(n, &cfg))).await.is_err() {
                return;
            }
            sent += 1;
            n += 1;
            if cfg.die_after.is_some_and(|k| sent >= k) {
                let _ = tx.send(Err("backend died".into())).await;
                return;
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(ChannelBody { rx })
        .unwrap()
}

/// A body fed by a channel; an `Err` item aborts the response.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }
}

/// An [`Upstream`] answering from a script: each request gets the next scripted answer
/// (repeating the last), and the time of each request is recorded.
pub struct ScriptTransport {
    pub script: Mutex<VecDeque<Scripted>>,
    pub last: Mutex<Option<Scripted>>,
    pub times: Mutex<Vec<tokio::time::Instant>>,
    pub last_event_ids: Mutex<Vec<Option<String>>>,
    pub headers: Mutex<Vec<http::HeaderMap>>,
}

#[derive(Clone)]
pub enum Scripted {
    /// 200 text/event-stream with these chunks, then EOF.
    Stream(Vec<&'static str>),
    /// 200 with these chunks, then stays open forever.
    StreamThenHang(Vec<&'static str>),
    /// This status.
    Status(u16),
    /// 200 with this content type.
    ContentType(&'static str),
    /// Never answers.
    Hang,
    /// Fails to connect (connection refused).
    Refused,
    /// Fails with an I/O timeout.
    TimedOut,
    /// Panics inside the relay's driver task.
    Panic,
}

impl ScriptTransport {
    pub fn new(script: Vec<Scripted>) -> Arc<ScriptTransport> {
        Arc::new(ScriptTransport {
            script: Mutex::new(script.into()),
            last: Mutex::new(None),
            times: Mutex::new(Vec::new()),
            last_event_ids: Mutex::new(Vec::new()),
            headers: Mutex::new(Vec::new()),
        })
    }
    pub fn times(&self) -> Vec<tokio::time::Instant> {
        self.times.lock().unwrap().clone()
    }
}

impl Upstream for ScriptTransport {
    fn request(
        &self,
        req: Request<()>,
    ) -> BoxFuture<'static, Result<Response<UpstreamBody>, BoxError>> {
        self.times.lock().unwrap().push(tokio::time::Instant::now());
        self.headers.lock().unwrap().push(req.headers().clone());
        self.last_event_ids.lock().unwrap().push(
            req.headers()
                .get("last-event-id")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
        let next = {
            let mut s = self.script.lock().unwrap();
            let mut last = self.last.lock().unwrap();
            match s.pop_front() {
                Some(x) => {
                    *last = Some(x.clone());
                    x
                }
                None => last.clone().expect("empty script"),
            }
        };
        let resp = match next {
            Scripted::Hang => return Box::pin(std::future::pending()),
            Scripted::Refused => {
                let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
                return Box::pin(async move { Err(e.into()) });
            }
            Scripted::TimedOut => {
                let e = std::io::Error::from(std::io::ErrorKind::TimedOut);
                return Box::pin(async move { Err(e.into()) });
            }
            Scripted::Panic => panic!("scripted upstream panic"),
            Scripted::Stream(chunks) => sse(chunks, false),
            Scripted::StreamThenHang(chunks) => sse(chunks, true),
            Scripted::Status(s) => Response::builder().status(s).body(empty()).unwrap(),
            Scripted::ContentType(ct) => Response::builder()
                .header("content-type", ct)
                .body(empty())
                .unwrap(),
        };
        Box::pin(async move { Ok(resp) })
    }
}

fn empty() -> UpstreamBody {
    UpstreamBody::empty()
}

fn sse(chunks: Vec<&'static str>, hang: bool) -> Response<UpstreamBody> {
    let (tx, rx) = mpsc::channel(chunks.len() + 1);
    for c in chunks {
        tx.try_send(Ok(Bytes::from_static(c.as_bytes()))).unwrap();
    }
    if hang {
        // Keep the sender alive forever: the body never ends.
        std::mem::forget(tx);
    }
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(UpstreamBody::new(ChannelBody { rx }))
        .unwrap()
}

/// Parses frames a subscriber received into items.
#[derive(Default)]
pub struct Reader {
    parser: Parser,
}

impl Reader {
    pub fn new() -> Reader {
        Reader {
            parser: Parser::builder().comments(true).build(),
        }
    }
    pub fn items(&mut self, frame: Bytes) -> Vec<Item> {
        self.parser.feed(frame);
        std::iter::from_fn(|| self.parser.next())
            .map(|r| r.expect("relay sent a valid stream"))
            .collect()
    }
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }
}

/// Reads from `sub` until it yields `count` events (or ends / times out); returns their
/// data and ids.
pub async fn read_events(sub: &mut Feed, count: usize, timeout: Duration) -> Vec<(String, String)> {
    let mut reader = Reader::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < count {
        let next = tokio::time::timeout_at(deadline, sub.next_frame()).await;
        let Ok(Some(Ok(frame))) = next else { break };
        for item in reader.items(frame) {
            if let Item::Event(ev) = item {
                out.push((ev.data().to_owned(), ev.last_event_id().to_owned()));
            }
        }
    }
    out
}

/// A small deterministic PRNG for seeded tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Serves `relay` on 127.0.0.1 the way the `relay` example does: `GET /<path>?<query>` is
/// relayed to `upstream` with the same path and query; with `forward_headers` (proxy mode)
/// the client's headers are passed on explicitly as the upstream headers.
pub async fn serve_relay(
    relay: eventgate_relay::Relay,
    upstream: http::Uri,
    forward_headers: bool,
) -> SocketAddr {
    use http_body_util::{Either, Full};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let relay = relay.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let relay = relay.clone();
                    let upstream = upstream.clone();
                    async move {
                        let (parts, _) = req.into_parts();
                        let mut opts = eventgate_relay::SubscribeOptions::new();
                        opts.last_event_id(eventgate_relay::last_event_id(&parts.headers))
                            .client(eventgate_relay::ClientInfo::new(Some(peer), Some("http")));
                        if forward_headers {
                            opts.upstream_headers(parts.headers.clone());
                        }
                        let sub = match eventgate_relay::upstream_uri(&upstream, &parts.uri) {
                            Ok(uri) => relay.subscribe(uri, &opts).await,
                            Err(e) => Err(e),
                        };
                        Ok::<_, Infallible>(match sub {
                            Ok(sub) => eventgate_relay::sse_response(sub).map(Either::Left),
                            Err(e) => Response::builder()
                                .status(e.suggested_status())
                                .body(Either::Right(Full::new(Bytes::from(e.to_string()))))
                                .unwrap(),
                        })
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Opens `GET url` with headers and returns the response (head + streaming body).
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Response<hyper::body::Incoming> {
    let uri: http::Uri = url.parse().unwrap();
    let addr = format!("{}:{}", uri.host().unwrap(), uri.port_u16().unwrap());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = Request::get(uri.path_and_query().unwrap().as_str())
        .header("host", uri.authority().unwrap().as_str());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send.send_request(req.body(http_body_util::Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap()
}
