//! The server runner on real sockets: HTTP/1.1, h2c, TLS with ALPN h2, the ConnectInfo
//! extension, the header-read timeout, the connection cap and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eventgate::server::{ConnectInfo, Listener, RequestBody, Server, TlsConfig};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers with the version, TLS flag and path it saw.
#[derive(Clone)]
struct Echo;

impl tower_service::Service<Request<RequestBody>> for Echo {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let info = req.extensions().get::<ConnectInfo>().copied();
        let text = format!(
            "{:?} tls={} path={}",
            req.version(),
            info.map(|i| i.is_tls()).unwrap_or(false),
            req.uri().path()
        );
        Box::pin(async move { Ok(Response::new(Full::new(Bytes::from(text)))) })
    }
}

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

async fn start(server: Server, tls: Option<TlsConfig>) -> Running {
    let listener = match tls {
        None => Listener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap(),
        Some(t) => Listener::bind_tls("127.0.0.1:0".parse().unwrap(), t)
            .await
            .unwrap(),
    };
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        server
            .run(vec![listener], Echo, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    Running { addr, stop, done }
}

async fn get_h1(addr: SocketAddr, path: &str) -> String {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn serves_http1_and_h2c_on_one_plain_listener() {
    let s = start(Server::builder().build().unwrap(), None).await;
    assert_eq!(get_h1(s.addr, "/a").await, "HTTP/1.1 tls=false path=/a");

    let io = TokioIo::new(TcpStream::connect(s.addr).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(conn);
    // Several streams multiplexed on the one connection.
    let mut answers = Vec::new();
    for i in 0..3 {
        let req = Request::get(format!("http://localhost/s{i}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        answers.push(send.send_request(req));
    }
    for (i, a) in answers.into_iter().enumerate() {
        let body = a
            .await
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body, format!("HTTP/2.0 tls=false path=/s{i}"));
    }
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test]
async fn serves_tls_with_alpn_h2_and_a_self_signed_certificate() {
    let (tls, cert) = TlsConfig::self_signed(&["localhost"]).unwrap();
    let s = start(Server::builder().build().unwrap(), Some(tls)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            cert.cert_der.clone(),
        ))
        .unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://localhost/secure")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let body = send
        .send_request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "HTTP/2.0 tls=true path=/secure");
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_disconnected() {
    let server = Server::builder()
        .header_read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let s = start(server, None).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    // The server closes the socket (after an optional 408) well before 5 s.
    assert!(
        read.is_ok(),
        "connection still open after the header-read timeout"
    );
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test]
async fn past_the_connection_cap_accepting_waits_until_one_closes() {
    let s = start(Server::builder().max_connections(1).build().unwrap(), None).await;
    // The first connection holds the only slot.
    let first = TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The second is queued by the kernel, not served.
    let second = tokio::spawn(get_h1(s.addr, "/second"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "served past the connection cap");
    drop(first);
    let got = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("queued connection never served")
        .unwrap();
    assert_eq!(got, "HTTP/1.1 tls=false path=/second");
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() {
    let s = start(Server::builder().build().unwrap(), None).await;
    assert_eq!(get_h1(s.addr, "/").await, "HTTP/1.1 tls=false path=/");
    s.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), s.done)
        .await
        .expect("run did not return after shutdown")
        .unwrap();
    assert!(TcpStream::connect(s.addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn binding_a_busy_port_names_the_address() {
    let l = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = l.local_addr().unwrap();
    let err = Listener::bind(addr).await.unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// Sets its flag when dropped: proves a response body was let go.
struct DropFlag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A body of `left` frames `tick N\n`, one every 5 ms (`left` = usize::MAX: endless).
struct Ticks {
    left: usize,
    n: usize,
    timer: Pin<Box<tokio::time::Sleep>>,
    _flag: Option<DropFlag>,
}

impl http_body::Body for Ticks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next = tokio::time::Instant::now() + Duration::from_millis(5);
        self.timer.as_mut().reset(next);
        self.left -= 1;
        self.n += 1;
        let frame = http_body::Frame::data(Bytes::from(format!("tick {}\n", self.n)));
        Poll::Ready(Some(Ok(frame)))
    }
}

/// `/ticks` streams three ticks (`text/event-stream`, length unknown), `/endless` streams
/// until the client leaves (and sets the flag when its body is dropped), `/fixed` answers a
/// known length, anything else echoes like [`Echo`] with the request's method.
#[derive(Clone)]
struct Streams(Arc<std::sync::atomic::AtomicBool>);

impl tower_service::Service<Request<RequestBody>> for Streams {
    type Response = Response<http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let flag = self.0.clone();
        Box::pin(async move {
            let ticks = |left, flag| Ticks {
                left,
                n: 0,
                timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
                _flag: flag,
            };
            let path = req.uri().path().to_owned();
            let body = match path.as_str() {
                "/ticks" => ticks(3, None).boxed_unsync(),
                "/endless" => ticks(usize::MAX, Some(DropFlag(flag))).boxed_unsync(),
                "/fixed" => Full::new(Bytes::from_static(b"twelve bytes")).boxed_unsync(),
                path => {
                    let method = req.method().clone();
                    let got = req.into_body().collect().await.unwrap().to_bytes();
                    Full::new(Bytes::from(format!("{method} {path} {}", got.len()))).boxed_unsync()
                }
            };
            let mut resp = Response::new(body);
            resp.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            Ok(resp)
        })
    }
}

async fn start_streams(lean: bool) -> (Running, Arc<std::sync::atomic::AtomicBool>) {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let svc = Streams(flag.clone());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = Server::builder().lean_http1(lean).build().unwrap();
    let done = tokio::spawn(async move {
        server
            .run(vec![listener], svc, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (Running { addr, stop, done }, flag)
}

/// Sends `raw` and reads until the server closes or `until` appears; the `date` header's
/// value is replaced by `D` so that two responses compare.
async fn exchange(addr: SocketAddr, raw: &[u8], until: Option<&str>) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("server neither answered nor closed in 5 s")
            .unwrap();
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if n == 0 || until.is_some_and(|u| text.contains(u)) {
            break;
        }
    }
    let text = String::from_utf8(got).unwrap();
    text.split("\r\n")
        .map(|l| {
            if l.starts_with("date: ") {
                "date: D"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test]
async fn the_lean_path_sends_the_bytes_hyper_sends() {
    let (lean, _) = start_streams(true).await;
    let (hyper, _) = start_streams(false).await;
    for (raw, until) in [
        // A stream of unknown length: chunked, then the last chunk.
        (
            &b"GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            Some("0\r\n\r\n"),
        ),
        // A known length.
        (
            b"GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n",
            Some("twelve bytes"),
        ),
        // HEAD: the head only, with the length.
        (b"HEAD /fixed HTTP/1.1\r\nHost: x\r\n\r\n", Some("\r\n\r\n")),
        (b"HEAD /ticks HTTP/1.1\r\nHost: x\r\n\r\n", Some("\r\n\r\n")),
        // The client asks to close: `connection: close`, then the server closes.
        (
            b"GET /ticks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            None,
        ),
        // HTTP/1.0, length unknown: no chunking, delimited by the close.
        (b"GET /ticks HTTP/1.0\r\n\r\n", None),
    ] {
        let a = exchange(lean.addr, raw, until).await;
        let b = exchange(hyper.addr, raw, until).await;
        assert_eq!(a, b, "request {:?}", String::from_utf8_lossy(raw));
        assert!(a.contains("date: D"), "no date header: {a}");
    }
    let chunked = exchange(
        lean.addr,
        b"GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n",
        Some("0\r\n\r\n"),
    )
    .await;
    assert!(chunked.contains("transfer-encoding: chunked"), "{chunked}");
    assert!(
        chunked.ends_with("7\r\ntick 1\n\r\n7\r\ntick 2\n\r\n7\r\ntick 3\n\r\n0\r\n\r\n"),
        "{chunked}"
    );
    for s in [lean, hyper] {
        s.stop.send(()).unwrap();
        s.done.await.unwrap();
    }
}

#[tokio::test]
async fn after_a_lean_response_the_connection_serves_pipelined_requests_with_bodies() {
    let (s, _) = start_streams(true).await;
    // The stream, then a POST with a body sent right behind it on the same connection.
    let got = exchange(
        s.addr,
        b"GET /ticks HTTP/1.1\r\nHost: x\r\n\r\nPOST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        Some("POST /form 5"),
    )
    .await;
    let first = got.find("tick 3").expect("the stream");
    let second = got.find("POST /form 5").expect("the pipelined request");
    assert!(first < second, "{got}");
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test]
async fn requests_the_lean_path_does_not_take_are_answered_by_hyper() {
    let (s, _) = start_streams(true).await;
    // A request with a body, a head longer than the lean path reads, and HTTP/2.
    let post = exchange(
        s.addr,
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        None,
    )
    .await;
    assert!(
        post.starts_with("HTTP/1.1 200 OK") && post.ends_with("POST /p 3"),
        "{post}"
    );
    let long = format!(
        "GET /long HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20_000)
    );
    let got = exchange(s.addr, long.as_bytes(), None).await;
    assert!(got.ends_with("GET /long 0"), "{got}");
    let io = TokioIo::new(TcpStream::connect(s.addr).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("http://x/h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let body = send
        .send_request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    assert_eq!(body.to_bytes(), "GET /h2 0");
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}

#[tokio::test]
async fn a_client_hanging_up_on_a_lean_stream_drops_its_body() {
    let (s, dropped) = start_streams(true).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let mut seen = String::new();
    while !seen.contains("tick 2") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
    drop(tcp);
    // Idle or not, the server notices the hang-up and lets the stream go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !dropped.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "body still alive 5 s after the client left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.stop.send(()).unwrap();
    s.done.await.unwrap();
}
