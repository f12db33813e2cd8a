//! Wire-test support: a killable SSE backend, a gateway on a real socket, JWTs, and an SSE
//! client built from eventgate-sse over hyper.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use eventgate::config::Config;
use eventgate::server::{Listener, Server};
use eventgate::{Gateway, Registry};
use eventgate_policy::{
    Algorithm, Application, Gate, IssuerConfig, JwksCache, JwtValidator, KeySet, KeyType, Plan,
    PlanName, Subscription, VerificationKey,
};
use eventgate_sse::{Item, Parser};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-eventgate-tests";
pub const ISSUER: &str = "https://issuer.test";

/// An SSE backend: every `interval` one event `id: N` / `data: {"n":N}` to every open
/// connection; ids continue across restarts, and a request with `Last-Event-ID: L` first gets
/// every event after `L` from the full history (as a backend with its own history does).
/// `kill` drops every connection at once.
pub struct Backend {
    pub addr: SocketAddr,
    counter: Arc<AtomicU64>,
    history: Arc<std::sync::Mutex<Vec<Bytes>>>,
    tasks: JoinSet<()>,
    interval: Duration,
    pub connections: Arc<AtomicU64>,
    pub last_event_ids: Arc<std::sync::Mutex<Vec<Option<String>>>>,
    pub seen_headers: Arc<std::sync::Mutex<Vec<http::HeaderMap>>>,
}

impl Backend {
    pub async fn start(interval: Duration) -> Backend {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut b = Backend {
            addr: l.local_addr().unwrap(),
            counter: Arc::new(AtomicU64::new(0)),
            history: Arc::default(),
            tasks: JoinSet::new(),
            interval,
            connections: Arc::new(AtomicU64::new(0)),
            last_event_ids: Arc::default(),
            seen_headers: Arc::default(),
        };
        b.run(l);
        b
    }

    fn run(&mut self, l: TcpListener) {
        let (tx, _) = tokio::sync::broadcast::channel::<(u64, Bytes)>(1024);
        let counter = Arc::clone(&self.counter);
        let history = Arc::clone(&self.history);
        let ticker_tx = tx.clone();
        let interval = self.interval;
        self.tasks.spawn(async move {
            let mut t = tokio::time::interval(interval);
            loop {
                t.tick().await;
                let mut h = history.lock().unwrap();
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let b = Bytes::from(format!("id: {n}\ndata: {{\"n\":{n}}}\n\n"));
                h.push(b.clone());
                let _ = ticker_tx.send((n, b));
            }
        });
        let history = Arc::clone(&self.history);
        let conns = Arc::clone(&self.connections);
        let ids = Arc::clone(&self.last_event_ids);
        let seen = Arc::clone(&self.seen_headers);
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel::<TcpStream>();
        self.tasks.spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                if conn_tx.send(s).is_err() {
                    return;
                }
            }
        });
        self.tasks.spawn(async move {
            let mut conns_set = JoinSet::new();
            while let Some(s) = conn_rx.recv().await {
                let tx = tx.clone();
                let conns = Arc::clone(&conns);
                let ids = Arc::clone(&ids);
                let seen = Arc::clone(&seen);
                let history = Arc::clone(&history);
                conns_set.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        conns.fetch_add(1, Ordering::SeqCst);
                        let last = req
                            .headers()
                            .get("last-event-id")
                            .map(|v| v.to_str().unwrap().to_owned());
                        ids.lock().unwrap().push(last.clone());
                        seen.lock().unwrap().push(req.headers().clone());
                        let (mut rx, backlog, mut sent) = {
                            let h = history.lock().unwrap();
                            let after = last.and_then(|l| l.parse::<usize>().ok());
                            let backlog: Vec<Bytes> = match after {
                                Some(l) => h.iter().skip(l).cloned().collect(),
                                None => Vec::new(),
                            };
                            (tx.subscribe(), backlog, h.len() as u64)
                        };
                        let path = req.uri().path().to_owned();
                        async move {
                            let (ftx, mut frx) = tokio::sync::mpsc::channel::<Bytes>(64);
                            tokio::spawn(async move {
                                for b in backlog {
                                    if ftx.send(b).await.is_err() {
                                        return;
                                    }
                                }
                                loop {
                                    match rx.recv().await {
                                        Ok((n, b)) => {
                                            if n <= sent {
                                                continue;
                                            }
                                            sent = n;
                                            if ftx.send(b).await.is_err() {
                                                return;
                                            }
                                        }
                                        Err(tokio::sync::broadcast::error::RecvError::Lagged(
                                            _,
                                        )) => {}
                                        Err(_) => return,
                                    }
                                }
                            });
                            let stream =
                                futures_util::stream::poll_fn(move |cx| match frx.poll_recv(cx) {
                                    Poll::Ready(Some(b)) => {
                                        Poll::Ready(Some(Ok::<_, Infallible>(Frame::data(b))))
                                    }
                                    Poll::Ready(None) => Poll::Ready(None),
                                    Poll::Pending => Poll::Pending,
                                });
                            let status = if path == "/missing" { 404 } else { 200 };
                            let mut resp = Response::new(StreamBody::new(stream));
                            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            resp.headers_mut()
                                .insert("content-type", "text/event-stream".parse().unwrap());
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    }

    /// Drops every connection and stops listening.
    pub async fn kill(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Listens again on the same port, ids continuing.
    pub async fn restart(&mut self) {
        let l = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.run(l);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// A JWT for `client_id` with `scopes`, valid for `ttl` from now.
pub fn token(client_id: &str, scopes: &str, ttl: Duration) -> String {
    token_with(client_id, scopes, ttl, "PRODUCTION")
}

pub fn token_with(client_id: &str, scopes: &str, ttl: Duration, keytype: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "alice", "azp": client_id, "scope": scopes,
        "keytype": keytype, "iat": now, "exp": now + ttl.as_secs().max(1),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// A gate trusting HS256 tokens of [`ISSUER`], with application `app-1` (client id
/// `client-1`, both key types) subscribed to `api` under `plan`, and `plans` defined.
pub fn gate(subscriptions: &[(&str, &str)], plans: Vec<Plan>) -> Arc<Gate> {
    let mut keys = KeySet::new();
    keys.push(VerificationKey::hmac(SECRET, None).unwrap());
    let issuer = IssuerConfig::builder(ISSUER, vec![Algorithm::HS256], JwksCache::fixed(keys))
        .build()
        .unwrap();
    let jwt = JwtValidator::builder().issuer(issuer).build().unwrap();
    let mut b = Gate::builder();
    b.jwt(jwt);
    for p in plans {
        b.plan(p);
    }
    let gate = b.build().unwrap();
    gate.put_application(
        Application::new("app-1", "Dashboard", "alice")
            .client_id(KeyType::Production, "client-1")
            .client_id(KeyType::Sandbox, "client-1-sandbox"),
    );
    for (api, plan) in subscriptions {
        gate.put_subscription(Subscription::new(
            "app-1",
            *api,
            PlanName::new(plan).unwrap(),
        ));
    }
    Arc::new(gate)
}

/// The tutorial's configuration, pointing at `backend`, plus `extra` TOML appended.
pub fn config(backend: SocketAddr, extra: &str) -> String {
    format!(
        r#"
[[environments]]
name = "Default"
type = "hybrid"
vhosts = [{{ host = "localhost" }}]
fallback = true

[[apis]]
name = "Observer"
context = "/observer"
version = "1.0.0"
plans = ["AsyncGold"]
endpoints = {{ production = "http://{backend}", sandbox = "http://{backend}" }}
deploy = [{{ environment = "Default", vhost = "localhost" }}]
topics = [{{ path = "/memory" }}]
{extra}
"#
    )
}

pub struct Running {
    pub addr: SocketAddr,
    pub gateway: Gateway,
    pub registry: Arc<Registry>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A gateway serving `toml` with `gate`, on a fresh 127.0.0.1 port.
pub async fn gateway(toml: &str, gate: Arc<Gate>) -> Running {
    let cfg = Config::from_str("test.toml", toml).unwrap();
    let registry = Arc::new(Registry::new());
    cfg.apply(&registry).unwrap();
    let gateway = Gateway::builder()
        .registry(Arc::clone(&registry))
        .gate(gate)
        .build()
        .unwrap();
    let l = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = l.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = gateway.clone();
    tokio::spawn(async move {
        let _ = Server::builder()
            .build()
            .unwrap()
            .run(vec![l], svc, async {
                let _ = rx.await;
            })
            .await;
    });
    Running {
        addr,
        gateway,
        registry,
        stop: Some(stop),
    }
}

/// One event as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub event: String,
    pub id: String,
    pub data: String,
}

/// An open SSE response.
pub struct Stream {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    body: Incoming,
    parser: Parser,
    pub ended: bool,
}

impl Stream {
    /// The next event, or `None` when the stream ended or `within` passed.
    pub async fn next(&mut self, within: Duration) -> Option<Seen> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            for item in self.parser.by_ref() {
                if let Ok(Item::Event(e)) = item {
                    return Some(Seen {
                        event: e.event_type().to_owned(),
                        id: e.last_event_id().to_owned(),
                        data: e.data().to_owned(),
                    });
                }
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => {
                    self.ended = true;
                    self.parser.finish();
                }
                Ok(Some(Ok(f))) => {
                    if let Ok(d) = f.into_data() {
                        self.parser.feed(d);
                    }
                }
            }
        }
    }

    /// The whole remaining body as text (for error responses).
    pub async fn text(self) -> String {
        String::from_utf8(self.body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }
}

/// `GET path` on `addr` over HTTP/1.1 with `headers`.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Stream {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = send
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Stream {
        status: parts.status,
        headers: parts.headers,
        body,
        parser: Parser::new(),
        ended: false,
    }
}

pub fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// A JSON body's `code`.
pub fn code(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["code"].as_str().unwrap().to_owned()
}

/// The tutorial's set-up: a backend emitting every `interval`, a gateway serving the Observer
/// API from it to `app-1` under AsyncGold, and a `Bearer` header of `app-1` valid for `ttl`.
pub async fn tutorial(interval: Duration, ttl: Duration) -> (Backend, Running, String) {
    let backend = Backend::start(interval).await;
    let gw = gateway(
        &config(backend.addr, ""),
        gate(&[("Observer:1.0.0", "AsyncGold")], vec![]),
    )
    .await;
    let auth = bearer(&token("client-1", "", ttl));
    (backend, gw, auth)
}
