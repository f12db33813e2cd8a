//! Checks on path text shared by the model (contexts, templates, endpoints) and the router
//! (request paths, captures).

use crate::error::PathProblem;

/// True when `seg` is `.` or `..`, literally or percent-encoded in any case (`%2e`, `.%2E`).
pub(crate) fn is_dot_segment(seg: &str) -> bool {
    let b = seg.as_bytes();
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

/// Checks a path (starting with `/`, no query) segment by segment: no dot segment, no
/// encoded `/` or `\`, no `\`, percent signs followed by two hex digits, only visible ASCII
/// other than `#`, `?` and `\`.
pub(crate) fn check_path(path: &str) -> Result<(), PathProblem> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(PathProblem::NotAbsolute);
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
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
    if path[1..].split('/').any(is_dot_segment) {
        return Err(PathProblem::DotSegment);
    }
    Ok(())
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
}
