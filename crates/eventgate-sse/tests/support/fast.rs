//! Runs the real parser the way a transport would (chunk by chunk) and reports in the
//! same shape as the naive parser. Shared by tests and fuzz targets.

use super::naive::Out;
use eventgate_sse::{Item, ItemRef, Parser, ParserBuilder};

/// Feeds `input` in chunks whose sizes cycle through `sizes` (0 means 1), draining the
/// parser after every chunk, then finishes. Limit errors panic: callers use limits the
/// input cannot reach.
pub fn parse_chunked(builder: &ParserBuilder, input: &[u8], sizes: &[usize]) -> Vec<Out> {
    feed_chunked(builder, input, sizes, |parser, out| {
        for item in parser.by_ref() {
            match item.expect("no limit is reached") {
                Item::Event(e) => out.push(event(e.event_type(), e.data(), e.last_event_id())),
                Item::Retry(d) => out.push(retry(d)),
                _ => {}
            }
        }
    })
}

/// [`parse_chunked`] through [`Parser::next_ref`] (events borrowed from the parser).
pub fn parse_chunked_ref(builder: &ParserBuilder, input: &[u8], sizes: &[usize]) -> Vec<Out> {
    feed_chunked(builder, input, sizes, |parser, out| {
        while let Some(item) = parser.next_ref() {
            match item.expect("no limit is reached") {
                ItemRef::Event(e) => out.push(event(e.event_type(), e.data(), e.last_event_id())),
                ItemRef::Retry(d) => out.push(retry(d)),
                _ => {}
            }
        }
    })
}

fn event(event_type: &str, data: &str, last_event_id: &str) -> Out {
    Out::Event {
        event_type: event_type.to_string(),
        data: data.to_string(),
        last_event_id: last_event_id.to_string(),
    }
}

fn retry(d: std::time::Duration) -> Out {
    Out::Retry(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The chunking both entry points share: `drain` empties the parser into the output after
/// every chunk and after `finish`.
fn feed_chunked(
    builder: &ParserBuilder,
    input: &[u8],
    sizes: &[usize],
    drain: impl Fn(&mut Parser, &mut Vec<Out>),
) -> Vec<Out> {
    let mut parser: Parser = builder.build();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    while pos < input.len() {
        let size = if sizes.is_empty() {
            input.len()
        } else {
            sizes[k % sizes.len()].max(1)
        };
        k += 1;
        let end = (pos + size).min(input.len());
        parser.feed_slice(&input[pos..end]);
        drain(&mut parser, &mut out);
        pos = end;
    }
    parser.finish();
    drain(&mut parser, &mut out);
    out
}
