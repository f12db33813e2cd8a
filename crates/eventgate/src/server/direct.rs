//! Direct delivery on the lean path: a plain TCP socket shared with the relay, which writes a
//! caught-up stream's live events to it itself (see [`eventgate_relay::DirectHandle`]), so a
//! fan-out event costs each idle subscriber a gate charge and one `send`, not a wake and a
//! poll of its connection's task.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use eventgate_relay::{DirectSink, Offer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::lean::{SMALL_WRITE, chunk_size_line};

/// What a connection's socket can do for direct delivery.
pub(super) trait DirectIo {
    /// The socket as a [`SocketSink`], if it is a plain TCP one that can be shared.
    fn sink(&self) -> Option<Arc<SocketSink>> {
        None
    }
}

impl DirectIo for TcpStream {}

impl<IO> DirectIo for tokio_rustls::server::TlsStream<IO> {}

/// A plain TCP connection whose socket the relay may share, as a [`SocketSink`] (the
/// socket is in the sink: one allocation, one cache line less per event written). While
/// nothing shares it, reads and writes are the socket's own; while the relay holds it, they
/// go through its readiness (`poll_*_ready`, then `try_*`), which is the same thing taken
/// apart.
pub(super) struct SharedTcp(Arc<SocketSink>);

impl SharedTcp {
    pub(super) fn new(tcp: TcpStream) -> Self {
        Self(Arc::new(SocketSink::new(tcp)))
    }

    /// The socket, alone: the connection's only while nothing else holds the sink.
    fn own(&mut self) -> Option<&mut TcpStream> {
        Arc::get_mut(&mut self.0).map(|s| &mut s.tcp)
    }
}

impl SharedTcp {
    /// A write: `own` while the socket is not shared, else `shared` once it is writable.
    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        own: impl FnOnce(&mut TcpStream, &mut Context<'_>) -> Poll<io::Result<usize>>,
        shared: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if let Some(tcp) = self.own() {
            return own(tcp, cx);
        }
        loop {
            ready!(self.0.tcp.poll_write_ready(cx))?;
            match shared(&self.0.tcp) {
                // Readiness is cleared: the next `poll_write_ready` waits for room.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
        }
    }
}

impl DirectIo for SharedTcp {
    fn sink(&self) -> Option<Arc<SocketSink>> {
        Some(Arc::clone(&self.0))
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(tcp) = self.own() {
            return Pin::new(tcp).poll_read(cx, buf);
        }
        loop {
            ready!(self.0.tcp.poll_read_ready(cx))?;
            match self.0.tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness is cleared: the next `poll_read_ready` waits for more.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_with(
            cx,
            |tcp, cx| Pin::new(tcp).poll_write(cx, buf),
            |tcp| tcp.try_write(buf),
        )
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_with(
            cx,
            |tcp, cx| Pin::new(tcp).poll_write_vectored(cx, bufs),
            |tcp| tcp.try_write_vectored(bufs),
        )
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // a TCP socket has no buffer of its own to flush
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.own() {
            Some(tcp) => Pin::new(tcp).poll_shutdown(cx),
            // A sink a push still holds: the socket closes when the last holder drops it.
            None => Poll::Ready(Ok(())),
        }
    }
}

/// The socket as a [`DirectSink`]: each live frame goes out as one HTTP/1.1 chunk, with one
/// non-blocking write. What the socket does not take at once (a full send buffer: a client
/// reading slowly), and a failed write, are kept for the connection's task, which writes
/// them before anything else once the relay has given the stream back.
pub(super) struct SocketSink {
    tcp: TcpStream,
    /// Set once the sink stopped; `left` holds what it left.
    stopped: AtomicBool,
    left: Mutex<Left>,
}

/// What a stopped sink left for the connection's task.
#[derive(Default)]
pub(super) struct Left {
    /// Bytes of the last frame the socket did not take.
    pub(super) bytes: Vec<u8>,
    /// The write failed: the connection is done.
    pub(super) error: Option<io::Error>,
}

impl SocketSink {
    fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            stopped: AtomicBool::new(false),
            left: Mutex::new(Left::default()),
        }
    }

    /// What the sink left, if it stopped since the last call (it then takes frames again
    /// once given to the relay anew).
    pub(super) fn take_left(&self) -> Option<Left> {
        if !self.stopped.load(Ordering::Acquire) {
            return None;
        }
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        self.stopped.store(false, Ordering::Relaxed);
        Some(std::mem::take(&mut *left))
    }

    fn stop(&self, bytes: &[&[u8]], written: usize, error: Option<io::Error>) -> Offer {
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        let mut skip = written;
        for part in bytes {
            let take = skip.min(part.len());
            left.bytes.extend_from_slice(&part[take..]);
            skip -= take;
        }
        left.error = error;
        self.stopped.store(true, Ordering::Release);
        Offer::Stop
    }
}

impl DirectSink for SocketSink {
    fn offer(&self, frame: &Bytes) -> Offer {
        let mut size = [0u8; 18];
        let n = chunk_size_line(frame.len(), &mut size);
        let parts: [&[u8]; 3] = [&size[..n], frame, b"\r\n"];
        let total = n + frame.len() + 2;
        let written = loop {
            let r = if total <= SMALL_WRITE {
                // One copied write is cheaper than a `writev` of three small pieces.
                let mut buf = [0u8; SMALL_WRITE];
                let mut len = 0;
                for p in parts {
                    buf[len..len + p.len()].copy_from_slice(p);
                    len += p.len();
                }
                self.tcp.try_write(&buf[..len])
            } else {
                self.tcp.try_write_vectored(&parts.map(IoSlice::new))
            };
            match r {
                Ok(w) => break w,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break 0,
                Err(e) => return self.stop(&parts, total, Some(e)),
            }
        };
        if written == total {
            Offer::Written
        } else {
            self.stop(&parts, written, None)
        }
    }
}

/// A lean response's direct delivery: the relay's handle to the stream's feed and, once it
/// was first given to the relay, the socket's sink.
pub(super) struct Direct {
    handle: eventgate_relay::DirectHandle,
    sink: Option<Arc<SocketSink>>,
}

impl Direct {
    pub(super) fn new(handle: eventgate_relay::DirectHandle) -> Self {
        Self { handle, sink: None }
    }

    /// The sink stopped and left something for the task (see [`Direct::take_left`]).
    pub(super) fn has_left(&self) -> bool {
        self.sink
            .as_ref()
            .is_some_and(|s| s.stopped.load(Ordering::Acquire))
    }

    /// What the sink left, to be written (or its error returned) before anything else.
    pub(super) fn take_left(&self) -> Option<Left> {
        self.sink.as_ref().and_then(|s| s.take_left())
    }

    /// Gives the stream's feed to the relay to write to the socket, if the feed just
    /// answered `Pending` to `waker` caught up; false if the socket cannot be shared.
    pub(super) fn try_park<IO: DirectIo>(&mut self, io: &IO, waker: &std::task::Waker) -> bool {
        let sink = match &self.sink {
            Some(s) => s,
            None => match io.sink() {
                Some(s) => self.sink.insert(s),
                None => return false,
            },
        };
        let sink: Arc<dyn DirectSink> = Arc::clone(sink) as Arc<dyn DirectSink>;
        self.handle.try_park(&sink, waker);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpSocket};

    /// A connected pair on 127.0.0.1 with small socket buffers, so a few frames fill them.
    async fn small_pair() -> (TcpStream, TcpStream) {
        let listen = TcpSocket::new_v4().unwrap();
        listen.set_send_buffer_size(4096).unwrap();
        listen.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener: TcpListener = listen.listen(1).unwrap();
        let client = TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let (client, accepted) = tokio::join!(
            client.connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        (accepted.unwrap().0, client.unwrap())
    }

    fn chunk(frame: &[u8]) -> Vec<u8> {
        let mut out = format!("{:x}\r\n", frame.len()).into_bytes();
        out.extend_from_slice(frame);
        out.extend_from_slice(b"\r\n");
        out
    }

    #[tokio::test]
    async fn a_full_socket_stops_the_sink_and_the_task_writes_what_it_left_in_order() {
        let (server, mut client) = small_pair().await;
        let mut io = SharedTcp::new(server);
        let sink = io.sink().unwrap();
        // Frames of both kinds: small ones (one copied write) and large ones (writev).
        let frames: Vec<Bytes> = (0..200)
            .map(|i| {
                let len = if i % 3 == 0 { 3000 } else { 100 };
                Bytes::from(format!("data: {}\n\n", "x".repeat(len)))
            })
            .collect();
        let mut offered = 0;
        while offered < frames.len() {
            let answer = sink.offer(&frames[offered]);
            offered += 1;
            if answer == Offer::Stop {
                break;
            }
        }
        assert!(offered < frames.len(), "the small buffers filled up");
        let left = sink
            .take_left()
            .expect("the sink stopped and left the rest");
        assert!(left.error.is_none());
        assert!(
            !left.bytes.is_empty(),
            "a full socket takes a frame in part or not at all"
        );
        assert!(sink.take_left().is_none(), "taken once");
        let expected: Vec<u8> = frames.iter().flat_map(|f| chunk(f)).collect();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; expected.len()];
            client.read_exact(&mut got).await.unwrap();
            assert!(got == expected, "every byte once, in order");
        });
        // The task's part: what the sink left, then the frames after it, through the
        // shared socket's own writes.
        io.write_all(&left.bytes).await.unwrap();
        for f in &frames[offered..] {
            io.write_all(&chunk(f)).await.unwrap();
        }
        reader.await.unwrap();
        // Once the sink is let go the socket is the connection's alone again.
        drop(sink);
        assert!(io.own().is_some());
        io.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_closed_peer_stops_the_sink_with_its_error() {
        let (server, client) = small_pair().await;
        let io = SharedTcp::new(server);
        let sink = io.sink().unwrap();
        drop(client);
        let frame = Bytes::from_static(b"data: 1\n\n");
        // The first write after the peer's close may still be taken; a later one fails.
        let mut stopped = false;
        for _ in 0..100 {
            if sink.offer(&frame) == Offer::Stop {
                stopped = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(stopped);
        assert!(sink.take_left().unwrap().error.is_some());
    }
}
