//! Several `eventgate serve` nodes sharing their control plane through one PostgreSQL
//! database (`[cluster] postgres`): a change made through one node's admin API reaches the
//! others' routing and gate without a restart, and a node started later loads everything.
//! With `[cluster] redis` too, a client that drops from one node resumes on the other with
//! `Last-Event-ID` and gets exactly the events it missed, and a plan shared by streams on both
//! nodes delivers exactly its events in total. With `shared_upstream = true`, two nodes feed
//! a channel through one backend connection, and when the node holding it dies the other
//! takes over with `Last-Event-ID`, its client missing nothing. The PostgreSQL and Redis servers
//! are the test's own (see `support/postgres.rs`, `support/redis.rs`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::postgres::Postgres;
use support::redis::Redis;
use support::{Killed, eventgate, free_port, ok, started};

/// A node: `eventgate serve --config` with its own data directory and ports.
struct Node {
    data: PathBuf,
    http: u16,
    _child: Killed,
}

fn node(dir: &Path, name: &str, url: &str) -> Node {
    node_with(dir, name, url, None)
}

/// A node, with `[cluster] redis` when `redis` is given.
fn node_with(dir: &Path, name: &str, url: &str, redis: Option<&str>) -> Node {
    node_with_extra(dir, name, url, redis, "")
}

/// [`node_with`], with `extra` lines in its `[cluster]` table.
fn node_with_extra(dir: &Path, name: &str, url: &str, redis: Option<&str>, extra: &str) -> Node {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.join(format!("{name}.toml"));
    let mut text =
        format!("[cluster]\nnode = \"{name}\"\npostgres = \"{url}\"\npoll_interval = \"1s\"\n");
    if let Some(r) = redis {
        text.push_str(&format!("redis = \"{r}\"\n"));
    }
    text.push_str(extra);
    std::fs::write(&config, text).unwrap();
    let (http, https, admin) = (free_port(), free_port(), free_port());
    let child = started(
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(&data)
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--https", &format!("127.0.0.1:{https}")])
            .args(["--admin", &format!("127.0.0.1:{admin}")])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        "eventgate gateway on",
    );
    Node {
        data,
        http,
        _child: child,
    }
}

/// The seed tutorial through node `n`'s admin API (Observer 1.0.0, topic /memory on the
/// sample backend at `backend`, AsyncGold, DemoApp subscribed): the Authorization header of
/// DemoApp's API key.
fn tutorial_through(n: &Node, backend: u16) -> String {
    tutorial_with_plan(n, backend, "AsyncGold")
}

/// [`tutorial_through`] with DemoApp subscribed under `plan`.
fn tutorial_with_plan(n: &Node, backend: u16, plan: &str) -> String {
    let endpoint = format!("http://localhost:{backend}");
    let api = "Observer:1.0.0";
    ok(
        &n.data,
        &[
            "api",
            "create",
            "--name",
            "Observer",
            "--context",
            "/observer",
            "--version",
            "1.0.0",
            "--endpoint",
            &endpoint,
        ],
    );
    ok(&n.data, &["api", "topics", "add", api, "/memory"]);
    ok(&n.data, &["api", "plans", "set", api, plan]);
    ok(&n.data, &["api", "lifecycle", api, "publish"]);
    ok(&n.data, &["api", "revision", "create", api]);
    ok(
        &n.data,
        &[
            "api",
            "deploy",
            api,
            "--revision",
            "1",
            "--env",
            "production",
            "--vhost",
            "localhost",
        ],
    );
    ok(&n.data, &["app", "create", "DemoApp"]);
    ok(
        &n.data,
        &["app", "subscribe", "DemoApp", "--api", api, "--plan", plan],
    );
    let key = ok(&n.data, &["app", "key", "DemoApp"]).trim().to_owned();
    let auth = format!("Authorization: Bearer {key}");
    auth
}

/// What `curl` gets from `path` on the node in `secs` seconds with `auth`.
fn get(n: &Node, path: &str, auth: &str, secs: u32) -> String {
    let out = Command::new("curl")
        .args(["-sN", "--max-time", &secs.to_string(), "-H", auth])
        .args(["-w", "\nstatus=%{http_code}"])
        .arg(format!("http://localhost:{}{path}", n.http))
        .output()
        .expect("curl is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits up to 20 s for `path` on `n` to stream memory events with `auth`.
fn streams(n: &Node, path: &str, auth: &str) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let body = get(n, path, auth, 2);
        if body.contains("data: {\"heap\"") {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(20) {
            return Err(body);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn changes_through_one_nodes_admin_api_reach_the_other_nodes_without_a_restart() {
    let Some(mut pg) = Postgres::start() else {
        return;
    };
    let url = pg.database("cluster");
    let dir = tempfile::tempdir().unwrap();
    let backend = free_port();
    let _backend = started(
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(["sample-backend", "--time", "5000", "--interval", "200"])
            .args(["--port", &backend.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        "sample backend",
    );
    // Two nodes started together on a new database (one migrates it).
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| node(dir.path(), "a", &url));
        let b = s.spawn(|| node(dir.path(), "b", &url));
        (a.join().unwrap(), b.join().unwrap())
    });

    // The tutorial, through node A only.
    let auth = tutorial_through(&a, backend);
    let api = "Observer:1.0.0";
    let endpoint = format!("http://localhost:{backend}");
    let path = "/observer/1.0.0/memory";

    // Node A streams; node B routes the API and takes the key A issued, no restart.
    streams(&a, path, &auth).unwrap_or_else(|b| panic!("node a: {b}"));
    streams(&b, path, &auth).unwrap_or_else(|body| panic!("node b: {body}"));
    // B's admin API shows what A made.
    let shown = ok(&b.data, &["--json", "api", "show", api]);
    assert!(shown.contains("PUBLISHED"), "{shown}");

    // A change through B's admin API reaches A: a second API, deployed on B.
    ok(
        &b.data,
        &[
            "api",
            "create",
            "--name",
            "Other",
            "--context",
            "/other",
            "--version",
            "1.0.0",
            "--endpoint",
            &endpoint,
        ],
    );
    ok(&b.data, &["api", "lifecycle", "Other:1.0.0", "publish"]);
    ok(&b.data, &["api", "revision", "create", "Other:1.0.0"]);
    ok(
        &b.data,
        &[
            "api",
            "deploy",
            "Other:1.0.0",
            "--revision",
            "1",
            "--env",
            "production",
            "--vhost",
            "localhost",
        ],
    );
    let start = Instant::now();
    loop {
        // 401 without a credential: routed (404 while A does not know it yet).
        let r = get(&a, "/other/1.0.0/memory", "X-None: 1", 2);
        if r.ends_with("status=401") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "node a: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Undeployed through A: B stops routing it.
    ok(
        &a.data,
        &[
            "api",
            "undeploy",
            "Other:1.0.0",
            "--env",
            "production",
            "--vhost",
            "localhost",
        ],
    );
    let start = Instant::now();
    loop {
        let r = get(&b, "/other/1.0.0/memory", "X-None: 1", 2);
        if r.ends_with("status=404") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "node b: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A node started later loads everything at start.
    let c = node(dir.path(), "c", &url);
    let body = get(&c, path, &auth, 2);
    assert!(body.contains("data: {\"heap\""), "node c: {body}");

    // The database goes away: the nodes keep serving what they have.
    pg.stop();
    let body = get(&b, path, &auth, 2);
    assert!(
        body.contains("data: {\"heap\""),
        "node b, database down: {body}"
    );
    let refused = eventgate(&a.data, &["app", "create", "Second"]);
    assert!(!refused.status.success(), "a change cannot be stored");
    // It comes back: a change through A reaches B again, without restarting either.
    pg.restart();
    let start = Instant::now();
    while !eventgate(&a.data, &["app", "create", "Second"])
        .status
        .success()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "A never reconnected"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(
        &a.data,
        &[
            "app",
            "subscribe",
            "Second",
            "--api",
            api,
            "--plan",
            "AsyncGold",
        ],
    );
    let key2 = ok(&a.data, &["app", "key", "Second"]).trim().to_owned();
    streams(&b, path, &format!("Authorization: Bearer {key2}"))
        .unwrap_or_else(|body| panic!("node b after the restart: {body}"));
    drop(pg);
}

/// The `id:` values of a stream body, in order.
fn ids(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
        .map(str::to_owned)
        .collect()
}

/// `<epoch hex>-<offset>`, the shared backlog's id.
fn position(id: &str) -> (String, u64) {
    let (epoch, offset) = id
        .rsplit_once('-')
        .unwrap_or_else(|| panic!("{id:?} is not a shared backlog id"));
    (epoch.to_owned(), offset.parse().unwrap())
}

/// What `curl` gets from `path` on `n` in `secs` seconds, resuming after `last`.
fn resume(n: &Node, path: &str, auth: &str, last: &str, secs: u32) -> String {
    let out = Command::new("curl")
        .args(["-sN", "--max-time", &secs.to_string(), "-H", auth])
        .args(["-H", &format!("Last-Event-ID: {last}")])
        .arg(format!("http://localhost:{}{path}", n.http))
        .output()
        .expect("curl is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_client_that_drops_from_one_node_resumes_on_the_other_with_exactly_the_events_it_missed() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let Some(redis) = Redis::start() else {
        return;
    };
    let url = pg.database("resume");
    let dir = tempfile::tempdir().unwrap();
    let backend = free_port();
    let start_backend = || {
        started(
            Command::new(env!("CARGO_BIN_EXE_eventgate"))
                .args(["sample-backend", "--time", "20000", "--interval", "100"])
                .args(["--port", &backend.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
            "sample backend",
        )
    };
    let mut backend_process = Some(start_backend());
    let a = node_with(dir.path(), "a", &url, Some(&redis.url()));
    let b = node_with(dir.path(), "b", &url, Some(&redis.url()));
    let auth = tutorial_through(&a, backend);
    let path = "/observer/1.0.0/memory";
    streams(&b, path, &auth).unwrap_or_else(|body| panic!("node b: {body}"));

    // A, then B from A's last id, then A again from B's: one unbroken run of offsets in one
    // epoch, every event once and in order, though each node has its own upstream.
    let mut seen: Vec<String> = ids(&get(&a, path, &auth, 2));
    assert!(seen.len() >= 3, "node a sent {seen:?}");
    for (round, (n, name)) in [(&b, "b"), (&a, "a"), (&b, "b")].into_iter().enumerate() {
        // Events the client misses while it is away; in the second round the backend is
        // killed and started again meanwhile (its own ids start again at 1).
        if round == 1 {
            drop(backend_process.take());
            std::thread::sleep(Duration::from_millis(300));
            backend_process = Some(start_backend());
        }
        std::thread::sleep(Duration::from_millis(500));
        let last = seen.last().unwrap().clone();
        let got = ids(&resume(n, path, &auth, &last, 2));
        assert!(got.len() >= 5, "node {name} after {last}: {got:?}");
        seen.extend(got);
    }
    let (epoch, first) = position(&seen[0]);
    for (i, id) in seen.iter().enumerate() {
        let (e, offset) = position(id);
        assert_eq!(e, epoch, "one epoch: {seen:?}");
        assert_eq!(offset, first + i as u64, "consecutive at {i}: {seen:?}");
    }
}

#[test]
fn a_plan_shared_by_streams_on_two_nodes_delivers_exactly_its_events_in_total() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let Some(redis) = Redis::start() else {
        return;
    };
    let url = pg.database("quota");
    let dir = tempfile::tempdir().unwrap();
    let backend = free_port();
    // An event every millisecond: AsyncBronze's 5,000 events a day run out in seconds.
    let _backend = started(
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(["sample-backend", "--time", "60000", "--interval", "1"])
            .args(["--port", &backend.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        "sample backend",
    );
    let a = node_with(dir.path(), "a", &url, Some(&redis.url()));
    let b = node_with(dir.path(), "b", &url, Some(&redis.url()));
    let auth = tutorial_with_plan(&a, backend, "AsyncBronze");
    // Wait until B routes the API and takes the key, without spending the plan: a topic
    // path the backend does not serve is authorized (subscription, plan) and then fails
    // upstream, before any event.
    let heap = |b: &str| {
        b.lines()
            .filter(|l| l.starts_with("data: {\"heap\""))
            .count()
    };
    let start = Instant::now();
    loop {
        let body = get(&b, "/observer/1.0.0/no-such-feed", &auth, 2);
        let status = body
            .rsplit("status=")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !["000", "401", "403", "404"].contains(&status.as_str()) {
            assert_eq!(heap(&body), 0, "{body}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "node b: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let path = "/observer/1.0.0/memory";
    let bodies: Vec<String> = std::thread::scope(|s| {
        let streams: Vec<_> = [&a, &a, &b, &b]
            .into_iter()
            .map(|n| s.spawn(|| get(n, path, &auth, 40)))
            .collect();
        streams.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let events: Vec<usize> = bodies.iter().map(|b| heap(b)).collect();
    assert_eq!(
        events.iter().sum::<usize>(),
        5000,
        "events per stream: {events:?}"
    );
    for (i, body) in bodies.iter().enumerate() {
        assert!(events[i] > 0, "stream {i} got no event: {body:.300}");
        assert!(
            body.contains("900804"),
            "stream {i} ended without the quota event"
        );
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target` that counts the connections through it and
/// keeps the first 4 KiB each sends (the request head), so a test sees how many upstream
/// connections the nodes made and what they asked for.
struct CountingProxy {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl CountingProxy {
    fn start(target: u16) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::<String>::new()));
        let recorded = Arc::clone(&heads);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let i = {
                    let mut heads = recorded.lock().unwrap();
                    heads.push(String::new());
                    heads.len() - 1
                };
                let (mut to_server, mut from_server) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut kept = 0;
                    while let Ok(n) = client.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if kept < 4096 {
                            recorded.lock().unwrap()[i]
                                .push_str(&String::from_utf8_lossy(&buf[..n]));
                            kept += n;
                        }
                        if to_server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown(Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut from_server);
                    let _ = from_server.shutdown(Shutdown::Both);
                });
            }
        });
        CountingProxy { port, heads }
    }

    fn connections(&self) -> usize {
        self.heads.lock().unwrap().len()
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// The `(id, data)` of each event of a stream body.
fn events(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut id = None;
    for line in body.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ")
            && let Some(id) = id.take()
        {
            out.push((id, v.to_owned()));
        }
    }
    out
}

/// One epoch, consecutive offsets from `first` (the offset of the first event when `None`).
fn assert_consecutive(events: &[(String, String)], first: Option<u64>, what: &str) {
    assert!(!events.is_empty(), "{what}: no event");
    let (epoch, start) = position(&events[0].0);
    let start = first.unwrap_or(start);
    for (i, (id, _)) in events.iter().enumerate() {
        assert_eq!(
            position(id),
            (epoch.clone(), start + i as u64),
            "{what} at {i}: {events:?}"
        );
    }
}

#[test]
fn with_shared_upstream_two_nodes_use_one_backend_connection_and_the_survivor_takes_over() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let Some(redis) = Redis::start() else {
        return;
    };
    let url = pg.database("shared_upstream");
    let dir = tempfile::tempdir().unwrap();
    let backend = free_port();
    let _backend = started(
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(["sample-backend", "--time", "60000", "--interval", "100"])
            .args(["--port", &backend.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        "sample backend",
    );
    let proxy = CountingProxy::start(backend);
    let shared = "shared_upstream = true\nupstream_lease = \"3s\"\n";
    let a = node_with_extra(dir.path(), "a", &url, Some(&redis.url()), shared);
    let b = node_with_extra(dir.path(), "b", &url, Some(&redis.url()), shared);
    let auth = tutorial_through(&a, proxy.port);
    let path = "/observer/1.0.0/memory";
    // A opens the channel (and takes its lease); B then follows it.
    streams(&a, path, &auth).unwrap_or_else(|body| panic!("node a: {body}"));
    streams(&b, path, &auth).unwrap_or_else(|body| panic!("node b: {body}"));

    // Clients on both nodes at once: the same events with the same ids, from one backend
    // connection.
    let (on_a, on_b) = std::thread::scope(|s| {
        let x = s.spawn(|| get(&a, path, &auth, 3));
        let y = s.spawn(|| get(&b, path, &auth, 3));
        (events(&x.join().unwrap()), events(&y.join().unwrap()))
    });
    assert_consecutive(&on_a, None, "node a");
    assert_consecutive(&on_b, None, "node b");
    let common: Vec<_> = on_a.iter().filter(|e| on_b.contains(e)).collect();
    assert!(common.len() >= 15, "A {on_a:?}\nB {on_b:?}");
    for (id, data) in &on_a {
        if let Some((_, other)) = on_b.iter().find(|(i, _)| i == id) {
            assert_eq!(data, other, "the same event under {id} on both nodes");
        }
    }
    assert_eq!(
        proxy.connections(),
        1,
        "one backend connection for two nodes"
    );

    // Node A dies (SIGKILL): B takes the lease over once it runs out, resumes the backend
    // with Last-Event-ID, and a client resuming on B gets every event after its last one.
    let last = on_b.last().unwrap().0.clone();
    drop(a);
    let got = events(&resume(&b, path, &auth, &last, 8));
    assert_consecutive(&got, Some(position(&last).1 + 1), "node b after a died");
    assert!(got.len() >= 40, "8 s at 10 events a second: {got:?}");
    assert_eq!(position(&got[0].0).0, position(&last).0, "the same epoch");
    let heads = proxy.heads();
    assert_eq!(heads.len(), 2, "B connected to the backend once: {heads:?}");
    assert!(
        heads[1]
            .to_ascii_lowercase()
            .contains("\r\nlast-event-id: "),
        "B resumed the backend: {}",
        heads[1]
    );
    assert!(!heads[0].to_ascii_lowercase().contains("last-event-id"));
}
