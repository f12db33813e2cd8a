//! A server runner for any `tower` service, the gateway's included: listeners, TLS, HTTP/1.1
//! and HTTP/2, a header-read timeout, a connection limit and graceful shutdown.
//!
//! The gateway itself owns no listener: embed it in your own hyper or axum server, or let
//! [`Server::run`] serve it. The runner
//! - accepts on any number of [`Listener`]s, plain or TLS (rustls, ALPN `h2` and
//!   `http/1.1`; certificates from PEM files or [`TlsConfig::self_signed`] for local use);
//! - speaks HTTP/1.1 and HTTP/2 on every listener (over plain TCP, HTTP/2 by prior knowledge,
//!   "h2c");
//! - bounds the time a client may take to send its request head
//!   ([`ServerBuilder::header_read_timeout`]) and the number of open connections
//!   ([`ServerBuilder::max_connections`]: past it, accepting waits);
//! - puts a [`ConnectInfo`] (addresses, TLS or not) into every request's extensions;
//! - answers the first request of an HTTP/1.1 connection, when it is a `GET` or `HEAD`
//!   without a body (every event stream), on a lean path of its own that holds no buffer
//!   while the response idles (hyper's HTTP/1 connection keeps 16 KiB per connection), and
//!   gives everything else, and the connection after that first response, to hyper
//!   ([`ServerBuilder::lean_http1`]);
//! - sets no timeout on whole responses, so an event stream lasts as long as it needs to, and
//!   neither buffers nor compresses bodies: frames go to the socket as the service yields
//!   them.
//!
//! On shutdown it stops accepting, asks every connection to finish (HTTP/1.1 after the current
//! response, HTTP/2 with GOAWAY) and waits up to [`ServerBuilder::shutdown_grace`]. Streams end
//! when their bodies do: end them (the gateway's `shutdown` sends each a final `retry:` hint)
//! in the shutdown future before it completes.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventgate_types::BoxError;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

mod direct;
mod lean;

/// Default time a client has to send a complete request head (and, over TLS, finish the
/// handshake): 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on open connections across all listeners: 25,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 25_000;
/// Default time connections get to finish after shutdown begins: 10 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default cap on concurrent HTTP/2 streams per connection: 256.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 256;

/// Why the server could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadPem {
        /// The file.
        path: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A certificate chain or private key is not usable PEM.
    #[error("invalid {what}: {reason}")]
    InvalidPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("TLS configuration refused: {0}")]
    Tls(#[from] rustls::Error),
    /// A self-signed certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    SelfSigned(String),
    /// A builder setting is out of range.
    #[error("invalid server setting: {0}")]
    Setting(&'static str),
}

/// The body of a request the [`Server`] hands to its service: hyper's [`Incoming`] for
/// requests hyper read, empty for those the lean HTTP/1.1 path read (a `GET` or `HEAD`
/// without a body). Services generic over the request body (the gateway, axum routers) take
/// it as they are.
#[derive(Debug)]
pub struct RequestBody(BodyKind);

#[derive(Debug)]
enum BodyKind {
    Hyper(Incoming),
    Empty,
}

impl RequestBody {
    fn empty() -> Self {
        Self(BodyKind::Empty)
    }
}

impl From<Incoming> for RequestBody {
    fn from(body: Incoming) -> Self {
        Self(BodyKind::Hyper(body))
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().0 {
            BodyKind::Hyper(b) => std::pin::Pin::new(b).poll_frame(cx),
            BodyKind::Empty => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyKind::Hyper(b) => b.is_end_stream(),
            BodyKind::Empty => true,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.0 {
            BodyKind::Hyper(b) => b.size_hint(),
            BodyKind::Empty => http_body::SizeHint::with_exact(0),
        }
    }
}

/// What the runner knows about the connection a request came in on; in every request's
/// extensions (`req.extensions().get::<ConnectInfo>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectInfo {
    remote: SocketAddr,
    local: SocketAddr,
    tls: bool,
}

impl ConnectInfo {
    /// Info for a connection (for embedders that run their own accept loop).
    #[must_use]
    pub fn new(remote: SocketAddr, local: SocketAddr, tls: bool) -> Self {
        Self { remote, local, tls }
    }

    /// The client's address.
    #[must_use]
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The local address the connection was accepted on.
    #[must_use]
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Whether the connection is TLS (the request came over `https`).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// A server certificate chain and key, for TLS listeners.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// A certificate made by [`TlsConfig::self_signed`], for clients to trust.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate, PEM (give it to `curl --cacert`).
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

impl TlsConfig {
    /// A configuration from a PEM certificate chain (leaf first) and a PEM private key (PKCS#8,
    /// PKCS#1 or SEC1).
    ///
    /// # Errors
    /// [`ServerError::InvalidPem`] or [`ServerError::Tls`].
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, ServerError> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServerError::InvalidPem {
                what: "certificate",
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(ServerError::InvalidPem {
                what: "certificate",
                reason: "no CERTIFICATE block".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| ServerError::InvalidPem {
            what: "private key",
            reason: e.to_string(),
        })?;
        Self::from_der(chain, key)
    }

    /// Like [`TlsConfig::from_pem`], reading two files.
    ///
    /// # Errors
    /// [`ServerError::ReadPem`], [`ServerError::InvalidPem`] or [`ServerError::Tls`].
    pub fn from_pem_files(cert_chain: &Path, key: &Path) -> Result<Self, ServerError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ServerError::ReadPem {
                path: p.display().to_string(),
                source,
            })
        };
        Self::from_pem(&read(cert_chain)?, &read(key)?)
    }

    /// A fresh self-signed certificate for `names` (DNS names or IP addresses; for local use
    /// and tests), and the configuration serving it.
    ///
    /// ```
    /// let (tls, cert) = eventgate::server::TlsConfig::self_signed(&["localhost", "127.0.0.1"])?;
    /// assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    /// # Ok::<(), eventgate::server::ServerError>(())
    /// ```
    ///
    /// # Errors
    /// [`ServerError::SelfSigned`] when `names` is empty or holds an unusable name.
    pub fn self_signed(names: &[&str]) -> Result<(Self, SelfSigned), ServerError> {
        if names.is_empty() {
            return Err(ServerError::SelfSigned("no subject names".into()));
        }
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| ServerError::SelfSigned(e.to_string()))?;
        let cert_der = certified.cert.der().to_vec();
        let cert_pem = certified.cert.pem();
        let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let tls = Self::from_der(vec![CertificateDer::from(cert_der.clone())], key)?;
        Ok((tls, SelfSigned { cert_pem, cert_der }))
    }

    /// The same certificate, offering only `http/1.1` by ALPN.
    fn http1_only(self) -> Self {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            config: Arc::new(config),
        }
    }

    fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, ServerError> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

/// A bound socket the server accepts on, plain or TLS.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsConfig>,
}

impl Listener {
    /// Binds `addr` (plain HTTP).
    ///
    /// # Errors
    /// [`ServerError::Bind`] naming the address (e.g. when the port is taken).
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServerError> {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self { tcp, tls: None })
    }

    /// Binds `addr` for TLS.
    ///
    /// # Errors
    /// [`ServerError::Bind`] naming the address.
    pub async fn bind_tls(addr: SocketAddr, tls: TlsConfig) -> Result<Self, ServerError> {
        let mut l = Self::bind(addr).await?;
        l.tls = Some(tls);
        Ok(l)
    }

    /// Wraps an already bound listener.
    #[must_use]
    pub fn from_tcp(tcp: TcpListener, tls: Option<TlsConfig>) -> Self {
        Self { tcp, tls }
    }

    /// The address it is bound to (the port, when bound to port 0).
    ///
    /// # Errors
    /// What the OS says.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Whether it serves TLS.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// Settings of a [`Server`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerBuilder {
    header_read_timeout: Duration,
    max_connections: usize,
    shutdown_grace: Duration,
    max_concurrent_streams: u32,
    lean_http1: bool,
    direct_delivery: bool,
    http2: bool,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    /// The defaults.
    pub fn new() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            lean_http1: true,
            direct_delivery: true,
            http2: true,
        }
    }

    /// Whether HTTP/2 is served besides HTTP/1.1: by ALPN `h2` over TLS, with prior
    /// knowledge (h2c) over plain HTTP. On by default; off, TLS offers only `http/1.1` and
    /// a plain connection is read as HTTP/1.1.
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = on;
        self
    }

    /// Whether the first request of an HTTP/1.1 connection, when it is a `GET` or `HEAD`
    /// without a body, is answered on the lean path (module docs): on by default. Its
    /// response is the same bytes hyper would send (status line, headers, `Date`, chunked or
    /// `Content-Length` framing) and it ends when the client hangs up, as with hyper; off,
    /// hyper answers every request, and an idle event stream holds hyper's 16 KiB of
    /// connection buffers.
    pub fn lean_http1(mut self, on: bool) -> Self {
        self.lean_http1 = on;
        self
    }

    /// Whether a lean stream over plain TCP (no TLS) whose response carries an
    /// [`eventgate_relay::DirectHandle`] (the gateway's event streams do) is given to the
    /// relay once caught up, to have its live events written to the socket by the relay
    /// itself instead of by the connection's task: on by default (docs/architecture.md,
    /// "Direct delivery"; about a quarter to a third less CPU per event at 1,000 streams).
    /// Off, every event wakes its stream's task, as over TLS.
    ///
    /// ```
    /// let server = eventgate::server::Server::builder().direct_delivery(false).build()?;
    /// # drop(server);
    /// # Ok::<(), eventgate::server::ServerError>(())
    /// ```
    pub fn direct_delivery(mut self, on: bool) -> Self {
        self.direct_delivery = on;
        self
    }

    /// Time a client has to send its request head (and finish a TLS handshake). Default is
    /// [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn header_read_timeout(mut self, t: Duration) -> Self {
        self.header_read_timeout = t;
        self
    }

    /// Cap on open connections; past it the server stops accepting until one closes. Default
    /// is [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Time connections get to finish once shutdown begins. Default is
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn shutdown_grace(mut self, t: Duration) -> Self {
        self.shutdown_grace = t;
        self
    }

    /// Cap on concurrent HTTP/2 streams per connection. Default is
    /// [`DEFAULT_MAX_CONCURRENT_STREAMS`].
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.max_concurrent_streams = n;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`ServerError::Setting`] for a zero timeout, connection cap or stream cap.
    pub fn build(self) -> Result<Server, ServerError> {
        if self.header_read_timeout.is_zero() {
            return Err(ServerError::Setting("header_read_timeout must be > 0"));
        }
        if self.max_connections == 0 {
            return Err(ServerError::Setting("max_connections must be > 0"));
        }
        if self.max_concurrent_streams == 0 {
            return Err(ServerError::Setting("max_concurrent_streams must be > 0"));
        }
        Ok(Server { cfg: self })
    }
}

/// Serves a `tower` service on listeners until a shutdown future completes.
///
/// ```no_run
/// use eventgate::server::{Listener, Server};
/// # async fn run<S, B>(service: S) -> Result<(), Box<dyn std::error::Error>>
/// # where
/// #     S: tower_service::Service<http::Request<eventgate::server::RequestBody>, Response = http::Response<B>>
/// #         + Clone + Send + 'static,
/// #     S::Future: Send + 'static,
/// #     S::Error: Into<eventgate_types::BoxError>,
/// #     B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
/// #     B::Error: Into<eventgate_types::BoxError>,
/// # {
/// let http = Listener::bind("127.0.0.1:8280".parse()?).await?;
/// Server::builder().build()?
///     .run(vec![http], service, std::future::pending::<()>())
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    cfg: ServerBuilder,
}

impl Server {
    /// The settings, starting from the defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// Accepts on every listener and serves `service` on each connection until `shutdown`
    /// completes, then drains as the module docs say.
    ///
    /// # Errors
    /// Accept errors are retried (after a short pause when the process is out of file
    /// descriptors); this returns only once shut down, `Ok`.
    pub async fn run<S, B, F>(
        self,
        listeners: Vec<Listener>,
        service: S,
        shutdown: F,
    ) -> Result<(), ServerError>
    where
        S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = ()> + Send,
    {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        if !self.cfg.http2 {
            builder = builder.http1_only();
        }
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.cfg.header_read_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.cfg.max_concurrent_streams)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        let shared = Arc::new(Shared {
            builder,
            header_timeout: self.cfg.header_read_timeout,
            lean: self.cfg.lean_http1,
            direct: self.cfg.lean_http1 && self.cfg.direct_delivery,
        });
        let graceful = Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
        let permits = Arc::new(Semaphore::new(self.cfg.max_connections));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut accept_tasks = tokio::task::JoinSet::new();
        for mut listener in listeners {
            if !self.cfg.http2 {
                listener.tls = listener.tls.map(TlsConfig::http1_only);
            }
            accept_tasks.spawn(accept_loop(
                listener,
                service.clone(),
                Arc::clone(&shared),
                Arc::clone(&graceful),
                Arc::clone(&permits),
                stop_rx.clone(),
            ));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        while accept_tasks.join_next().await.is_some() {}
        // Every accept loop has ended, so this is the last handle.
        if let Ok(graceful) = Arc::try_unwrap(graceful) {
            let _ = tokio::time::timeout(self.cfg.shutdown_grace, graceful.shutdown()).await;
        }
        Ok(())
    }
}

async fn accept_loop<S, B>(
    listener: Listener,
    service: S,
    shared: Arc<Shared>,
    graceful: Arc<hyper_util::server::graceful::GracefulShutdown>,
    permits: Arc<Semaphore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let acceptor = listener
        .tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(Arc::clone(&t.config)));
    let Ok(local) = listener.tcp.local_addr() else {
        return;
    };
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => return,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (tcp, remote) = tokio::select! {
            _ = stop.changed() => return,
            r = listener.tcp.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE/ENFILE and friends: back off instead of spinning.
                    if !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let info = ConnectInfo::new(remote, local, acceptor.is_some());
        // One span per connection. It is entered while a request is handled (the gateway's
        // "stream opened" record), and the gateway keeps it for the stream's later records
        // ("stream closed"); it is not entered on each poll of the connection, which an idle
        // or busy event stream would pay for every event it writes.
        let span = tracing::info_span!(
            target: "eventgate::conn",
            "connection",
            conn = NEXT_CONNECTION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            client = %remote,
            tls = acceptor.is_some(),
        );
        let svc = WithInfo {
            inner: service.clone(),
            info,
            span,
        };
        let handshake_timeout = shared.header_timeout;
        let conn = Conn {
            svc,
            shared: Arc::clone(&shared),
            watcher: graceful.watcher(),
            stop: stop.clone(),
        };
        match &acceptor {
            None if shared.direct => {
                tokio::spawn(async move {
                    // Shareable with the relay, which may write a stream's events itself.
                    conn.serve(direct::SharedTcp::new(tcp)).await;
                    drop(permit);
                });
            }
            None => {
                tokio::spawn(async move {
                    conn.serve(tcp).await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await
                    {
                        conn.serve(tls).await;
                    }
                    drop(permit);
                });
            }
        }
    }
}

/// What every connection of a server shares.
struct Shared {
    builder: auto::Builder<TokioExecutor>,
    header_timeout: Duration,
    lean: bool,
    /// Plain TCP connections are shared with the relay ([`ServerBuilder::direct_delivery`]).
    direct: bool,
}

/// One accepted connection and what serving it takes.
struct Conn<S> {
    svc: WithInfo<S>,
    shared: Arc<Shared>,
    /// Held until the connection ends, so graceful shutdown waits for it.
    watcher: hyper_util::server::graceful::Watcher,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl<S> Conn<S> {
    /// The first request on the lean path when it qualifies, then (or else) hyper.
    async fn serve<IO, B>(mut self, mut io: IO)
    where
        IO: tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + direct::DirectIo
            + Unpin
            + Send
            + 'static,
        S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut prefix = Bytes::new();
        if self.shared.lean {
            let head = tokio::select! {
                _ = self.stop.wait_for(|stopped| *stopped) => return,
                h = tokio::time::timeout(self.shared.header_timeout, lean::read_head(&mut io)) => h,
            };
            match head {
                Err(_) | Ok(lean::Head::Closed) => return,
                Ok(lean::Head::Hyper(bytes)) => prefix = bytes,
                Ok(lean::Head::Lean(req)) => {
                    match lean::respond(&mut io, self.svc.clone(), req).await {
                        Ok(Some(rest)) if !*self.stop.borrow() => prefix = rest,
                        _ => {
                            use tokio::io::AsyncWriteExt as _;
                            let _ = io.shutdown().await;
                            return;
                        }
                    }
                }
            }
        }
        let svc = hyper_util::service::TowerToHyperService::new(self.svc);
        let conn = self
            .shared
            .builder
            .serve_connection(TokioIo::new(lean::Prefixed::new(prefix, io)), svc)
            .into_owned();
        let _ = self.watcher.watch(conn).await;
    }
}

/// Numbers the connections of every server in the process (the `conn` field of their span).
static NEXT_CONNECTION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Adds the [`ConnectInfo`] to each request before the inner service sees it, and runs the
/// service's future in the connection's span.
#[derive(Clone)]
struct WithInfo<S> {
    inner: S,
    info: ConnectInfo,
    span: tracing::Span,
}

impl<S, B> tower_service::Service<Request<RequestBody>> for WithInfo<S>
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<RequestBody>) -> Self::Future {
        req.extensions_mut().insert(self.info);
        let fut = self.span.in_scope(|| self.inner.call(req));
        fut.instrument(self.span.clone())
    }
}

impl<S, B> tower_service::Service<Request<Incoming>> for WithInfo<S>
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(RequestBody::from);
        req.extensions_mut().insert(self.info);
        let fut = self.span.in_scope(|| self.inner.call(req));
        fut.instrument(self.span.clone())
    }
}
