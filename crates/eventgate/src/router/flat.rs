//! The flat routing table of one snapshot: every record (base paths with their mount and
//! compiled topic matcher, literal topics by their full path) in one byte vector, found
//! through open-addressing indexes of `u64` slots. A lookup follows the slot to its record
//! and reads the key, the mount and the matcher from one contiguous run of bytes, instead of
//! chasing the pointers of a `HashMap<Box<str>, _>`, an `Arc<Target>`, a revision, its topic
//! set and each template's segment vector and strings.
//!
//! Records (integers little-endian):
//! - mount: `key_len u64, vhost u64, target u64, program_len u64, routability u8,
//!   default_version u8, compiled u8`, the base path, then the program;
//! - literal: `key_len u32, vhost u32, target u32, topic u32, base_len u32,
//!   default_version u8`, then the full path (base path and topic).
//!
//! A program lists a mount's templated topics (those with a variable or `*`; literal topics
//! are found by the literal index before the mount is looked up) in precedence order, each
//! as `len u32` (of the whole entry), `topic u32`, `segments u32` (without a trailing `*`),
//! `wildcard u8`, then one op per segment: [`LIT`] `len u32` bytes, [`VAR`], or [`MIXED`]
//! `parts u32` followed by [`PART_LIT`] `len u32` bytes / [`PART_VAR`] per part.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::RandomState;

use crate::model::path::is_dot_segment_bytes;

/// A slot's low bits: the record's offset + 1 (0 is an empty slot).
const OFFSET_BITS: u32 = 48;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// An open-addressing index (linear probing, at most half full) from a hash to record
/// offsets: each slot keeps the hash's top 16 bits, so most mismatches cost no record read.
#[derive(Debug, Default)]
pub(super) struct Index {
    slots: Box<[u64]>,
    mask: usize,
}

impl Index {
    /// An index of `entries` (hash, record offset). Offsets of 2^48 and more are left out
    /// (so [`Index::find`] does not find them); the caller checks with the return value.
    pub(super) fn build(entries: &[(u64, usize)]) -> (Self, bool) {
        let cap = entries
            .len()
            .saturating_mul(2)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX / 2 + 1)
            .max(8);
        let mut slots = vec![0u64; cap].into_boxed_slice();
        let mask = cap - 1;
        let mut all = true;
        for &(hash, offset) in entries {
            let Some(off) = u64::try_from(offset).ok().filter(|o| *o < OFFSET_MASK) else {
                all = false;
                continue;
            };
            let slot = (hash & !OFFSET_MASK) | (off + 1);
            let mut i = start(hash, mask);
            while let Some(s) = slots.get_mut(i) {
                if *s == 0 {
                    *s = slot;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        (Index { slots, mask }, all)
    }

    /// The first record offset under `hash` for which `is` holds.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let tag = hash & !OFFSET_MASK;
        let mut i = start(hash, self.mask);
        loop {
            let s = *self.slots.get(i)?;
            if s == 0 {
                return None;
            }
            if s & !OFFSET_MASK == tag {
                let off = usize::try_from((s & OFFSET_MASK) - 1).ok()?;
                if is(off) {
                    return Some(off);
                }
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[inline]
fn start(hash: u64, mask: usize) -> usize {
    // Truncation keeps the low bits, which are what the mask takes.
    #[allow(clippy::cast_possible_truncation)]
    let h = hash as usize;
    h & mask
}

pub(super) const MOUNT_HEADER: usize = 32;
pub(super) const LITERAL_HEADER: usize = 24;
/// Where a mount record keeps its `compiled` flag.
const MOUNT_COMPILED_AT: usize = 30;

/// Routability of a mount record.
pub(super) const ROUTABLE: u8 = 0;
pub(super) const BLOCKED: u8 = 1;
pub(super) const NOT_FOUND: u8 = 2;

const LIT: u8 = 0;
const VAR: u8 = 1;
const MIXED: u8 = 2;
const PART_LIT: u8 = 3;
const PART_VAR: u8 = 4;
/// A program entry's header: `len u16, topic u16, segments u8, wildcard u8`.
const TEMPLATE_HEADER: usize = 6;

/// A base path's mount, read from its record.
#[derive(Debug, Clone, Copy)]
pub(super) struct MountRec<'a> {
    pub(super) target: usize,
    pub(super) routability: u8,
    pub(super) default_version: bool,
    /// False when the program is missing (the topic set answers instead).
    pub(super) compiled: bool,
    pub(super) program: &'a [u8],
}

/// A literal topic's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LiteralRec {
    pub(super) target: usize,
    pub(super) topic: usize,
    pub(super) base_len: usize,
    pub(super) default_version: bool,
}

/// The records and their two indexes.
#[derive(Debug, Default)]
pub(super) struct Flat {
    hasher: RandomState,
    bytes: Vec<u8>,
    bases: Index,
    literals: Index,
}

#[inline]
fn u64_at<const N: usize>(h: &[u8; N], at: usize) -> usize {
    h.get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .and_then(|a| usize::try_from(u64::from_le_bytes(*a)).ok())
        .unwrap_or(usize::MAX)
}

#[inline]
fn u32_at<const N: usize>(h: &[u8; N], at: usize) -> usize {
    h.get(at..)
        .and_then(<[u8]>::first_chunk::<4>)
        .and_then(|a| usize::try_from(u32::from_le_bytes(*a)).ok())
        .unwrap_or(usize::MAX)
}

fn put_u64(v: &mut Vec<u8>, x: usize) {
    // usize is at most 64 bits on every supported target.
    v.extend_from_slice(&(x as u64).to_le_bytes());
}

fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl Flat {
    pub(super) fn new() -> Self {
        Flat::default()
    }

    #[inline]
    pub(super) fn hash(&self, vhost: usize, key: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_usize(vhost);
        h.write(key);
        h.finish()
    }

    /// Appends a mount record; returns its offset. A program longer than `u32::MAX` bytes
    /// is left out (the mount is answered by its topic set).
    pub(super) fn push_mount(
        &mut self,
        vhost: usize,
        base: &str,
        target: usize,
        routability: u8,
        default_version: bool,
        program: Option<&[u8]>,
    ) -> usize {
        let program = program.and_then(|p| Some((p, u32::try_from(p.len()).ok()?)));
        let at = self.bytes.len();
        let v = &mut self.bytes;
        put_u64(v, base.len());
        put_u64(v, vhost);
        put_u64(v, target);
        put_u32(v, program.map_or(0, |(_, n)| n));
        v.extend_from_slice(&[
            routability,
            u8::from(default_version),
            u8::from(program.is_some()),
            0,
        ]);
        v.extend_from_slice(base.as_bytes());
        v.extend_from_slice(program.map_or(&[][..], |(p, _)| p));
        at
    }

    /// Marks a mount as answered by its topic set (a literal topic could not be indexed).
    pub(super) fn uncompile(&mut self, mount_at: usize) {
        if let Some(b) = self.bytes.get_mut(mount_at + MOUNT_COMPILED_AT) {
            *b = 0;
        }
    }

    /// Appends a literal record; `None` (nothing appended) when a field does not fit.
    pub(super) fn push_literal(
        &mut self,
        vhost: usize,
        key: &str,
        rec: LiteralRec,
    ) -> Option<usize> {
        let fields = [
            u32::try_from(key.len()).ok()?,
            u32::try_from(vhost).ok()?,
            u32::try_from(rec.target).ok()?,
            u32::try_from(rec.topic).ok()?,
            u32::try_from(rec.base_len).ok()?,
        ];
        let at = self.bytes.len();
        for f in fields {
            put_u32(&mut self.bytes, f);
        }
        self.bytes
            .extend_from_slice(&[u8::from(rec.default_version), 0, 0, 0]);
        self.bytes.extend_from_slice(key.as_bytes());
        Some(at)
    }

    pub(super) fn set_bases(&mut self, index: Index) {
        self.bases = index;
    }

    pub(super) fn set_literals(&mut self, index: Index) {
        self.literals = index;
    }

    /// The mount at base path `key` on `vhost`.
    #[inline]
    pub(super) fn mount(&self, vhost: usize, key: &[u8]) -> Option<MountRec<'_>> {
        let b = &self.bytes;
        let record = |at: usize| {
            let (h, rest) = b.get(at..)?.split_first_chunk::<MOUNT_HEADER>()?;
            let (k, rest) = rest.split_at_checked(u64_at(h, 0))?;
            Some((h, k, rest))
        };
        let at = self.bases.find(self.hash(vhost, key), |at| {
            record(at).is_some_and(|(h, k, _)| k == key && u64_at(h, 8) == vhost)
        })?;
        let (h, _, rest) = record(at)?;
        Some(MountRec {
            target: u64_at(h, 16),
            routability: h[28],
            default_version: h[29] != 0,
            compiled: h[MOUNT_COMPILED_AT] != 0,
            program: rest.get(..u32_at(h, 24))?,
        })
    }

    /// The literal topic whose full path is `key` on `vhost`.
    #[inline]
    pub(super) fn literal(&self, vhost: usize, key: &[u8]) -> Option<LiteralRec> {
        let b = &self.bytes;
        let record = |at: usize| {
            let (h, rest) = b.get(at..)?.split_first_chunk::<LITERAL_HEADER>()?;
            Some((h, rest.get(..u32_at(h, 0))?))
        };
        let at = self.literals.find(self.hash(vhost, key), |at| {
            record(at).is_some_and(|(h, k)| k == key && u32_at(h, 4) == vhost)
        })?;
        let (h, _) = record(at)?;
        Some(LiteralRec {
            target: u32_at(h, 8),
            topic: u32_at(h, 12),
            base_len: u32_at(h, 16),
            default_version: h[20] != 0,
        })
    }
}

/// Appends the program entry of one templated topic; `None` when the template text is not
/// one the compiler knows or does not fit the entry's fields (the mount then falls back to
/// its topic set).
pub(super) fn compile_template(raw: &str, topic: usize, out: &mut Vec<u8>) -> Option<()> {
    let body = raw.strip_prefix('/')?;
    let pieces: Vec<&str> = body.split('/').collect();
    let (fixed, wildcard) = match pieces.split_last() {
        Some((&"*", init)) => (init, true),
        _ => (&pieces[..], false),
    };
    let start = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&u16::try_from(topic).ok()?.to_le_bytes());
    out.push(u8::try_from(fixed.len()).ok()?);
    out.push(u8::from(wildcard));
    for seg in fixed {
        if seg.contains('*') {
            return None;
        }
        let parts = parts(seg)?;
        match parts.as_slice() {
            [] => lit(out, LIT, "")?,
            [Part::Lit(l)] => lit(out, LIT, l)?,
            [Part::Var] => out.push(VAR),
            _ => {
                out.push(MIXED);
                out.push(u8::try_from(parts.len()).ok()?);
                for p in &parts {
                    match p {
                        Part::Lit(l) => lit(out, PART_LIT, l)?,
                        Part::Var => out.push(PART_VAR),
                    }
                }
            }
        }
    }
    let len = u16::try_from(out.len() - start).ok()?;
    out.get_mut(start..start + 2)?
        .copy_from_slice(&len.to_le_bytes());
    Some(())
}

fn lit(out: &mut Vec<u8>, op: u8, l: &str) -> Option<()> {
    out.push(op);
    out.push(u8::try_from(l.len()).ok()?);
    out.extend_from_slice(l.as_bytes());
    Some(())
}

enum Part<'a> {
    Lit(&'a str),
    Var,
}

/// A (validated) template segment's literal text and variables.
fn parts(seg: &str) -> Option<Vec<Part<'_>>> {
    let mut parts = Vec::new();
    let mut rest = seg;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                parts.push(Part::Lit(rest));
                rest = "";
            }
            Some(pos) => {
                if rest.get(pos..)?.starts_with('}') {
                    return None;
                }
                if pos > 0 {
                    parts.push(Part::Lit(rest.get(..pos)?));
                }
                let after = rest.get(pos + 1..)?;
                let close = after.find('}')?;
                if matches!(parts.last(), Some(Part::Var)) {
                    return None;
                }
                parts.push(Part::Var);
                rest = after.get(close + 1..)?;
            }
        }
    }
    Some(parts)
}

/// A topic path split at its slashes: `path` is the request path and `slashes` the positions
/// of the topic path's slashes in it (segment `i` runs from after `slashes[i]` to the next
/// slash or the end). An empty topic path is given as `"/"` and `[0]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct TopicPath<'a> {
    pub(super) path: &'a [u8],
    pub(super) slashes: &'a [usize],
}

impl<'a> TopicPath<'a> {
    #[inline]
    fn segment(&self, i: usize) -> Option<&'a [u8]> {
        let start = self.slashes.get(i)? + 1;
        let end = self.slashes.get(i + 1).copied().unwrap_or(self.path.len());
        self.path.get(start..end)
    }
}

/// The first template of `program` matching the topic path: its topic index, and whether a
/// variable of a mixed segment captured a dot segment (the lookup then refuses the path).
pub(super) fn find_topic(mut program: &[u8], tp: TopicPath<'_>) -> Option<(usize, bool)> {
    let m = tp.slashes.len();
    while let Some(h) = program.first_chunk::<TEMPLATE_HEADER>() {
        let (entry, next) =
            program.split_at_checked(usize::from(u16::from_le_bytes([h[0], h[1]])))?;
        let segments = usize::from(h[4]);
        if m == segments || (h[5] != 0 && m > segments) {
            let ops = entry.get(TEMPLATE_HEADER..)?;
            if let Some(dot) = match_segments(ops, tp, segments) {
                return Some((usize::from(u16::from_le_bytes([h[2], h[3]])), dot));
            }
        }
        program = next;
    }
    None
}

/// A literal op's text (after its op byte) and what follows it.
#[inline]
fn read_lit(ops: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = ops.split_first()?;
    rest.split_at_checked(usize::from(len))
}

/// Matches the first `segments` segments of the topic path against one template's ops.
#[inline]
fn match_segments(mut ops: &[u8], tp: TopicPath<'_>, segments: usize) -> Option<bool> {
    let mut dot = false;
    for i in 0..segments {
        let seg = tp.segment(i)?;
        let (&op, rest) = ops.split_first()?;
        ops = match op {
            LIT => {
                let (l, rest) = read_lit(rest)?;
                if !eq_short(seg, l) {
                    return None;
                }
                rest
            }
            VAR => {
                if seg.is_empty() {
                    return None;
                }
                rest
            }
            MIXED => {
                let (&parts, rest) = rest.split_first()?;
                match_mixed(rest, parts, seg, &mut dot)?
            }
            _ => return None,
        };
    }
    Some(dot)
}

/// As eventgate-asyncapi's mixed-segment match: a variable runs to the next occurrence of
/// the literal after it (at least one byte), or to the end of the segment.
fn match_mixed<'o>(mut ops: &'o [u8], parts: u8, seg: &[u8], dot: &mut bool) -> Option<&'o [u8]> {
    let mut pos = 0;
    for left in (0..parts).rev() {
        let rest = seg.get(pos..)?;
        let (&op, after) = ops.split_first()?;
        ops = after;
        match op {
            PART_LIT => {
                let (l, after) = read_lit(ops)?;
                if !rest.starts_with(l) {
                    return None;
                }
                pos += l.len();
                ops = after;
            }
            PART_VAR => {
                let end = match ops.split_first() {
                    Some((&PART_LIT, lit)) if left > 0 => {
                        let (next, _) = read_lit(lit)?;
                        find(rest.get(1..)?, next)? + 1
                    }
                    _ => rest.len(),
                };
                if end == 0 {
                    return None;
                }
                if is_dot_segment_bytes(rest.get(..end)?) {
                    *dot = true;
                }
                pos += end;
            }
            _ => return None,
        }
    }
    (pos == seg.len()).then_some(ops)
}

/// `a == b` for the short strings of template literals, without a call to `memcmp`.
#[inline]
fn eq_short(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The first position of `needle` in `hay`: the first byte is searched for, the rest
/// compared where it is found.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    let last_start = hay.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&i| {
        hay.get(i) == Some(&first)
            && hay
                .get(i + 1..i + needle.len())
                .is_some_and(|h| eq_short(h, rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::path::is_dot_segment;
    use eventgate_asyncapi::{TopicSet, TopicTemplate};

    const TEMPLATES: &[&str] = &[
        "/",
        "/*",
        "/a",
        "/a/",
        "/a/*",
        "/a/{x}",
        "/a/b",
        "/{x}/b",
        "/{x}.json",
        "/a/{x}.json",
        "/x/{a}-{b}",
        "/{a}.{b}",
        "/{x}",
        "/{x}/*",
        "/a/b/c",
        "/a/{x}/c",
        "/pre{x}",
        "/{x}post",
        "/a{x}b{y}c",
        "/{x}/{y}/*",
    ];

    const SEGMENTS: &[&str] = &[
        "", "a", "b", "c", "x", "x.json", ".json", "...json", "a-b", "-", "a.b", "prefoo",
        "foopost", "a1b2c", "abc", "pre", "post", "apostb",
    ];

    /// Every path of one to three segments from [`SEGMENTS`].
    fn paths() -> Vec<String> {
        let mut out = vec![];
        for a in SEGMENTS {
            out.push(format!("/{a}"));
            for b in SEGMENTS {
                out.push(format!("/{a}/{b}"));
                for c in SEGMENTS {
                    out.push(format!("/{a}/{b}/{c}"));
                }
            }
        }
        out
    }

    /// The program of `templates` in the topic set's order, literal ones included.
    fn program(templates: &[TopicTemplate]) -> Vec<u8> {
        let mut order: Vec<usize> = (0..templates.len()).collect();
        order.sort_by(|&a, &b| templates[a].precedence(&templates[b]).then(a.cmp(&b)));
        let mut out = vec![];
        for i in order {
            compile_template(templates[i].as_str(), i, &mut out).unwrap();
        }
        out
    }

    fn check_against_topic_set(templates: &[TopicTemplate]) {
        let set = TopicSet::new(templates.iter().cloned());
        let program = program(templates);
        for path in paths() {
            let slashes: Vec<usize> = (0..path.len())
                .filter(|&i| path.as_bytes()[i] == b'/')
                .collect();
            let tp = TopicPath {
                path: path.as_bytes(),
                slashes: &slashes,
            };
            let want = set
                .find(&path)
                .map(|(i, caps)| (i, caps.iter().any(|(_, v)| is_dot_segment(v))));
            let names: Vec<&str> = templates.iter().map(TopicTemplate::as_str).collect();
            assert_eq!(find_topic(&program, tp), want, "{path} on {names:?}");
        }
    }

    /// The compiled matcher is the topic set's lookup: the same template for every path
    /// (precedence included) and the same dot-segment verdict on mixed captures (`...json`
    /// on `{x}.json` captures `..`).
    #[test]
    fn compiled_programs_find_what_the_topic_set_finds() {
        let all: Vec<TopicTemplate> = TEMPLATES
            .iter()
            .map(|t| TopicTemplate::new(t).unwrap())
            .collect();
        check_against_topic_set(&all);
        for t in &all {
            check_against_topic_set(std::slice::from_ref(t));
        }
        for w in all.windows(3) {
            check_against_topic_set(w);
        }
        check_against_topic_set(&[TopicTemplate::catch_all()]);
    }

    #[test]
    fn templates_that_do_not_fit_the_program_are_refused() {
        let mut out = vec![];
        let long = format!("/{}/{{x}}", "a".repeat(256));
        assert_eq!(compile_template(&long, 0, &mut out), None);
        assert_eq!(compile_template("/a/{x}", 70_000, &mut out), None);
        assert_eq!(compile_template("/a/{x}", 3, &mut Vec::new()), Some(()));
    }

    #[test]
    fn substring_search_agrees_with_str_find() {
        let words = [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghabcdefgh",
            ".json",
        ];
        for a in words {
            for b in words {
                assert_eq!(
                    find(a.as_bytes(), b.as_bytes()),
                    a.find(b),
                    "{b:?} in {a:?}"
                );
            }
        }
        assert_eq!(find(b"MSFT.json", b".json"), Some(4));
        assert_eq!(find(b"a.jso", b".json"), None);
    }

    #[test]
    fn index_finds_every_entry_and_nothing_else() {
        let entries: Vec<(u64, usize)> = (0..1000u64)
            .map(|i| {
                (
                    i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    usize::try_from(i * 3).unwrap(),
                )
            })
            .collect();
        let (index, all) = Index::build(&entries);
        assert!(all);
        for &(h, off) in &entries {
            assert_eq!(index.find(h, |o| o == off), Some(off));
            assert_eq!(index.find(h, |_| false), None);
        }
        assert_eq!(Index::default().find(1, |_| true), None, "an empty index");
    }
}
