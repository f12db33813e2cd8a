//! A PostgreSQL server of the test's own: `initdb` into a temporary directory, `postgres` on a
//! free 127.0.0.1 port with its socket in that directory, stopped (SIGQUIT, then SIGKILL)
//! and removed when dropped. The binaries come from `/usr/lib/postgresql/*/bin` (newest
//! first) or `PATH`. When they are missing the test prints a skip line, or panics under
//! `CI=true`. Run as root (a container), the server runs as the `postgres` user, as
//! PostgreSQL refuses to run as root.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct Postgres {
    child: Option<Child>,
    /// The port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    who: Option<(u32, u32)>,
    _dir: tempfile::TempDir,
}

fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file() && p.join("postgres").is_file())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(d) = dirs.pop() {
        return Some(d);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("postgres").is_file())
    })
}

/// The uid and gid to run the server as: ours, or the `postgres` user's when we are root.
fn identity() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?))
}

fn as_server(cmd: &mut Command, who: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = who {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

impl Postgres {
    /// Starts a server, or returns `None` (after printing why) when PostgreSQL is not
    /// installed and `CI` is not `true`.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL (initdb, postgres) is not installed and CI=true"
            );
            eprintln!("skipped: PostgreSQL (initdb, postgres) is not installed");
            return None;
        };
        let who = identity();
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = who {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let out = as_server(&mut Command::new(bin.join("initdb")), who)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::free_port();
        let mut pg = Postgres {
            child: None,
            port,
            bin,
            who,
            _dir: dir,
        };
        pg.run();
        Some(pg)
    }

    fn run(&mut self) {
        let dir = self._dir.path();
        let child = as_server(&mut Command::new(self.bin.join("postgres")), self.who)
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-k")
            .arg(dir)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-F"])
            .args(["-c", "max_connections=50"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30));
    }

    /// Stops the server (an immediate shutdown: every connection is cut).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGQUIT: immediate shutdown, the server's own processes included.
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same data and port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn wait_ready(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            if postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_ok() {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "postgres did not start in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db` and returns its URL.
    pub fn database(&self, db: &str) -> String {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        self.url(db)
    }

    /// The data directory's parent (the socket is there).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
