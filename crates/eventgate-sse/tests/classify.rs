//! The line-ending classifier: every vector path available on this CPU gives the same
//! masks (and the same long-line search) as the portable path and as a byte-by-byte oracle, and a parser forced onto each
//! path gives the naive reference parser's results (events, retries, limit errors, the
//! metering count) on random bytes, every line ending, every chunking, inputs shorter and
//! longer than one vector and than one 4 KiB classification window, and unaligned starts.

mod support;

use bytes::BytesMut;
use eventgate_sse::classify::Classifier;
use eventgate_sse::{Item, LIMIT_CAP, LimitPolicy, ParseError, Parser};
use proptest::prelude::*;
use support::naive::{self, Out};

/// Bit `i` of mask `i / 64` set where the byte is CR or LF, one byte at a time.
fn oracle_masks(bytes: &[u8]) -> Vec<u64> {
    let mut masks = vec![0u64; bytes.len().div_ceil(64)];
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\r' || b == b'\n' {
            masks[i / 64] |= 1 << (i % 64);
        }
    }
    masks
}

fn masks_of(c: Classifier, bytes: &[u8]) -> Vec<u64> {
    // Start from all ones, so that a mask the classifier fails to write shows.
    let mut masks = vec![u64::MAX; bytes.len().div_ceil(64)];
    assert_eq!(c.classify(bytes, &mut masks), bytes.len());
    masks
}

/// Bytes where CR and LF are common (a third of all bytes), so that masks are dense.
fn dense_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        2 => Just(b'\r'),
        2 => Just(b'\n'),
        1 => Just(b'\r' + 128),
        1 => Just(b'\n' + 128),
        6 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..max)
}

/// An event stream: lines of the four fields, comments and unknown fields, each ended
/// by one of the line endings (or all one kind), with lines from empty to several
/// windows long, so that line ends fall on every position of a mask and of a window.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        6 => "[a-z0-9 {}\":,]{0,20}".prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..10),
        1 => (60usize..140).prop_map(|n| vec![b'x'; n]),
        1 => (4000usize..9000).prop_map(|n| vec![b'y'; n]),
    ];
    let name = prop_oneof![
        5 => Just(&b"data: "[..]),
        2 => Just(&b"id: "[..]),
        2 => Just(&b"event:"[..]),
        1 => Just(&b"retry: "[..]),
        1 => Just(&b": "[..]),
        1 => Just(&b"other:"[..]),
        3 => Just(&b""[..]),
    ];
    let ending = prop_oneof![Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b"\r\n"[..])];
    let line = (name, value, ending.clone());
    (
        prop::collection::vec(line, 0..24),
        proptest::option::of(ending),
    )
        .prop_map(|(lines, uniform)| {
            let mut out = Vec::new();
            for (name, value, ending) in lines {
                out.extend_from_slice(name);
                if !name.is_empty() {
                    out.extend_from_slice(&value);
                }
                out.extend_from_slice(uniform.unwrap_or(ending));
            }
            out
        })
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        2 => prop::collection::vec(1usize..80, 1..5),
        1 => prop::collection::vec(1usize..10_000, 1..4),
        1 => Just(vec![1 << 30]),
    ]
}

fn run(c: Classifier, input: &[u8], sizes: &[usize]) -> Vec<Out> {
    support::fast::parse_chunked(Parser::builder().classifier(c), input, sizes)
}

/// Events, data bytes and the errors met on the way.
type Tally = (u64, u64, Vec<ParseError>);

/// Events and data bytes through the iterator, and through `count_events`, with the same
/// limits and chunking; errors included.
fn iterate_and_count(build: impl Fn() -> Parser, input: &[u8], sizes: &[usize]) -> (Tally, Tally) {
    let mut it = build();
    let mut counter = build();
    let (mut events, mut bytes, mut it_errors, mut count_errors) = (0, 0, Vec::new(), Vec::new());
    let mut take = |it: &mut Parser, counter: &mut Parser| {
        for item in it.by_ref() {
            match item {
                Ok(Item::Event(e)) => {
                    events += 1;
                    bytes += e.data().len() as u64;
                }
                Ok(_) => {}
                Err(e) => it_errors.push(e),
            }
        }
        loop {
            match counter.count_events() {
                Ok(_) => break,
                Err(e) => count_errors.push(e),
            }
        }
    };
    let mut pos = 0;
    let mut k = 0;
    while pos < input.len() {
        let end = pos.saturating_add(sizes[k % sizes.len()]).min(input.len());
        k += 1;
        it.feed_slice(&input[pos..end]);
        counter.feed_slice(&input[pos..end]);
        take(&mut it, &mut counter);
        pos = end;
    }
    it.finish();
    counter.finish();
    take(&mut it, &mut counter);
    (
        (events, bytes, it_errors),
        (
            counter.counted_events(),
            counter.counted_data_bytes(),
            count_errors,
        ),
    )
}

/// `copy_to_line_end` on `c` after `held` bytes already in the buffer (so that the
/// copy's stores start at every alignment): the answer of the portable `find_line_end`
/// (itself checked against the oracle), and the bytes before the line ending appended.
fn check_copy(c: Classifier, input: &[u8], held: usize) -> Result<(), TestCaseError> {
    let before: Vec<u8> = (0..held).map(|i| i as u8).collect();
    let mut dst = BytesMut::from(&before[..]);
    let got = c.copy_to_line_end(input, &mut dst);
    let expected = Classifier::Portable.find_line_end(input);
    prop_assert_eq!(got, expected, "{}", c.name());
    let copied = expected.0.unwrap_or(input.len());
    prop_assert_eq!(&dst[..held], &before[..], "{}", c.name());
    prop_assert_eq!(&dst[held..], &input[..copied], "{}", c.name());
    Ok(())
}

/// Lines of a `data` field from empty to several vectors and chunks long, each ended by
/// one of the line endings (or, for the last, by none): a line limit anywhere in that
/// range is crossed inside the copy of a line carried from one chunk into the next.
fn long_lines() -> impl Strategy<Value = Vec<u8>> {
    let ending = prop_oneof![
        Just(&b"\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"\r\n"[..]),
        Just(&b""[..])
    ];
    prop::collection::vec((0usize..3000, ending, any::<u8>()), 0..8).prop_map(|lines| {
        let mut out = Vec::new();
        for (len, ending, high) in lines {
            out.extend_from_slice(b"data: ");
            out.extend((0..len).map(|i| b'a' + (i % 26) as u8));
            if len > 0 && high >= 0x80 {
                // A non-ASCII byte somewhere in the line.
                let at = out.len() - 1 - usize::from(high) % len;
                out[at] = high;
            }
            out.extend_from_slice(ending);
            out.extend_from_slice(if high % 3 == 0 { b"\n" } else { b"" });
        }
        out
    })
}

/// What a parser with the line limit `max` and [`LimitPolicy::Fail`] reports, from the
/// naive parser: its output for the lines before the first one longer than `max`
/// (without its line ending; the last line counts whether ended or not), then the error.
fn limited_oracle(input: &[u8], max: usize) -> (Vec<Out>, Vec<ParseError>) {
    let mut start = 0;
    loop {
        let eol = input[start..]
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .map(|i| start + i);
        if eol.unwrap_or(input.len()) - start > max {
            let error = ParseError::LineTooLong { limit: max };
            return (naive::parse(&input[..start]), vec![error]);
        }
        match eol {
            Some(e) if input[e] == b'\r' && input.get(e + 1) == Some(&b'\n') => start = e + 2,
            Some(e) => start = e + 1,
            None => return (naive::parse(input), Vec::new()),
        }
    }
}

/// The events, retries and errors of a parser on `c` with the line limit `max`, fed
/// `input` in chunks of `sizes`.
fn run_limited(
    c: Classifier,
    max: usize,
    input: &[u8],
    sizes: &[usize],
) -> (Vec<Out>, Vec<ParseError>) {
    let mut parser = Parser::builder().classifier(c).max_line_len(max).build();
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    let mut drain = |parser: &mut Parser| {
        for item in parser.by_ref() {
            match item {
                Ok(Item::Event(e)) => out.push(Out::Event {
                    event_type: e.event_type().to_string(),
                    data: e.data().to_string(),
                    last_event_id: e.last_event_id().to_string(),
                }),
                Ok(Item::Retry(d)) => {
                    out.push(Out::Retry(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
    };
    let mut pos = 0;
    for size in sizes.iter().cycle() {
        if pos >= input.len() {
            break;
        }
        let end = (pos + size).min(input.len());
        parser.feed_slice(&input[pos..end]);
        drain(&mut parser);
        pos = end;
    }
    parser.finish();
    drain(&mut parser);
    (out, errors)
}

proptest! {
    #![proptest_config(support::proptest_config(300))]

    #[test]
    fn the_line_limit_fires_where_the_oracle_says_on_lines_carried_across_chunks(
        input in long_lines(),
        sizes in prop::collection::vec(1usize..2000, 1..4),
        max in prop_oneof![1usize..200, 200usize..3200, Just(usize::MAX)],
    ) {
        // Lines carried from chunk to chunk are copied as their end is searched for; the
        // limit must cross where it did with a search and then a copy: the same events
        // before it, the same error, nothing after it.
        let expected = limited_oracle(&input, max.min(LIMIT_CAP));
        for c in Classifier::available() {
            prop_assert_eq!(&run_limited(c, max, &input, &sizes), &expected, "{}", c.name());
        }
    }
}

proptest! {
    #![proptest_config(support::proptest_config(500))]

    #[test]
    fn every_classifier_gives_the_oracle_masks_at_every_start_and_length(
        bytes in dense_bytes(600), start in 0usize..64,
    ) {
        let input = &bytes[start.min(bytes.len())..];
        let expected = oracle_masks(input);
        for c in Classifier::available() {
            prop_assert_eq!(&masks_of(c, input), &expected, "{}", c.name());
        }
    }

    #[test]
    fn every_classifier_agrees_with_the_portable_one_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..300), start in 0usize..64,
    ) {
        let input = &bytes[start.min(bytes.len())..];
        let portable = masks_of(Classifier::Portable, input);
        for c in Classifier::available() {
            prop_assert_eq!(&masks_of(c, input), &portable, "{}", c.name());
        }
    }

    #[test]
    fn every_classifier_finds_the_oracle_line_end_on_long_sparse_lines(
        len in 0usize..9000, eol in prop::option::of((0usize..9000, prop_oneof![Just(b'\r'), Just(b'\n')])),
        high in prop::option::of((0usize..9000, 0x80u8..=0xFF)), start in 0usize..64,
    ) {
        // A long line of ASCII with at most one line ending and one non-ASCII byte, at
        // any position: the search must stop at the ending and say whether it passed
        // (the blocks up to it hold) a non-ASCII byte.
        let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        if let Some((at, b)) = high.filter(|&(at, _)| at < len) {
            bytes[at] = b;
        }
        if let Some((at, b)) = eol.filter(|&(at, _)| at < len) {
            bytes[at] = b;
        }
        let input = &bytes[start.min(bytes.len())..];
        let first = input.iter().position(|&b| b == b'\r' || b == b'\n');
        let upto = first.map_or(input.len(), |i| (i / 64 + 1) * 64).min(input.len());
        let expected = (first, !input[..upto].is_ascii());
        for c in Classifier::available() {
            prop_assert_eq!(c.find_line_end(input), expected, "{}", c.name());
            check_copy(c, input, start)?;
        }
    }

    #[test]
    fn every_classifier_copies_to_the_oracle_line_end_on_dense_bytes(
        bytes in dense_bytes(600), start in 0usize..64, held in 0usize..130,
    ) {
        let input = &bytes[start.min(bytes.len())..];
        for c in Classifier::available() {
            check_copy(c, input, held)?;
        }
    }

    #[test]
    fn a_parser_on_every_classifier_matches_the_naive_reference_on_dense_bytes(
        input in dense_bytes(400), sizes in chunk_sizes(),
    ) {
        let expected = naive::parse(&input);
        for c in Classifier::available() {
            prop_assert_eq!(&run(c, &input, &sizes), &expected, "{}", c.name());
        }
    }
}

proptest! {
    #![proptest_config(support::proptest_config(150))]

    #[test]
    fn a_parser_on_every_classifier_matches_the_naive_reference_on_streams(
        input in stream(), sizes in chunk_sizes(), skip in 0usize..64,
    ) {
        // `skip` bytes of the stream are dropped, so lines start at unaligned offsets of
        // the first chunk.
        let input = &input[skip.min(input.len())..];
        let expected = naive::parse(input);
        for c in Classifier::available() {
            prop_assert_eq!(&run(c, input, &sizes), &expected, "{}", c.name());
        }
    }

    #[test]
    fn counting_events_agrees_with_iterating_them_on_every_classifier(
        input in stream(), sizes in chunk_sizes(),
        max_line in prop_oneof![Just(usize::MAX), 1usize..200],
        max_event in prop_oneof![Just(usize::MAX), 1usize..400],
        skip in any::<bool>(),
    ) {
        let policy = if skip { LimitPolicy::SkipEvent } else { LimitPolicy::Fail };
        for c in Classifier::available() {
            let build = || Parser::builder()
                .classifier(c)
                .max_line_len(max_line)
                .max_event_len(max_event)
                .on_limit(policy)
                .build();
            let (iterated, counted) = iterate_and_count(build, &input, &sizes);
            prop_assert_eq!(iterated, counted, "{}", c.name());
        }
    }
}

#[test]
fn a_forced_classifier_is_the_one_the_parser_uses() {
    for c in Classifier::available() {
        assert_eq!(Parser::builder().classifier(c).build().classifier(), c);
    }
    assert_eq!(Parser::new().classifier(), Classifier::best());
}

#[test]
fn an_unavailable_classifier_is_replaced_by_the_best_one() {
    let unavailable = [
        Classifier::Sse2,
        Classifier::Avx2,
        Classifier::Avx512bw,
        Classifier::Neon,
    ]
    .into_iter()
    .find(|c| !c.is_available());
    if let Some(c) = unavailable {
        assert_eq!(
            Parser::builder().classifier(c).build().classifier(),
            Classifier::best()
        );
        let mut masks = [0u64; 1];
        c.classify(b"a\nb\r", &mut masks);
        assert_eq!(masks[0], 0b1010);
    }
}

#[test]
fn line_ends_on_every_window_and_mask_boundary_are_found() {
    // Lines whose ends fall on each offset around the 64-byte and 4 KiB boundaries,
    // each as a data event, in one chunk and in chunks of several sizes.
    let mut input = Vec::new();
    let mut expected = 0u64;
    for len in (0..130).chain(4030..4170) {
        input.extend_from_slice(b"data:");
        input.resize(input.len() + len, b'z');
        input.extend_from_slice(if len % 3 == 0 { b"\r\n\r\n" } else { b"\n\n" });
        expected += 1;
    }
    let naive = naive::parse(&input);
    assert_eq!(naive.len() as u64, expected);
    for c in Classifier::available() {
        for sizes in [
            vec![1 << 30],
            vec![4096],
            vec![4095, 4097],
            vec![63, 65, 1460],
        ] {
            assert_eq!(run(c, &input, &sizes), naive, "{} {sizes:?}", c.name());
        }
        let mut parser = Parser::builder().classifier(c).build();
        parser.feed_slice(&input);
        assert_eq!(parser.count_events(), Ok(expected));
    }
}

#[test]
fn long_lines_with_non_ascii_bytes_anywhere_decode_as_the_naive_parser_does() {
    // Lines longer than the 4 KiB after which the parser searches for the line end rather
    // than classifying, with a multi-byte character or an invalid byte before, at or
    // after the point where the search starts, and short non-ASCII values after them in
    // the same chunk: the text (U+FFFD replacements included) must be the naive parser's
    // on every classifier and chunking.
    for (spot, bad, ascii_after) in [0, 100, 4095, 4096, 4100, 5000, 6000, 6200]
        .into_iter()
        .flat_map(|spot| [&b"\xC3\xA9"[..], &b"\xFF"[..], &b"\xE2\x82"[..]].map(|bad| (spot, bad)))
        .flat_map(|(spot, bad)| [(spot, bad, true), (spot, bad, false)])
    {
        let mut line = vec![b'q'; 6300];
        line.splice(spot..spot, bad.iter().copied());
        let mut input = b"data: ".to_vec();
        input.extend_from_slice(&line);
        // What follows the long line in its chunk is all ASCII, or not (the
        // classification of what follows must not be what catches the bad byte).
        input.extend_from_slice(if ascii_after {
            b"\n\nid: 1\ndata: x\n\n"
        } else {
            b"\n\nid: \xC3\xA9\ndata: \xFFx\ndata: \xC3\xA9\n\n"
        });
        input.extend_from_slice(b"event: ");
        input.extend_from_slice(&line);
        input.extend_from_slice(b"\r\ndata: end\r\n\r\n");
        let naive = naive::parse(&input);
        assert_eq!(naive.len(), 3, "{spot}");
        for c in Classifier::available() {
            for sizes in [vec![1 << 30], vec![1460], vec![4096, 63], vec![7000]] {
                assert_eq!(
                    run(c, &input, &sizes),
                    naive,
                    "{} spot {spot} {bad:?} {sizes:?}",
                    c.name()
                );
            }
        }
    }
}
