//! Shared helpers for the eventgate criterion suites (workload generators live here so
//! that every suite, and the peers it compares against, read exactly the same bytes).
//!
//! Every generator is deterministic: the same call gives the same bytes on every machine
//! and every run, so figures from different runs compare like with like.

use bytes::Bytes;

/// The chunk size that stands for one TCP segment's payload on a typical link (1,500-byte
/// MTU minus 40 bytes of IPv4 and TCP headers): how an upstream body often arrives.
pub const TCP_CHUNK: usize = 1460;

/// How big to make a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The sizes the figures in docs/benchmarks.md are measured on.
    Full,
    /// One hundredth of the events (at least one), for the `cargo test --benches` smoke
    /// run, which builds without optimisations and runs each benchmark once.
    Smoke,
}

impl Scale {
    /// `Full` when the process was started by `cargo bench` (which passes `--bench`),
    /// `Smoke` otherwise (`cargo test --benches`).
    pub fn from_args() -> Self {
        if std::env::args().any(|a| a == "--bench") {
            Scale::Full
        } else {
            Scale::Smoke
        }
    }

    /// `n` events at this scale.
    pub fn events(self, n: usize) -> usize {
        match self {
            Scale::Full => n,
            Scale::Smoke => (n / 100).max(1),
        }
    }
}

/// A generated stream and what a correct parser must find in it.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Short name, used in benchmark ids (`a_small_json`, ...).
    pub name: &'static str,
    /// The whole stream.
    pub input: Bytes,
    /// Number of events a correct parser dispatches.
    pub events: u64,
    /// Total length of those events' data as dispatched (lines joined with LF, no
    /// trailing LF).
    pub data_bytes: u64,
}

impl Workload {
    /// The stream cut into `size`-byte chunks (the last one shorter), as zero-copy slices
    /// of [`input`](Self::input).
    ///
    /// # Panics
    /// If `size` is 0.
    pub fn chunks(&self, size: usize) -> Vec<Bytes> {
        assert!(size > 0, "chunk size must be at least 1");
        (0..self.input.len())
            .step_by(size)
            .map(|start| {
                self.input
                    .slice(start..(start + size).min(self.input.len()))
            })
            .collect()
    }
}

/// A small deterministic pseudo-random generator (xorshift64*), so that filler text is
/// not one repeated byte (which would flatter some scanners) yet is the same every run.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed (0 is replaced by a fixed non-zero constant).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A criterion [`Measurement`](criterion::measurement::Measurement) of the benchmark
/// thread's CPU time rather than wall-clock time.
///
/// The project's machine is shared: with other engineers compiling, a benchmark thread
/// spends much of a sample waiting for a core, and wall-clock samples then measure the
/// load more than the code. Thread CPU time (`CLOCK_THREAD_CPUTIME_ID` on Linux) counts
/// only the time the thread ran. It still includes the cache and memory-bandwidth cost of
/// sharing the machine, and equals wall-clock time on an idle machine for single-threaded
/// code such as the parsers. Elsewhere than Linux it falls back to wall-clock time.
pub mod measurement {
    use criterion::measurement::{Measurement, ValueFormatter, WallTime};
    use std::time::Duration;

    /// Thread CPU time; values and throughputs are formatted as criterion's wall time is.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct ThreadCpuTime;

    impl ThreadCpuTime {
        /// CPU time the calling thread has used so far.
        #[cfg(target_os = "linux")]
        #[allow(unsafe_code)] // One libc call on a local, valid `timespec`.
        pub fn now() -> Duration {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant
            // Linux always supports.
            let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        }

        /// Wall-clock time since the first call (no thread clock on this platform).
        #[cfg(not(target_os = "linux"))]
        pub fn now() -> Duration {
            static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            START.get_or_init(std::time::Instant::now).elapsed()
        }
    }

    impl Measurement for ThreadCpuTime {
        type Intermediate = Duration;
        type Value = Duration;

        fn start(&self) -> Duration {
            Self::now()
        }
        fn end(&self, start: Duration) -> Duration {
            Self::now().saturating_sub(start)
        }
        fn add(&self, a: &Duration, b: &Duration) -> Duration {
            *a + *b
        }
        fn zero(&self) -> Duration {
            Duration::ZERO
        }
        fn to_f64(&self, value: &Duration) -> f64 {
            value.as_nanos() as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            // Same unit (nanoseconds), so criterion's own formatting applies.
            static WALL: WallTime = WallTime;
            WALL.formatter()
        }
    }
}

/// Workloads for the `text/event-stream` parsers (the `sse` suite).
pub mod sse {
    use super::{Scale, Workload, XorShift};
    use bytes::Bytes;
    use std::io::Write;

    /// The data of each event of workload (a).
    pub const QUOTE_DATA: &str = r#"{"price":123.45,"symbol":"ACME"}"#;
    /// The data of each event of workload (d).
    pub const TOKEN_DATA: &str = r#"{"choices":[{"delta":{"content":"tok"}}]}"#;
    /// Length of the one data line of each event of workload (b): 64 KiB.
    pub const BIG_LINE_LEN: usize = 64 * 1024;
    /// Data lines per event in workload (c).
    pub const CRLF_LINES: usize = 5;

    /// (a) `n` small JSON events with an id and a type, LF line endings:
    /// `id: N\nevent: quote\ndata: {"price":123.45,"symbol":"ACME"}\n\n`.
    pub fn small_json(n: usize) -> Workload {
        let mut out = Vec::with_capacity(n * 64);
        for i in 0..n {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "id: {i}\nevent: quote\ndata: {QUOTE_DATA}\n\n");
        }
        Workload {
            name: "a_small_json",
            input: Bytes::from(out),
            events: n as u64,
            data_bytes: (n * QUOTE_DATA.len()) as u64,
        }
    }

    /// (b) `n` events of one [`BIG_LINE_LEN`]-byte data line of printable ASCII
    /// (JSON-string-like filler, different for every event), LF line endings.
    pub fn big_lines(n: usize) -> Workload {
        const ALPHABET: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.:{}\"[]_-";
        let mut rng = XorShift::new(0xB16_11E5);
        let mut out = Vec::with_capacity(n * (BIG_LINE_LEN + 8));
        for _ in 0..n {
            out.extend_from_slice(b"data: ");
            let mut left = BIG_LINE_LEN;
            while left > 0 {
                let mut bits = rng.next_u64();
                for _ in 0..8.min(left) {
                    out.push(ALPHABET[(bits as u8 as usize) % ALPHABET.len()]);
                    bits >>= 8;
                }
                left = left.saturating_sub(8);
            }
            out.extend_from_slice(b"\n\n");
        }
        Workload {
            name: "b_64k_lines",
            input: Bytes::from(out),
            events: n as u64,
            data_bytes: (n * BIG_LINE_LEN) as u64,
        }
    }

    /// (c) `n` events of [`CRLF_LINES`] data lines each, CRLF line endings:
    /// `data: {"seq":N,"line":K,"text":"the quick brown fox jumps over the lazy dog"}\r\n`
    /// five times, then `\r\n`.
    pub fn crlf_multiline(n: usize) -> Workload {
        let mut out = Vec::with_capacity(n * CRLF_LINES * 90);
        let mut data_bytes = 0u64;
        let mut line = Vec::with_capacity(96);
        for i in 0..n {
            for k in 0..CRLF_LINES {
                line.clear();
                let _ = write!(
                    line,
                    r#"{{"seq":{i},"line":{k},"text":"the quick brown fox jumps over the lazy dog"}}"#
                );
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&line);
                out.extend_from_slice(b"\r\n");
                data_bytes += line.len() as u64;
            }
            out.extend_from_slice(b"\r\n");
            // Lines are joined with LF.
            data_bytes += (CRLF_LINES - 1) as u64;
        }
        Workload {
            name: "c_crlf_5_lines",
            input: Bytes::from(out),
            events: n as u64,
            data_bytes,
        }
    }

    /// (d) `n` LLM-token events, as chat-completion APIs stream them:
    /// `data: {"choices":[{"delta":{"content":"tok"}}]}\n\n`.
    pub fn llm_tokens(n: usize) -> Workload {
        let frame = format!("data: {TOKEN_DATA}\n\n");
        Workload {
            name: "d_llm_tokens",
            input: Bytes::from(frame.repeat(n)),
            events: n as u64,
            data_bytes: (n * TOKEN_DATA.len()) as u64,
        }
    }

    /// The four parser workloads of the sse suite, in order (a) to (d): 10,000 small JSON
    /// events, 1,000 events of a 64 KiB line, 10,000 five-line CRLF events, 50,000 LLM
    /// tokens (or a hundredth of each at [`Scale::Smoke`]).
    pub fn all(scale: Scale) -> Vec<Workload> {
        vec![
            small_json(scale.events(10_000)),
            big_lines(scale.events(1_000)),
            crlf_multiline(scale.events(10_000)),
            llm_tokens(scale.events(50_000)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::sse;

    /// Counts events and data bytes the slow, obvious way (LF or CRLF endings only, no
    /// BOM, no comments): enough to check the generators' own bookkeeping.
    fn naive_count(input: &[u8]) -> (u64, u64) {
        let text = std::str::from_utf8(input).expect("generators write UTF-8");
        let (mut events, mut bytes) = (0u64, 0u64);
        let mut data: Option<String> = None;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                if let Some(d) = data.take() {
                    events += 1;
                    bytes += d.len() as u64;
                }
            } else if let Some(v) = line.strip_prefix("data: ") {
                match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(v);
                    }
                    None => data = Some(v.to_string()),
                }
            }
        }
        (events, bytes)
    }

    #[test]
    fn generators_report_the_events_and_data_bytes_they_wrote() {
        for w in [
            sse::small_json(37),
            sse::big_lines(3),
            sse::crlf_multiline(41),
            sse::llm_tokens(53),
        ] {
            assert_eq!(
                naive_count(&w.input),
                (w.events, w.data_bytes),
                "{}",
                w.name
            );
        }
    }

    #[test]
    fn chunks_cover_the_input_in_order_without_gaps() {
        let w = sse::crlf_multiline(20);
        let chunks = w.chunks(super::TCP_CHUNK);
        assert!(
            chunks[..chunks.len() - 1]
                .iter()
                .all(|c| c.len() == super::TCP_CHUNK)
        );
        assert_eq!(chunks.concat(), w.input.to_vec());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn thread_cpu_time_leaves_out_sleep_and_counts_work() {
        use super::measurement::ThreadCpuTime;
        use std::time::{Duration, Instant};
        let before = ThreadCpuTime::now();
        std::thread::sleep(Duration::from_millis(100));
        let slept = ThreadCpuTime::now() - before;
        assert!(
            slept < Duration::from_millis(50),
            "sleeping used {slept:?} of CPU"
        );

        // Spin until the thread clock has moved 5 ms (bounded by 30 s of wall time).
        let (start, wall) = (ThreadCpuTime::now(), Instant::now());
        let mut x = 0u64;
        while ThreadCpuTime::now() - start < Duration::from_millis(5) {
            x = std::hint::black_box(x.wrapping_add(1));
            assert!(
                wall.elapsed() < Duration::from_secs(30),
                "thread clock did not advance"
            );
        }
    }

    #[test]
    fn generators_are_deterministic() {
        assert_eq!(sse::big_lines(2).input, sse::big_lines(2).input);
    }
}
