//! Limits: every buffer is bounded, crossing a limit is a typed error, and what follows
//! is the chosen policy.

use eventgate_sse::{Item, LimitPolicy, ParseError, Parser};

fn events(parser: &mut Parser) -> Vec<Result<String, ParseError>> {
    parser
        .by_ref()
        .filter_map(|r| match r {
            Ok(Item::Event(e)) => Some(Ok(e.data().to_string())),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect()
}

#[test]
fn hundred_megabyte_line_without_newline_stays_bounded_and_errors_with_default_limits() {
    let mut parser = Parser::new();
    let chunk = bytes::Bytes::from(vec![b'a'; 64 * 1024]);
    parser.feed(&b"data: "[..]);
    let mut errors = Vec::new();
    let mut max_buffered = 0;
    for _ in 0..(100 * 1024 * 1024 / chunk.len()) {
        parser.feed(chunk.clone());
        for item in parser.by_ref() {
            errors.push(item.expect_err("no event can complete"));
        }
        max_buffered = max_buffered.max(parser.buffered_len());
    }
    assert_eq!(
        errors,
        vec![ParseError::LineTooLong {
            limit: eventgate_sse::DEFAULT_MAX_LINE_LEN
        }]
    );
    assert!(
        max_buffered <= eventgate_sse::DEFAULT_MAX_LINE_LEN,
        "held {max_buffered} bytes"
    );
    assert!(parser.is_failed());
}

#[test]
fn skip_policy_drops_an_oversized_line_without_buffering_it_and_recovers() {
    let mut parser = Parser::builder()
        .max_line_len(16)
        .on_limit(LimitPolicy::SkipEvent)
        .build();
    parser.feed(&b"data: ok\n\nid: 1\ndata: "[..]);
    for _ in 0..1000 {
        parser.feed(&b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"[..]);
        let _ = events(&mut parser);
        assert!(parser.buffered_len() <= 16);
    }
    parser.feed(&b"\ndata: same event, dropped\n\ndata: next\n\n"[..]);
    let got = events(&mut parser);
    assert_eq!(got, vec![Ok("next".to_string())]);
    // The id seen before the oversized line kept its effect.
    assert_eq!(parser.last_event_id(), "1");
}

#[test]
fn skip_policy_reports_each_oversized_event_and_keeps_the_others() {
    let mut parser = Parser::builder()
        .max_line_len(8)
        .on_limit(LimitPolicy::SkipEvent)
        .build();
    parser.feed(
        &b"data: a\n\ndata: 0123456789\ndata: b\n\ndata: c\n\ndata: 0123456789\n\ndata: d\n\n"[..],
    );
    parser.finish();
    let got = events(&mut parser);
    let too_long = Err(ParseError::LineTooLong { limit: 8 });
    assert_eq!(
        got,
        vec![
            Ok("a".into()),
            too_long.clone(),
            Ok("c".into()),
            too_long,
            Ok("d".into())
        ]
    );
}

#[test]
fn fail_policy_stops_after_the_first_error_and_ignores_later_input() {
    let mut parser = Parser::builder().max_line_len(8).build();
    parser.feed(&b"data: a\n\ndata: 0123456789\n\ndata: c\n\n"[..]);
    let got = events(&mut parser);
    assert_eq!(
        got,
        vec![Ok("a".into()), Err(ParseError::LineTooLong { limit: 8 })]
    );
    parser.feed(&b"data: d\n\n"[..]);
    assert!(parser.next().is_none());
    assert_eq!(parser.buffered_len(), 0);
    // A reset starts a new stream (a reconnection) and clears the failure.
    parser.reset();
    parser.feed(&b"data: e\n\n"[..]);
    assert_eq!(events(&mut parser), vec![Ok("e".into())]);
}

#[test]
fn event_data_limit_counts_joined_lines() {
    let mut parser = Parser::builder()
        .max_event_len(10)
        .on_limit(LimitPolicy::SkipEvent)
        .build();
    // "1234\n5678" is 9 bytes: fits. "1234\n5678\nab" is 12: too large.
    parser.feed(&b"data: 1234\ndata: 5678\n\ndata: 1234\ndata: 5678\ndata: ab\n\ndata: ok\n\n"[..]);
    let got = events(&mut parser);
    assert_eq!(
        got,
        vec![
            Ok("1234\n5678".into()),
            Err(ParseError::EventTooLarge { limit: 10 }),
            Ok("ok".into())
        ]
    );
}

#[test]
fn endless_comments_in_raw_mode_are_bounded_by_the_event_limit() {
    let mut parser = Parser::builder()
        .raw_frames(true)
        .max_event_len(1024)
        .build();
    let mut error = None;
    for _ in 0..10_000 {
        parser.feed(&b": keep-alive without a blank line\n"[..]);
        if let Some(item) = parser.next() {
            error = Some(item.expect_err("comments are not yielded"));
            break;
        }
    }
    assert_eq!(error, Some(ParseError::EventTooLarge { limit: 1024 }));
}

#[test]
#[should_panic(expected = "max_line_len must be at least 1")]
fn zero_line_limit_is_rejected_by_the_builder() {
    let _ = Parser::builder().max_line_len(0);
}

#[test]
fn hundred_megabyte_line_under_skip_policy_is_discarded_without_buffering() {
    let mut parser = Parser::builder().on_limit(LimitPolicy::SkipEvent).build();
    let chunk = bytes::Bytes::from(vec![b'a'; 64 * 1024]);
    parser.feed(&b"data: "[..]);
    let mut errors = 0;
    let mut max_buffered = 0;
    for _ in 0..(100 * 1024 * 1024 / chunk.len()) {
        parser.feed(chunk.clone());
        for item in parser.by_ref() {
            assert_eq!(
                item,
                Err(ParseError::LineTooLong {
                    limit: eventgate_sse::DEFAULT_MAX_LINE_LEN
                })
            );
            errors += 1;
        }
        max_buffered = max_buffered.max(parser.buffered_len());
    }
    parser.feed(&b"\n\ndata: after\n\n"[..]);
    assert_eq!(events(&mut parser), vec![Ok("after".to_string())]);
    assert_eq!(errors, 1);
    assert!(
        max_buffered <= eventgate_sse::DEFAULT_MAX_LINE_LEN,
        "held {max_buffered} bytes"
    );
}
