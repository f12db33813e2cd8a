//! The whole-event fast path (an event read from the classifier's masks in one go) against
//! the naive reference and against counting: streams of many complete events, each a
//! block of fields closed by a blank line, so that most of them are read whole, mixed
//! with what makes the fast path give up (retries, comments when yielded, ids with NUL,
//! invalid UTF-8, more data lines than it keeps, id-only blocks, CR endings at a chunk's
//! end, events across 4 KiB windows and across chunks, limits).

mod support;

use eventgate_sse::classify::Classifier;
use eventgate_sse::{Item, ItemRef, LimitPolicy, ParseError, Parser};
use proptest::prelude::*;
use support::naive;

/// One field line of an event, without its line ending.
fn field() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        8 => "[a-z0-9 {}\":,]{0,24}".prop_map(String::into_bytes),
        1 => Just("é😀".as_bytes().to_vec()),
        1 => Just(b"\xff\xc3x".to_vec()),
        1 => Just(b"a\0b".to_vec()),
        1 => (100usize..700).prop_map(|n| vec![b'q'; n]),
    ];
    let name = prop_oneof![
        8 => Just(&b"data: "[..]),
        1 => Just(&b"data"[..]),
        3 => Just(&b"id: "[..]),
        1 => Just(&b"id"[..]),
        3 => Just(&b"event: "[..]),
        1 => Just(&b"retry: "[..]),
        1 => Just(&b": "[..]),
        1 => Just(&b"other: "[..]),
    ];
    (name, value).prop_map(|(name, value)| [name, &value[..]].concat())
}

/// Events of 0 to 12 field lines (so some have more data lines than the fast path
/// keeps), all lines ended by one line ending, or each by its own.
fn events() -> impl Strategy<Value = Vec<u8>> {
    let ending = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
    let event = prop::collection::vec((field(), ending.clone()), 0..12);
    (
        prop::collection::vec((event, ending.clone()), 1..120),
        proptest::option::of(ending),
    )
        .prop_map(|(events, uniform)| {
            let mut out = Vec::new();
            for (lines, blank) in events {
                for (line, ending) in lines {
                    out.extend_from_slice(&line);
                    out.extend_from_slice(uniform.unwrap_or(ending));
                }
                out.extend_from_slice(uniform.unwrap_or(blank));
            }
            out
        })
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        2 => Just(vec![1 << 30]),
        1 => Just(vec![1460]),
        1 => prop::collection::vec(1usize..3000, 1..4),
    ]
}

/// Feeds `input` in chunks whose sizes cycle through `sizes`, calling `take` after every
/// chunk and after `finish`.
fn feed(parser: &mut Parser, input: &[u8], sizes: &[usize], mut take: impl FnMut(&mut Parser)) {
    let (mut pos, mut k) = (0, 0);
    while pos < input.len() {
        let end = pos.saturating_add(sizes[k % sizes.len()]).min(input.len());
        k += 1;
        parser.feed_slice(&input[pos..end]);
        take(parser);
        pos = end;
    }
    parser.finish();
    take(parser);
}

/// Every item (events with their values, retries, comments, errors) as comparable text.
fn items(parser: &mut Parser, input: &[u8], sizes: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let take = |parser: &mut Parser, out: &mut Vec<String>| {
        for item in parser.by_ref() {
            out.push(match item {
                Ok(Item::Event(e)) => format!(
                    "event {:?} {:?} {:?}",
                    e.event_type(),
                    e.data(),
                    e.last_event_id()
                ),
                Ok(other) => format!("{other:?}"),
                Err(e) => format!("error {e:?}"),
            });
        }
    };
    feed(parser, input, sizes, |parser| take(parser, &mut out));
    out
}

/// [`items`] through `next_ref`, with each event also made into an `Event` of its own.
fn items_ref(parser: &mut Parser, input: &[u8], sizes: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let take = |parser: &mut Parser, out: &mut Vec<String>| {
        while let Some(item) = parser.next_ref() {
            out.push(match item {
                Ok(ItemRef::Event(e)) => {
                    let kept = e.to_event();
                    assert_eq!(
                        (
                            kept.data(),
                            kept.event_type(),
                            kept.last_event_id(),
                            kept.has_own_id()
                        ),
                        (e.data(), e.event_type(), e.last_event_id(), e.has_own_id())
                    );
                    format!(
                        "event {:?} {:?} {:?}",
                        e.event_type(),
                        e.data(),
                        e.last_event_id()
                    )
                }
                Ok(ItemRef::Retry(d)) => format!("{:?}", Item::Retry(d)),
                Ok(ItemRef::Comment(c)) => format!("{:?}", Item::Comment(c.to_owned().into())),
                Ok(other) => format!("{other:?}"),
                Err(e) => format!("error {e:?}"),
            });
        }
    };
    feed(parser, input, sizes, |parser| take(parser, &mut out));
    out
}

/// Events and data bytes counted, and the errors met, fed the same way.
fn count(parser: &mut Parser, input: &[u8], sizes: &[usize]) -> (u64, u64, Vec<ParseError>) {
    let mut errors = Vec::new();
    let mut drain = |parser: &mut Parser| {
        while let Err(e) = parser.count_events() {
            errors.push(e);
        }
    };
    feed(parser, input, sizes, &mut drain);
    (parser.counted_events(), parser.counted_data_bytes(), errors)
}

proptest! {
    #![proptest_config(support::proptest_config(100))]

    #[test]
    fn whole_events_match_the_naive_reference_on_every_classifier(
        input in events(), sizes in chunk_sizes(),
    ) {
        let expected = naive::parse(&input);
        for c in Classifier::available() {
            let got = support::fast::parse_chunked(Parser::builder().classifier(c), &input, &sizes);
            prop_assert_eq!(&got, &expected, "{}", c.name());
        }
    }

    #[test]
    fn whole_events_give_the_same_items_and_counts_as_lines_fed_one_by_one(
        input in events(), sizes in chunk_sizes(),
        comments in any::<bool>(),
        max_line in prop_oneof![Just(usize::MAX), 1usize..400],
        max_event in prop_oneof![Just(usize::MAX), 1usize..800],
        skip in any::<bool>(),
    ) {
        // Chunks of one byte never hold a whole event, so the line loop reads them all.
        let policy = if skip { LimitPolicy::SkipEvent } else { LimitPolicy::Fail };
        let build = || Parser::builder()
            .comments(comments)
            .max_line_len(max_line)
            .max_event_len(max_event)
            .on_limit(policy)
            .build();
        let by_line = items(&mut build(), &input, &[1]);
        prop_assert_eq!(&items(&mut build(), &input, &sizes), &by_line);
        prop_assert_eq!(&items_ref(&mut build(), &input, &sizes), &by_line);
        prop_assert_eq!(&items_ref(&mut build(), &input, &[1]), &by_line);
        let events = by_line.iter().filter(|i| i.starts_with("event ")).count() as u64;
        let (counted, _, _) = count(&mut build(), &input, &sizes);
        prop_assert_eq!(counted, events);
        prop_assert_eq!(count(&mut build(), &input, &sizes), count(&mut build(), &input, &[1]));
    }
}
