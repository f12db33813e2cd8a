//! The shared backlog on a real redis-server (started by each test on a free 127.0.0.1 port,
//! in a temporary directory, without persistence, killed on drop): two relays ("nodes")
//! sharing one Redis, Redis restarted mid-run, Redis unreachable from the start.
//!
//! Without `redis-server` on PATH the tests print a skip line and pass, except under
//! `CI=true`, where they fail.
#![cfg(feature = "redis")]

mod support;

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventgate_relay::{
    EventId, Feed, Position, RedisBacklog, RedisSettings, Relay, SharedStore, SubscribeOptions,
};
use eventgate_sse::Item;
use support::{Backend, BackendConfig, Reader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A redis-server of our own.
struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn redis_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

impl RedisServer {
    /// Starts one, or returns `None` (after a skip line) when redis-server is missing and
    /// CI is not set.
    async fn start(test: &str) -> Option<RedisServer> {
        if redis_binary().is_none() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("redis-server not found on PATH (CI=true)");
            }
            eprintln!("skipping {test}: redis-server not found on PATH");
            return None;
        }
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir =
            std::env::temp_dir().join(format!("eventgate-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
        };
        server.spawn().await;
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn spawn(&mut self) {
        let child = Command::new(redis_binary().expect("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        // Ready when it answers PING (5 s at most).
        for _ in 0..500 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read_exact(&mut buf).await.is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills it and starts it again, empty (no persistence), on the same port.
    async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn node(store: Arc<dyn SharedStore>) -> Relay {
    let mut b = Relay::builder();
    b.backoff(Duration::from_millis(5), Duration::from_millis(50))
        .heartbeat(None)
        .shared_backlog(store, 10_000)
        .shared_timeout(Duration::from_millis(300));
    b.build().expect("relay")
}

async fn store(url: &str) -> Arc<dyn SharedStore> {
    Arc::new(
        RedisBacklog::connect(url, &RedisSettings::default())
            .await
            .expect("redis url"),
    )
}

/// One event as a client sees it: its type ("" for message), data and id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    kind: String,
    data: String,
    id: String,
}

impl Seen {
    fn number(&self) -> u64 {
        self.data.parse().expect("a numbered backend event")
    }
}

/// A live subscription (no Last-Event-ID) to `uri` on `node`.
async fn live(node: &Relay, uri: &http::Uri) -> Feed {
    node.subscribe(uri.clone(), &SubscribeOptions::new())
        .await
        .unwrap()
}

/// Reads `count` events (5 s at most) from `feed`.
async fn read(feed: &mut Feed, count: usize) -> Vec<Seen> {
    read_within(feed, count, Duration::from_secs(5)).await
}

/// Reads `count` events (`within` at most) from `feed`.
async fn read_within(feed: &mut Feed, count: usize, within: Duration) -> Vec<Seen> {
    let mut reader = Reader::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < count {
        let next = tokio::time::timeout_at(deadline, feed.next_frame()).await;
        let Ok(Some(Ok(frame))) = next else { break };
        let frame: Bytes = frame;
        for item in reader.items(frame) {
            if let Item::Event(ev) = item {
                out.push(Seen {
                    kind: ev.event_type().to_owned(),
                    data: ev.data().to_owned(),
                    id: ev.last_event_id().to_owned(),
                });
            }
        }
    }
    out
}

fn resume(id: &str) -> SubscribeOptions {
    let mut o = SubscribeOptions::new();
    o.last_event_id(EventId::from_text(id));
    o
}

/// Consecutive backend numbers and consecutive shared offsets of one epoch.
fn assert_exact(events: &[Seen], first_number: u64, after: Position) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.kind, "message", "event {i}: {e:?}");
        assert_eq!(e.number(), first_number + i as u64, "event {i}: {events:?}");
        let p = Position::parse(&e.id).expect("a shared id");
        assert_eq!(
            (p.epoch, p.offset),
            (after.epoch, after.offset + 1 + i as u64),
            "event {i}"
        );
    }
}

fn backend_config() -> BackendConfig {
    BackendConfig {
        interval: Duration::from_millis(2),
        ..BackendConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_the_other_node_with_exactly_the_missing_events_and_back() {
    let Some(redis) = RedisServer::start("two_nodes").await else {
        return;
    };
    let backend = Backend::start(backend_config()).await;
    let a = node(store(&redis.url()).await);
    let b = node(store(&redis.url()).await);
    let uri = backend.url("/ticks");

    let mut on_a = live(&a, &uri).await;
    let first = read(&mut on_a, 20).await;
    assert_eq!(first.len(), 20);
    let start = Position::parse(&first[0].id).expect("shared ids on node A");
    assert_exact(
        &first,
        first[0].number(),
        Position {
            offset: start.offset - 1,
            ..start
        },
    );
    let last = first.last().unwrap().clone();
    drop(on_a);
    // Node A's channel lingers and keeps appending while the client is away.
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Node B never served this channel: the missing events come from Redis.
    let mut on_b = tokio::time::timeout(
        Duration::from_secs(5),
        b.subscribe(uri.clone(), &resume(&last.id)),
    )
    .await
    .expect("no hang")
    .unwrap();
    let got = read(&mut on_b, 80).await;
    assert_eq!(got.len(), 80);
    assert_exact(&got, last.number() + 1, Position::parse(&last.id).unwrap());
    let mb = b.metrics();
    assert_eq!(mb.shared_replays, 1, "{mb:?}");
    assert!(mb.replayed > 10, "the gap was replayed: {mb:?}");

    // Both nodes give the same event the same id (appended once).
    let mut live_a = live(&a, &uri).await;
    let xs = read(&mut live_a, 30).await;
    let ys = read(&mut on_b, 60).await;
    let common: Vec<&Seen> = xs.iter().filter(|x| ys.contains(x)).collect();
    assert!(common.len() >= 10, "A {xs:?}\nB {ys:?}");
    for x in &xs {
        if let Some(y) = ys.iter().find(|y| y.data == x.data) {
            assert_eq!(x.id, y.id, "one id per event across nodes");
        }
    }
    drop(live_a);

    // And back to node A, which still has them in memory.
    let last = ys.last().unwrap().clone();
    drop(on_b);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut back = a.subscribe(uri.clone(), &resume(&last.id)).await.unwrap();
    let got = read(&mut back, 40).await;
    assert_eq!(got.len(), 40);
    assert_exact(&got, last.number() + 1, Position::parse(&last.id).unwrap());
    assert!(a.metrics().shared_appends > 0);
    assert_eq!(a.metrics().shared_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run_resumes_get_the_reset_event_and_live_events_keep_flowing() {
    let Some(mut redis) = RedisServer::start("redis_restart").await else {
        return;
    };
    let backend = Backend::start(backend_config()).await;
    let a = node(store(&redis.url()).await);
    let uri = backend.url("/ticks");
    let mut live = live(&a, &uri).await;
    let before = read(&mut live, 20).await;
    assert_eq!(before.len(), 20);
    let old = before.last().unwrap().clone();
    let old_pos = Position::parse(&old.id).expect("shared ids");

    redis.kill();
    // Live events keep coming while Redis is down (with the backend's ids).
    let during = read(&mut live, 100).await;
    assert_eq!(during.len(), 100, "live events flow while Redis is down");
    redis.restart().await;
    // Read until events carry ids of a new epoch again, then 100 more (bounded).
    let mut after = Vec::new();
    let shared_again = |e: &Seen| Position::parse(&e.id).is_some_and(|p| p.epoch != old_pos.epoch);
    while !after.iter().any(shared_again) && after.len() < 5_000 {
        let got = read(&mut live, 50).await;
        assert!(!got.is_empty(), "live events keep flowing");
        after.extend(got);
    }
    after.extend(read(&mut live, 100).await);
    assert!(after.iter().any(shared_again), "back on Redis: a new epoch");
    // The live client saw every event once, in order, across the outage.
    let all: Vec<u64> = before
        .iter()
        .chain(&during)
        .chain(&after)
        .map(Seen::number)
        .collect();
    let first = all[0];
    assert_eq!(all, (first..first + all.len() as u64).collect::<Vec<_>>());
    let k = after.len() - 50;
    let pivot = after[k].clone();
    assert!(shared_again(&pivot));
    let m = a.metrics();
    assert!(m.shared_errors > 0 && m.shared_resets > 0, "{m:?}");

    // A resume with an id of the lost history, on a node that never saw it: the reset
    // event, then live.
    let b = node(store(&redis.url()).await);
    let mut c = tokio::time::timeout(
        Duration::from_secs(5),
        b.subscribe(uri.clone(), &resume(&old.id)),
    )
    .await
    .expect("no hang")
    .unwrap();
    let got = read(&mut c, 5).await;
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].kind, "eventgate-reset", "{got:?}");
    assert!(got[1..].iter().all(|e| e.kind == "message"));
    // A resume within the new epoch works across nodes.
    let mut d = b.subscribe(uri.clone(), &resume(&pivot.id)).await.unwrap();
    let got = read(&mut d, 60).await;
    assert_eq!(got.len(), 60);
    assert_exact(
        &got,
        pivot.number() + 1,
        Position::parse(&pivot.id).unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_from_the_start_live_works_and_shared_resumes_get_the_reset_event() {
    let Some(redis) = RedisServer::start("redis_unreachable").await else {
        return;
    };
    // A port nobody listens on.
    let url = {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        format!("redis://127.0.0.1:{}/", l.local_addr().unwrap().port())
    };
    drop(redis);
    let backend = Backend::start(backend_config()).await;
    let a = node(store(&url).await);
    let uri = backend.url("/ticks");
    let mut live = tokio::time::timeout(
        Duration::from_secs(5),
        a.subscribe(uri.clone(), &SubscribeOptions::new()),
    )
    .await
    .expect("no hang")
    .unwrap();
    let got = read(&mut live, 50).await;
    assert_eq!(got.len(), 50);
    // The backend's own ids.
    assert!(got.iter().all(|e| e.id == e.data), "{got:?}");
    let first = got[0].number();
    assert_eq!(
        got.iter().map(Seen::number).collect::<Vec<_>>(),
        (first..first + 50).collect::<Vec<_>>()
    );
    assert!(a.metrics().shared_errors > 0);
    // A shared id from another node: the reset event, within the timeouts.
    let mut c = tokio::time::timeout(
        Duration::from_secs(5),
        a.subscribe(uri.clone(), &resume("5f3a-12")),
    )
    .await
    .expect("no hang")
    .unwrap();
    let got = read(&mut c, 3).await;
    assert_eq!(got[0].kind, "eventgate-reset", "{got:?}");
    // A backend id this node kept still resumes exactly from memory.
    let mut d = a.subscribe(uri.clone(), &resume(&got[1].id)).await.unwrap();
    let more = read(&mut d, 10).await;
    assert_eq!(more[0].number(), got[1].number() + 1, "{more:?}");
}

// One upstream per channel across nodes (`RelayBuilder::shared_upstream`).

/// The lease of the shared-upstream tests: short, so that a takeover is quick.
const LEASE: Duration = Duration::from_secs(1);

fn leasing_node(store: Arc<dyn SharedStore>) -> Relay {
    let mut b = Relay::builder();
    b.backoff(Duration::from_millis(5), Duration::from_millis(50))
        .heartbeat(None)
        .shared_backlog(store, 10_000)
        .shared_timeout(Duration::from_millis(300))
        .shared_upstream(Some(LEASE));
    b.build().expect("relay")
}

/// Consecutive backend numbers and consecutive offsets of one epoch, from wherever the
/// run starts.
fn assert_unbroken(events: &[Seen]) {
    assert!(!events.is_empty());
    let first = Position::parse(&events[0].id).expect("a shared id");
    assert_exact(
        events,
        events[0].number(),
        Position {
            offset: first.offset - 1,
            ..first
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_shared_upstream_the_backend_sees_one_connection_and_both_nodes_deliver_every_event_once_with_the_same_ids()
 {
    let Some(redis) = RedisServer::start("shared_upstream").await else {
        return;
    };
    let backend = Backend::start(backend_config()).await;
    let a = leasing_node(store(&redis.url()).await);
    let b = leasing_node(store(&redis.url()).await);
    let uri = backend.url("/ticks");

    // Both nodes open the channel at once: one takes the lease, the other follows.
    let opts = SubscribeOptions::new();
    let (on_a, on_b) = tokio::join!(
        a.subscribe(uri.clone(), &opts),
        b.subscribe(uri.clone(), &opts),
    );
    let (mut on_a, mut on_b) = (on_a.unwrap(), on_b.unwrap());
    let (xs, ys) = tokio::join!(read(&mut on_a, 300), read(&mut on_b, 300));
    assert_eq!((xs.len(), ys.len()), (300, 300));
    assert_unbroken(&xs);
    assert_unbroken(&ys);
    // The same event has the same id on both nodes, and both runs overlap widely.
    let common = xs.iter().filter(|x| ys.contains(x)).count();
    assert!(common >= 250, "{common} common events\nA {xs:?}\nB {ys:?}");
    for x in &xs {
        if let Some(y) = ys.iter().find(|y| y.data == x.data) {
            assert_eq!(x.id, y.id, "one id per event across nodes");
        }
    }
    // The counters are bumped just after an event is published: let the last ones land.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (ma, mb) = (a.metrics(), b.metrics());
    assert_eq!(
        backend.connections(),
        1,
        "one upstream connection: {ma:?} {mb:?}"
    );
    assert_eq!(ma.upstream_leases + mb.upstream_leases, 1, "{ma:?} {mb:?}");
    assert_eq!(ma.upstream_connects + mb.upstream_connects, 1);
    let (leader, follower) = if ma.upstream_leases == 1 {
        (ma, mb)
    } else {
        (mb, ma)
    };
    assert!(leader.shared_appends >= 300, "{leader:?}");
    assert_eq!(follower.shared_appends, 0, "{follower:?}");
    assert!(follower.tailed_events >= 300, "{follower:?}");
    // (A read is counted before its events: one may be under way.)
    assert!(follower.tail_reads >= 1 && follower.tail_reads <= follower.tailed_events + 1);
    assert_eq!(leader.shared_errors + follower.shared_errors, 0);
    eprintln!(
        "shared upstream: follower {} events in {} tail reads ({:.3} reads per event)",
        follower.tailed_events,
        follower.tail_reads,
        follower.tail_reads as f64 / follower.tailed_events as f64
    );

    // A client resuming on the follower gets exactly the missing events.
    let last = ys.last().unwrap().clone();
    drop(on_b);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut back = b.subscribe(uri.clone(), &resume(&last.id)).await.unwrap();
    let got = read(&mut back, 100).await;
    assert_eq!(got.len(), 100);
    assert_exact(&got, last.number() + 1, Position::parse(&last.id).unwrap());
    assert_eq!(backend.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_lease_holder_dies_a_follower_takes_over_with_last_event_id_and_its_clients_see_no_gap()
 {
    let Some(redis) = RedisServer::start("shared_upstream_takeover").await else {
        return;
    };
    let backend = Backend::start(backend_config()).await;
    let uri = backend.url("/ticks");

    // Node A in a runtime of its own: shutting that runtime down is A dying (its tasks
    // are dropped, its lease is not given back).
    let rt_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (live_tx, live_rx) = tokio::sync::oneshot::channel();
    let (url, uri_a) = (redis.url(), uri.clone());
    rt_a.spawn(async move {
        let a = leasing_node(store(&url).await);
        let mut feed = a.subscribe(uri_a, &SubscribeOptions::new()).await.unwrap();
        let _ = live_tx.send(a.metrics());
        while let Some(Ok(_)) = feed.next_frame().await {}
    });
    let at_a = live_rx.await.expect("node A live");
    assert_eq!(at_a.upstream_leases, 1, "A holds the lease: {at_a:?}");

    let b = leasing_node(store(&redis.url()).await);
    let mut on_b = live(&b, &uri).await;
    let mut seen = read(&mut on_b, 50).await;
    assert_eq!(seen.len(), 50);
    assert_eq!(backend.connections(), 1, "B follows");
    assert_eq!(b.metrics().upstream_connects, 0);

    rt_a.shutdown_background();
    let died = tokio::time::Instant::now();
    // B goes on reading; the events stop for at most about one lease, then B feeds the
    // channel itself.
    let mut took_over = None;
    while seen.len() < 50 + 400 {
        let got = read_within(&mut on_b, 10, Duration::from_secs(5)).await;
        assert!(!got.is_empty(), "B's client is not left hanging");
        if took_over.is_none() && backend.connections() == 2 {
            took_over = Some(died.elapsed());
        }
        seen.extend(got);
    }
    let took_over = took_over.expect("B connected to the backend");
    // The lease runs out at most LEASE after A's last renewal, B looks every LEASE / 3.
    assert!(
        took_over <= LEASE + LEASE / 3 + Duration::from_millis(400),
        "takeover after {took_over:?}"
    );
    eprintln!("takeover: B connected {took_over:?} after A died (lease {LEASE:?})");
    // No gap, no duplicate, one epoch: B's client never noticed.
    assert_unbroken(&seen);
    let mb = b.metrics();
    assert_eq!(mb.upstream_leases, 1, "{mb:?}");
    assert_eq!(mb.upstream_connects, 1, "{mb:?}");
    assert!(mb.shared_appends > 0, "B appends now: {mb:?}");
    // B resumed the backend after the last upstream id of the shared history.
    let requests = backend.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].get("last-event-id").is_none());
    let resumed: u64 = requests[1]
        .get("last-event-id")
        .expect("B sends Last-Event-ID")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let numbers: Vec<u64> = seen.iter().map(Seen::number).collect();
    assert!(
        numbers.contains(&resumed) && numbers.contains(&(resumed + 1)),
        "resumed after {resumed}: {numbers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_shared_upstream_and_redis_down_a_follower_reads_the_backend_itself_and_follows_again_after()
 {
    let Some(mut redis) = RedisServer::start("shared_upstream_redis_down").await else {
        return;
    };
    let backend = Backend::start(backend_config()).await;
    let a = leasing_node(store(&redis.url()).await);
    let b = leasing_node(store(&redis.url()).await);
    let uri = backend.url("/ticks");
    let mut on_a = live(&a, &uri).await;
    let mut on_b = live(&b, &uri).await;
    let before = read(&mut on_b, 30).await;
    assert_eq!(before.len(), 30);
    assert_eq!(backend.connections(), 1);
    let _ = read(&mut on_a, 30).await;

    redis.kill();
    // B's read of the history fails: it connects to the backend itself, within the
    // shared timeout and one tail wait, and its client keeps getting every event once,
    // in order (the backend's own ids while Redis is down).
    let during = read_within(&mut on_b, 300, Duration::from_secs(10)).await;
    assert_eq!(during.len(), 300, "B's client is not left hanging");
    assert_eq!(backend.connections(), 2, "B reads the backend itself");
    assert!(b.metrics().shared_errors > 0);
    let numbers: Vec<u64> = before.iter().chain(&during).map(Seen::number).collect();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..first + numbers.len() as u64).collect::<Vec<_>>(),
        "no gap and no duplicate on B while Redis is down"
    );
    let during_a = read(&mut on_a, 100).await;
    assert_eq!(during_a.len(), 100, "A's client keeps getting events");

    // Redis back (empty): one node takes the lease again, the other follows it.
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let following = loop {
        let (ta, tb) = (a.metrics().tailed_events, b.metrics().tailed_events);
        let _ = tokio::join!(read(&mut on_a, 50), read(&mut on_b, 50));
        let (ma, mb) = (a.metrics(), b.metrics());
        // One node follows, the other does not.
        if (ma.tailed_events > ta) != (mb.tailed_events > tb) {
            break if ma.tailed_events > ta { "A" } else { "B" };
        }
        assert!(tokio::time::Instant::now() < deadline, "{ma:?}\n{mb:?}");
    };
    let connections = backend.connections();
    // The clients of before are still served (they may have had the reset event when
    // their node went back to following: what it published alone may not be in Redis).
    let (xs, ys) = tokio::join!(read(&mut on_a, 100), read(&mut on_b, 100));
    assert_eq!((xs.len(), ys.len()), (100, 100), "{following} follows");
    // New clients on both nodes are on one history again: the same ids for the same
    // events.
    let opts = SubscribeOptions::new();
    let (fresh_a, fresh_b) = tokio::join!(
        a.subscribe(uri.clone(), &opts),
        b.subscribe(uri.clone(), &opts),
    );
    let (mut fresh_a, mut fresh_b) = (fresh_a.unwrap(), fresh_b.unwrap());
    let (xs, ys) = tokio::join!(read(&mut fresh_a, 200), read(&mut fresh_b, 200));
    assert_eq!((xs.len(), ys.len()), (200, 200));
    assert_unbroken(&xs);
    assert_unbroken(&ys);
    assert!(xs.iter().filter(|x| ys.contains(x)).count() >= 150);
    for x in &xs {
        if let Some(y) = ys.iter().find(|y| y.data == x.data) {
            assert_eq!(x.id, y.id);
        }
    }
    assert_eq!(
        backend.connections(),
        connections,
        "no new upstream connection once one node follows again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_shuts_down_gives_its_lease_back_and_a_follower_takes_over_at_its_next_look()
{
    let Some(redis) = RedisServer::start("shared_upstream_release").await else {
        return;
    };
    let backend = Backend::start(backend_config()).await;
    let uri = backend.url("/ticks");
    let a = leasing_node(store(&redis.url()).await);
    let mut on_a = live(&a, &uri).await;
    let b = leasing_node(store(&redis.url()).await);
    let mut on_b = live(&b, &uri).await;
    let mut seen = read(&mut on_b, 30).await;
    assert_eq!(seen.len(), 30);
    assert_eq!(backend.connections(), 1);

    // A's channel ends (a graceful shutdown): its lease is deleted at once, not left to
    // run out, so B takes over at its next look (every third of the lease).
    let stopping = tokio::spawn(async move { while let Some(Ok(_)) = on_a.next_frame().await {} });
    a.shutdown(Duration::from_secs(1)).await.unwrap();
    stopping.await.unwrap();
    let released = tokio::time::Instant::now();
    let mut took_over = None;
    while seen.len() < 30 + 300 {
        let got = read_within(&mut on_b, 10, Duration::from_secs(5)).await;
        assert!(!got.is_empty(), "B's client is not left hanging");
        if took_over.is_none() && backend.connections() == 2 {
            took_over = Some(released.elapsed());
        }
        seen.extend(got);
    }
    let took_over = took_over.expect("B connected to the backend");
    assert!(
        took_over <= LEASE / 3 + Duration::from_millis(200),
        "takeover {took_over:?} after the release"
    );
    eprintln!("takeover after a release: {took_over:?} (lease {LEASE:?})");
    assert_unbroken(&seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_history_is_lost_sends_its_clients_the_reset_event_then_the_new_epoch() {
    let Some(redis) = RedisServer::start("shared_upstream_lost").await else {
        return;
    };
    let backend = Backend::start(backend_config()).await;
    let uri = backend.url("/ticks");
    let sa = store(&redis.url()).await;
    let a = leasing_node(sa.clone());
    let b = leasing_node(store(&redis.url()).await);
    let _on_a = live(&a, &uri).await;
    let mut on_b = live(&b, &uri).await;
    let before = read(&mut on_b, 30).await;
    assert_eq!(before.len(), 30);
    assert_unbroken(&before);
    let old = Position::parse(&before[0].id).unwrap().epoch;

    // The history is dropped under the follower (a new epoch, as after a Redis restart).
    let key = a.backlog_key(&uri, &SubscribeOptions::new()).unwrap();
    let head = sa.reset(&key).await.unwrap();
    assert_ne!(head.epoch, old);
    let mut after = Vec::new();
    while !after.iter().any(|e: &Seen| e.kind == "eventgate-reset") {
        let got = read_within(&mut on_b, 1, Duration::from_secs(5)).await;
        assert!(!got.is_empty(), "B's client is not left hanging");
        after.extend(got);
    }
    let at = after.len();
    after.extend(read(&mut on_b, 50).await);
    assert_eq!(after.len(), at + 50, "{after:?}");
    // Before the reset event: the old epoch, unbroken; after it: the new epoch from its
    // first offset, unbroken, with the backend's numbers going on.
    let old_run: Vec<Seen> = before.iter().chain(&after[..at - 1]).cloned().collect();
    assert_unbroken(&old_run);
    let new_run = &after[at..];
    assert_exact(
        new_run,
        new_run[0].number(),
        Position {
            epoch: head.epoch,
            offset: 0,
        },
    );
    assert!(new_run[0].number() > old_run.last().unwrap().number());
    assert_eq!(backend.connections(), 1, "B still follows");
}

#[tokio::test]
async fn a_shared_upstream_needs_a_shared_backlog_and_a_lease_of_three_shared_timeouts() {
    let err = Relay::builder()
        .shared_upstream(Some(LEASE))
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    let s = store("redis://127.0.0.1:1/").await;
    let err = Relay::builder()
        .shared_backlog(s.clone(), 100)
        .shared_timeout(Duration::from_millis(400))
        .shared_upstream(Some(Duration::from_millis(1_100)))
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config(), "{err}");
    Relay::builder()
        .shared_backlog(s, 100)
        .shared_timeout(Duration::from_millis(400))
        .shared_upstream(Some(Duration::from_millis(1_200)))
        .build()
        .expect("a lease of three shared timeouts is enough");
}

/// `INFO commandstats` calls of `cmd` on the test's Redis.
async fn redis_calls(port: u16, cmd: &str) -> u64 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("redis");
    s.write_all(b"INFO commandstats\r\n").await.unwrap();
    // A bulk reply, `$<length>\r\n<text>\r\n`: read until all of it came.
    let mut text = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "redis closed the connection");
        text.extend_from_slice(&buf[..n]);
        let Some(eol) = text.windows(2).position(|w| w == b"\r\n") else {
            continue;
        };
        let len: usize = std::str::from_utf8(&text[1..eol]).unwrap().parse().unwrap();
        if text.len() >= eol + 2 + len + 2 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&text);
    let prefix = format!("cmdstat_{cmd}:calls=");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What a follower costs, measured (`cargo test -p eventgate-relay --features redis --test
/// shared_redis -- --ignored --nocapture`): per backend rate, the follower's tail reads per
/// event, the Redis commands per event, and how much later than the holder's client the
/// follower's client gets each event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it with --ignored --nocapture"]
async fn measure_what_a_follower_costs() {
    let Some(redis) = RedisServer::start("measure_shared_upstream").await else {
        return;
    };
    for (label, interval) in [
        ("100/s", Duration::from_millis(10)),
        ("500/s", Duration::from_millis(2)),
        (
            "the test backend at full speed (interval 0)",
            Duration::ZERO,
        ),
    ] {
        let backend = Backend::start(BackendConfig {
            interval,
            ..BackendConfig::default()
        })
        .await;
        let uri = backend.url(&format!("/m{}", interval.as_micros()));
        let a = leasing_node(store(&redis.url()).await);
        let b = leasing_node(store(&redis.url()).await);
        let mut on_a = live(&a, &uri).await;
        let mut on_b = live(&b, &uri).await;
        let _ = tokio::join!(read(&mut on_a, 20), read(&mut on_b, 20));
        let (xread0, eval0) = (
            redis_calls(redis.port, "xread").await,
            redis_calls(redis.port, "evalsha").await,
        );
        let (m0a, m0b) = (a.metrics(), b.metrics());
        let run = Duration::from_secs(3);
        let stamp = |mut feed: Feed| async move {
            let mut reader = Reader::new();
            let mut out = std::collections::HashMap::new();
            let end = tokio::time::Instant::now() + run;
            while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(end, feed.next_frame()).await {
                let now = std::time::Instant::now();
                for item in reader.items(frame) {
                    if let Item::Event(ev) = item {
                        out.insert(ev.data().to_owned(), now);
                    }
                }
            }
            out
        };
        let (ta, tb) = tokio::join!(stamp(on_a), stamp(on_b));
        let (xread1, eval1) = (
            redis_calls(redis.port, "xread").await,
            redis_calls(redis.port, "evalsha").await,
        );
        let (ma, mb) = (a.metrics(), b.metrics());
        let events = mb.tailed_events - m0b.tailed_events;
        let reads = mb.tail_reads - m0b.tail_reads;
        // Signed: the follower's client may get an event first (Redis answers the
        // follower's blocked XREAD and the holder's append in the same turn).
        let mut lag: Vec<f64> = ta
            .iter()
            .filter_map(|(k, at_a)| {
                tb.get(k).map(|at_b| {
                    if at_b >= at_a {
                        at_b.duration_since(*at_a).as_secs_f64() * 1e6
                    } else {
                        -(at_a.duration_since(*at_b).as_secs_f64() * 1e6)
                    }
                })
            })
            .collect();
        lag.sort_by(f64::total_cmp);
        let q = |p: f64| lag[((lag.len() - 1) as f64 * p) as usize];
        eprintln!(
            "{label}: {} events on the follower in {run:?}; {:.3} tail reads per event, {:.3} XREAD per event, {:.4} EVALSHA per event (both nodes: appends and leases); follower's client later than the holder's by median {:.0} us, p90 {:.0} us, p99 {:.0} us ({} events compared); holder appended {}",
            events,
            reads as f64 / events as f64,
            (xread1 - xread0) as f64 / events as f64,
            (eval1 - eval0) as f64 / events as f64,
            q(0.5),
            q(0.9),
            q(0.99),
            lag.len(),
            ma.shared_appends - m0a.shared_appends,
        );
        assert_eq!(backend.connections(), 1);
        drop((a, b));
    }

    // A burst: 10,000 events in upstream reads of 100 (both nodes have the same scripted
    // upstream; whichever takes the lease reads it, the other follows from the start).
    let chunks: Vec<&'static str> = (0..100u64)
        .map(|c| {
            let text: String = (c * 100 + 1..=c * 100 + 100)
                .map(|n| format!("id: {n}\ndata: {n}\n\n"))
                .collect();
            &*Box::leak(text.into_boxed_str())
        })
        .collect();
    let node = |s: Arc<dyn SharedStore>| {
        let mut b = Relay::builder();
        b.heartbeat(None)
            .shared_backlog(s, 10_000)
            .shared_timeout(Duration::from_millis(300))
            .shared_upstream(Some(LEASE))
            .upstream(support::ScriptTransport::new(vec![
                support::Scripted::StreamThenHang(chunks.clone()),
            ]));
        b.build().expect("relay")
    };
    let (sa, sb) = (store(&redis.url()).await, store(&redis.url()).await);
    let (a, b) = (node(sa.clone()), node(sb));
    let uri: http::Uri = "http://burst.invalid/ticks".parse().unwrap();
    let key = a.backlog_key(&uri, &SubscribeOptions::new()).unwrap();
    // Someone else holds the lease while both nodes open the channel: both follow.
    assert!(sa.lease(&key, "someone", LEASE).await.unwrap());
    let opts = SubscribeOptions::new();
    let (on_a, on_b) = tokio::join!(
        a.subscribe(uri.clone(), &opts),
        b.subscribe(uri.clone(), &opts)
    );
    let (mut on_a, mut on_b) = (on_a.unwrap(), on_b.unwrap());
    let xread0 = redis_calls(redis.port, "xread").await;
    let started = std::time::Instant::now();
    sa.release(&key, "someone").await.unwrap();
    let (xs, ys) = tokio::join!(
        read_within(&mut on_a, 10_000, Duration::from_secs(20)),
        read_within(&mut on_b, 10_000, Duration::from_secs(20))
    );
    let took = started.elapsed();
    assert_eq!((xs.len(), ys.len()), (10_000, 10_000));
    assert_unbroken(&xs);
    assert_eq!(xs, ys);
    let (ma, mb) = (a.metrics(), b.metrics());
    let follower = if ma.upstream_leases == 1 { mb } else { ma };
    let xreads = redis_calls(redis.port, "xread").await - xread0;
    eprintln!(
        "burst: 10,000 events (upstream reads of 100) on both nodes in {took:?} (takeover included); follower: {} events in {} tail reads ({:.1} events per read, {:.4} reads per event), {} XREAD calls on both nodes",
        follower.tailed_events,
        follower.tail_reads,
        follower.tailed_events as f64 / follower.tail_reads as f64,
        follower.tail_reads as f64 / follower.tailed_events as f64,
        xreads,
    );
}
