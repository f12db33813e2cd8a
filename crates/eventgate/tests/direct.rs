//! Direct delivery over a real socket: the server's lean HTTP/1.1 path gives a caught-up
//! relay feed to the relay with its socket, the relay writes live events itself, and a
//! client that stops reading (its socket buffers full, so the relay's writes come up short)
//! still gets every event once, in order, in valid chunks, and direct writes resume after.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use eventgate::server::{Listener, RequestBody, Server};
use eventgate_relay::{Channel, Cutoff, Delivery, DirectHandle, Feed, SubscribeOptions};
use http::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Answers every request with a feed of `channel`, its direct handle in the extensions (as
/// the gateway does), metered by a gate that records the thread each charge ran on.
#[derive(Clone)]
struct Feeds {
    channel: Arc<Channel>,
    charged_on: Arc<Mutex<Vec<ThreadId>>>,
}

impl tower_service::Service<Request<RequestBody>> for Feeds {
    type Response = Response<Feed>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Feed>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<RequestBody>) -> Self::Future {
        let log = Arc::clone(&self.charged_on);
        let gate = move |_: &Delivery<'_>| -> Result<(), Cutoff> {
            log.lock().unwrap().push(std::thread::current().id());
            Ok(())
        };
        let mut opts = SubscribeOptions::new();
        opts.gate(Arc::new(gate));
        let feed = self.channel.subscribe(&opts).unwrap();
        let handle: DirectHandle = feed.direct_handle();
        let mut resp = Response::new(feed);
        resp.extensions_mut().insert(handle);
        resp.headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        Box::pin(async move { Ok(resp) })
    }
}

fn event(n: usize, size: usize) -> eventgate_relay::Frame {
    let data = format!("{n:06}{}", "x".repeat(size));
    eventgate_sse::EventBuilder::new()
        .id(&n.to_string())
        .data(&data)
        .build()
        .unwrap()
}

/// Reads the response head, then decodes chunks into `body` until it holds `want` bytes.
struct Client {
    tcp: TcpStream,
    raw: BytesMut,
    body: Vec<u8>,
    head_done: bool,
}

impl Client {
    async fn read_until(&mut self, want: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.body.len() < want {
            self.decode();
            if self.body.len() >= want {
                break;
            }
            let mut buf = [0u8; 8192];
            let n = tokio::time::timeout_at(deadline, self.tcp.read(&mut buf))
                .await
                .expect("the stream stalled")
                .unwrap();
            assert!(n > 0, "the server closed the stream");
            self.raw.extend_from_slice(&buf[..n]);
        }
        assert_eq!(self.body.len(), want, "no more than was published");
    }

    fn decode(&mut self) {
        if !self.head_done {
            let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_lowercase();
            assert!(head.contains("transfer-encoding: chunked"), "{head}");
            self.raw.advance(end + 4);
            self.head_done = true;
        }
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size = usize::from_str_radix(std::str::from_utf8(&self.raw[..eol]).unwrap(), 16)
                .expect("a chunk-size line");
            assert!(size > 0, "the stream ended");
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.raw.advance(eol + 2);
            self.body.extend_from_slice(&self.raw[..size]);
            self.raw.advance(size);
            assert_eq!(&self.raw[..2], b"\r\n", "a chunk ends with CRLF");
            self.raw.advance(2);
        }
    }
}

/// A server with `direct` delivery on or off serving feeds of a channel that keeps up to
/// 64 MB, and a client with a small receive buffer (so that the server's writes soon come
/// up short) that has sent its request and is subscribed.
async fn serve(
    direct: bool,
) -> (
    Arc<Channel>,
    Arc<Mutex<Vec<ThreadId>>>,
    Client,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let channel = Arc::new(
        Channel::builder()
            .queue_depth(100_000)
            .queue_bytes(64 << 20)
            .build()
            .unwrap(),
    );
    let charged_on: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let svc = Feeds {
        channel: Arc::clone(&channel),
        charged_on: Arc::clone(&charged_on),
    };
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = Server::builder().direct_delivery(direct).build().unwrap();
    let done = tokio::spawn(async move {
        server
            .run(vec![listener], svc, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    tcp.write_all(b"GET /feed HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let client = Client {
        tcp,
        raw: BytesMut::new(),
        body: Vec::new(),
        head_done: false,
    };
    while channel.subscriber_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (channel, charged_on, client, stop, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_direct_delivery_off_the_connection_task_writes_every_event() {
    let (channel, charged_on, mut client, stop, done) = serve(false).await;
    let me = std::thread::current().id();
    let mut expected = Vec::new();
    for n in 0..3 {
        let f = event(n, 10);
        expected.extend_from_slice(f.as_bytes());
        channel.publish(None, f);
    }
    client.read_until(expected.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for n in 3..8 {
        let f = event(n, 10);
        expected.extend_from_slice(f.as_bytes());
        channel.publish(None, f);
    }
    client.read_until(expected.len()).await;
    assert!(client.body == expected);
    let log = charged_on.lock().unwrap().clone();
    assert_eq!(log.len(), 8);
    assert!(
        log.iter().all(|t| *t != me),
        "never charged on the publisher"
    );
    drop(client);
    stop.send(()).unwrap();
    done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gets_every_event_once_in_order_and_direct_writes_resume() {
    let (channel, charged_on, mut client, stop, done) = serve(true).await;
    let me = std::thread::current().id();
    let mut expected = Vec::new();
    let mut n = 0;
    let mut publish = |count: usize, size: usize, expected: &mut Vec<u8>| {
        for _ in 0..count {
            let f = event(n, size);
            expected.extend_from_slice(f.as_bytes());
            channel.publish(None, f);
            n += 1;
        }
    };
    // Caught up: the first events reach the client, then the feed parks and is given to
    // the relay; give the connection's task time to get there.
    publish(3, 10, &mut expected);
    client.read_until(expected.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The client reads nothing while 12 MB are published: more than the socket's buffers
    // take (the send buffer grows to 4 MB at most, tcp_wmem's default), so they fill up.
    publish(3000, 4000, &mut expected);
    let on_me = charged_on
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t == me)
        .count();
    assert!(
        on_me > 0,
        "events were charged and written by the publishing thread itself"
    );
    assert!(
        on_me < 3000,
        "a full socket gave the stream back to its task"
    );
    client.read_until(expected.len()).await;
    assert!(client.body == expected, "every byte once, in order");
    // Caught up again: direct writes resume.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = charged_on.lock().unwrap().len();
    publish(5, 10, &mut expected);
    client.read_until(expected.len()).await;
    assert!(client.body == expected);
    let resumed = charged_on.lock().unwrap()[before..]
        .iter()
        .all(|t| *t == me);
    assert!(resumed, "the stream was given to the relay again");
    drop(client);
    stop.send(()).unwrap();
    done.await.unwrap();
}
