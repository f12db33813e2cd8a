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
use eventgate::server::{ConnectInfo, Listener, Server, TlsConfig};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers with the version, TLS flag and path it saw.
#[derive(Clone)]
struct Echo;

impl tower_service::Service<Request<Incoming>> for Echo {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
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
