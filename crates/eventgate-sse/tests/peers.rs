//! Behaviours where popular Rust SSE parsers are known to go wrong, each pinned here.

use eventgate_sse::{Item, Parser};

fn data_and_ids(chunks: &[&[u8]]) -> Vec<(String, String)> {
    let mut parser = Parser::new();
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed_slice(chunk);
        for item in parser.by_ref() {
            if let Item::Event(e) = item.expect("within limits") {
                out.push((e.data().to_string(), e.last_event_id().to_string()));
            }
        }
    }
    parser.finish();
    for item in parser.by_ref() {
        if let Item::Event(e) = item.expect("within limits") {
            out.push((e.data().to_string(), e.last_event_id().to_string()));
        }
    }
    out
}

/// async-sse dispatches early when a CRLF is split across chunks (it sees CR, then a
/// lone LF as a blank line).
#[test]
fn crlf_split_across_chunks_does_not_dispatch_early() {
    let got = data_and_ids(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(got, vec![("a\nb".to_string(), String::new())]);
}

/// eventsource-stream drops the last event of a stream that ends in a bare CR.
#[test]
fn stream_ending_in_bare_cr_dispatches_the_last_event() {
    let got = data_and_ids(&[b"data: one\r\rdata: two\r\r"]);
    assert_eq!(
        got,
        vec![("one".into(), String::new()), ("two".into(), String::new())]
    );
}

/// sse-stream does not carry the last event ID to later events without an `id:`.
#[test]
fn last_event_id_is_carried_to_later_events() {
    let got = data_and_ids(&[b"id: 42\ndata: a\n\ndata: b\n\n"]);
    assert_eq!(
        got,
        vec![("a".into(), "42".into()), ("b".into(), "42".into())]
    );
}

/// Long lines (past the 16 KiB copy block) split across many chunks take the hand-over
/// path; consecutive ones must not share or lose bytes.
#[test]
fn long_lines_split_across_chunks_arrive_whole() {
    let a = "a".repeat(100_000);
    let b = "b".repeat(70_000);
    let input = format!("id: 1\ndata: {a}\n\ndata: {b}\ndata: {a}\n\n");
    let chunks: Vec<&[u8]> = input.as_bytes().chunks(1460).collect();
    let got = data_and_ids(&chunks);
    assert_eq!(
        got,
        vec![
            (a.clone(), "1".to_string()),
            (format!("{b}\n{a}"), "1".to_string())
        ]
    );
}

/// A frame that begins with BOM bytes mid-stream must not be passed through raw: sent first
/// on a new stream, its BOM would be stripped and change the event.
#[test]
fn raw_frame_starting_with_bom_bytes_is_reencoded_instead() {
    let mut parser = Parser::builder().raw_frames(true).build();
    parser.feed(&b"\n\xEF\xBB\xBFdata:\ndata: x\n\n"[..]);
    let Some(Ok(Item::Event(event))) = parser.next() else {
        panic!("one event")
    };
    assert_eq!(event.data(), "x");
    assert!(event.raw().is_none());
    assert_eq!(event.to_frame().as_bytes().as_ref(), b"data: x\n\n");
}

/// A long line without id or type becomes the event's buffer as it is (no second copy);
/// the next event must still start clean.
#[test]
fn long_id_less_lines_split_across_chunks_arrive_whole() {
    let a = "x".repeat(65_536);
    let b = "y".repeat(20_000);
    let input = format!("data: {a}\n\ndata: {b}\n\ndata: short\n\n");
    let chunks: Vec<&[u8]> = input.as_bytes().chunks(1460).collect();
    let got = data_and_ids(&chunks);
    assert_eq!(
        got,
        vec![
            (a, String::new()),
            (b, String::new()),
            ("short".to_string(), String::new())
        ]
    );
}
