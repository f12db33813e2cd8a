//! Checks on path text shared by the model (contexts, templates, endpoints) and the router
//! (request paths, captures).

use crate::error::PathProblem;

/// True when `seg` is `.` or `..`, literally or percent-encoded in any case (`%2e`, `.%2E`).
pub(crate) fn is_dot_segment(seg: &str) -> bool {
    is_dot_segment_bytes(seg.as_bytes())
}

/// [`is_dot_segment`] on bytes.
pub(crate) fn is_dot_segment_bytes(b: &[u8]) -> bool {
    let mut dots = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' {
            i += 1;
        } else if b[i] == b'%'
            && b.get(i + 1) == Some(&b'2')
            && matches!(b.get(i + 2), Some(b'e' | b'E'))
        {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
        if dots > 2 {
            return false;
        }
    }
    dots > 0
}

/// Slash positions the router keeps from [`check_path_slashes`] (more are counted, not kept).
pub(crate) const SLASHES: usize = 16;

/// The positions of a checked path's `/` bytes, in order: the first [`SLASHES`] of them, and
/// how many there are in all.
#[derive(Debug, Clone)]
pub(crate) struct Slashes {
    pos: [usize; SLASHES],
    len: usize,
}

impl Slashes {
    pub(crate) fn new() -> Self {
        Slashes {
            pos: [0; SLASHES],
            len: 0,
        }
    }

    fn push(&mut self, at: usize) {
        if let Some(p) = self.pos.get_mut(self.len) {
            *p = at;
        }
        self.len += 1;
    }

    /// Every position, or `None` when there were more than [`SLASHES`].
    pub(crate) fn all(&self) -> Option<&[usize]> {
        self.pos.get(..self.len)
    }
}

/// Checks a path (starting with `/`, no query) segment by segment: no dot segment, no
/// encoded `/` or `\`, no `\`, percent signs followed by two hex digits, only visible ASCII
/// other than `#`, `?` and `\`.
pub(crate) fn check_path(path: &str) -> Result<(), PathProblem> {
    check_path_slashes(path, &mut Slashes::new())
}

/// [`check_path`], also recording where the path's slashes are (the router splits the path
/// at them).
pub(crate) fn check_path_slashes(path: &str, slashes: &mut Slashes) -> Result<(), PathProblem> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(PathProblem::NotAbsolute);
    }
    slashes.push(0);
    // One pass. A dot segment is remembered and reported after the scan, so a path with
    // several problems names the same one as a scan of the characters first would.
    let mut dot_segment = false;
    let mut seg_start = 1;
    let mut i = 1;
    while let Some(&c) = b.get(i) {
        if PLAIN[usize::from(c)] {
            i += 1;
            continue;
        }
        match c {
            b'/' => {
                slashes.push(i);
                dot_segment |= ends_dot_segment(b, seg_start, i);
                seg_start = i + 1;
            }
            b'%' => {
                let (Some(h), Some(l)) = (b.get(i + 1), b.get(i + 2)) else {
                    return Err(PathProblem::BadPercent);
                };
                if !h.is_ascii_hexdigit() || !l.is_ascii_hexdigit() {
                    return Err(PathProblem::BadPercent);
                }
                let decoded = (hex(*h) << 4) | hex(*l);
                if decoded == b'/' || decoded == b'\\' {
                    return Err(PathProblem::EncodedSlash);
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(PathProblem::Backslash),
            b'#' | b'?' => return Err(PathProblem::InvalidChar),
            0x21..=0x7e => {}
            _ => return Err(PathProblem::InvalidChar),
        }
        i += 1;
    }
    if dot_segment || ends_dot_segment(b, seg_start, b.len()) {
        return Err(PathProblem::DotSegment);
    }
    Ok(())
}

/// Splits a request target at its query (the first `?`) and checks its path: the same
/// answers as [`PathProblem::TooLong`] for a path of more than `max_len` bytes, then
/// [`check_path`], in one pass over the common case (visible ASCII, slashes, `%XX`).
/// Returns the path's length and records its slashes.
pub(crate) fn check_target(
    target: &str,
    max_len: usize,
    slashes: &mut Slashes,
) -> Result<usize, PathProblem> {
    let b = target.as_bytes();
    if b.first() != Some(&b'/') {
        return check_target_slowly(target, max_len, slashes);
    }
    slashes.push(0);
    let mut dot_segment = false;
    let mut seg_start = 1;
    let mut i = 1;
    while let Some(&c) = b.get(i) {
        if PLAIN[usize::from(c)] {
            i += 1;
            continue;
        }
        match c {
            b'/' => {
                slashes.push(i);
                dot_segment |= ends_dot_segment(b, seg_start, i);
                seg_start = i + 1;
            }
            b'%' => match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l))
                    if h.is_ascii_hexdigit()
                        && l.is_ascii_hexdigit()
                        && !matches!((hex(*h) << 4) | hex(*l), b'/' | b'\\') =>
                {
                    i += 3;
                    continue;
                }
                _ => return check_target_slowly(target, max_len, slashes),
            },
            b'?' => break,
            _ => return check_target_slowly(target, max_len, slashes),
        }
        i += 1;
    }
    if i > max_len {
        return Err(PathProblem::TooLong);
    }
    if dot_segment || ends_dot_segment(b, seg_start, i) {
        return Err(PathProblem::DotSegment);
    }
    Ok(i)
}

/// [`check_target`] step by step, for targets with a problem (it names the same one as the
/// split, the length check and [`check_path`] would, in that order).
#[cold]
fn check_target_slowly(
    target: &str,
    max_len: usize,
    slashes: &mut Slashes,
) -> Result<usize, PathProblem> {
    let path = match target.bytes().position(|b| b == b'?') {
        Some(q) => target.get(..q).unwrap_or(target),
        None => target,
    };
    if path.len() > max_len {
        return Err(PathProblem::TooLong);
    }
    *slashes = Slashes::new();
    check_path_slashes(path, slashes)?;
    Ok(path.len())
}

/// Bytes a path may hold that need no other check: visible ASCII other than `/`, `%`, `\\`,
/// `#` and `?`.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x21;
    while c <= 0x7e {
        t[c] = !matches!(c as u8, b'/' | b'%' | b'\\' | b'#' | b'?');
        c += 1;
    }
    t
};

/// True when `b[start..end]` is a dot segment (only a segment beginning with `.` or `%` can
/// be one, so most segments cost one comparison).
fn ends_dot_segment(b: &[u8], start: usize, end: usize) -> bool {
    matches!(b.get(start), Some(b'.' | b'%')) && b.get(start..end).is_some_and(is_dot_segment_bytes)
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_in_every_spelling_are_found() {
        for s in [".", "..", "%2e", "%2E", "%2e%2e", ".%2E", "%2E."] {
            assert!(is_dot_segment(s), "{s}");
        }
        for s in ["", "...", "a.", ".a", "%2f", "%2e%2e%2e", "%2"] {
            assert!(!is_dot_segment(s), "{s}");
        }
    }

    #[test]
    fn check_path_names_the_problem() {
        assert_eq!(check_path("/a/b.json"), Ok(()));
        assert_eq!(check_path("/caf%C3%A9"), Ok(()));
        assert_eq!(check_path("a"), Err(PathProblem::NotAbsolute));
        assert_eq!(check_path("/a/../b"), Err(PathProblem::DotSegment));
        assert_eq!(check_path("/a/%2E%2e"), Err(PathProblem::DotSegment));
        assert_eq!(check_path("/a/."), Err(PathProblem::DotSegment));
        assert_eq!(check_path("/a%2Fb"), Err(PathProblem::EncodedSlash));
        assert_eq!(check_path("/a%5cb"), Err(PathProblem::EncodedSlash));
        assert_eq!(check_path("/a\\b"), Err(PathProblem::Backslash));
        assert_eq!(check_path("/a%zz"), Err(PathProblem::BadPercent));
        assert_eq!(check_path("/a%2"), Err(PathProblem::BadPercent));
        assert_eq!(check_path("/a b"), Err(PathProblem::InvalidChar));
        assert_eq!(check_path("/a#b"), Err(PathProblem::InvalidChar));
    }

    /// `check_target` answers as the split at `?`, the length check and `check_path` do,
    /// and records the same slashes, over targets with every kind of problem.
    #[test]
    fn check_target_agrees_with_split_length_check_and_check_path() {
        let pieces = [
            "", "/", "a", ".", "..", "%2e", "%2E%2e", ".a", "%41", "%2f", "%5C", "%zz", "%2", "%",
            "\\", "#", " ", "\u{e9}", "?", "?x=1", "?a/../b", "b.json", "...",
        ];
        let mut targets = vec![];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    targets.push(format!("/{a}/{b}{c}"));
                    targets.push(format!("{a}/{b}/{c}"));
                }
            }
        }
        targets.push("/".repeat(40));
        targets.push(format!("/{}", "a".repeat(20)));
        for t in &targets {
            for max in [8, 1024] {
                let path = t.split('?').next().unwrap_or(t);
                let mut want_slashes = Slashes::new();
                let want = if path.len() > max {
                    Err(PathProblem::TooLong)
                } else {
                    check_path_slashes(path, &mut want_slashes).map(|()| path.len())
                };
                let mut got_slashes = Slashes::new();
                assert_eq!(
                    check_target(t, max, &mut got_slashes),
                    want,
                    "{t:?} max {max}"
                );
                if want.is_ok() {
                    assert_eq!(got_slashes.all(), want_slashes.all(), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn slashes_are_recorded_up_to_the_limit_and_counted_beyond() {
        let mut s = Slashes::new();
        check_path_slashes("/ab/c/", &mut s).unwrap();
        assert_eq!(s.all(), Some(&[0, 3, 5][..]));
        let long = "/a".repeat(SLASHES + 1);
        let mut s = Slashes::new();
        check_path_slashes(&long, &mut s).unwrap();
        assert_eq!(s.all(), None, "17 slashes do not fit in 16 places");
        let mut s = Slashes::new();
        check_path_slashes(&long[..2 * SLASHES], &mut s).unwrap();
        assert_eq!(s.all().map(<[usize]>::len), Some(SLASHES));
    }
}
