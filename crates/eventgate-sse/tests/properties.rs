//! Property tests: the fast parser agrees with the naive reference parser on arbitrary
//! input under arbitrary chunking; encode-then-parse gives the events back; raw frames
//! re-parse to the same events; limit handling does not depend on chunking.

mod support;

use bytes::BytesMut;
use eventgate_sse::{EncodeError, EventBuilder, Item, LimitPolicy, ParseError, Parser};
use proptest::prelude::*;
use std::time::Duration;
use support::naive::{self, Out};

/// Inputs built from the tokens that matter to the format, plus arbitrary bytes.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        4 => Just(b"data".to_vec()),
        2 => Just(b"id".to_vec()),
        2 => Just(b"event".to_vec()),
        2 => Just(b"retry".to_vec()),
        1 => Just(b"dat".to_vec()),
        6 => Just(b":".to_vec()),
        4 => Just(b" ".to_vec()),
        5 => Just(b"\n".to_vec()),
        3 => Just(b"\r".to_vec()),
        3 => Just(b"\r\n".to_vec()),
        2 => Just(b"\xEF\xBB\xBF".to_vec()),
        1 => Just(b"\xEF\xBB".to_vec()),
        1 => Just(b"\0".to_vec()),
        1 => Just("é€😀".as_bytes().to_vec()),
        1 => Just(b"\xff\xc3".to_vec()),
        2 => Just(b"12".to_vec()),
        3 => "[a-z0-9 ]{0,6}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..12, 1..6)
}

fn run(input: &[u8], sizes: &[usize]) -> Vec<Out> {
    support::fast::parse_chunked(&Parser::builder(), input, sizes)
}

/// Feeds in chunks and collects every result, errors included, as comparable values.
fn results_chunked(
    parser: &mut Parser,
    input: &[u8],
    sizes: &[usize],
) -> Vec<Result<(String, String, String), ParseError>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    let take = |parser: &mut Parser, out: &mut Vec<_>| {
        for item in parser.by_ref() {
            match item {
                Ok(Item::Event(e)) => out.push(Ok((
                    e.event_type().to_string(),
                    e.data().to_string(),
                    e.last_event_id().to_string(),
                ))),
                Ok(_) => {}
                Err(e) => out.push(Err(e)),
            }
        }
    };
    while pos < input.len() {
        let end = (pos + sizes[k % sizes.len()]).min(input.len());
        k += 1;
        parser.feed_slice(&input[pos..end]);
        take(parser, &mut out);
        pos = end;
    }
    parser.finish();
    take(parser, &mut out);
    out
}

proptest! {
    #![proptest_config(support::proptest_config(1000))]

    #[test]
    fn fast_parser_matches_naive_reference_on_sse_like_input(input in sse_bytes(), sizes in chunk_sizes()) {
        prop_assert_eq!(run(&input, &sizes), naive::parse(&input));
    }

    #[test]
    fn fast_parser_matches_naive_reference_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..300), sizes in chunk_sizes()) {
        prop_assert_eq!(run(&input, &sizes), naive::parse(&input));
    }

    #[test]
    fn chunking_never_changes_the_result(input in sse_bytes(), a in chunk_sizes(), b in chunk_sizes()) {
        prop_assert_eq!(run(&input, &a), run(&input, &b));
    }

    #[test]
    fn encode_then_parse_gives_the_event_back(
        data in "(?s)[a-zé😀\r\n\0 :]{0,40}",
        event in proptest::option::of("[a-zA-Z0-9 é:\0]{0,12}"),
        id in proptest::option::of("[a-zA-Z0-9 é:]{0,12}"),
        retry in proptest::option::of(0u64..10_000_000),
    ) {
        let mut builder = EventBuilder::new().data(&data);
        if let Some(e) = &event { builder = builder.event(e); }
        if let Some(i) = &id { builder = builder.id(i); }
        if let Some(r) = retry { builder = builder.retry(Duration::from_millis(r)); }
        let mut buf = BytesMut::new();
        builder.encode(&mut buf).expect("encodable");

        let mut parser = Parser::new();
        parser.feed(buf.freeze());
        parser.finish();
        let items: Vec<Item> = parser.map(|r| r.expect("within limits")).collect();
        let mut expect = Vec::new();
        if let Some(r) = retry { expect.push(Item::Retry(Duration::from_millis(r))); }
        prop_assert_eq!(items.len(), expect.len() + 1);
        prop_assert_eq!(&items[..expect.len()], &expect[..]);
        let Item::Event(parsed) = &items[expect.len()] else { panic!("an event") };
        // The format carries no CR: CRLF and CR arrive as LF.
        let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
        prop_assert_eq!(parsed.data(), normalized.as_str());
        let expected_type = match event.as_deref() { Some(t) if !t.is_empty() => t, _ => "message" };
        prop_assert_eq!(parsed.event_type(), expected_type);
        prop_assert_eq!(parsed.last_event_id(), id.as_deref().unwrap_or(""));
    }

    #[test]
    fn encoder_rejects_ids_and_types_that_would_inject_fields(
        prefix in "[a-z]{0,5}", suffix in "[a-z]{0,5}", brk in prop_oneof![Just("\n"), Just("\r"), Just("\r\n")]
    ) {
        let bad = format!("{prefix}{brk}{suffix}");
        prop_assert_eq!(EventBuilder::new().id(&bad).data("x").build(), Err(EncodeError::NewlineInId));
        prop_assert_eq!(EventBuilder::new().event(&bad).data("x").build(), Err(EncodeError::NewlineInEventType));
        let nul = format!("{prefix}\0{suffix}");
        prop_assert_eq!(EventBuilder::new().id(&nul).data("x").build(), Err(EncodeError::NulInId));
    }

    #[test]
    fn raw_frames_or_reencoded_events_reparse_to_the_same_events(input in sse_bytes(), sizes in chunk_sizes()) {
        let mut parser = Parser::builder().raw_frames(true).build();
        let mut events = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < input.len() {
            let end = (pos + sizes[k % sizes.len()]).min(input.len());
            k += 1;
            parser.feed_slice(&input[pos..end]);
            events.extend(parser.by_ref().filter_map(|r| match r.expect("within limits") { Item::Event(e) => Some(e), _ => None }));
            pos = end;
        }
        parser.finish();
        events.extend(parser.by_ref().filter_map(|r| match r.expect("within limits") { Item::Event(e) => Some(e), _ => None }));
        // Re-parse the concatenated raw frames: same data, types and ids.
        let mut replay = Vec::new();
        // As a relay does: the raw frame when there is one, else the event re-encoded.
        for e in &events { replay.extend_from_slice(e.to_frame().as_bytes()); }
        let again: Vec<Out> = naive::parse(&replay).into_iter().filter(|o| matches!(o, Out::Event { .. })).collect();
        let first: Vec<Out> = events.iter().map(|e| Out::Event {
            event_type: e.event_type().to_string(), data: e.data().to_string(), last_event_id: e.last_event_id().to_string(),
        }).collect();
        prop_assert_eq!(again, first);
    }

    #[test]
    fn limit_errors_do_not_depend_on_chunking(
        input in sse_bytes(), a in chunk_sizes(), b in chunk_sizes(),
        max_line in 1usize..24, max_event in 1usize..40,
        skip in any::<bool>(),
    ) {
        let policy = if skip { LimitPolicy::SkipEvent } else { LimitPolicy::Fail };
        let build = || Parser::builder().max_line_len(max_line).max_event_len(max_event).on_limit(policy).build();
        prop_assert_eq!(results_chunked(&mut build(), &input, &a), results_chunked(&mut build(), &input, &b));
    }
}
