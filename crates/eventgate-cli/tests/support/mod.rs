//! Process helpers shared by the tests that run the `eventgate` binary.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output};

/// A free 127.0.0.1 port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `eventgate --json demo` on `data`, HTTP on 127.0.0.1:`http` and every other port free,
/// its stdout piped (the JSON ready line first): set stderr and spawn it.
pub fn demo_command(data: &Path, http: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_eventgate"));
    c.args(["--json", "demo", "--data"])
        .arg(data)
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--https", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin", &format!("127.0.0.1:{}", free_port())])
        .args(["--backend-port", &free_port().to_string()])
        .stdout(std::process::Stdio::piped());
    c
}

/// `eventgate serve --data DATA --config CONFIG`, HTTP on 127.0.0.1:`http` and the other
/// ports free, its stdout piped (the ready line first): spawn it.
pub fn serve_command(data: &Path, config: &Path, http: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_eventgate"));
    c.arg("serve")
        .arg("--data")
        .arg(data)
        .arg("--config")
        .arg(config)
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--https", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin", &format!("127.0.0.1:{}", free_port())])
        .stdout(std::process::Stdio::piped());
    c
}

/// `eventgate --data DATA ARGS`, run to completion.
pub fn eventgate(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

/// [`eventgate`] for a command that must succeed: its stdout.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let out = eventgate(data, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits for a line containing `wait_for` on the child's piped stdout, then keeps draining
/// it so the child never blocks on a full pipe; the child is killed when dropped.
pub fn started(mut child: Child, wait_for: &str) -> Killed {
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("exited before it was ready").unwrap();
        if line.contains(wait_for) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

pub mod postgres;
pub mod redis;
