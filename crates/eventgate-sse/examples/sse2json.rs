//! sse2json: reads a `text/event-stream` on stdin and prints, in stream order, one JSON
//! object per line: `{"type":..,"data":..,"last_event_id":..}` for each dispatched event
//! and `{"retry":N}` for each valid retry field.
//!
//! - `SSE_CHUNK_SIZES=1,7,3` feeds the parser in chunks of those sizes, cycling.
//! - `--count` prints only `events=N data_bytes=M` at the end (N dispatched events of any
//!   type, M the total bytes of their data), counted with `Parser::count_events` (no
//!   event is built); stdin is read in 1 MiB blocks, each fed without a copy.
//!
//! A limit error is printed to stderr and the exit code is 1.

use bytes::Bytes;
use eventgate_sse::{Item, Parser};
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

fn json_string(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.write_all(&bytes[start..i])?;
        match esc {
            Some(e) => out.write_all(e)?,
            None => write!(out, "\\u{b:04x}")?,
        }
        start = i + 1;
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

struct Sink<W: Write> {
    out: W,
    count_only: bool,
    events: u64,
    data_bytes: u64,
}

impl<W: Write> Sink<W> {
    /// Drains the parser; returns false after a limit error.
    fn drain(&mut self, parser: &mut Parser) -> io::Result<bool> {
        if self.count_only {
            // The metering count: events counted without being built.
            let result = parser.count_events();
            self.events = parser.counted_events();
            self.data_bytes = parser.counted_data_bytes();
            if let Err(err) = result {
                self.out.flush()?;
                eprintln!("sse2json: {err}");
                return Ok(false);
            }
            return Ok(true);
        }
        for item in parser.by_ref() {
            match item {
                Ok(Item::Event(e)) => {
                    self.events += 1;
                    self.data_bytes += e.data().len() as u64;
                    if !self.count_only {
                        self.out.write_all(b"{\"type\":")?;
                        json_string(&mut self.out, e.event_type())?;
                        self.out.write_all(b",\"data\":")?;
                        json_string(&mut self.out, e.data())?;
                        self.out.write_all(b",\"last_event_id\":")?;
                        json_string(&mut self.out, e.last_event_id())?;
                        self.out.write_all(b"}\n")?;
                    }
                }
                Ok(Item::Retry(d)) => {
                    if !self.count_only {
                        writeln!(self.out, "{{\"retry\":{}}}", d.as_millis())?;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    self.out.flush()?;
                    eprintln!("sse2json: {err}");
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

fn chunk_sizes() -> Result<Vec<usize>, String> {
    match std::env::var("SSE_CHUNK_SIZES") {
        Err(_) => Ok(Vec::new()),
        Ok(v) if v.trim().is_empty() => Ok(Vec::new()),
        Ok(v) => v
            .split(',')
            .map(|s| match s.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("SSE_CHUNK_SIZES: {s:?} is not a positive integer")),
            })
            .collect(),
    }
}

fn run() -> io::Result<ExitCode> {
    let mut count_only = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--count" => count_only = true,
            "-h" | "--help" => {
                println!(
                    "usage: sse2json [--count] < stream\n  SSE_CHUNK_SIZES=1,7,3  feed the parser in these chunk sizes, cycling"
                );
                return Ok(ExitCode::SUCCESS);
            }
            other => {
                eprintln!("sse2json: unknown argument {other:?} (try --help)");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let sizes = match chunk_sizes() {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("sse2json: {msg}");
            return Ok(ExitCode::from(2));
        }
    };
    let stdout = io::stdout();
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 16, stdout.lock()),
        count_only,
        events: 0,
        data_bytes: 0,
    };
    let mut parser = Parser::new();
    let mut stdin = io::stdin().lock();
    let mut k = 0usize;
    let mut ok = true;
    'read: loop {
        // Each block is read into a buffer of its own and fed without a copy (chunks are
        // slices of it), so events can point into it.
        let mut buf = vec![0u8; 1 << 20];
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf.truncate(n);
        let buf = Bytes::from(buf);
        if sizes.is_empty() {
            parser.feed(buf);
            if !sink.drain(&mut parser)? {
                ok = false;
                break 'read;
            }
        } else {
            let mut pos = 0;
            while pos < n {
                let end = (pos + sizes[k % sizes.len()]).min(n);
                k += 1;
                parser.feed(buf.slice(pos..end));
                if !sink.drain(&mut parser)? {
                    ok = false;
                    break 'read;
                }
                pos = end;
            }
        }
    }
    if ok {
        parser.finish();
        ok = sink.drain(&mut parser)?;
    }
    if count_only {
        writeln!(
            sink.out,
            "events={} data_bytes={}",
            sink.events, sink.data_bytes
        )?;
    }
    sink.out.flush()?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sse2json: {e}");
            ExitCode::FAILURE
        }
    }
}
