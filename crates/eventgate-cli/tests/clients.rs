//! The SSE clients people use, against `eventgate demo` run as a child process: npm
//! `eventsource` (Authorization header), Python `httpx-sse`, `curl -N`, and the developer
//! portal in headless Chromium (playwright-core). Each client receives events, is cut
//! mid-stream by an admin action (another revision deployed in place of the serving one: the
//! gateway ends every open stream), resumes with `Last-Event-ID`, and the ids it saw are
//! checked: each exactly once, in order, none missed. Missing and bad credentials get WSO2's
//! 900902 and 900901.
//!
//! The clients live in `tests/clients/` (package.json + package-lock.json, requirements.txt;
//! `.ci/run` installs them). Without node, the npm packages, python3's httpx-sse or chromium a
//! test prints a skip line and returns; under `CI=true` it fails.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::{Killed, free_port};

/// Events each client collects, two before the cut and the rest after it.
const EVENTS: usize = 5;
/// Events received before the test cuts the stream.
const BEFORE_CUT: usize = 2;
/// Bound on one client's run (the demo's backend sends one event a second).
const CLIENT_DEADLINE: Duration = Duration::from_secs(40);

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `what` is there; under `CI=true` a missing one fails the test, otherwise the
/// test prints a skip line.
fn need(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(!ci(), "{what} is missing (CI=true: .ci/run installs it)");
        eprintln!("skip: {what} is missing");
    }
    ok
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn runs(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn node_package(name: &str) -> bool {
    need(runs("node", &["--version"]), "node")
        && need(
            clients_dir().join("node_modules").join(name).is_dir(),
            &format!("the npm package {name} (npm ci in tests/clients)"),
        )
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    need(path.exists(), "chromium").then_some(path)
}

/// The lines a child prints, read on a thread so the test can wait with a deadline.
struct Lines(Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Lines {
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    /// The next line, `None` when the child closed its output; panics past `deadline`.
    fn next(&self, deadline: Instant, what: &str) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.0.recv_timeout(left) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("{what}: nothing within the deadline"),
        }
    }
}

/// `eventgate demo` on free ports, killed when dropped.
struct Demo {
    _child: Killed,
    data: tempfile::TempDir,
    http: u16,
    token: String,
    /// The revision deployed now, and whether revision 2 was made.
    revision: Mutex<(u32, bool)>,
}

impl Demo {
    fn start() -> Demo {
        let data = tempfile::tempdir().unwrap();
        let http = free_port();
        let mut child = support::demo_command(data.path(), http)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Lines::of(&mut child);
        let child = Killed(child);
        let ready = lines
            .next(Instant::now() + Duration::from_secs(30), "demo ready line")
            .expect("the demo exited before its ready line");
        let ready: Value = serde_json::from_str(&ready).unwrap();
        assert_eq!(
            ready["devportal"],
            format!("http://localhost:{http}/devportal/"),
            "the demo serves the portal by default"
        );
        Demo {
            _child: child,
            data,
            http,
            token: ready["token"].as_str().unwrap().to_owned(),
            revision: Mutex::new((1, false)),
        }
    }

    fn base(&self) -> String {
        format!("http://localhost:{}", self.http)
    }

    fn url(&self) -> String {
        format!("{}/observer/1.0.0/memory", self.base())
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn cli(&self, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(args)
            .arg("--data")
            .arg(self.data.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The admin action that cuts every open stream: another revision deployed in place of
    /// the serving one (the gateway ends the streams with a final 101503 event; new requests
    /// go to the new revision at once).
    fn cut(&self) {
        let mut state = self.revision.lock().unwrap();
        let (rev, made) = &mut *state;
        let next = if *rev == 1 { 2 } else { 1 };
        if !*made {
            // Made once; the cuts alternate between the two revisions.
            self.cli(&["api", "revision", "create", "Observer:1.0.0"]);
            *made = true;
        }
        self.cli(&[
            "api",
            "deploy",
            "Observer:1.0.0",
            "--revision",
            &next.to_string(),
            "--env",
            "Default",
            "--vhost",
            "localhost",
        ]);
        *rev = next;
    }
}

/// The ids as numbers, checked: each exactly once, in order, none missed (the demo's
/// backend numbers its events 1, 2, 3...).
fn assert_every_id_once_in_order(client: &str, ids: &[String]) {
    let n: Vec<u64> = ids
        .iter()
        .map(|i| {
            i.parse()
                .unwrap_or_else(|_| panic!("{client}: id {i:?} in {ids:?}"))
        })
        .collect();
    assert!(!n.is_empty(), "{client}: no event");
    for w in n.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "{client}: ids must follow each other once each: {ids:?}"
        );
    }
}

/// What a scripted client (npm eventsource, httpx-sse) printed for one run.
#[derive(Default, Debug)]
struct Run {
    ids: Vec<String>,
    /// The `Last-Event-ID` of each request, in order, with the number of ids seen before.
    requests: Vec<(Option<String>, usize)>,
    refused: Option<(u64, String)>,
    lines: Vec<String>,
}

/// Runs a client script that prints the JSON lines described in tests/clients/, cutting the
/// stream once after [`BEFORE_CUT`] events when `demo` is given.
fn run_client(program: &str, script: &str, args: &[&str], cut: Option<&Demo>) -> Run {
    let mut child = Command::new(program)
        .arg(clients_dir().join(script))
        .args(args)
        .current_dir(clients_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let _child = Killed(child);
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let mut run = Run::default();
    let mut cut_done = false;
    while let Some(line) = lines.next(deadline, script) {
        run.lines.push(line.clone());
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{script} printed {line:?}: {e}"));
        if let Some(id) = v.get("id") {
            run.ids.push(id.as_str().unwrap_or_default().to_owned());
        } else if let Some(r) = v.get("request") {
            let leid = r["last_event_id"].as_str().map(str::to_owned);
            run.requests.push((leid, run.ids.len()));
        } else if let Some(r) = v.get("refused") {
            run.refused = Some((
                r["status"].as_u64().unwrap_or(0),
                r["body"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        if let Some(demo) = cut
            && !cut_done
            && run.ids.len() >= BEFORE_CUT
        {
            cut_done = true;
            demo.cut();
        }
    }
    run
}

/// The stream part of a client's run: every event once, in order, a reconnect after the cut
/// that sent the last id received before it.
fn assert_resumed(client: &str, run: &Run) {
    assert_eq!(run.ids.len(), EVENTS, "{client}: {:#?}", run.lines);
    assert_every_id_once_in_order(client, &run.ids);
    assert_eq!(
        run.requests.first(),
        Some(&(None, 0)),
        "{client}: the first request has no Last-Event-ID: {:#?}",
        run.lines
    );
    let resumed: Vec<_> = run.requests.iter().skip(1).collect();
    assert!(
        !resumed.is_empty(),
        "{client}: the cut made it reconnect: {:#?}",
        run.lines
    );
    for (leid, seen) in resumed {
        assert!(*seen > 0, "{client}: {:#?}", run.lines);
        assert_eq!(
            leid.as_deref(),
            Some(run.ids[seen - 1].as_str()),
            "{client}: a reconnect sends the last id received: {:#?}",
            run.lines
        );
    }
}

/// A refusal carries WSO2's code in its JSON body, with 401.
fn assert_refused(client: &str, run: &Run, code: &str) {
    let (status, body) = run
        .refused
        .as_ref()
        .unwrap_or_else(|| panic!("{client}: not refused: {:#?}", run.lines));
    assert_eq!(*status, 401, "{client}: {body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{client}: {body}: {e}"));
    assert_eq!(v["code"], code, "{client}: {body}");
    assert!(run.ids.is_empty(), "{client}: {:#?}", run.lines);
}

#[test]
fn npm_eventsource_with_an_authorization_header_resumes_after_a_cut_without_loss_or_repeat() {
    if !node_package("eventsource") {
        return;
    }
    let demo = Demo::start();
    let url = demo.url();
    let count = EVENTS.to_string();
    let run = run_client(
        "node",
        "eventsource_client.mjs",
        &[&url, &demo.bearer(), &count],
        Some(&demo),
    );
    assert_resumed("npm eventsource", &run);
    let missing = run_client("node", "eventsource_client.mjs", &[&url, "-", "1"], None);
    assert_refused("npm eventsource, no token", &missing, "900902");
    let bad = run_client(
        "node",
        "eventsource_client.mjs",
        &[&url, "Bearer not.a.token", "1"],
        None,
    );
    assert_refused("npm eventsource, bad token", &bad, "900901");
}

#[test]
fn python_httpx_sse_resumes_after_a_cut_without_loss_or_repeat() {
    if !need(
        runs("python3", &["-c", "import httpx_sse"]),
        "python3 with httpx-sse",
    ) {
        return;
    }
    let demo = Demo::start();
    let url = demo.url();
    let count = EVENTS.to_string();
    let run = run_client(
        "python3",
        "httpx_sse_client.py",
        &[&url, &demo.bearer(), &count],
        Some(&demo),
    );
    assert_resumed("httpx-sse", &run);
    let missing = run_client("python3", "httpx_sse_client.py", &[&url, "-", "1"], None);
    assert_refused("httpx-sse, no token", &missing, "900902");
    let bad = run_client(
        "python3",
        "httpx_sse_client.py",
        &[&url, "Bearer not.a.token", "1"],
        None,
    );
    assert_refused("httpx-sse, bad token", &bad, "900901");
}

/// One `curl -sN` run: the `id:` values it printed and whether the gateway's final
/// 101503 event came; cuts the stream after [`BEFORE_CUT`] ids when `cut` is given, stops after
/// `want` ids.
fn curl_stream(demo: &Demo, extra: &[&str], want: usize, cut: bool) -> (Vec<String>, bool) {
    let mut child = Command::new("curl")
        .args(["-sN", "--max-time", "30", &demo.url(), "-H"])
        .arg(format!("Authorization: {}", demo.bearer()))
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::of(&mut child);
    let _child = Killed(child);
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let (mut ids, mut redeployed) = (Vec::new(), false);
    while let Some(line) = lines.next(deadline, "curl") {
        if let Some(id) = line.strip_prefix("id:") {
            ids.push(id.trim().to_owned());
            if cut && ids.len() == BEFORE_CUT {
                demo.cut();
            }
            if ids.len() >= want {
                break;
            }
        }
        redeployed |= line.contains("101503");
    }
    (ids, redeployed)
}

fn curl_status_and_body(url: &str, header: Option<&str>) -> (String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "-w", "\n%{http_code}", url]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
    let (body, status) = out.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

#[test]
fn curl_is_cut_by_a_redeploy_and_resumes_with_last_event_id() {
    if !need(runs("curl", &["--version"]), "curl") {
        return;
    }
    let demo = Demo::start();
    // The cut ends curl's response: it exits after the gateway's final event.
    let (first, redeployed) = curl_stream(&demo, &[], usize::MAX, true);
    assert!(
        first.len() >= BEFORE_CUT,
        "curl received events before the cut: {first:?}"
    );
    assert!(redeployed, "the stream ended with the 101503 event");
    let last = first.last().unwrap().clone();
    let (rest, _) = curl_stream(&demo, &["-H", &format!("Last-Event-ID: {last}")], 3, false);
    let all: Vec<String> = first.iter().chain(&rest).cloned().collect();
    assert_every_id_once_in_order("curl -N", &all);
    assert_eq!(rest.len(), 3, "{all:?}");

    let (status, body) = curl_status_and_body(&demo.url(), None);
    assert_eq!(status, "401", "{body}");
    assert!(body.contains(r#""code":"900902""#), "{body}");
    let (status, body) =
        curl_status_and_body(&demo.url(), Some("Authorization: Bearer not.a.token"));
    assert_eq!(status, "401", "{body}");
    assert!(body.contains(r#""code":"900901""#), "{body}");
}

#[test]
fn the_devportal_in_chromium_lists_the_api_streams_resumes_and_serves_another_origin() {
    if !node_package("playwright-core") {
        return;
    }
    let Some(chromium) = chromium() else { return };
    let demo = Demo::start();
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ci-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("devportal.png");
    let _ = std::fs::remove_file(&shot);
    let mut child = Command::new("node")
        .arg(clients_dir().join("browser.mjs"))
        .arg(demo.base())
        .arg(&demo.token)
        .arg(&shot)
        .env("CHROMIUM", chromium)
        .current_dir(clients_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = Lines::of(&mut child);
    let _child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(70);
    let mut done = None;
    let mut seen = Vec::new();
    while let Some(line) = lines.next(deadline, "browser.mjs") {
        seen.push(line.clone());
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("browser.mjs printed {line:?}: {e}"));
        match v["step"].as_str() {
            Some("cut") => {
                demo.cut();
                writeln!(stdin, "cut").unwrap();
                stdin.flush().unwrap();
            }
            Some("done") => {
                done = Some(v);
                break;
            }
            _ => {}
        }
    }
    let v = done.unwrap_or_else(|| panic!("browser.mjs did not finish: {seen:#?}"));
    let listed = v["listed"].to_string();
    assert!(listed.contains("Observer"), "{v:#}");
    let ids: Vec<String> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(ids.len() >= 4, "{v:#}");
    assert_every_id_once_in_order("the portal's console", &ids);
    assert_eq!(v["duplicates"], 0, "{v:#}");
    assert!(
        v["ended"].as_u64().unwrap() >= 1,
        "the gateway ended the stream: {v:#}"
    );
    let leid = v["reconnects"][0]["last_event_id"]
        .as_str()
        .unwrap_or_default();
    let at = ids.iter().position(|i| i == leid);
    assert!(
        at.is_some_and(|i| i + 1 < ids.len()),
        "the reconnect sent the last id received, and events followed: {v:#}"
    );
    assert!(
        v["reconnects"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Last-Event-ID: {leid}")),
        "the timeline shows the Last-Event-ID sent: {v:#}"
    );
    assert!(v["streams_open"].as_u64().unwrap() >= 1, "{v:#}");
    assert_eq!(
        v["unlabeled"],
        serde_json::json!([]),
        "every control has a label"
    );
    assert!(
        v["overflow"].as_i64().unwrap() <= 0,
        "a 360 px window needs no sideways scroll: {v:#}"
    );
    let cross: Vec<String> = v["cross_origin"]["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(cross.len() >= 2, "{v:#}");
    assert_every_id_once_in_order("EventSource on another origin", &cross);
    let es_ids: Vec<String> = v["es_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        es_ids.len() >= 2,
        "the console's EventSource mode streams: {v:#}"
    );
    assert_every_id_once_in_order("the console's EventSource mode", &es_ids);
    let preview = v["es_preview"].as_str().unwrap();
    assert!(
        preview.contains("?access_token=...") && !preview.contains(&demo.token),
        "the query credential, masked in the request shown: {preview}"
    );
    let p = &v["parsed"];
    assert_eq!(
        p["out"],
        serde_json::json!([
            ["comment", "hi"],
            ["retry", 250],
            ["id", "1"],
            ["event", "message", "a\nb", "1"],
            ["event", "delta", "{\"x\":1}", null],
            ["id", ""],
            ["event", "message", "c", ""]
        ]),
        "the page's stream parser, over chunks split anywhere: {p:#}"
    );
    assert_eq!(p["merged"], "hé", "{p:#}");
    assert_eq!(p["kept"], 500, "the timeline keeps 500 entries: {p:#}");
    assert_eq!(p["dropped"], 100, "{p:#}");
    assert_eq!(p["first"], "c100", "the oldest are dropped: {p:#}");
    assert_eq!(
        v["asyncapi"],
        serde_json::json!({"2.0.0": "2.0.0", "3.0.0": "3.0.0"}),
        "both AsyncAPI exports open on the page: {v:#}"
    );
    let refusal = v["refusal"].as_str().unwrap();
    assert!(
        refusal.contains("401") && refusal.contains("900901"),
        "the console shows WSO2's refusal of a bad token: {refusal}"
    );
    assert_eq!(v["console_errors"], serde_json::json!([]), "{v:#}");
    assert!(
        shot.is_file(),
        "the screenshot is kept in {}",
        shot.display()
    );
}

/// A child's first stdout line as JSON (the `--json` ready line).
fn ready_line(child: &mut Child, what: &str) -> Value {
    let lines = Lines::of(child);
    let line = lines
        .next(Instant::now() + Duration::from_secs(30), what)
        .unwrap_or_else(|| panic!("{what} exited before its ready line"));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {line:?}: {e}"))
}

#[test]
fn the_portal_is_off_in_demo_with_no_devportal_and_on_in_serve_with_devportal() {
    if !need(runs("curl", &["--version"]), "curl") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let http = free_port();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["--json", "demo", "--no-devportal", "--data"])
        .arg(data.path())
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--https", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin", &format!("127.0.0.1:{}", free_port())])
        .args(["--backend-port", &free_port().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = ready_line(&mut demo, "demo --no-devportal");
    let demo = Killed(demo);
    assert_eq!(ready["devportal"], Value::Null, "{ready}");
    let (status, _) = curl_status_and_body(&format!("http://localhost:{http}/devportal/"), None);
    assert_eq!(status, "404", "the portal's path is the gateway's again");
    drop(demo);

    let data = tempfile::tempdir().unwrap();
    let http = free_port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["--json", "serve", "--devportal", "--data"])
        .arg(data.path())
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--https", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = ready_line(&mut serve, "serve --devportal");
    let _serve = Killed(serve);
    assert_eq!(
        ready["devportal"],
        format!("http://127.0.0.1:{http}/devportal/"),
        "{ready}"
    );
    let (status, page) = curl_status_and_body(&format!("http://127.0.0.1:{http}/devportal/"), None);
    assert_eq!(status, "200");
    assert!(page.contains("eventgate developer portal"), "{page}");
    let (status, apis) =
        curl_status_and_body(&format!("http://127.0.0.1:{http}/devportal/api/apis"), None);
    assert_eq!(status, "200");
    let apis: Value = serde_json::from_str(&apis).unwrap();
    assert_eq!(
        apis["apis"],
        serde_json::json!([]),
        "nothing is published yet"
    );
}
