//! The seed tutorial typed into the CLI against a running `eventgate serve`: create the API,
//! add its topic, set its plan, publish, make a revision, deploy, create an application,
//! subscribe, get a token, and stream memory events through the gateway with curl. A change
//! made while a stream is open reaches new requests and leaves the stream alone.

use std::process::{Command, Stdio};

mod support;
use support::{free_port, ok, started};

#[test]
fn the_tutorial_through_the_cli_streams_events_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory that does not exist yet, as `./eventgate-data` on a first start.
    let data = &dir.path().join("eventgate-data");
    let (http, https, admin, backend) = (free_port(), free_port(), free_port(), free_port());
    let _backend = started(
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args([
                "sample-backend",
                "--time",
                "5000",
                "--interval",
                "200",
                "--port",
            ])
            .arg(backend.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        "sample backend",
    );
    let _serve = started(
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--https", &format!("127.0.0.1:{https}")])
            .args(["--admin", &format!("127.0.0.1:{admin}")])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        "eventgate gateway on",
    );
    let endpoint = format!("http://localhost:{backend}");
    ok(
        data,
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
    // The tutorial's step 2: the new API's default topic `/*` is there; add `/memory`, then
    // delete `/*` (WSO2's "optionally delete the existing topic").
    let topics = ok(data, &["api", "topics", "list", "Observer:1.0.0"]);
    assert!(topics.starts_with("/*"), "{topics}");
    ok(data, &["api", "topics", "add", "Observer:1.0.0", "/memory"]);
    let topics = ok(data, &["api", "topics", "list", "Observer:1.0.0"]);
    assert_eq!(topics.lines().count(), 2, "both topics: {topics}");
    ok(data, &["api", "topics", "remove", "Observer:1.0.0", "/*"]);
    let topics = ok(data, &["api", "topics", "list", "Observer:1.0.0"]);
    assert!(
        topics.starts_with("/memory") && topics.lines().count() == 1,
        "{topics}"
    );
    ok(
        data,
        &["api", "plans", "set", "Observer:1.0.0", "AsyncGold"],
    );
    ok(data, &["api", "lifecycle", "Observer:1.0.0", "publish"]);
    ok(data, &["api", "revision", "create", "Observer:1.0.0"]);
    ok(
        data,
        &[
            // As the issue spells it: both default environments from one --vhost.
            "api",
            "deploy",
            "Observer:1.0.0",
            "--revision",
            "1",
            "--env",
            "production,sandbox",
            "--vhost",
            "localhost",
        ],
    );
    ok(data, &["app", "create", "DemoApp"]);
    ok(
        data,
        &[
            "app",
            "subscribe",
            "DemoApp",
            "--api",
            "Observer:1.0.0",
            "--plan",
            "AsyncGold",
        ],
    );
    let token = ok(data, &["app", "token", "DemoApp"]).trim().to_owned();

    // A sandbox key reaches the sandbox environment's vhost.
    let sandbox = ok(data, &["app", "token", "DemoApp", "--type", "sandbox"])
        .trim()
        .to_owned();
    let sb = Command::new("curl")
        .args(["-sN", "--max-time", "2", "-H"])
        .arg(format!("Authorization: Bearer {sandbox}"))
        .arg(format!(
            "http://sandbox.localhost:{http}/observer/1.0.0/memory"
        ))
        .args(["--resolve", &format!("sandbox.localhost:{http}:127.0.0.1")])
        .output()
        .unwrap();
    let sb = String::from_utf8_lossy(&sb.stdout);
    assert!(
        sb.contains("data: {\"heap\""),
        "sandbox stream: {sb}; {}",
        ok(data, &["--json", "api", "show", "Observer:1.0.0"])
    );

    let url = format!("http://localhost:{http}/observer/1.0.0/memory");
    let auth = format!("Authorization: Bearer {token}");
    // A stream held open across the next change.
    let open = Command::new("curl")
        .args(["-sN", "--max-time", "6", &url, "-H", &auth])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl is installed");
    std::thread::sleep(std::time::Duration::from_millis(800));
    // A second API, published and deployed while the first one streams.
    ok(
        data,
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
    ok(data, &["api", "lifecycle", "Other:1.0.0", "publish"]);
    ok(data, &["api", "revision", "create", "Other:1.0.0"]);
    ok(
        data,
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
    let other = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
        ])
        .arg(format!("http://localhost:{http}/other/1.0.0/memory"))
        .output()
        .unwrap();
    // Reaches new requests: the new API answers (401 without a credential), not 404.
    assert_eq!(String::from_utf8_lossy(&other.stdout), "401");
    let out = open.wait_with_output().unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    let ids: Vec<u64> = body
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    // Left alone: the open stream kept receiving across the change, without a gap.
    assert!(ids.len() >= 10, "{body}");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert!(!body.contains("eventgate-error"), "{body}");
}

/// `curl` with `args`: the `-w` output alone when the transfer worked, `None` when it failed.
fn curl_write_out(args: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "5"])
        .args(args)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn serve_binds_the_files_listeners_with_their_certificate_and_http2_setting_instead_of_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), key.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.signing_key.serialize_pem()).unwrap();
    let (plain, tls, flag_http) = (free_port(), free_port(), free_port());
    let config = dir.path().join("eventgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[gateway.listeners]]
address = "127.0.0.1:{plain}"
http2 = false

[[gateway.listeners]]
address = "127.0.0.1:{tls}"
tls = {{ cert = "cert.pem", key = "key.pem" }}
max_connections = 100
"#
        ),
    )
    .unwrap();
    let mut child = support::serve_command(&dir.path().join("data"), &config, flag_http)
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    let _serve = support::Killed(child);
    assert!(
        ready.starts_with(&format!(
            "eventgate gateway on http://127.0.0.1:{plain} and https://127.0.0.1:{tls} (certificate {}",
            dir.path().join("cert.pem").display()
        )),
        "{ready}"
    );

    let health = format!("http://127.0.0.1:{plain}/health");
    let version = curl_write_out(&["-w", "%{http_code} %{http_version}", &health]);
    assert_eq!(version.as_deref(), Some("200 1.1"));
    let h2c = curl_write_out(&["--http2-prior-knowledge", "-w", "%{http_code}", &health]);
    assert!(
        h2c.as_deref().is_none_or(|c| c != "200"),
        "http2 = false: no h2c ({h2c:?})"
    );
    let cacert = dir.path().join("cert.pem");
    let version = curl_write_out(&[
        "--cacert",
        cacert.to_str().unwrap(),
        "-w",
        "%{http_code} %{http_version}",
        &format!("https://localhost:{tls}/health"),
    ]);
    assert_eq!(
        version.as_deref(),
        Some("200 2"),
        "the file's certificate, HTTP/2 by ALPN"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", flag_http)).is_ok(),
        "--http is not bound when the file names listeners"
    );
}
