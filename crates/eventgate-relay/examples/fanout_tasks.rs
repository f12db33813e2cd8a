//! In-process fan-out through tasks: `SUBS` subscriber tasks on a two-worker tokio runtime
//! await one channel's frames (the wake-up path a server's connection tasks take, which the
//! criterion suite's `try_next` loop does not); `EVENTS` events are published, each once every
//! task has the previous one. Prints the process's CPU time per delivery (user + system, from
//! `/proc/self/stat`, so Linux only), which counts both workers.
//!
//! usage: `cargo run --release -p eventgate-relay --example fanout_tasks -- [SUBS] [EVENTS]`
//! (defaults 10,000 and 300).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eventgate_relay::{Channel, EventId, SubscribeOptions};
use eventgate_sse::EventBuilder;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let subs: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let events: usize = args.next().map_or(Ok(300), |a| a.parse())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ch = Channel::builder().build()?;
        let got = Arc::new(AtomicUsize::new(0));
        let round_done = Arc::new(tokio::sync::Notify::new());
        for _ in 0..subs {
            let mut feed = ch.subscribe(&SubscribeOptions::new())?;
            let got = Arc::clone(&got);
            let round_done = Arc::clone(&round_done);
            tokio::spawn(async move {
                while let Some(Ok(frame)) = feed.next_frame().await {
                    std::hint::black_box(&frame);
                    if (got.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(subs) {
                        round_done.notify_one();
                    }
                }
            });
        }
        // Let every task park once.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let frame = EventBuilder::new()
            .data(r#"{"price":123.45,"symbol":"ACME"}"#)
            .build()?;
        let cpu0 = cpu_seconds().ok_or("no /proc/self/stat")?;
        let t0 = std::time::Instant::now();
        for n in 0..events {
            ch.publish(EventId::from_text(&n.to_string()), frame.clone());
            while got.load(Ordering::Relaxed) < (n + 1) * subs {
                round_done.notified().await;
            }
        }
        let cpu = cpu_seconds().ok_or("no /proc/self/stat")? - cpu0;
        println!(
            "{subs} subscriber tasks x {events} events: {cpu:.2} s CPU, {:.1} ns CPU per delivery, {:.2?} wall",
            cpu * 1e9 / (subs * events) as f64,
            t0.elapsed()
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
