//! RedisBacklog against a real redis-server (started here on a free 127.0.0.1 port, no
//! persistence, killed at the end): appends of 1 and 64 events per call, and a replay of
//! 10,000 events re-encoded with their shared ids (what a node does for a resuming client).
//! Wall time: the Redis round trip is the cost. Before measuring, it prints the Redis
//! commands per appended event (`INFO commandstats`).
//!
//! Run: `cargo bench -p eventgate-relay --features redis --bench shared_redis`
//! (skips with a line when redis-server is not on PATH).

use std::hint::black_box;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventgate_relay::{
    BacklogKey, EventId, Position, Record, RedisBacklog, RedisSettings, Replayed, SharedStore,
};
use eventgate_sse::Encoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

struct Server(Child, u16, std::path::PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.2);
    }
}

fn start(rt: &Runtime) -> Option<Server> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .ok()?;
    let dir = std::env::temp_dir().join(format!("eventgate-redis-bench-{port}"));
    std::fs::create_dir_all(&dir).ok()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server(child, port, dir);
    let up = rt.block_on(async {
        for _ in 0..500 {
            if ping(port).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    });
    up.then_some(server)
}

async fn ping(port: u16) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").await.is_ok()
        && s.read_exact(&mut buf).await.is_ok()
        && &buf == b"+PONG\r\n"
}

/// `INFO commandstats` calls of `cmd`.
async fn calls(port: u16, cmd: &str) -> u64 {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return 0;
    };
    if s.write_all(b"INFO commandstats\r\n").await.is_err() {
        return 0;
    }
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    // The bulk reply is small; read until it stops growing for a moment.
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    let key = format!("cmdstat_{cmd}:calls=");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

const FRAME: &str = "id: 1000000\nevent: tick\ndata: {\"t\":1700000000123,\"v\":42.50000}\n\n";

fn records(counter: &AtomicU64, n: usize) -> Vec<Record> {
    (0..n)
        .map(|_| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            Record {
                upstream_id: EventId::from_text(&i.to_string()),
                frame: Bytes::from_static(FRAME.as_bytes()),
            }
        })
        .collect()
}

fn shared_redis(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(server) = start(&rt) else {
        println!("skipping shared_redis: redis-server not found or not starting");
        return;
    };
    let port = server.1;
    let mut settings = RedisSettings::default();
    settings.maxlen = 20_000;
    let store = rt
        .block_on(RedisBacklog::connect(
            &format!("redis://127.0.0.1:{port}/"),
            &settings,
        ))
        .expect("redis url");
    let counter = AtomicU64::new(0);

    // Commands per appended event, batches of 1 and of 64.
    for batch in [1usize, 64] {
        let key = BacklogKey::new(format!("count-{batch}"));
        let events = 6_400u64;
        let (x0, e0) =
            rt.block_on(async { (calls(port, "xadd").await, calls(port, "evalsha").await) });
        rt.block_on(async {
            for _ in 0..events / batch as u64 {
                store
                    .append(&key, &records(&counter, batch))
                    .await
                    .expect("append");
            }
        });
        let (x1, e1) =
            rt.block_on(async { (calls(port, "xadd").await, calls(port, "evalsha").await) });
        println!(
            "redis commands per appended event, {batch} per call: {:.3} XADD, {:.4} EVALSHA (round trips)",
            (x1 - x0) as f64 / events as f64,
            (e1 - e0) as f64 / events as f64,
        );
    }

    let mut g = c.benchmark_group("shared_redis/append");
    for batch in [1usize, 64] {
        let key = BacklogKey::new(format!("append-{batch}"));
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("{batch}_per_call"), |b| {
            b.iter(|| {
                let r = records(&counter, batch);
                rt.block_on(store.append(&key, &r)).expect("append");
            });
        });
    }
    g.finish();

    // Replay of 10,000 events, re-encoded under their shared ids.
    let key = BacklogKey::new("replay");
    let head = rt.block_on(store.reset(&key)).expect("reset");
    rt.block_on(async {
        for _ in 0..10_000 / 100 {
            store
                .append(&key, &records(&counter, 100))
                .await
                .expect("append");
        }
    });
    let mut g = c.benchmark_group("shared_redis/replay");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("10000_events", |b| {
        let mut encoder = Encoder::new();
        b.iter(|| {
            let got = rt
                .block_on(store.replay(&key, head, 10_000, 10_000))
                .expect("replay");
            let Replayed::Events(events) = got else {
                panic!("history lost");
            };
            assert_eq!(events.len(), 10_000);
            for e in &events {
                let id = Position {
                    epoch: head.epoch,
                    offset: e.offset,
                }
                .to_string();
                black_box(encoder.replace_id(&id, &e.frame).expect("valid id"));
            }
        });
    });
    g.finish();
    drop(server);
}

criterion_group!(benches, shared_redis);
criterion_main!(benches);
