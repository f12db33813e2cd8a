//! eventgate-policy: decisions and meters.
//!
//! * `authorize/cached_jwt`: a full `Gate::authorize` for an already verified (cached) JWT:
//!   API, topic scopes, application, subscription, plan, meter handles, grant.
//! * `verify_first/<alg>/pipeline` next to `verify_first/<alg>/raw_signature`: the first
//!   verification of a token (our header/claims checks + signature) against the signature
//!   check alone (jsonwebtoken's RustCrypto verifier on the same bytes).
//! * `meter/*`: one `Meter::charge` per event on a grant's meter (in-process counters),
//!   uncontended with one and two plans, through a `dyn WindowCounter` (how a custom store is
//!   charged), and with two threads charging the same meter.
//! * `meter/charge/one_plan_redis_leased` (printed, not a criterion loop): 20 M charges with
//!   the quota shared through Redis (`RedisCounters`, a redis-server started for the run on
//!   a free port; blocks of 1 000 events): the charges' thread CPU time, the waits for a
//!   lease the prefetch did not hide, the wall-clock events/s and the Redis calls per event.
//!
//! Tokens and keys are the committed PyJWT vectors of eventgate-policy. Single-threaded
//! benchmarks are timed in the benchmark thread's CPU time ([`ThreadCpuTime`]: the machine is
//! shared), the two-thread one in wall-clock time.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventgate_benches::measurement::ThreadCpuTime;
use eventgate_policy::{
    Algorithm, ApiPolicy, Application, AtomicWindow, Gate, IssuerConfig, JwksCache, JwtValidator,
    KeySet, KeyType, MAX_QUOTA_EVENTS, Meter, Plan, PlanName, Quota, QuotaScope, RequestFacts,
    Scope, Subscription, Timestamp, TopicPolicy, parse_token,
};
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/eventgate-policy/tests/vectors"
);

fn vectors() -> (Vec<Value>, Timestamp, KeySet) {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{VECTORS}/tokens.json")).unwrap())
            .unwrap();
    let now = Timestamp::from_unix_secs(meta["now"].as_u64().unwrap());
    let jwks = std::fs::read(format!("{VECTORS}/jwks.json")).unwrap();
    let keys = KeySet::from_jwks(&jwks, 1 << 16, 32).unwrap();
    (meta["vectors"].as_array().unwrap().clone(), now, keys)
}

fn validator(keys: KeySet) -> JwtValidator {
    JwtValidator::builder()
        .issuer(
            IssuerConfig::builder(
                "https://issuer.example",
                Algorithm::ALL.to_vec(),
                JwksCache::fixed(keys),
            )
            .audience("eventgate")
            .build()
            .unwrap(),
        )
        .build()
        .unwrap()
}

fn authorize(c: &mut Criterion<ThreadCpuTime>) {
    let (vectors, now, keys) = vectors();
    let gate = Gate::builder().jwt(validator(keys)).build().unwrap();
    gate.put_api(
        ApiPolicy::new("observer:1.0.0")
            .topic(TopicPolicy::new("/memory").scopes([Scope::new("read:memory").unwrap()])),
    );
    gate.put_application(
        Application::new("app-1", "Dashboard", "alice")
            .client_id(KeyType::Production, "client-abc"),
    );
    gate.put_subscription(Subscription::new(
        "app-1",
        "observer:1.0.0",
        PlanName::new("AsyncGold").unwrap(),
    ));
    let token = vectors.iter().find(|v| v["name"] == "valid_RS256").unwrap()["token"]
        .as_str()
        .unwrap();
    let auth = format!("Bearer {token}");
    let facts = RequestFacts::new("observer:1.0.0", "/memory").authorization(&auth);
    assert!(gate.authorize(&facts, now).is_ok());
    let mut g = c.benchmark_group("authorize");
    g.throughput(Throughput::Elements(1));
    g.bench_function("cached_jwt", |b| {
        b.iter(|| black_box(gate.authorize(black_box(&facts), now)).is_ok())
    });
    g.finish();
}

fn verify_first(c: &mut Criterion<ThreadCpuTime>) {
    let (vectors, now, keys) = vectors();
    let v = validator(keys.clone());
    let mut g = c.benchmark_group("verify_first");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    for vec in vectors.iter().filter(|x| x.get("alg").is_some()) {
        let alg: Algorithm = vec["alg"].as_str().unwrap().parse().unwrap();
        let token = vec["token"].as_str().unwrap();
        assert!(v.verify(token, now).is_ok());
        let parsed = parse_token(token, 8192).unwrap();
        let key = keys
            .iter()
            .find(|k| k.kid() == parsed.kid.as_deref())
            .unwrap();
        let (msg, sig) = (parsed.signing_input.as_bytes(), parsed.signature.clone());
        g.bench_function(format!("{alg}/pipeline"), |b| {
            b.iter(|| black_box(v.verify(black_box(token), now)).is_ok())
        });
        g.bench_function(format!("{alg}/raw_signature"), |b| {
            b.iter(|| black_box(key.verify_signature(alg, black_box(msg), &sig)).is_ok())
        });
    }
    g.finish();
}

fn unlimited() -> Arc<AtomicWindow> {
    // Never exhausted within a bench run (4.29e9 events per hour).
    Arc::new(AtomicWindow::new(Quota::new(
        MAX_QUOTA_EVENTS,
        Duration::from_secs(3600),
    )))
}

/// The meter of a real grant (in-process counters): the subscription plan, and with
/// `app_plan` an application plan as well.
fn grant_meter(app_plan: bool) -> Arc<Meter> {
    let (vectors, now, keys) = vectors();
    let big_name = PlanName::new("Big").unwrap();
    let big = Plan::new(
        big_name.clone(),
        MAX_QUOTA_EVENTS,
        Duration::from_secs(3600),
    )
    .unwrap();
    let gate = Gate::builder()
        .jwt(validator(keys))
        .plan(big)
        .build()
        .unwrap();
    gate.put_api(ApiPolicy::new("observer:1.0.0"));
    let mut app = Application::new("app-1", "Dashboard", "alice")
        .client_id(KeyType::Production, "client-abc");
    if app_plan {
        app = app.plan(big_name.clone());
    }
    gate.put_application(app);
    gate.put_subscription(Subscription::new("app-1", "observer:1.0.0", big_name));
    let token = vectors.iter().find(|v| v["name"] == "valid_ES256").unwrap()["token"]
        .as_str()
        .unwrap();
    let auth = format!("Bearer {token}");
    let grant = gate
        .authorize(
            &RequestFacts::new("observer:1.0.0", "/x").authorization(&auth),
            now,
        )
        .unwrap();
    // The grant's own meter, shared here by the bench's threads (same counters).
    Arc::new(grant.meter().clone())
}

/// A redis-server on a free 127.0.0.1 port, killed on drop; `None` when it is missing
/// (outside CI).
struct RedisServer(std::process::Child, std::path::PathBuf, u16);

impl RedisServer {
    fn start() -> Option<Self> {
        use std::process::{Command, Stdio};
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server missing"
            );
            eprintln!("skipped meter/charge/one_plan_redis_leased: no redis-server on PATH");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(format!("eventgate-bench-redis-{port}"));
        std::fs::create_dir_all(&dir).ok()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let server = Self(child, dir, port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn meter_redis(c: &mut Criterion<ThreadCpuTime>) {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let counters =
        eventgate_policy::redis::RedisCounters::builder(format!("redis://127.0.0.1:{}/", redis.2))
            .build()
            .unwrap();
    let (vectors, vnow, keys) = vectors();
    let big_name = PlanName::new("Big").unwrap();
    let gate = Gate::builder()
        .jwt(validator(keys))
        .plan(
            Plan::new(
                big_name.clone(),
                MAX_QUOTA_EVENTS,
                Duration::from_secs(86_400),
            )
            .unwrap(),
        )
        .counters(Arc::new(counters.clone()))
        .build()
        .unwrap();
    gate.put_api(ApiPolicy::new("observer:1.0.0"));
    gate.put_application(
        Application::new("app-1", "Dashboard", "alice")
            .client_id(KeyType::Production, "client-abc"),
    );
    gate.put_subscription(Subscription::new("app-1", "observer:1.0.0", big_name));
    let token = vectors.iter().find(|v| v["name"] == "valid_ES256").unwrap()["token"]
        .as_str()
        .unwrap();
    let auth = format!("Bearer {token}");
    // Tokens are checked at the vectors' time; events are charged in today's window.
    let grant = rt
        .block_on(gate.authorize_async_with(
            &RequestFacts::new("observer:1.0.0", "/x").authorization(&auth),
            vnow,
            || tokio::time::sleep(Duration::from_secs(5)),
        ))
        .unwrap();
    let meter = grant.meter();
    let now = Timestamp::from(std::time::SystemTime::now());
    // A fixed run rather than a criterion loop (whose warm-up did not end in minutes on the
    // loaded machine): 20 M charges; the charges alone are timed in the thread's CPU time,
    // the waits for a lease the prefetch did not hide are counted, and the wall clock of the
    // whole run gives the events per second one counter on one node sustains.
    // `cargo test --benches` (no `--bench` argument) runs it small, as a smoke test.
    let bench = std::env::args().any(|a| a == "--bench");
    let events: u64 = if bench { 20_000_000 } else { 100_000 };
    let calls_before = counters.redis_calls();
    let (mut timed, mut waits, mut done) = (Duration::ZERO, 0u64, 0u64);
    let wall = Instant::now();
    while done < events {
        let start = ThreadCpuTime::now();
        while done < events {
            match meter.charge(black_box(now)) {
                Ok(()) => done += 1,
                Err(eventgate_policy::ChargeError::Pending) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        timed += ThreadCpuTime::now() - start;
        if done < events {
            waits += 1;
            rt.block_on(meter.ready(now)).unwrap();
        }
    }
    let wall = wall.elapsed();
    let calls = counters.redis_calls() - calls_before;
    eprintln!(
        "meter/charge/one_plan_redis_leased: {events} charges, {:.2} ns each (thread CPU, charges only); \
         {:.2} M events/s wall clock with {waits} waits for a lease; \
         {calls} Redis calls = {:.6} per event",
        timed.as_nanos() as f64 / events as f64,
        events as f64 / wall.as_secs_f64() / 1e6,
        calls as f64 / events as f64
    );
    let _ = c;
    drop(grant);
}

fn meter(c: &mut Criterion<ThreadCpuTime>) {
    let now = Timestamp::from_unix_secs(1_800_000_000);
    let mut g = c.benchmark_group("meter");
    g.throughput(Throughput::Elements(1));
    let one = grant_meter(false);
    g.bench_function("charge/one_plan", |b| {
        b.iter(|| black_box(one.charge(black_box(now))).is_ok())
    });
    let two = grant_meter(true);
    g.bench_function("charge/two_plans", |b| {
        b.iter(|| black_box(two.charge(black_box(now))).is_ok())
    });
    let dyn_store = Meter::new(vec![(unlimited() as _, QuotaScope::Subscription)]);
    g.bench_function("charge/one_plan_dyn_counter", |b| {
        b.iter(|| black_box(dyn_store.charge(black_box(now))).is_ok())
    });
    g.finish();
}

/// Two threads on one meter: wall-clock time (the CPU time of the measuring thread would
/// miss the second thread).
fn meter_contended(c: &mut Criterion) {
    let now = Timestamp::from_unix_secs(1_800_000_000);
    let mut g = c.benchmark_group("meter");
    let shared = grant_meter(false);
    g.throughput(Throughput::Elements(2));
    g.bench_function("charge/one_plan_2_threads_contended", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let m = Arc::clone(&shared);
                    s.spawn(move || {
                        for _ in 0..iters {
                            black_box(m.charge(black_box(now))).ok();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = authorize, verify_first, meter, meter_redis
}
criterion_group!(wall_time, meter_contended);
criterion_main!(cpu_time, wall_time);
