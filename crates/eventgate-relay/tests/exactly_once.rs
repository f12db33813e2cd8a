//! Seeded randomized exactly-once check: N clients, a backend killed every K events and
//! restarted, clients that drop and come back at random points with their Last-Event-ID.
//! Every client's sequence must be the backend's sequence from its first event on: in
//! order, each event once.
//!
//! `RELAY_SEEDS=<n>` runs more seeds (default 12; CI runs the default).

mod support;

use std::time::Duration;

use eventgate_relay::{EventId, Mode, Relay, SubscribeOptions};
use eventgate_sse::Item;
use support::{Backend, BackendConfig, Reader, Rng, number};

const TARGET: u64 = 120;

async fn client(relay: Relay, url: http::Uri, seed: u64) -> Vec<u64> {
    let mut rng = Rng(seed | 1);
    let mut seen: Vec<u64> = Vec::new();
    let mut last_id: Option<String> = None;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.last().copied().unwrap_or(0) < TARGET {
        assert!(
            tokio::time::Instant::now() < give_up,
            "client stalled at {:?}",
            seen.last()
        );
        let mut opts = SubscribeOptions::new();
        opts.last_event_id(last_id.as_deref().and_then(EventId::from_text));
        let mut sub = match relay.subscribe(url.clone(), &opts).await {
            Ok(s) => s,
            Err(e) => {
                // The backend may be down when a new upstream is opened: 502/503, retry.
                assert!(e.is_upstream(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let take = rng.range(1, 40);
        let mut reader = Reader::new();
        let mut got = 0;
        while got < take {
            let next = tokio::time::timeout(Duration::from_secs(5), sub.next_frame()).await;
            let Ok(Some(Ok(frame))) = next else { break };
            for item in reader.items(frame) {
                if let Item::Event(ev) = item {
                    assert_eq!(ev.event_type(), "message", "unexpected {:?}", ev.data());
                    seen.push(number(ev.data()));
                    last_id = Some(ev.last_event_id().to_owned());
                    got += 1;
                }
            }
        }
        drop(sub);
        tokio::time::sleep(Duration::from_millis(rng.range(0, 3))).await;
    }
    seen
}

async fn run_seed(seed: u64, mode: Mode) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut backend = Backend::start(BackendConfig {
        interval: Duration::from_micros(rng.range(200, 1500)),
        ..BackendConfig::default()
    })
    .await;
    let relay = Relay::builder()
        .mode(mode)
        .backoff(Duration::from_millis(2), Duration::from_millis(40))
        .linger(Duration::from_secs(5))
        .heartbeat(None)
        .build()
        .unwrap();
    let url = backend.url(&format!("/feed/{seed}?x=1"));
    let n_clients = rng.range(2, 6);
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..n_clients {
        clients.spawn(client(relay.clone(), url.clone(), rng.next() ^ c));
    }
    // Kill the backend every K events, restart after a random pause.
    let k = rng.range(8, 30);
    let mut next_kill = k;
    let mut kills = 0;
    while !clients.is_empty() {
        tokio::select! {
            done = clients.join_next() => {
                let seen = done.unwrap().unwrap();
                let first = seen[0];
                let want: Vec<u64> = (first..first + seen.len() as u64).collect();
                assert_eq!(seen, want, "seed {seed} {mode:?}: gap or duplicate");
                assert!(*seen.last().unwrap() >= TARGET);
            }
            () = tokio::time::sleep(Duration::from_millis(1)) => {
                if backend.head() >= next_kill {
                    backend.kill();
                    kills += 1;
                    tokio::time::sleep(Duration::from_millis(rng.range(1, 15))).await;
                    backend.restart().await;
                    next_kill = backend.head() + k;
                }
            }
        }
    }
    assert!(kills >= 2, "seed {seed}: backend killed only {kills} times");
    assert!(
        backend.connections() >= kills,
        "the relay reconnected after each kill"
    );
}

fn seeds() -> u64 {
    std::env::var("RELAY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_clients_see_each_event_exactly_once_across_backend_restarts_and_reconnects() {
    for seed in 1..=seeds() {
        tokio::time::timeout(Duration::from_secs(60), run_seed(seed, Mode::Fanout))
            .await
            .unwrap_or_else(|_| panic!("seed {seed} timed out"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_clients_see_each_event_exactly_once_across_backend_restarts_and_reconnects() {
    for seed in 1..=seeds().div_ceil(3) {
        tokio::time::timeout(Duration::from_secs(60), run_seed(1000 + seed, Mode::Proxy))
            .await
            .unwrap_or_else(|_| panic!("seed {seed} timed out"));
    }
}
