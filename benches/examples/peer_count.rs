//! peer_count: the `sse2json --count` of a peer parser, for whole-process comparisons.
//! Reads a `text/event-stream` on stdin (in 1 MiB blocks, as `sse2json` does; with
//! `SSE_CHUNK_SIZES=1460` each block is fed in chunks of that size, cycling) and prints
//! `events=N data_bytes=M` for the events the peer dispatched.
//!
//! `cargo run --release -p eventgate-benches --example peer_count -- sse-core < stream`
//! (peers: `sse-core` (its sans-IO `SseDecoder`), `sse-stream`, `sseer`).

use bytes::Bytes;
use futures_core::Stream;
use std::convert::Infallible;
use std::io::{self, Read};
use std::pin::pin;
use std::process::ExitCode;
use std::task::{Context, Poll, Waker};

/// Stdin as `Bytes` chunks: 1 MiB reads, each cut into `sizes` (cycling) if given.
struct Chunks {
    stdin: io::StdinLock<'static>,
    sizes: Vec<usize>,
    k: usize,
    block: Bytes,
}

impl Iterator for Chunks {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        if self.block.is_empty() {
            let mut buf = vec![0u8; 1 << 20];
            let n = loop {
                match self.stdin.read(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => panic!("stdin: {e}"),
                }
            };
            if n == 0 {
                return None;
            }
            buf.truncate(n);
            self.block = Bytes::from(buf);
        }
        let size = if self.sizes.is_empty() {
            self.block.len()
        } else {
            self.k += 1;
            self.sizes[(self.k - 1) % self.sizes.len()].min(self.block.len())
        };
        Some(self.block.split_to(size))
    }
}

/// Polls a stream whose input is always ready to the end.
fn drain<S: Stream>(stream: S, mut f: impl FnMut(S::Item)) {
    let mut stream = pin!(stream);
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
        f(item);
    }
}

fn byte_stream(chunks: Chunks) -> impl Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::iter(chunks.map(Ok))
}

fn main() -> ExitCode {
    let peer = std::env::args().nth(1).unwrap_or_default();
    let sizes: Vec<usize> = std::env::var("SSE_CHUNK_SIZES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .collect();
    let chunks = Chunks {
        stdin: io::stdin().lock(),
        sizes,
        k: 0,
        block: Bytes::new(),
    };
    let (mut events, mut data_bytes) = (0u64, 0u64);
    match peer.as_str() {
        "sse-core" => {
            let mut decoder = sse_core::SseDecoder::new();
            for mut chunk in chunks {
                while let Some(item) = decoder.next(&mut chunk) {
                    if let Ok(sse_core::SseEvent::Message(m)) = item {
                        events += 1;
                        data_bytes += m.data.len() as u64;
                    }
                }
            }
        }
        "sse-stream" => drain(
            sse_stream::SseByteStream::new(byte_stream(chunks)),
            |item| {
                if let Ok(sse_stream::Sse { data: Some(d), .. }) = item {
                    events += 1;
                    data_bytes += d.len() as u64;
                }
            },
        ),
        "sseer" => drain(sseer::EventStream::new(byte_stream(chunks)), |item| {
            if let Ok(e) = item {
                events += 1;
                data_bytes += e.data.len() as u64;
            }
        }),
        other => {
            eprintln!("peer_count: unknown peer {other:?} (sse-core, sse-stream, sseer)");
            return ExitCode::from(2);
        }
    }
    println!("events={events} data_bytes={data_bytes}");
    ExitCode::SUCCESS
}
