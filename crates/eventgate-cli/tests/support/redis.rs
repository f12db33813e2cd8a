//! A redis-server of the test's own: on a free 127.0.0.1 port, no persistence, its working
//! directory a temporary one, killed when dropped. Without `redis-server` on PATH the test
//! prints a skip line, or panics under `CI=true`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server.
pub struct Redis {
    child: Child,
    /// The port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

impl Redis {
    /// Starts one and waits until it answers PING, or returns `None` after a skip line.
    pub fn start() -> Option<Redis> {
        let Some(bin) = binary() else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "redis-server not found on PATH (CI=true)"
            );
            eprintln!("skipping: redis-server not found on PATH");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = Redis {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..500 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return Some(redis);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not answer on port {port}");
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
