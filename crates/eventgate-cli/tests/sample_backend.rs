//! `eventgate sample-backend` run as a child process, read with a plain HTTP client.

use bytes::Bytes;
use eventgate_sse::{Event, EventStream};
use futures_util::StreamExt;
use http_body_util::Empty;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running backend, killed on drop.
struct Backend {
    child: Child,
    url: String,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Backend {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .arg("sample-backend")
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in the ready line {line:?}"))
        .trim_end_matches(':')
        .to_owned();
    Backend { child, url }
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Empty<Bytes>,
>;

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Events of one response with their arrival time (since the request), and when it ended.
async fn read_response(
    url: &str,
    last_event_id: Option<&str>,
    max_events: usize,
) -> (Vec<(Duration, Event)>, Option<Duration>, http::HeaderMap) {
    let mut req = http::Request::get(url);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let start = Instant::now();
    let resp = client()
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let mut events = EventStream::new(resp.into_body());
    let mut out = Vec::new();
    while out.len() < max_events {
        match tokio::time::timeout(Duration::from_secs(10), events.next()).await {
            Ok(Some(Ok(e))) => out.push((start.elapsed(), e)),
            Ok(None) => return (out, Some(start.elapsed()), headers),
            other => panic!("stream failed: {other:?}"),
        }
    }
    (out, None, headers)
}

fn id_of(e: &Event) -> u64 {
    e.last_event_id().parse().unwrap()
}

fn bytes_field(v: &serde_json::Value, name: &str) -> u64 {
    let s = v[name].as_str().unwrap_or_else(|| panic!("{name} in {v}"));
    s.strip_suffix(" bytes").unwrap().parse().unwrap()
}

fn mem_total() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test]
async fn events_arrive_at_the_interval_with_increasing_ids_and_real_memory_then_the_response_ends()
{
    let backend = start(&["--interval", "200", "--time", "1500"]);
    let (events, ended, headers) = read_response(&backend.url, None, 100).await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-store");
    let ended = ended.expect("the server ends the response");
    assert!(
        ended >= Duration::from_millis(1400) && ended < Duration::from_millis(3000),
        "ended after {ended:?}, --time is 1500 ms"
    );
    assert!(
        (5..=9).contains(&events.len()),
        "{} events in 1.5 s at 200 ms",
        events.len()
    );
    for pair in events.windows(2) {
        assert_eq!(id_of(&pair[1].1), id_of(&pair[0].1) + 1, "ids go up by one");
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap <= Duration::from_millis(600),
            "gap of {gap:?} between samples at a 200 ms interval"
        );
    }
    let span = events.last().unwrap().0 - events[0].0;
    let mean = span / (events.len() as u32 - 1);
    assert!(
        mean >= Duration::from_millis(150) && mean <= Duration::from_millis(300),
        "mean gap {mean:?} at a 200 ms interval"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let total = mem_total();
    for (_, e) in &events {
        assert_eq!(e.event_type(), "message");
        let v: serde_json::Value = serde_json::from_str(e.data()).unwrap();
        let (heap, non_heap) = (bytes_field(&v, "heap"), bytes_field(&v, "nonHeap"));
        assert_eq!(bytes_field(&v, "total"), total, "MemTotal of this machine");
        assert_eq!(heap + non_heap, total, "used + available = total");
        assert!(heap > 0 && non_heap > 0);
        assert!(bytes_field(&v, "rss") > 0, "the backend's own RSS");
        let ts = v["timeStamp"].as_u64().unwrap();
        assert!(
            now_ms.abs_diff(ts) < 10_000,
            "timeStamp {ts} is now ({now_ms})"
        );
    }
}

#[tokio::test]
async fn last_event_id_replays_what_was_missed_and_an_unknown_id_starts_live() {
    let backend = start(&["--interval", "100", "--time", "60000", "--history", "5"]);
    let (first, _, _) = read_response(&backend.url, None, 2).await;
    let last = id_of(&first[1].1);
    // Miss about four samples.
    tokio::time::sleep(Duration::from_millis(420)).await;
    let (resumed, _, _) = read_response(&backend.url, Some(&last.to_string()), 3).await;
    let ids: Vec<u64> = resumed.iter().map(|(_, e)| id_of(e)).collect();
    assert_eq!(
        ids,
        [last + 1, last + 2, last + 3],
        "replayed from the history"
    );
    let burst = resumed[2].0 - resumed[0].0;
    assert!(
        burst < Duration::from_millis(100),
        "missed events are replayed at once, not at the 100 ms interval ({burst:?} for 3)"
    );
    // An id older than the five kept: the client starts on live events.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (live, _, _) = read_response(&backend.url, Some(&last.to_string()), 2).await;
    assert!(
        id_of(&live[0].1) > last + 6,
        "id {} after an id older than the history",
        id_of(&live[0].1)
    );
    assert_eq!(id_of(&live[1].1), id_of(&live[0].1) + 1);
    assert!(
        live[1].0 - live[0].0 >= Duration::from_millis(30),
        "live events come at the interval, not as a replayed burst"
    );
}

#[tokio::test]
async fn a_backend_killed_and_started_again_never_reuses_an_id_it_sent() {
    let mut backend = start(&["--interval", "20", "--time", "60000"]);
    let (before, _, _) = read_response(&backend.url, None, 5).await;
    let last = id_of(&before[4].1);
    // kill -9, then a new process, as an operator restarting a crashed backend does.
    backend.child.kill().unwrap();
    backend.child.wait().unwrap();
    let backend = start(&["--interval", "20", "--time", "60000"]);
    let (after, _, _) = read_response(&backend.url, Some(&last.to_string()), 3).await;
    let ids: Vec<u64> = after.iter().map(|(_, e)| id_of(e)).collect();
    assert!(
        ids[0] > last,
        "the restarted backend's first id {} is above the last one before the kill ({last})",
        ids[0]
    );
    assert_eq!(
        [ids[1], ids[2]],
        [ids[0] + 1, ids[0] + 2],
        "then one by one"
    );
}

#[tokio::test]
async fn other_paths_are_404() {
    let backend = start(&[]);
    let url = backend.url.replace("/memory", "/other");
    let resp = client()
        .request(http::Request::get(url).body(Empty::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[test]
fn a_busy_port_is_an_error_naming_the_port_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["sample-backend", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let backend = start(&["--interval", "100"]);
    let h2: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let resp = h2
        .request(http::Request::get(&backend.url).body(Empty::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let mut events = EventStream::new(resp.into_body());
    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.data().contains("\"heap\":\""));
}

#[tokio::test]
async fn tail_resumes_across_the_servers_cuts_without_losing_an_event() {
    // Responses end every 400 ms; tail waits the default 3 s before reconnecting and gets
    // what it missed from the history, so the ids it shows have no gap.
    let backend = start(&["--interval", "100", "--time", "400"]);
    let url = backend.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(["tail", &url, "--json", "--count", "8"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let entries: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<u64> = entries
        .iter()
        .filter(|e| e["kind"] == "event")
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 8);
    for pair in ids.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "no gap across reconnects: {ids:?}");
    }
    let reconnects: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["kind"] == "connect" && e["reconnect"].as_u64() > Some(0))
        .collect();
    assert!(
        !reconnects.is_empty(),
        "the server's cut made tail reconnect"
    );
    assert!(reconnects[0]["last_event_id"].is_string());
}
