//! A standalone fan-out SSE proxy.
//!
//! ```text
//! cargo run --release -p eventgate-relay --example relay -- \
//!     --upstream http://127.0.0.1:9000 --listen 127.0.0.1:8080 --mode fanout|proxy \
//!     [--backlog N] [--assign-ids]
//! ```
//!
//! Serves `GET /<any path>?<query>` by relaying the upstream's same path and query, with
//! reconnection (backoff honouring `retry:`), `Last-Event-ID` replay from a backlog of N
//! events (default 1024), heartbeats every 15 s, and fan-out (one upstream connection per
//! path and query) or proxy mode (one per client); `--threads N` sets the worker threads
//! (default one per core; 1 runs everything on one thread). Downstream is HTTP/1.1 (hyper's
//! `http1` server: its per-connection state is about 6 KiB smaller than the auto-detecting
//! HTTP/1 + HTTP/2 server's). No auth. Ctrl-C shuts down gracefully:
//! every client gets a final comment and `retry:`, within 5 seconds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use eventgate_relay::{
    ClientInfo, Mode, Relay, SubscribeOptions, last_event_id, sse_response, upstream_uri,
};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

struct Args {
    upstream: Uri,
    listen: SocketAddr,
    mode: Mode,
    backlog: usize,
    assign_ids: bool,
    threads: usize,
}

const USAGE: &str = "usage: relay --upstream URL --listen ADDR:PORT --mode fanout|proxy [--backlog N] [--assign-ids] [--threads N]";

fn parse_args() -> Result<Args, String> {
    let mut upstream = None;
    let mut listen = None;
    let mut mode = Mode::Fanout;
    let mut backlog = eventgate_relay::DEFAULT_BACKLOG_EVENTS;
    let mut assign_ids = false;
    let mut threads = 0;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--upstream" => {
                let u: Uri = value()?.parse().map_err(|e| format!("--upstream: {e}"))?;
                if !matches!(u.scheme_str(), Some("http" | "https")) || u.authority().is_none() {
                    return Err("--upstream must be an absolute http(s) URL".into());
                }
                upstream = Some(u);
            }
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--mode" => {
                mode = match value()?.as_str() {
                    "fanout" => Mode::Fanout,
                    "proxy" => Mode::Proxy,
                    other => return Err(format!("--mode: unknown mode {other:?}")),
                }
            }
            "--backlog" => backlog = value()?.parse().map_err(|e| format!("--backlog: {e}"))?,
            "--assign-ids" => assign_ids = true,
            "--threads" => threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        upstream: upstream.ok_or(USAGE)?,
        listen: listen.ok_or(USAGE)?,
        mode,
        backlog,
        assign_ids,
        threads,
    })
}

type Body = Either<eventgate_relay::Feed, Full<Bytes>>;

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Either::Right(Full::new(Bytes::from(text + "\n"))));
    *r.status_mut() = status;
    r
}

async fn handle(
    relay: Relay,
    upstream: Uri,
    mode: Mode,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if req.method() != Method::GET {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "only GET".into()));
    }
    let (parts, _) = req.into_parts();
    let mut opts = SubscribeOptions::new();
    opts.last_event_id(last_event_id(&parts.headers))
        .client(ClientInfo::new(Some(peer), Some("http")));
    if mode == Mode::Proxy {
        // This proxy has no auth: in proxy mode the backend sees the client's headers
        // (the relay drops hop-by-hop ones). A gateway would strip credentials first.
        opts.upstream_headers(parts.headers.clone());
    }
    let sub = match upstream_uri(&upstream, &parts.uri) {
        Ok(uri) => relay.subscribe(uri, &opts).await,
        Err(e) => Err(e),
    };
    Ok(match sub {
        Ok(sub) => sse_response(sub).map(Either::Left),
        Err(e) => plain(e.suggested_status(), e.to_string()),
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // `--threads 1`: one thread (no cross-thread wake-ups); default: one per core.
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if args.threads > 1 {
            b.worker_threads(args.threads);
        }
        b.enable_all().build()
    };
    runtime.expect("tokio runtime").block_on(run(args));
}

async fn run(args: Args) {
    let relay = Relay::builder()
        .mode(args.mode)
        .backlog_events(args.backlog)
        .assign_ids(args.assign_ids)
        .build()
        .expect("relay setup");
    let listener = TcpListener::bind(args.listen).await.expect("bind --listen");
    eprintln!(
        "relay: listening on {} -> {} ({:?})",
        listener.local_addr().expect("local addr"),
        args.upstream,
        args.mode
    );
    let mut server = hyper::server::conn::http1::Builder::new();
    server.timer(hyper_util::rt::TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let relay = relay.clone();
                let upstream = args.upstream.clone();
                let mode = args.mode;
                let svc = hyper::service::service_fn(move |req| {
                    handle(relay.clone(), upstream.clone(), mode, peer, req)
                });
                let conn = server.serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut ctrl_c => break,
        }
    }
    eprintln!("relay: shutting down");
    drop(listener);
    let deadline = Duration::from_secs(5);
    if let Err(e) = relay.shutdown(deadline).await {
        eprintln!("relay: {e}");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
    let m = relay.metrics();
    eprintln!(
        "relay: done ({} subscribers served, {} events, {} deliveries, {} slow consumers cut)",
        m.subscribers_total, m.events_published, m.deliveries, m.slow_consumers_cut
    );
}
