//! A bounded SSE client swarm for load tests on 127.0.0.1.
//!
//! ```text
//! cargo run --release -p eventgate-relay --example load -- --url http://127.0.0.1:8080/feed \
//!     --clients 1000 --warmup 5 --duration 20 [--pid RELAY_PID] [--pid ORIGIN_PID] \
//!     [--header 'authorization: Bearer TOKEN'] [--header 'host: localhost']
//! ```
//!
//! Opens `--clients` SSE connections (at most 256 connecting at once), parses the events
//! (whose data starts with the origin's send time in unix microseconds, see the `origin`
//! example) and reports, over the measurement window after the warm-up: connections
//! established and failed, events per second, latency percentiles, and for every `--pid`
//! its RSS, its CPU time (from /proc, 100 ticks per second assumed) and CPU per delivered
//! event. Runs on one thread so that it takes at most one core.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use eventgate_sse::{Item, Parser};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Latency histogram: bucket i holds latencies in [1.05^i, 1.05^(i+1)) microseconds.
struct Hist {
    buckets: Vec<AtomicU64>,
}

const BUCKETS: usize = 400;

impl Hist {
    fn new() -> Hist {
        Hist {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    fn record(&self, micros: u64) {
        let i = if micros <= 1 {
            0
        } else {
            ((micros as f64).ln() / 1.05f64.ln()) as usize
        };
        self.buckets[i.min(BUCKETS - 1)].fetch_add(1, Relaxed);
    }
    fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
    }
    fn percentile(&self, p: f64) -> f64 {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let want = (total as f64 * p).ceil() as u64;
        let mut acc = 0;
        for (i, c) in counts.iter().enumerate() {
            acc += c;
            if acc >= want {
                return 1.05f64.powi(i as i32 + 1);
            }
        }
        f64::INFINITY
    }
}

#[derive(Default)]
struct Stats {
    connected: AtomicU64,
    failed: AtomicU64,
    /// The status of the last refused request (0: none).
    refused_status: AtomicU64,
    ended: AtomicU64,
    events: AtomicU64,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

async fn client(
    url: http::Uri,
    headers: Arc<Vec<(String, String)>>,
    stats: Arc<Stats>,
    hist: Arc<Hist>,
    gate: Arc<Semaphore>,
) {
    let permit = gate.acquire().await;
    let host = url
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let Ok(stream) = TcpStream::connect(&host).await else {
        stats.failed.fetch_add(1, Relaxed);
        return;
    };
    let Ok((mut send, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        stats.failed.fetch_add(1, Relaxed);
        return;
    };
    // The connection is driven by this task, not a task of its own: the task that reads an
    // event off the socket is the one that stamps its arrival. With a spawned connection task
    // every ready connection's read ran first and the body reads after them, so an event
    // delivered to all clients at once waited for the whole burst's socket reads before its
    // time was taken (a delay of the tool, not of the server it measures).
    let mut conn = std::pin::pin!(conn);
    let path = url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::get(path).header("accept", "text/event-stream");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req = req.header("host", &host);
    }
    for (name, value) in headers.iter() {
        req = req.header(name, value);
    }
    let Ok(req) = req.body(Empty::<Bytes>::new()) else {
        stats.failed.fetch_add(1, Relaxed);
        return;
    };
    let sent = tokio::select! {
        biased;
        _ = &mut conn => {
            stats.failed.fetch_add(1, Relaxed);
            return;
        }
        sent = send.send_request(req) => sent,
    };
    let resp = match sent {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            stats
                .refused_status
                .store(u64::from(r.status().as_u16()), Relaxed);
            stats.failed.fetch_add(1, Relaxed);
            return;
        }
        Err(_) => {
            stats.failed.fetch_add(1, Relaxed);
            return;
        }
    };
    drop(permit);
    stats.connected.fetch_add(1, Relaxed);
    let mut body = resp.into_body();
    let mut parser = Parser::new();
    loop {
        // Biased: the connection reads the socket first, so the frame it hands over is taken
        // in the same poll.
        let frame = tokio::select! {
            biased;
            _ = &mut conn => break,
            frame = body.frame() => frame,
        };
        let Some(Ok(frame)) = frame else {
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        parser.feed(data);
        let now = now_micros();
        for item in parser.by_ref() {
            if let Ok(Item::Event(ev)) = item {
                stats.events.fetch_add(1, Relaxed);
                if let Some(ts) = ev
                    .data()
                    .split(' ')
                    .next()
                    .and_then(|t| t.parse::<u64>().ok())
                {
                    hist.record(now.saturating_sub(ts));
                }
            }
        }
    }
    stats.ended.fetch_add(1, Relaxed);
}

/// (RSS in KiB, CPU time in seconds) of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((rss, (utime + stime) / 100.0))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut url: Option<http::Uri> = None;
    let mut clients = 100usize;
    let mut warmup = 5u64;
    let mut duration = 20u64;
    let mut pids: Vec<u32> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--url" => url = Some(v.parse().expect("--url URL")),
            "--clients" => clients = v.parse().expect("--clients N"),
            "--warmup" => warmup = v.parse().expect("--warmup SECONDS"),
            "--duration" => duration = v.parse().expect("--duration SECONDS"),
            "--pid" => pids.push(v.parse().expect("--pid PID")),
            "--header" => {
                let (name, value) = v.split_once(':').expect("--header 'NAME: VALUE'");
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            _ => {
                eprintln!(
                    "usage: load --url URL --clients N [--warmup S] [--duration S] [--pid PID]... [--header 'NAME: VALUE']..."
                );
                std::process::exit(2);
            }
        }
    }
    let url = url.expect("--url is required");
    let stats = Arc::new(Stats::default());
    let hist = Arc::new(Hist::new());
    let gate = Arc::new(Semaphore::new(256));
    let headers = Arc::new(headers);
    pids.push(std::process::id());
    let before: Vec<_> = pids.iter().map(|&p| proc_usage(p)).collect();
    let start = Instant::now();
    for _ in 0..clients {
        tokio::spawn(client(
            url.clone(),
            headers.clone(),
            stats.clone(),
            hist.clone(),
            gate.clone(),
        ));
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let connect_time = start.elapsed();
    hist.reset();
    let e0 = stats.events.load(Relaxed);
    let mid: Vec<_> = pids.iter().map(|&p| proc_usage(p)).collect();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(duration)).await;
    let secs = t0.elapsed().as_secs_f64();
    let events = stats.events.load(Relaxed) - e0;
    let after: Vec<_> = pids.iter().map(|&p| proc_usage(p)).collect();
    println!(
        "clients {clients}: connected {} failed {} (last refusal: HTTP {}) ended {} (after {:.1}s warm-up)",
        stats.connected.load(Relaxed),
        stats.failed.load(Relaxed),
        stats.refused_status.load(Relaxed),
        stats.ended.load(Relaxed),
        connect_time.as_secs_f64()
    );
    println!(
        "events {events} in {secs:.1}s = {:.0}/s; latency p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms",
        events as f64 / secs,
        hist.percentile(0.50) / 1000.0,
        hist.percentile(0.90) / 1000.0,
        hist.percentile(0.99) / 1000.0,
        hist.percentile(0.999) / 1000.0,
    );
    for (i, pid) in pids.iter().enumerate() {
        if let (Some((rss0, _)), Some((_, cpu1)), Some((rss2, cpu2))) =
            (before[i], mid[i], after[i])
        {
            let cpu = cpu2 - cpu1;
            println!(
                "pid {pid}: RSS {rss2} KiB ({:+.2} KiB per client since start), CPU {cpu:.2}s = {:.2} us per delivered event",
                (rss2 as f64 - rss0 as f64) / clients as f64,
                cpu * 1e6 / events.max(1) as f64
            );
        }
    }
}
