//! Process helpers shared by the tests that run the `eventgate` binary.
#![allow(dead_code, unreachable_pub)]

use std::process::Child;

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

pub mod postgres;
pub mod redis;
