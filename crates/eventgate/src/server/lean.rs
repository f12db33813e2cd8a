//! The lean HTTP/1.1 path: the first request of a connection, when it is a plain `GET` or
//! `HEAD` without a body, is read and answered here instead of by hyper.
//!
//! Why: hyper's HTTP/1 connection keeps an 8 KiB read buffer and an 8 KiB write buffer for
//! as long as the connection lives, and an event stream lives for hours while idling most of
//! the time. Here the request head is read into a buffer sized to the head and freed once it
//! is parsed, the response head is written from a buffer freed after the write, and body
//! frames go to the socket as they come (the frames ready together gathered into one write
//! from a buffer of the worker thread's), so an idle stream holds no buffer at all.
//!
//! Everything else is hyper's: HTTP/2 (its preface fails the HTTP/1 parse), requests with a
//! body, `Expect`, `Upgrade`, heads that do not parse or are longer than [`MAX_HEAD`] (hyper
//! answers them with its own 400 or 431), and every request after the first on a kept-alive
//! connection: the bytes read so far are handed to hyper in front of the socket ([`Prefixed`]).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::RequestBody;
use super::direct::{Direct, DirectIo};

/// The longest request head the lean path reads; a longer one is handed to hyper, which
/// applies its own limits (and answers 431 past them).
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in a request head the lean path parses (hyper's own default is 100).
const MAX_HEADERS: usize = 100;
/// Bytes a client may send while its response streams (a pipelined request) that are kept for
/// hyper; past this the socket is no longer read until the response ends.
const MAX_PIPELINED: usize = 8 * 1024;

/// What reading the first request head found.
// Built once per connection and matched at once; boxing the request would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Head {
    /// A request the lean path answers, and any bytes read past its head.
    Lean(LeanRequest),
    /// Anything else: the bytes read so far, to be given to hyper before the socket.
    Hyper(Bytes),
    /// The client closed the connection (or failed) before sending anything.
    Closed,
}

/// A parsed request the lean path answers.
pub(super) struct LeanRequest {
    pub(super) request: Request<RequestBody>,
    /// The client asked to keep the connection (HTTP/1.1 without `Connection: close`).
    keep_alive: bool,
    /// Bytes read past the head (a pipelined request).
    pub(super) rest: Bytes,
}

/// Reads the first request head and decides who answers it.
pub(super) async fn read_head<IO: AsyncRead + Unpin>(io: &mut IO) -> Head {
    let mut buf = BytesMut::new();
    loop {
        // Grow by 1 KiB steps: most heads (an EventSource's included) fit in the first.
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(1024);
        }
        match io.read_buf(&mut buf).await {
            Ok(0) | Err(_) if buf.is_empty() => return Head::Closed,
            Ok(0) | Err(_) => return Head::Hyper(buf.freeze()),
            Ok(_) => {}
        }
        match parse(&buf) {
            Parsed::Partial if buf.len() < MAX_HEAD => continue,
            Parsed::Partial | Parsed::NotLean => return Head::Hyper(buf.freeze()),
            Parsed::Lean(head_len, request, keep_alive) => {
                // Copy what follows the head so the head's buffer is freed now.
                let rest = Bytes::copy_from_slice(&buf[head_len..]);
                return Head::Lean(LeanRequest {
                    request,
                    keep_alive,
                    rest,
                });
            }
        }
    }
}

#[allow(clippy::large_enum_variant)] // as Head
enum Parsed {
    Partial,
    NotLean,
    Lean(usize, Request<RequestBody>, bool),
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        // Not HTTP/1 (the HTTP/2 preface), too many headers, bad syntax: hyper answers.
        Err(_) => return Parsed::NotLean,
    };
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::NotLean,
    };
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Parsed::NotLean,
    };
    let Some(Ok(uri)) = req.path.map(http::Uri::try_from) else {
        return Parsed::NotLean;
    };
    let mut map = HeaderMap::with_capacity(req.headers.len());
    let mut keep_alive = version == Version::HTTP_11;
    for h in req.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Parsed::NotLean;
        };
        if name == TRANSFER_ENCODING
            || name == http::header::EXPECT
            || name == http::header::UPGRADE
            || (name == CONTENT_LENGTH && value.as_bytes() != b"0")
        {
            // A body, an interim response or a protocol switch: hyper's job.
            return Parsed::NotLean;
        }
        if name == CONNECTION && has_token(value.as_bytes(), b"close") {
            keep_alive = false;
        }
        map.append(name, value);
    }
    let mut request = Request::new(RequestBody::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = map;
    Parsed::Lean(head_len, request, keep_alive)
}

/// Whether a comma-separated header value holds `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// How the response body is delimited on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// `Content-Length`: exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client, length unknown).
    Close,
}

/// Answers `req` with `svc` on `io`. `Ok(Some(bytes))`: the response ended and the connection
/// may serve more requests (hyper takes over, `bytes` first); `Ok(None)`: close it.
pub(super) async fn respond<IO, S, B>(
    io: &mut IO,
    mut svc: S,
    req: LeanRequest,
) -> io::Result<Option<Bytes>>
where
    IO: AsyncRead + AsyncWrite + Unpin + DirectIo,
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>,
    B: Body<Data = Bytes>,
{
    let LeanRequest {
        request,
        mut keep_alive,
        rest,
    } = req;
    let head_only = request.method() == Method::HEAD;
    let version = request.version();
    poll_fn(|cx| svc.poll_ready(cx))
        .await
        .map_err(|_| io::Error::other("service not ready"))?;
    // Boxed: the service's future (the gateway's authorization, with its key fetches) is
    // large, and unboxed its space would stay in this connection's task for the life of the
    // stream.
    let response = Box::pin(svc.call(request))
        .await
        .map_err(|_| io::Error::other("service failed"))?;
    let (mut parts, body) = response.into_parts();
    let direct = parts
        .extensions
        .remove::<eventgate_relay::DirectHandle>()
        .map(Direct::new);
    drop(parts.extensions);
    let mut headers = parts.headers;
    let status = parts.status;
    // HTTP/1.0 is never kept alive here (so a body of unknown length ends with the close).
    if headers
        .get(CONNECTION)
        .is_some_and(|v| has_token(v.as_bytes(), b"close"))
    {
        keep_alive = false;
    }
    if !keep_alive && version == Version::HTTP_11 {
        // (HTTP/1.0 closes by default; hyper says nothing there either.)
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    let mut framing = if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::None
    } else if let Some(n) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        headers.remove(TRANSFER_ENCODING);
        Framing::Length(n)
    } else if let Some(n) = body.size_hint().exact() {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        headers.remove(TRANSFER_ENCODING);
        Framing::Length(n)
    } else if version == Version::HTTP_11 {
        if !head_only {
            headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        Framing::Chunked
    } else {
        Framing::Close
    };
    if head_only {
        // The head says what a GET would get; no body follows.
        framing = Framing::None;
    }
    if !headers.contains_key(DATE)
        && let Ok(date) =
            HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
    {
        headers.insert(DATE, date);
    }
    write_head(io, version, status, &headers).await?;
    drop(headers);
    if framing == Framing::None {
        return Ok(keep_alive.then_some(rest));
    }
    // Live events written by the relay itself: as chunks, so only with chunked framing.
    let mut direct = direct.filter(|_| framing == Framing::Chunked);
    let mut body = std::pin::pin!(body);
    let mut pipelined = BytesMut::new();
    pipelined.extend_from_slice(&rest);
    drop(rest);
    let mut sent: u64 = 0;
    // A frame a gathered write had no room for: it goes first in the next write.
    let mut held: Option<Bytes> = None;
    // The gathered write just found the body pending, in this same poll of the task: its
    // waker is registered, so looking again before the task yields would only repeat that.
    let mut body_just_pending = false;
    loop {
        let data = match held.take() {
            Some(data) => data,
            None => {
                let mut skip_body = std::mem::take(&mut body_just_pending);
                let next = poll_fn(|cx| {
                    // Only the first poll may skip it: after a wake the body is looked at.
                    let poll_body = !std::mem::take(&mut skip_body);
                    poll_frame_or_hangup(
                        io,
                        body.as_mut(),
                        poll_body,
                        &mut pipelined,
                        direct.as_mut(),
                        cx,
                    )
                })
                .await?;
                let frame = match next {
                    Next::Frame(frame) => frame,
                    Next::Left => {
                        // The relay stopped writing in the middle of a frame, or failed:
                        // the rest of that frame goes first.
                        if let Some(left) = direct.as_ref().and_then(Direct::take_left) {
                            if let Some(e) = left.error {
                                return Err(e);
                            }
                            write_all(io, [&left.bytes, &[], &[]]).await?;
                        }
                        continue;
                    }
                };
                let Some(frame) = frame else { break };
                let Ok(data) = frame.into_data() else {
                    continue; // trailers: not sent over HTTP/1.1 here
                };
                if data.is_empty() {
                    continue;
                }
                data
            }
        };
        match framing {
            Framing::Chunked if chunk_len(data.len()) <= GATHER => {
                let mut out = Gathered::default();
                // Always ready at the first poll (what the socket did not take is in `out`).
                poll_fn(|cx| Poll::Ready(write_gathered(io, body.as_mut(), &data, &mut out, cx)))
                    .await?;
                if out.rest.is_empty() {
                    // Flushed at the first poll (a TCP socket always is), the task has not
                    // yielded since the body was found pending.
                    match poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_flush(cx))).await {
                        Poll::Ready(flushed) => {
                            flushed?;
                            body_just_pending = out.body_pending;
                        }
                        Poll::Pending => io.flush().await?,
                    }
                } else {
                    write_all(io, [&out.rest, &[], &[]]).await?;
                }
                held = out.held;
                match out.end {
                    None => {}
                    Some(Ok(())) => break,
                    Some(Err(())) => return Err(io::Error::other("response body failed")),
                }
            }
            Framing::Chunked => {
                let mut size = [0u8; 18];
                let n = chunk_size_line(data.len(), &mut size);
                write_all(io, [&size[..n], &data, b"\r\n"]).await?;
            }
            Framing::Length(len) => {
                sent = sent.saturating_add(data.len() as u64);
                if sent > len {
                    // More than announced: stop here; the client sees a short connection.
                    return Ok(None);
                }
                write_all(io, [&data, &[], &[]]).await?;
            }
            Framing::Close | Framing::None => write_all(io, [&data, &[], &[]]).await?,
        }
    }
    match framing {
        Framing::Chunked => write_all(io, [b"0\r\n\r\n", &[], &[]]).await?,
        Framing::Length(len) if sent != len => return Ok(None),
        _ => {}
    }
    Ok(keep_alive.then(|| pipelined.freeze()))
}

/// Polls the body for its next frame; while it has none, watches the socket: a client that
/// hangs up ends the response (`Err`), and bytes it sends meanwhile (a pipelined request) are
/// kept, up to [`MAX_PIPELINED`], for whoever serves the connection next.
///
/// The socket is looked at only when the body is pending (an idle stream, the case where a
/// hang-up would otherwise go unnoticed): while frames are ready, a closed client shows up as
/// a failed write, and the read side's readiness check is not paid per frame.
///
/// `poll_body: false` skips the body (taken as pending) when the caller knows it was polled
/// pending earlier in this same poll of the task, so its waker is registered already.
///
/// With `direct`, a body found pending (caught up) is given to the relay to write to the
/// socket itself, and what the relay left unwritten ([`Next::Left`]) comes before any frame.
fn poll_frame_or_hangup<IO, B>(
    io: &mut IO,
    body: Pin<&mut B>,
    poll_body: bool,
    pipelined: &mut BytesMut,
    direct: Option<&mut Direct>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Next>>
where
    IO: AsyncRead + Unpin + DirectIo,
    B: Body<Data = Bytes>,
{
    if direct.as_ref().is_some_and(|d| d.has_left()) {
        return Poll::Ready(Ok(Next::Left));
    }
    if poll_body {
        match body.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => return Poll::Ready(Ok(Next::Frame(Some(frame)))),
            Poll::Ready(Some(Err(_))) => {
                return Poll::Ready(Err(io::Error::other("response body failed")));
            }
            Poll::Ready(None) => return Poll::Ready(Ok(Next::Frame(None))),
            Poll::Pending => {}
        }
    }
    if let Some(d) = direct {
        d.try_park(io, cx.waker());
    }
    while pipelined.len() < MAX_PIPELINED {
        let mut scratch = [0u8; 512];
        let mut rb = ReadBuf::new(&mut scratch);
        match Pin::new(&mut *io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            Poll::Ready(Ok(())) => pipelined.extend_from_slice(rb.filled()),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => break,
        }
    }
    Poll::Pending
}

/// What [`poll_frame_or_hangup`] found.
enum Next {
    /// The body's next frame (`None`: it ended).
    Frame(Option<http_body::Frame<Bytes>>),
    /// The relay's direct writes stopped and left bytes (or an error) to deal with first.
    Left,
}

/// Writes `len` as a chunk-size line (`1a2b\r\n`) into `out`; returns its length.
pub(super) fn chunk_size_line(len: usize, out: &mut [u8; 18]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, slot) in out[..digits].iter_mut().enumerate() {
        *slot = HEX[(len >> (4 * (digits - 1 - i))) & 0xf];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}

async fn write_head<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(
        64 + headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>(),
    );
    head.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    write_all(io, [&head, &[], &[]]).await
}

/// Most bytes (frames with their chunk framing) one gathered write sends. A stream with
/// several frames ready (a client that fell behind, a burst of events) sends them with one
/// system call instead of one each, as hyper's write buffer does; the bytes are copied into
/// a buffer of the worker thread's, so an idle stream still holds none.
const GATHER: usize = 16 * 1024;
/// Most frames one gathered write sends.
const GATHER_FRAMES: usize = 64;

thread_local! {
    /// The worker thread's buffer for gathered writes (at most [`GATHER`] bytes).
    static GATHER_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What a gathered write left to do.
#[derive(Default)]
struct Gathered {
    /// Bytes the socket did not take at once: written next, before anything else.
    rest: Vec<u8>,
    /// A ready frame with no room left in this write: it goes first in the next.
    held: Option<Bytes>,
    /// The body ended (`Ok`) or failed (`Err`) after the frames written.
    end: Option<Result<(), ()>>,
    /// The body was pending when the gathering stopped (its waker is registered).
    body_pending: bool,
}

/// The length of `len` data bytes as one chunk: size line, data, CRLF.
fn chunk_len(len: usize) -> usize {
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    digits + 2 + len + 2
}

fn push_chunk(buf: &mut Vec<u8>, data: &[u8]) {
    let mut size = [0u8; 18];
    let n = chunk_size_line(data.len(), &mut size);
    buf.extend_from_slice(&size[..n]);
    buf.extend_from_slice(data);
    buf.extend_from_slice(b"\r\n");
}

/// Writes `first` as a chunk, together with every further frame `body` has ready (up to
/// [`GATHER`] bytes and [`GATHER_FRAMES`] frames), with one `write`. Never pending, since
/// frames taken from the body must not be lost: what the socket does not take at once is
/// left in `out.rest` for the caller to write.
fn write_gathered<IO, B>(
    io: &mut IO,
    mut body: Pin<&mut B>,
    first: &[u8],
    out: &mut Gathered,
    cx: &mut Context<'_>,
) -> io::Result<()>
where
    IO: AsyncWrite + Unpin,
    B: Body<Data = Bytes>,
{
    let mut gather = |buf: &mut Vec<u8>| {
        buf.clear();
        push_chunk(buf, first);
        let mut frames = 1;
        while frames < GATHER_FRAMES {
            match body.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    if buf.len() + chunk_len(data.len()) > GATHER {
                        out.held = Some(data);
                        break;
                    }
                    push_chunk(buf, &data);
                    frames += 1;
                }
                Poll::Ready(Some(Err(_))) => {
                    out.end = Some(Err(()));
                    break;
                }
                Poll::Ready(None) => {
                    out.end = Some(Ok(()));
                    break;
                }
                Poll::Pending => {
                    out.body_pending = true;
                    break;
                }
            }
        }
        let n = match Pin::new(&mut *io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => 0,
        };
        if n < buf.len() {
            out.rest.extend_from_slice(&buf[n..]);
        }
        Ok(())
    };
    // The thread's buffer, or (while a thread is torn down, or in a nested use that cannot
    // happen today) one of this write's own.
    GATHER_BUF
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut buf| gather(&mut buf)))
        .ok()
        .flatten()
        .unwrap_or_else(|| gather(&mut Vec::new()))
}

/// Frames up to this size (with their chunk framing) are copied into one buffer on the stack
/// and written with a plain `write`: for a small event that is cheaper than `writev` of
/// three pieces (the kernel imports and walks one segment, not an iovec of three).
pub(super) const SMALL_WRITE: usize = 512;

/// Writes the three parts in order (a small total in one copied write, the rest with
/// vectored writes), then flushes.
async fn write_all<IO: AsyncWrite + Unpin>(io: &mut IO, mut parts: [&[u8]; 3]) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= SMALL_WRITE {
        let n = poll_fn(|cx| {
            // On the stack of this poll only: nothing is kept in the connection's task.
            let mut buf = [0u8; SMALL_WRITE];
            let mut len = 0;
            for p in parts {
                buf[len..len + p.len()].copy_from_slice(p);
                len += p.len();
            }
            Pin::new(&mut *io).poll_write(cx, &buf[..len])
        })
        .await?;
        if n == 0 && total > 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        advance(&mut parts, n);
    }
    while parts.iter().any(|p| !p.is_empty()) {
        let slices = parts.map(IoSlice::new);
        let n = io.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        advance(&mut parts, n);
    }
    io.flush().await
}

/// Drops the first `n` bytes written from `parts`.
fn advance(parts: &mut [&[u8]; 3], mut n: usize) {
    for part in parts.iter_mut() {
        let take = n.min(part.len());
        *part = &part[take..];
        n -= take;
    }
}

/// A socket with bytes already read from it put back in front, for hyper.
pub(super) struct Prefixed<IO> {
    prefix: Bytes,
    io: IO,
}

impl<IO> Prefixed<IO> {
    pub(super) fn new(prefix: Bytes, io: IO) -> Self {
        Self { prefix, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head = self.prefix.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines_are_lowercase_hex_without_leading_zeros() {
        let mut out = [0u8; 18];
        for (len, want) in [
            (0usize, "0\r\n"),
            (1, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (0x1a2b, "1a2b\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let n = chunk_size_line(len, &mut out);
            assert_eq!(std::str::from_utf8(&out[..n]).unwrap(), want);
        }
    }

    #[tokio::test]
    async fn write_all_sends_every_byte_in_order_through_short_and_pending_writes() {
        let big = vec![b'x'; SMALL_WRITE * 3];
        for (head, data) in [
            (&b"4\r\n"[..], &b"ab\n\n"[..]),
            (b"", b""),
            (b"600\r\n", &big[..]),
            (b"1f\r\n", &big[..SMALL_WRITE - 7]),
        ] {
            for step in [1, 3, 7, 4096] {
                let mut w = Socket::new(step, true);
                write_all(&mut w, [head, data, b"\r\n"]).await.unwrap();
                let want = [head, data, &b"\r\n"[..]].concat();
                assert_eq!(w.out, want, "step {step}, {} bytes", want.len());
            }
        }
    }

    /// A socket that records every write call; reads never complete (a client that only
    /// listens). Takes at most `step` bytes a call, and is pending every other call when
    /// `pend` is set.
    struct Socket {
        out: Vec<u8>,
        step: usize,
        pend: bool,
        calls: usize,
        writes: usize,
    }

    impl Socket {
        fn new(step: usize, pend: bool) -> Self {
            Self {
                out: Vec::new(),
                step,
                pend,
                calls: 0,
                writes: 0,
            }
        }
    }

    impl DirectIo for Socket {}

    impl AsyncRead for Socket {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Socket {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.calls += 1;
            if self.pend && self.calls.is_multiple_of(2) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.writes += 1;
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    type Item = Result<http_body::Frame<Bytes>, io::Error>;
    type Frames = Vec<Item>;

    /// Answers the one request it is asked with `body` (chunked: no length is known).
    struct Once<B>(Option<B>);

    impl<B> tower_service::Service<Request<RequestBody>> for Once<B> {
        type Response = Response<B>;
        type Error = io::Error;
        type Future = std::future::Ready<Result<Self::Response, io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<RequestBody>) -> Self::Future {
            std::future::ready(
                self.0
                    .take()
                    .map(Response::new)
                    .ok_or(io::ErrorKind::Other.into()),
            )
        }
    }

    /// Serves `frames`, all ready at once.
    async fn serve(frames: Frames, socket: &mut Socket) -> io::Result<Option<Bytes>> {
        serve_body(
            http_body_util::StreamBody::new(futures_util::stream::iter(frames)),
            socket,
        )
        .await
    }

    async fn serve_body<B: Body<Data = Bytes>>(
        body: B,
        socket: &mut Socket,
    ) -> io::Result<Option<Bytes>> {
        let Parsed::Lean(_, request, keep_alive) = parse(b"GET /s HTTP/1.1\r\nHost: h\r\n\r\n")
        else {
            panic!("not lean");
        };
        let req = LeanRequest {
            request,
            keep_alive,
            rest: Bytes::new(),
        };
        respond(socket, Once(Some(body)), req).await
    }

    /// The body part of what `socket` received (after the response head).
    fn body_of(socket: &Socket) -> &[u8] {
        let at = socket
            .out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        &socket.out[at + 4..]
    }

    fn chunked(frames: &[&[u8]]) -> Vec<u8> {
        let mut want = Vec::new();
        for f in frames.iter().filter(|f| !f.is_empty()) {
            push_chunk(&mut want, f);
        }
        want.extend_from_slice(b"0\r\n\r\n");
        want
    }

    #[tokio::test]
    async fn frames_ready_together_go_out_in_gathered_writes() {
        let event =
            b"id: 1\ndata: {\"t\":1796308551219064,\"payload\":\"xxxxxxxxxxxxxxxxxxxxxx\"}\n\n";
        let frames: Frames = (0..300)
            .map(|_| Ok(http_body::Frame::data(Bytes::from_static(event))))
            .collect();
        let mut socket = Socket::new(usize::MAX, false);
        serve(frames, &mut socket).await.unwrap();
        assert_eq!(body_of(&socket), chunked(&[&event[..]; 300]));
        // The head, ceil(300 / GATHER_FRAMES) = 5 gathered writes, the last chunk: not 302.
        assert_eq!(socket.writes, 1 + 300usize.div_ceil(GATHER_FRAMES) + 1);
    }

    #[tokio::test]
    async fn gathered_writes_keep_every_byte_in_order_through_short_and_pending_writes() {
        let huge = vec![b'h'; GATHER + 100];
        let near = vec![b'n'; GATHER - 40];
        let small = b"data: s\n\n".to_vec();
        let mut parts: Vec<&[u8]> = Vec::new();
        for i in 0..40 {
            parts.push(&small);
            if i % 9 == 0 {
                parts.push(&near); // no room after the frames before it: held for the next
            }
            if i % 13 == 0 {
                parts.push(&huge); // larger than one gathered write: written on its own
            }
            if i % 5 == 0 {
                parts.push(b""); // empty frames are skipped
            }
        }
        for (step, pend) in [(1, true), (7, true), (4096, true), (usize::MAX, false)] {
            let mut frames: Frames = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                frames.push(Ok(http_body::Frame::data(Bytes::copy_from_slice(p))));
                if i == 3 {
                    frames.push(Ok(http_body::Frame::trailers(HeaderMap::new())));
                }
            }
            let mut socket = Socket::new(step, pend);
            serve(frames, &mut socket).await.unwrap();
            assert!(body_of(&socket) == chunked(&parts), "step {step}");
        }
    }

    /// A body fed one frame at a time by another task, counting its polls.
    struct Trickle {
        rx: tokio::sync::mpsc::Receiver<Bytes>,
        polls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Body for Trickle {
        type Data = Bytes;
        type Error = io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
            self.polls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.rx
                .poll_recv(cx)
                .map(|f| f.map(|f| Ok(http_body::Frame::data(f))))
        }
    }

    /// An event at a time (a live stream): the frame is taken, the gathered write finds the
    /// body pending and registers its waker, and the body is not polled a third time before
    /// the task waits (two polls per frame, not three); no frame is lost or held back.
    #[tokio::test]
    async fn a_live_stream_polls_its_body_twice_per_frame_and_loses_none() {
        const N: usize = 50;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let body = Trickle {
            rx,
            polls: std::sync::Arc::clone(&polls),
        };
        let sent: Vec<Vec<u8>> = (0..N)
            .map(|i| format!("data: {i}\n\n").into_bytes())
            .collect();
        let to_send = sent.clone();
        let producer = tokio::spawn(async move {
            for frame in to_send {
                tx.send(Bytes::from(frame)).await.unwrap();
                // The server takes it, writes it and waits before the next one comes.
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut socket = Socket::new(usize::MAX, false);
        serve_body(body, &mut socket).await.unwrap();
        producer.await.unwrap();
        let parts: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        assert_eq!(body_of(&socket), chunked(&parts));
        // One write per frame (none was ready with another), and the last chunk.
        assert_eq!(socket.writes, 1 + N + 1);
        // Per frame: the poll that takes it and the gathered write's; then the end.
        let polls = polls.load(std::sync::atomic::Ordering::Relaxed);
        assert!(polls <= 2 * N + 2, "{polls} body polls for {N} frames");
    }

    #[tokio::test]
    async fn frames_before_a_body_error_are_written_then_the_response_fails() {
        let frames: Frames = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"data: 1\n\n"))),
            Ok(http_body::Frame::data(Bytes::from_static(b"data: 2\n\n"))),
            Err(io::Error::other("upstream gone")),
        ];
        let mut socket = Socket::new(usize::MAX, false);
        assert!(serve(frames, &mut socket).await.is_err());
        let mut want = Vec::new();
        push_chunk(&mut want, b"data: 1\n\n");
        push_chunk(&mut want, b"data: 2\n\n");
        assert_eq!(body_of(&socket), want);
    }

    #[test]
    fn only_bodiless_get_and_head_over_http1_are_lean() {
        let lean = |raw: &str| matches!(parse(raw.as_bytes()), Parsed::Lean(..));
        assert!(lean("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(lean("HEAD /a HTTP/1.0\r\n\r\n"));
        assert!(lean("GET /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
        assert!(!lean("POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
        assert!(!lean("GET /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"));
        assert!(!lean(
            "GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(!lean("GET /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"));
        assert!(!lean("GET /a HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"));
        assert!(!lean("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assert!(!lean("GET /a HTTP/1.1\r\nBad Header: x\r\n\r\n"));
        assert!(matches!(parse(b"GET /a HTTP/1.1\r\nHost"), Parsed::Partial));
    }

    #[test]
    fn connection_close_in_any_case_and_list_position_ends_keep_alive() {
        for raw in [
            "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
        ] {
            let Parsed::Lean(_, _, keep) = parse(raw.as_bytes()) else {
                panic!("not lean: {raw}");
            };
            assert!(!keep, "{raw}");
        }
        let Parsed::Lean(n, req, keep) = parse(b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\nGET") else {
            panic!("not lean");
        };
        assert!(keep);
        assert_eq!(n, 32);
        assert_eq!(req.uri(), "/x?y=1");
        assert_eq!(req.headers()["host"], "h");
    }
}
