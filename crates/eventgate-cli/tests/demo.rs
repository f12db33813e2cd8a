//! `eventgate demo` as a user runs it: the ready line's curl command streams memory events
//! through the gateway; no token gets 900902, a bad token 900901; busy ports are named.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{Killed, free_port};

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(args)
        .output()
        .expect("curl is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_demo_serves_memory_events_to_the_printed_curl_command() {
    let data = tempfile::tempdir().unwrap();
    let (http, https, backend, admin) = (free_port(), free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["demo", "--data"])
        .arg(data.path())
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--https", &format!("127.0.0.1:{https}")])
        .args(["--admin", &format!("127.0.0.1:{admin}")])
        .args(["--backend-port", &backend.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    let curl_line = loop {
        let line = lines.next().expect("demo exited").unwrap();
        if line.starts_with("curl -N http://localhost:") {
            break line;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no ready line");
    };
    let expected = format!(
        "curl -N http://localhost:{http}/observer/1.0.0/memory -H \"Authorization: Bearer "
    );
    assert!(curl_line.starts_with(&expected), "{curl_line}");
    let token = curl_line
        .strip_prefix(&expected)
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let url = format!("http://localhost:{http}/observer/1.0.0/memory");
    let auth = format!("Authorization: Bearer {token}");
    let body = curl(&["-sN", "--max-time", "4", &url, "-H", &auth]);
    let events: Vec<&str> = body.lines().filter(|l| l.starts_with("data:")).collect();
    assert!(events.len() >= 2, "memory events within 4 s: {body:?}");
    let sample: serde_json::Value =
        serde_json::from_str(events[0].trim_start_matches("data:").trim()).unwrap();
    assert!(sample["heap"].as_str().unwrap().ends_with(" bytes"));
    assert!(sample["timeStamp"].is_u64());
    assert!(body.contains("id: "), "events carry ids for resumption");

    let missing = curl(&["-s", &url]);
    assert!(missing.contains(r#""code":"900902""#), "{missing}");
    let bad = curl(&["-s", &url, "-H", "Authorization: Bearer not.a.token"]);
    assert!(bad.contains(r#""code":"900901""#), "{bad}");

    // The demo's admin API answers the CLI found through the same --data: the Observer
    // API is listed, and an application made there streams with its own token.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(args)
            .arg("--data")
            .arg(data.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let listed = cli(&["api", "list", "--json"]);
    assert!(listed.contains("Observer"), "{listed}");
    cli(&["app", "create", "Watcher"]);
    cli(&[
        "app",
        "subscribe",
        "Watcher",
        "--api",
        "Observer:1.0.0",
        "--plan",
        "AsyncGold",
    ]);
    let watcher = cli(&["app", "token", "Watcher"]);
    let watcher_auth = format!("Authorization: Bearer {}", watcher.trim());
    let body = curl(&["-sN", "--max-time", "2", &url, "-H", &watcher_auth]);
    assert!(
        body.contains("data:"),
        "the new application streams: {body:?}"
    );

    // The same port again: a clear error naming it and its flag.
    let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["demo", "--data"])
        .arg(data.path())
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--https", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin", &format!("127.0.0.1:{}", free_port())])
        .args(["--backend-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&http.to_string()) && err.contains("--http"),
        "{err}"
    );
    drop(child);
}

#[test]
fn sigterm_ends_the_demos_streams_with_a_retry_hint_exits_cleanly_and_logs_each_stream() {
    let data = tempfile::tempdir().unwrap();
    let http = free_port();
    let mut child = support::demo_command(data.path(), http)
        .env_remove("EVENTGATE_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let token = ready["token"].as_str().unwrap().to_owned();
    let stream = Command::new("curl")
        .args(["-sN", "--max-time", "20", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://localhost:{http}/observer/1.0.0/memory"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // What `kill`, systemd and `docker stop` send.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    let out = stream.wait_with_output().unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        body.contains("data: {\"heap\""),
        "events before the stop: {body}"
    );
    assert!(
        body.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("retry:")),
        "the stream ends with the final retry hint: {body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the stream ended at the stop, not at curl's --max-time"
    );
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    let record = log
        .lines()
        .find(|l| l.contains("eventgate::stream: stream closed"))
        .unwrap_or_else(|| panic!("one record per stream on stderr by default: {log}"));
    for field in [
        "api=\"Observer:1.0.0\"",
        "topic=\"/memory\"",
        "application=\"DemoApp\"",
        "events=",
    ] {
        assert!(record.contains(field), "{field} in {record}");
    }
}

#[test]
fn a_log_filter_that_does_not_parse_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["demo", "--http", "127.0.0.1:1"])
        .env("EVENTGATE_LOG", "eventgate=loud")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EVENTGATE_LOG=\"eventgate=loud\""), "{err}");
}
