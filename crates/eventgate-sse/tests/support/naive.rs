//! A deliberately naive reference parser, written straight from the WHATWG HTML standard
//! ("Interpreting an event stream"): decode the whole stream as UTF-8 first, then walk it
//! one character at a time. It is slow and has no limits; it exists to be obviously right.
//! Shared by the property tests and the fuzz targets (included with `#[path]`).

#![allow(clippy::collapsible_match)] // Kept in the shape of the standard's steps.

/// What a parser reports, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// A dispatched event.
    Event {
        /// The event type.
        event_type: String,
        /// The data.
        data: String,
        /// The last event ID.
        last_event_id: String,
    },
    /// A valid retry field, in milliseconds (saturating).
    Retry(u64),
}

/// Parses a complete stream.
pub fn parse(input: &[u8]) -> Vec<Out> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = String::from_utf8_lossy(input);
    let chars: Vec<char> = text.chars().collect();

    let mut out = Vec::new();
    let mut data = String::new();
    let mut event_type = String::new();
    let mut last_event_id = String::new();

    let mut line = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\r' || c == '\n' {
            if c == '\r' && chars.get(i + 1) == Some(&'\n') {
                i += 1;
            }
            i += 1;
            process(
                &line,
                &mut out,
                &mut data,
                &mut event_type,
                &mut last_event_id,
            );
            line.clear();
            continue;
        }
        line.push(c);
        i += 1;
    }
    // An unterminated line and an undispatched event are discarded.
    out
}

fn process(
    line: &str,
    out: &mut Vec<Out>,
    data: &mut String,
    event_type: &mut String,
    last_event_id: &mut String,
) {
    if line.is_empty() {
        // Dispatch.
        if data.is_empty() {
            event_type.clear();
            return;
        }
        if data.ends_with('\n') {
            data.pop();
        }
        let ty = if event_type.is_empty() {
            "message".to_string()
        } else {
            event_type.clone()
        };
        out.push(Out::Event {
            event_type: ty,
            data: std::mem::take(data),
            last_event_id: last_event_id.clone(),
        });
        event_type.clear();
        return;
    }
    if line.starts_with(':') {
        return;
    }
    let (field, value) = match line.find(':') {
        Some(idx) => {
            let value = &line[idx + 1..];
            (&line[..idx], value.strip_prefix(' ').unwrap_or(value))
        }
        None => (line, ""),
    };
    match field {
        "event" => *event_type = value.to_string(),
        "data" => {
            data.push_str(value);
            data.push('\n');
        }
        "id" => {
            if !value.contains('\u{0}') {
                *last_event_id = value.to_string();
            }
        }
        "retry" => {
            if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
                let mut n: u64 = 0;
                for c in value.bytes() {
                    n = n.saturating_mul(10).saturating_add(u64::from(c - b'0'));
                }
                out.push(Out::Retry(n));
            }
        }
        _ => {}
    }
}
