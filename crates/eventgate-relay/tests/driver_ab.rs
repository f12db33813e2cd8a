//! The upstream driver's cost per upstream read, without a shared backlog: 100,000 events,
//! one per upstream body frame (so one driver poll each), through a relay to one
//! subscriber. Run: `cargo test --release -p eventgate-relay --test driver_ab -- --ignored
//! --nocapture`.

mod support;

use std::time::{Duration, Instant};

use eventgate_relay::{Relay, SubscribeOptions};
use support::{ScriptTransport, Scripted};

#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement: run it with --ignored --nocapture (in release)"]
async fn measure_the_drivers_cost_per_upstream_read() {
    const N: u64 = 100_000;
    let chunks: Vec<&'static str> = (1..=N)
        .map(|n| &*Box::leak(format!("id: {n}\ndata: {n}\n\n").into_boxed_str()))
        .collect();
    let mut per_event = Vec::new();
    for _ in 0..7 {
        let transport = ScriptTransport::new(vec![Scripted::StreamThenHang(chunks.clone())]);
        let relay = Relay::builder()
            .heartbeat(None)
            .queue_depth(1 << 20)
            .queue_bytes(1 << 30)
            .upstream(transport)
            .build()
            .unwrap();
        let start = Instant::now();
        let mut feed = relay
            .subscribe(
                "http://ab.invalid/x".parse().unwrap(),
                &SubscribeOptions::new(),
            )
            .await
            .unwrap();
        let mut got = 0u64;
        while got < N {
            match tokio::time::timeout(Duration::from_secs(30), feed.next_frame()).await {
                Ok(Some(Ok(_))) => got += 1,
                other => panic!("after {got}: {:?}", other.map(|o| o.map(|r| r.is_ok()))),
            }
        }
        per_event.push(start.elapsed().as_nanos() as f64 / N as f64);
    }
    per_event.sort_by(f64::total_cmp);
    eprintln!(
        "driver: {N} events, one per upstream read: median {:.0} ns per event (min {:.0}, max {:.0}; 7 runs)",
        per_event[3], per_event[0], per_event[6]
    );
}
