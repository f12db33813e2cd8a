//! Quotas and connection limits shared by two gateway "nodes" (two gates, each with its own
//! `RedisCounters`) through a real redis-server started for the test.
#![cfg(feature = "redis")]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use eventgate_policy::redis::RedisCounters;
use eventgate_policy::{
    ApiPolicy, Application, ApplicationId, ChargeError, ConnectionScope, DenialReason, Gate, Grant,
    KeyType, Plan, PlanName, RequestFacts, Subscription, Timestamp,
};

const API: &str = "observer:1.0.0";
const APP: &str = "app-1";

/// A redis-server on a free 127.0.0.1 port in a temporary directory, killed on drop.
struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

impl RedisServer {
    /// `None` (after a skip line) when redis-server is missing, unless `CI=true`.
    fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is not on PATH (CI=true: a missing server fails the test)"
            );
            eprintln!("skipped: redis-server is not on PATH");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!(
            "eventgate-policy-redis-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child: Some(child),
            dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}

/// A node: a gate over the shared Redis with the plan `Shared` (`events` a day, at most
/// `max_connections` streams), and an API key of the application subscribed under it.
struct Node {
    gate: Gate,
    counters: RedisCounters,
    auth: String,
}

fn node(url: &str, prefix: &str, events: u64, max_connections: Option<u32>) -> Node {
    let counters = RedisCounters::builder(url)
        .prefix(prefix)
        .slot_ttl(Duration::from_millis(900))
        .response_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut plan = Plan::new(
        PlanName::new("Shared").unwrap(),
        events,
        Duration::from_secs(86_400),
    )
    .unwrap();
    if let Some(n) = max_connections {
        plan = plan.with_max_connections(n);
    }
    let gate = Gate::builder()
        .counters(Arc::new(counters.clone()))
        .plan(plan)
        .build()
        .unwrap();
    gate.put_api(ApiPolicy::new(API));
    gate.put_application(Application::new(APP, "A", "alice"));
    gate.put_subscription(Subscription::new(
        APP,
        API,
        PlanName::new("Shared").unwrap(),
    ));
    let key = gate
        .api_keys()
        .issue(ApplicationId::new(APP), KeyType::Production, vec![], None)
        .unwrap();
    Node {
        gate,
        counters,
        auth: format!("Bearer {}", key.expose_secret()),
    }
}

impl Node {
    async fn open(&self) -> Result<Grant, eventgate_policy::Denial> {
        let facts = RequestFacts::new(API, "/x").authorization(&self.auth);
        self.gate
            .authorize_async_with(&facts, now(), || tokio::time::sleep(Duration::from_secs(3)))
            .await
    }
}

/// Charges `grant` until it refuses, waiting out lease refills; the events delivered and
/// the refusal.
async fn drain(grant: &Grant, stop_after: u64) -> (u64, ChargeError) {
    let mut n = 0;
    loop {
        if n == stop_after {
            return (n, ChargeError::Pending);
        }
        match grant.charge(now()) {
            Ok(()) => n += 1,
            Err(ChargeError::Pending) => {
                if let Err(e) = grant.meter().ready(now()).await {
                    return (n, e);
                }
            }
            Err(e) => return (n, e),
        }
        if n % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

fn prefix(test: &str) -> String {
    format!("t-{test}-{}:", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_of_n_shared_by_streams_on_two_nodes_delivers_exactly_n_then_refuses_on_each() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    const N: u64 = 5000;
    let p = prefix("exact");
    let a = Arc::new(node(&redis.url(), &p, N, None));
    let b = Arc::new(node(&redis.url(), &p, N, None));
    let mut tasks = Vec::new();
    for n in [&a, &b, &a, &b, &a, &b] {
        let grant = n.open().await.unwrap();
        tasks.push(tokio::spawn(async move { drain(&grant, u64::MAX).await }));
    }
    let mut total = 0;
    for t in tasks {
        let (n, e) = t.await.unwrap();
        total += n;
        let ChargeError::Exceeded(q) = e else {
            panic!("{e:?}")
        };
        assert_eq!(q.code(), "900804");
    }
    assert_eq!(total, N);
    for n in [&a, &b] {
        let d = n.open().await.unwrap_err();
        assert!(
            matches!(d.reason, DenialReason::QuotaExceeded(_)),
            "{:?}",
            d.reason
        );
        assert_eq!((d.code, d.status), ("900804", 429));
    }
    // One Redis call per block of N / 16 = 312 events (plus the final "nothing left"
    // answers), never one per event.
    let calls = a.counters.redis_calls() + b.counters.redis_calls();
    eprintln!("{calls} Redis calls for {N} events on two nodes");
    assert!(calls * 20 < N, "{calls} Redis calls for {N} events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ends_gives_its_unused_lease_back_to_the_other_node() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    const N: u64 = 1600; // blocks of 100
    let p = prefix("giveback");
    let a = node(&redis.url(), &p, N, None);
    let b = node(&redis.url(), &p, N, None);
    let g = a.open().await.unwrap();
    let (n, _) = drain(&g, 10).await;
    assert_eq!(n, 10);
    drop(g);
    // Node A's unused 90 (or more, if a prefetch was under way) go back to Redis.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = 0;
    while got < N - 10 {
        assert!(Instant::now() < deadline, "only {got} events came back");
        let g = b.open().await.unwrap();
        got += drain(&g, N).await.0;
        drop(g);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got, N - 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_limit_is_shared_across_nodes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let p = prefix("slots");
    let a = node(&redis.url(), &p, 1_000_000, Some(3));
    let b = node(&redis.url(), &p, 1_000_000, Some(3));
    let a1 = a.open().await.unwrap();
    let _a2 = a.open().await.unwrap();
    let _b1 = b.open().await.unwrap();
    for n in [&a, &b] {
        let d = n.open().await.unwrap_err();
        assert_eq!(
            d.reason,
            DenialReason::ConnectionLimit(ConnectionScope::Subscription)
        );
        assert_eq!((d.code, d.status), ("900804", 429));
    }
    drop(a1);
    let deadline = Instant::now() + Duration::from_secs(2);
    let _b2 = loop {
        match b.open().await {
            Ok(g) => break g,
            Err(d) => {
                assert!(
                    Instant::now() < deadline,
                    "the slot did not come back: {d:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Slots held longer than their lease (900 ms) are renewed, not lost.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for n in [&a, &b] {
        assert!(n.open().await.is_err(), "renewed slots must still count");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_refuses_new_streams_with_900900_and_open_streams_finish_their_lease() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    const N: u64 = 1600; // blocks of 100
    let p = prefix("down");
    let a = node(&redis.url(), &p, N, None);
    let g = a.open().await.unwrap();
    let (n, _) = drain(&g, 10).await;
    assert_eq!(n, 10);
    redis.stop();
    let (more, e) = drain(&g, u64::MAX).await;
    assert_eq!(e, ChargeError::StoreUnavailable);
    assert_eq!(
        n + more,
        100,
        "the stream delivers its leased block, then ends"
    );
    assert_eq!(e.code(), "900900");
    assert!(
        std::str::from_utf8(e.sse_event(now()).as_bytes())
            .unwrap()
            .contains("\"code\":\"900900\"")
    );
    let t = Instant::now();
    let d = a.open().await.unwrap_err();
    assert_eq!(d.reason, DenialReason::StoreUnavailable);
    assert_eq!((d.code, d.status), ("900900", 500));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_authorize_refuses_a_shared_store() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis.url(), &prefix("sync"), 10, None);
    let facts = RequestFacts::new(API, "/x").authorization(&a.auth);
    let d = a.gate.authorize(&facts, now()).unwrap_err();
    assert_eq!(d.reason, DenialReason::SharedStoreNeedsAsync);
    assert_eq!(d.code, "900900");
    let d = a.gate.admit_anonymous(API, "10.0.0.1", now()).unwrap_err();
    assert_eq!(d.reason, DenialReason::SharedStoreNeedsAsync);
    // The async variants work.
    assert!(a.open().await.is_ok());
    let g = a
        .gate
        .admit_anonymous_async(API, "10.0.0.1", now(), || {
            tokio::time::sleep(Duration::from_secs(3))
        })
        .await
        .unwrap();
    assert_eq!(drain(&g, 5).await.0, 5);
}

/// The child "node" of the kill -9 test: takes both slots and a lease, charges 7 events,
/// says `ready`, and waits to be killed. Runs only when the parent sets its variables.
#[test]
#[ignore = "run by killed_node_* as a child process"]
fn child_node() {
    let (Ok(url), Ok(prefix)) = (
        std::env::var("EG_CHILD_URL"),
        std::env::var("EG_CHILD_PREFIX"),
    ) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = node(&url, &prefix, 1600, Some(2));
        let g1 = c.open().await.unwrap();
        let _g2 = c.open().await.unwrap();
        assert_eq!(drain(&g1, 7).await.0, 7);
        println!("ready");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_slots_come_back_within_the_lease_and_its_lease_is_never_handed_out_twice() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let p = prefix("kill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_node", "--ignored", "--nocapture", "-q"])
        .env("EG_CHILD_URL", redis.url())
        .env("EG_CHILD_PREFIX", &p)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.trim() == "ready" => break,
            Some(Ok(_)) => {}
            other => panic!("the child node ended before it was ready: {other:?}"),
        }
    }
    let b = node(&redis.url(), &p, 1600, Some(2));
    let d = b.open().await.unwrap_err();
    assert_eq!(
        d.reason,
        DenialReason::ConnectionLimit(ConnectionScope::Subscription)
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = Instant::now();
    let g = loop {
        match b.open().await {
            Ok(g) => break g,
            Err(d) => {
                assert_eq!(
                    d.reason,
                    DenialReason::ConnectionLimit(ConnectionScope::Subscription)
                );
                // Slot lease 900 ms, plus the renewal period the child had started.
                assert!(
                    killed.elapsed() < Duration::from_secs(3),
                    "the dead node's slots did not come back"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // The dead node charged 7 of its leased block of 100 and could not say so: the block
    // stays counted (never handed out twice), the rest of the plan is node B's.
    let (n, e) = drain(&g, u64::MAX).await;
    assert!(matches!(e, ChargeError::Exceeded(_)), "{e:?}");
    assert_eq!(n, 1600 - 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_near_the_window_end_leases_the_next_window_so_it_starts_without_waiting() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let counters = RedisCounters::builder(redis.url())
        .prefix(prefix("ahead"))
        .build()
        .unwrap();
    let name = PlanName::new("TenSeconds").unwrap();
    let gate = Gate::builder()
        .counters(Arc::new(counters))
        .plan(Plan::new(name.clone(), 1600, Duration::from_secs(10)).unwrap())
        .build()
        .unwrap();
    gate.put_api(ApiPolicy::new(API));
    gate.put_application(Application::new(APP, "A", "alice"));
    gate.put_subscription(Subscription::new(APP, API, name));
    let key = gate
        .api_keys()
        .issue(ApplicationId::new(APP), KeyType::Production, vec![], None)
        .unwrap();
    let auth = format!("Bearer {}", key.expose_secret());
    // A window well ahead of the clock, so the test picks the instants.
    let w = (now().as_unix_millis() / 10_000 + 100) * 10_000;
    let at = Timestamp::from_unix_millis;
    let facts = RequestFacts::new(API, "/x").authorization(&auth);
    let g = gate
        .authorize_async_with(&facts, at(w), || tokio::time::sleep(Duration::from_secs(3)))
        .await
        .unwrap();
    // Mid-window: nothing leased ahead.
    g.charge(at(w + 1000)).unwrap();
    assert_eq!(g.meter().remaining(at(w + 10_000)), 0);
    // 1 s before the end (the look-ahead is a quarter of the window, at most 2 s).
    g.charge(at(w + 9000)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while g.meter().remaining(at(w + 10_000)) == 0 {
        assert!(Instant::now() < deadline, "nothing was leased ahead");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(g.charge(at(w + 10_000)), Ok(()));
    // Without a charge near its end, the window after starts with a wait.
    assert_eq!(g.charge(at(w + 30_000)), Err(ChargeError::Pending));
    g.meter().ready(at(w + 30_000)).await.unwrap();
    assert_eq!(g.charge(at(w + 30_000)), Ok(()));
}

#[test]
fn build_refuses_bad_settings_a_bad_url_and_a_missing_runtime() {
    use eventgate_policy::redis::RedisConfigError;
    // No tokio runtime here.
    assert!(matches!(
        RedisCounters::builder("redis://127.0.0.1:1/").build(),
        Err(RedisConfigError::NoRuntime)
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _in_rt = rt.enter();
    assert!(matches!(
        RedisCounters::builder("http://not-redis/").build(),
        Err(RedisConfigError::Url(_))
    ));
    let setting = |b: &mut eventgate_policy::redis::RedisCountersBuilder| match b.build() {
        Err(RedisConfigError::Limit { setting, .. }) => setting,
        other => panic!("{other:?}"),
    };
    let b = || RedisCounters::builder("redis://127.0.0.1:1/");
    assert_eq!(setting(b().max_block(0)), "max_block");
    assert_eq!(setting(b().block_divisor(0)), "block_divisor");
    assert_eq!(
        setting(b().slot_ttl(Duration::from_millis(299))),
        "slot_ttl"
    );
    assert_eq!(
        setting(b().response_timeout(Duration::ZERO)),
        "response_timeout"
    );
    assert_eq!(setting(b().max_entries(0)), "max_entries");
    // Lazy: an unreachable Redis builds; its first call fails.
    assert!(b().build().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_with_an_older_now_than_the_last_lease_counts_in_the_newer_window() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis.url(), &prefix("older"), 1600, None);
    // Leased for a day well ahead (as a stream whose clock runs ahead would).
    let ahead = Timestamp::from_unix_millis(now().as_unix_millis() + 40 * 86_400_000);
    let facts = RequestFacts::new(API, "/x").authorization(&a.auth);
    let g = a
        .gate
        .authorize_async_with(&facts, ahead, || tokio::time::sleep(Duration::from_secs(3)))
        .await
        .unwrap();
    // Today's charges count in that window's lease instead of leasing for today forever.
    for _ in 0..150 {
        match g.charge(now()) {
            Ok(()) => {}
            Err(ChargeError::Pending) => {
                tokio::time::timeout(Duration::from_secs(3), g.meter().ready(now()))
                    .await
                    .expect("the lease never came")
                    .unwrap()
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(
        a.counters.redis_calls() < 10,
        "{}",
        a.counters.redis_calls()
    );
}
