//! The checks behind the fuzz targets, shared with the plain test that replays the fuzz
//! corpora (`tests/fuzz_corpus.rs`). Each panics on a finding.

use super::fast::{parse_chunked, parse_chunked_ref};
use super::naive::{self, Out};
use bytes::BytesMut;
use eventgate_sse::classify::Classifier;
use eventgate_sse::{EncodeError, EventBuilder, Item, LimitPolicy, Parser};

/// Target `sse_parse_chunks`: the first byte picks how many of the next bytes are chunk
/// sizes (1..=4); the rest is the stream. The fast parser must agree with the naive one
/// on every line-ending classifier the CPU has (whose masks, line-end search and fused
/// search-and-copy must equal the portable path's), `next_ref` must give the same items,
/// its metering count must agree with the events it yields, and a parser with tiny limits
/// must stay within them without panicking.
pub fn parse_chunks(data: &[u8]) {
    let (sizes, input) = match data.split_first() {
        Some((&n, rest)) => {
            let n = usize::from(n % 4) + 1;
            let n = n.min(rest.len());
            let mut sizes: Vec<usize> =
                rest[..n].iter().map(|&b| usize::from(b % 64) + 1).collect();
            if sizes.is_empty() {
                sizes.push(1);
            }
            (sizes, &rest[n..])
        }
        None => (vec![1], data),
    };
    let fast = parse_chunked(&Parser::builder(), input, &sizes);
    assert_eq!(fast, naive::parse(input), "fast and naive parsers disagree");
    // Events borrowed (`next_ref`), in these chunks and whole: the same items.
    assert_eq!(
        parse_chunked_ref(&Parser::builder(), input, &sizes),
        fast,
        "next_ref disagrees with next"
    );
    assert_eq!(
        parse_chunked_ref(&Parser::builder(), input, &[]),
        fast,
        "next_ref on the whole input disagrees with next"
    );

    // Every line-ending classifier this CPU has: the same masks as the portable one on
    // the input at every start offset up to one vector, and the same parse.
    for c in Classifier::available() {
        for start in 0..input.len().min(64) {
            let bytes = &input[start..];
            let mut masks = vec![0u64; bytes.len().div_ceil(64)];
            let mut portable = masks.clone();
            c.classify(bytes, &mut masks);
            Classifier::Portable.classify(bytes, &mut portable);
            assert_eq!(
                masks,
                portable,
                "{} masks differ from portable at {start}",
                c.name()
            );
            assert_eq!(
                c.find_line_end(bytes),
                Classifier::Portable.find_line_end(bytes),
                "{} finds another line end than portable at {start}",
                c.name()
            );
            // The fused search and copy: the same answer, and the bytes before the line
            // ending appended after those held.
            let mut line = BytesMut::from(&b"held"[..]);
            let found = c.copy_to_line_end(bytes, &mut line);
            assert_eq!(
                found,
                Classifier::Portable.find_line_end(bytes),
                "{} copies to another line end than portable at {start}",
                c.name()
            );
            let upto = found.0.unwrap_or(bytes.len());
            assert_eq!(
                (&line[..4], &line[4..]),
                (&b"held"[..], &bytes[..upto]),
                "{} copies other bytes at {start}",
                c.name()
            );
        }
        let other = parse_chunked(Parser::builder().classifier(c), input, &sizes);
        assert_eq!(other, fast, "the {} parse differs", c.name());
    }

    // The metering count: the events and data bytes the iterator yields.
    let mut counter = Parser::new();
    for chunk in input.chunks(sizes[0]) {
        counter.feed_slice(chunk);
        counter.count_events().expect("within default limits");
    }
    counter.finish();
    counter.count_events().expect("within default limits");
    let (events, data_bytes) = fast.iter().fold((0, 0), |(n, b), o| match o {
        Out::Event { data, .. } => (n + 1, b + data.len() as u64),
        _ => (n, b),
    });
    assert_eq!(
        (counter.counted_events(), counter.counted_data_bytes()),
        (events, data_bytes),
        "count_events differs from the events yielded"
    );

    // Pass-through: each event's frame (raw when kept, else re-encoded), concatenated,
    // gives a receiver the same events.
    let mut relay = Parser::builder().raw_frames(true).build();
    let mut forwarded = Vec::new();
    for chunk in input.chunks(sizes[0]) {
        relay.feed_slice(chunk);
        for item in relay.by_ref() {
            if let Item::Event(e) = item.expect("within default limits") {
                forwarded.extend_from_slice(e.to_frame().as_bytes());
            }
        }
    }
    let events = |out: Vec<Out>| -> Vec<Out> {
        out.into_iter()
            .filter(|o| matches!(o, Out::Event { .. }))
            .collect()
    };
    assert_eq!(
        events(naive::parse(&forwarded)),
        events(fast),
        "forwarded frames change the events"
    );

    let mut limited = Parser::builder()
        .max_line_len(16)
        .max_event_len(32)
        .on_limit(LimitPolicy::SkipEvent)
        .raw_frames(true)
        .comments(true)
        .build();
    for chunk in input.chunks(sizes[0]) {
        limited.feed_slice(chunk);
        for item in limited.by_ref() {
            if let Ok(Item::Event(e)) = item {
                assert!(e.data().len() <= 32);
            }
        }
        assert!(
            limited.buffered_len() <= 16,
            "held {} bytes",
            limited.buffered_len()
        );
    }
}

/// Target `sse_roundtrip`: bytes become data, event type and id (split at 0xFF bytes);
/// encoding either fails with the right error or parses back to the same event.
pub fn roundtrip(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0xFF);
    let text = |p: Option<&[u8]>| String::from_utf8_lossy(p.unwrap_or_default()).into_owned();
    let payload = text(parts.next());
    let event = text(parts.next());
    let id = text(parts.next());

    let builder = EventBuilder::new().data(&payload).event(&event).id(&id);
    let mut buf = BytesMut::new();
    let result = builder.encode(&mut buf);
    if id.contains(['\r', '\n']) {
        assert_eq!(result, Err(EncodeError::NewlineInId));
        return;
    }
    if id.contains('\0') {
        assert_eq!(result, Err(EncodeError::NulInId));
        return;
    }
    if event.contains(['\r', '\n']) {
        assert_eq!(result, Err(EncodeError::NewlineInEventType));
        return;
    }
    result.expect("encodable");
    let parsed = naive::parse(&buf);
    let expected_type = if event.is_empty() {
        "message".to_string()
    } else {
        event
    };
    assert_eq!(
        parsed,
        vec![Out::Event {
            event_type: expected_type,
            data: payload.replace("\r\n", "\n").replace('\r', "\n"),
            last_event_id: id,
        }]
    );
}
