//! A load-test SSE origin: every connection gets `--rate` events per second of `--size`
//! bytes, each carrying the send time (`data: <unix micros> <padding>`) and an id. Used with
//! the `load` example to measure the `relay` example (and nginx / Pushpin) on 127.0.0.1.
//!
//! By default (`--ticks shared`) it is a broadcast feed: one ticker makes each event once and
//! writes it to every open connection at the same moment, as a backend publishing the same
//! update to all its subscribers does (ids count the ticks; `Last-Event-ID` is ignored). With
//! `--ticks own` every connection has its own ticker, started when it connects, with ids
//! resumed after `Last-Event-ID`: its clients' events then arrive at phases spread over the
//! interval instead of together.
//!
//! With `--grip PUBLISH_URL` it is a GRIP origin for Pushpin instead: every request is
//! answered with `Grip-Hold: stream` on channel `feed`, and one ticker publishes each event
//! once to Pushpin's HTTP publish endpoint (e.g. `http://127.0.0.1:5561/publish/`), which
//! fans it out.
//!
//! ```text
//! cargo run --release -p eventgate-relay --example origin -- --listen 127.0.0.1:9000 --rate 100 --size 64
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

struct Body(mpsc::Receiver<Bytes>);

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(http_body::Frame::data(b))))
    }
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

fn event(n: u64, size: usize) -> String {
    let mut data = format!("{} ", now_micros());
    while data.len() < size {
        data.push('x');
    }
    format!("id: {n}\ndata: {data}\n\n")
}

fn grip_hold() -> Response<Body> {
    let (_tx, rx) = mpsc::channel(1);
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("grip-hold", "stream")
        .header("grip-channel", "feed")
        .body(Body(rx))
        .expect("static response")
}

/// A ticker of `rate` ticks per second that delays (rather than bursts) after a late tick.
fn ticker(rate: u64) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Publishes `rate` events per second to Pushpin's HTTP publish endpoint.
async fn publish_loop(url: http::Uri, rate: u64, size: usize) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<Bytes>>();
    let mut tick = ticker(rate);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        let content = event(n, size).replace('\n', "\\n");
        let body = format!(
            r#"{{"items":[{{"channel":"feed","formats":{{"http-stream":{{"content":"{content}"}}}}}}]}}"#
        );
        let req = Request::post(url.clone())
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(body)))
            .expect("publish request");
        if let Err(e) = client.request(req).await {
            eprintln!("origin: publish failed: {e}");
        }
    }
}

/// The open connections of a `--ticks shared` origin.
type Subscribers = std::sync::Arc<std::sync::Mutex<Vec<mpsc::Sender<Bytes>>>>;

/// Makes each event once per tick and hands it to every subscriber; a subscriber whose queue
/// is full (64 events behind) misses the event, one that has gone is dropped.
async fn broadcast_loop(subscribers: Subscribers, rate: u64, size: usize) {
    let mut tick = ticker(rate);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        let frame = Bytes::from(event(n, size));
        let mut subs = subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|tx| {
            !matches!(
                tx.try_send(frame.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body(rx))
        .expect("static response")
}

fn subscribe(subscribers: &Subscribers) -> Response<Body> {
    let (tx, rx) = mpsc::channel(64);
    subscribers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(tx);
    stream_response(rx)
}

fn respond(req: Request<Incoming>, rate: u64, size: usize) -> Response<Body> {
    let mut n: u64 = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut tick = ticker(rate);
        loop {
            tick.tick().await;
            n += 1;
            let frame = Bytes::from(event(n, size));
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    stream_response(rx)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut listen: SocketAddr = "127.0.0.1:9000".parse().expect("default address");
    let mut rate = 100u64;
    let mut size = 64usize;
    let mut grip: Option<http::Uri> = None;
    let mut shared = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--listen" => listen = v.parse().expect("--listen ADDR:PORT"),
            "--rate" => rate = v.parse().expect("--rate N"),
            "--size" => size = v.parse().expect("--size BYTES"),
            "--grip" => grip = Some(v.parse().expect("--grip PUBLISH_URL")),
            "--ticks" => match v.as_str() {
                "shared" => shared = true,
                "own" => shared = false,
                _ => {
                    eprintln!("--ticks shared|own");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: origin --listen ADDR:PORT --rate EVENTS_PER_S --size BYTES [--ticks shared|own] [--grip PUBLISH_URL]"
                );
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(listen).await.expect("bind");
    eprintln!(
        "origin: {listen}, {rate} events/s per connection, {size} B, {} ticks",
        if shared { "shared" } else { "own" }
    );
    let grip_mode = grip.is_some();
    if let Some(url) = grip {
        tokio::spawn(publish_loop(url, rate, size));
    }
    let subscribers: Option<Subscribers> = (shared && !grip_mode).then(Default::default);
    if let Some(subs) = &subscribers {
        tokio::spawn(broadcast_loop(subs.clone(), rate, size));
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let subscribers = subscribers.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let response = if grip_mode {
                    grip_hold()
                } else if let Some(subs) = &subscribers {
                    subscribe(subs)
                } else {
                    respond(req, rate, size)
                };
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
