//! Line-ending classification: one vectorised pass over a stretch of input that marks
//! every CR and LF byte in a bitmask, one `u64` per 64 bytes (bit `i` of mask `k` is set
//! when byte `64 * k + i` is `\r` or `\n`), as simdjson marks structural characters.
//!
//! The [`Parser`](crate::Parser) classifies each chunk window by window (4 KiB at a
//! time, one call per window) and then walks the bits: a line's end is the lowest set bit
//! at or after its start, so finding it costs a mask, a `trailing_zeros` and, on a long
//! line, a step over zero masks. No search runs per line. Once a line has gone 4 KiB
//! without an ending, the rest of it is run through with [`Classifier::find_line_end`]
//! (the same compares, with no masks to write and walk) and classification starts again
//! at its end.
//!
//! Which vector instructions classify is chosen once, when the parser is built
//! ([`Classifier::best`]): AVX-512BW, AVX2 or SSE2 on x86_64 (detected at run time; SSE2
//! is always there), NEON on aarch64, and a portable byte loop everywhere. Every path
//! gives the same masks; the tests and the `sse_parse_chunks` fuzz target check each one
//! available against the portable path.
//!
//! ```
//! use eventgate_sse::classify::Classifier;
//!
//! let input = b"data: a\r\ndata: b\n\n";
//! let mut masks = [0u64; 1];
//! let classifier = Classifier::best();
//! assert_eq!(classifier.classify(input, &mut masks), input.len());
//! // CR at 7, LF at 8, 16 and 17.
//! assert_eq!(masks[0], (1 << 7) | (1 << 8) | (1 << 16) | (1 << 17));
//! assert_eq!(masks[0], {
//!     let mut portable = [0u64; 1];
//!     Classifier::Portable.classify(input, &mut portable);
//!     portable[0]
//! });
//! ```

// The vector paths use `core::arch` intrinsics (loads through raw pointers, functions
// compiled for CPU features detected at run time). This is the one module of the crate
// that uses `unsafe`; every block says why it is sound.
#![allow(unsafe_code)]

use bytes::BytesMut;

/// How line endings are classified: the instruction set of the vector pass.
///
/// Build a parser with a given one through
/// [`ParserBuilder::classifier`](crate::ParserBuilder::classifier); the default is
/// [`Classifier::best`]. A variant that is not available on the running CPU is never used:
/// it is replaced by the best available one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Classifier {
    /// A byte-at-a-time loop, on every target (the reference the vector paths are
    /// tested against).
    Portable,
    /// x86_64 SSE2: four 16-byte compares per 64 bytes. Always available on x86_64.
    Sse2,
    /// x86_64 AVX2: two 32-byte compares per 64 bytes, when the CPU has AVX2.
    Avx2,
    /// x86_64 AVX-512BW: one 64-byte compare into a mask register, when the CPU has
    /// AVX-512BW.
    Avx512bw,
    /// aarch64 NEON: four 16-byte compares per 64 bytes, narrowed into a mask.
    Neon,
}

/// Every classifier, best first.
const ALL: [Classifier; 5] = [
    Classifier::Avx512bw,
    Classifier::Avx2,
    Classifier::Neon,
    Classifier::Sse2,
    Classifier::Portable,
];

impl Classifier {
    /// The fastest classifier the running CPU supports.
    pub fn best() -> Self {
        ALL.into_iter()
            .find(|c| c.is_available())
            .unwrap_or(Classifier::Portable)
    }

    /// True when this classifier can run on this CPU (the portable one always can).
    pub fn is_available(self) -> bool {
        match self {
            Classifier::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Classifier::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx512bw => std::is_x86_feature_detected!("avx512bw"),
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Classifier::Neon => true,
            #[allow(unreachable_patterns)] // Every arm above exists on some target only.
            _ => false,
        }
    }

    /// Every classifier available on this CPU, best first (the portable one last).
    pub fn available() -> impl Iterator<Item = Classifier> {
        ALL.into_iter().filter(|c| c.is_available())
    }

    /// This classifier if it is available, else [`Classifier::best`].
    pub fn or_best(self) -> Self {
        if self.is_available() {
            self
        } else {
            Classifier::best()
        }
    }

    /// A short lower-case name (`"avx2"`, `"portable"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Classifier::Portable => "portable",
            Classifier::Sse2 => "sse2",
            Classifier::Avx2 => "avx2",
            Classifier::Avx512bw => "avx512bw",
            Classifier::Neon => "neon",
        }
    }

    /// Marks the CR and LF bytes of `bytes` in `masks`: bit `i` of `masks[k]` is set when
    /// `bytes[64 * k + i]` is `\r` or `\n`. Classifies at most `64 * masks.len()` bytes and
    /// returns how many it classified; the masks after those bytes are left as they were,
    /// and bits past the end of `bytes` in the last mask written are 0.
    ///
    /// An unavailable classifier classifies with [`Classifier::best`] instead.
    pub fn classify(self, bytes: &[u8], masks: &mut [u64]) -> usize {
        self.or_best().classify_available(bytes, masks).0
    }

    /// The first CR or LF in `bytes`, found with the same vector compares as
    /// [`classify`](Self::classify) but without writing masks: how the parser runs through
    /// a long line. Also says whether a byte of 0x80 or more is in the 64-byte blocks
    /// (counted from the start of `bytes`) up to and including the one holding the line
    /// ending, or in all of `bytes` when there is none: if not, those bytes are ASCII.
    ///
    /// An unavailable classifier searches with [`Classifier::best`] instead.
    ///
    /// ```
    /// use eventgate_sse::classify::Classifier;
    ///
    /// let mut line = vec![b'x'; 5000];
    /// line.extend_from_slice(b"\r\n");
    /// assert_eq!(Classifier::best().find_line_end(&line), (Some(5000), false));
    /// assert_eq!(Classifier::Portable.find_line_end("é".as_bytes()), (None, true));
    /// ```
    pub fn find_line_end(self, bytes: &[u8]) -> (Option<usize>, bool) {
        self.or_best().find_line_end_available(bytes)
    }

    /// [`find_line_end`](Self::find_line_end) for a classifier known to be available (an
    /// unavailable one falls back to the portable loop).
    #[inline]
    pub(crate) fn find_line_end_available(self, bytes: &[u8]) -> (Option<usize>, bool) {
        // SAFETY: without `COPY` nothing is stored, so the destination is never used.
        unsafe { self.scan::<false>(bytes, std::ptr::null_mut()) }
    }

    /// The search of [`find_line_end`](Self::find_line_end) on this classifier (the
    /// portable loop when it is not available) and, with `COPY`, the copy of
    /// [`copy_to_line_end`](Self::copy_to_line_end): the bytes before the line ending (all
    /// of them when there is none) stored at `to`, in the same pass.
    ///
    /// # Safety
    /// With `COPY`, `to` must have room for `bytes.len()` bytes, not overlapping `bytes`.
    #[inline]
    unsafe fn scan<const COPY: bool>(self, bytes: &[u8], to: *mut u8) -> (Option<usize>, bool) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Classifier::Sse2 => {
                // SAFETY: the caller vouches for `to`; SSE2 is part of every x86_64 CPU.
                unsafe { x86::scan_sse2::<COPY>(bytes, to) }
            }
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx2 if std::is_x86_feature_detected!("avx2") => {
                // SAFETY: the CPU has AVX2 (checked just above), and the caller vouches for
                // `to`: all `scan_avx2` requires.
                unsafe { x86::scan_avx2::<COPY>(bytes, to) }
            }
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx512bw if std::is_x86_feature_detected!("avx512bw") => {
                // SAFETY: the CPU has AVX-512BW (checked just above), and the caller
                // vouches for `to`: all `scan_avx512bw` requires.
                unsafe { x86::scan_avx512bw::<COPY>(bytes, to) }
            }
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Classifier::Neon => {
                // SAFETY: the caller vouches for `to`; NEON is enabled for the whole target.
                unsafe { neon::scan_neon::<COPY>(bytes, to) }
            }
            _ => {
                let (found, high) = find_portable(bytes);
                if COPY {
                    let n = found.unwrap_or(bytes.len());
                    // SAFETY: at most `bytes.len()` bytes, for which the caller vouches
                    // that `to` has room, apart from `bytes`.
                    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), to, n) };
                }
                (found, high)
            }
        }
    }

    /// [`find_line_end`](Self::find_line_end) and a copy in one pass: appends the bytes
    /// of `bytes` before its first CR or LF (all of `bytes` when there is none) to `dst`,
    /// storing each vector as soon as it is loaded and tested, and gives the same answer
    /// as `find_line_end`. How the parser carries a line that goes on from one chunk into
    /// the next: the search and the copy into the line held would otherwise be two passes
    /// over every byte.
    ///
    /// An unavailable classifier copies with [`Classifier::best`] instead.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use eventgate_sse::classify::Classifier;
    ///
    /// let mut line = BytesMut::from(&b"data: "[..]);
    /// let mut chunk = vec![b'x'; 3000];
    /// chunk.extend_from_slice(b"\nid: 1\n");
    /// assert_eq!(Classifier::best().copy_to_line_end(&chunk, &mut line), (Some(3000), false));
    /// assert_eq!(line.len(), 6 + 3000);
    /// assert_eq!(Classifier::Portable.copy_to_line_end(b"no end", &mut line), (None, false));
    /// assert!(line.ends_with(b"xxno end"));
    /// ```
    pub fn copy_to_line_end(self, bytes: &[u8], dst: &mut BytesMut) -> (Option<usize>, bool) {
        self.or_best().copy_to_line_end_available(bytes, dst)
    }

    /// [`copy_to_line_end`](Self::copy_to_line_end) for a classifier known to be
    /// available (an unavailable one falls back to the portable loop). Makes room in
    /// `dst` for all of `bytes` if it has not got it (the parser reserves beforehand, so
    /// this is one compare).
    #[inline]
    pub(crate) fn copy_to_line_end_available(
        self,
        bytes: &[u8],
        dst: &mut BytesMut,
    ) -> (Option<usize>, bool) {
        dst.reserve(bytes.len());
        let to = dst.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        // SAFETY: `to` is the spare capacity of `dst`, room for `bytes.len()` bytes
        // (reserved just above), which `bytes` (a shared borrow while `dst` is borrowed
        // mutably) cannot overlap.
        let (found, high) = unsafe { self.scan::<true>(bytes, to) };
        let n = found.unwrap_or(bytes.len());
        // SAFETY: the copy wrote `bytes[..n]` to the first `n` bytes of the spare capacity
        // (the tests check every path against the portable one), and `n` is at most
        // `bytes.len()`, which fits in it.
        unsafe { dst.set_len(dst.len() + n) };
        (found, high)
    }

    /// [`classify`](Self::classify) for a classifier known to be available (the parser
    /// checks once, when it is built). An unavailable one falls back to the portable loop,
    /// so this is never unsound, only slower. Also returns where the ASCII tail of the
    /// classified bytes starts, to a 64-byte block: every byte from that offset on is
    /// below 0x80 (0 when all are), so text there is UTF-8 without another check.
    #[inline]
    pub(crate) fn classify_available(self, bytes: &[u8], masks: &mut [u64]) -> (usize, usize) {
        let len = bytes.len().min(masks.len().saturating_mul(64));
        let bytes = &bytes[..len];
        let masks = &mut masks[..len.div_ceil(64)];
        let ascii_from = match self {
            #[cfg(target_arch = "x86_64")]
            Classifier::Sse2 => x86::classify_sse2(bytes, masks),
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx2 if std::is_x86_feature_detected!("avx2") => {
                // SAFETY: the CPU has AVX2 (checked just above; the check is a cached
                // load), which is all `classify_avx2` requires.
                unsafe { x86::classify_avx2(bytes, masks) }
            }
            #[cfg(target_arch = "x86_64")]
            Classifier::Avx512bw if std::is_x86_feature_detected!("avx512bw") => {
                // SAFETY: the CPU has AVX-512BW (checked just above), which is all
                // `classify_avx512bw` requires.
                unsafe { x86::classify_avx512bw(bytes, masks) }
            }
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Classifier::Neon => neon::classify_neon(bytes, masks),
            _ => classify_portable(bytes, masks),
        };
        (len, ascii_from.min(len))
    }
}

/// The portable path: one byte at a time. `masks` holds exactly `bytes.len().div_ceil(64)`
/// masks. Returns the start of the block after the last one holding a byte of 0x80 or
/// more (0 if none does), as every path does.
fn classify_portable(bytes: &[u8], masks: &mut [u64]) -> usize {
    let mut ascii_from = 0;
    for (k, (block, mask)) in bytes.chunks(64).zip(masks.iter_mut()).enumerate() {
        let mut m = 0u64;
        for (i, &b) in block.iter().enumerate() {
            if b == b'\r' || b == b'\n' {
                m |= 1 << i;
            }
        }
        if !block.is_ascii() {
            ascii_from = (k + 1) * 64;
        }
        *mask = m;
    }
    ascii_from
}

/// The portable [`Classifier::find_line_end`]: one byte at a time.
fn find_portable(bytes: &[u8]) -> (Option<usize>, bool) {
    let found = bytes.iter().position(|&b| b == b'\r' || b == b'\n');
    let looked_at = found
        .map_or(bytes.len(), |i| (i / 64 + 1) * 64)
        .min(bytes.len());
    (found, !bytes[..looked_at].is_ascii())
}

/// Runs `$block` over the 64-byte blocks of `$bytes` from `$from` until one holds a CR
/// or LF: evaluates to [`Classifier::find_line_end`]'s answer for `$bytes[$from..]`.
/// `$block::<COPY>` (an `unsafe fn(*const u8, *mut u8) -> (u64, bool)`, see
/// [`each_block`]) reads 64 bytes through the first pointer and, with `COPY`, stores them
/// through the second. With `$copy` (a constant) true, `$to` has room for `$bytes.len()`
/// bytes, of which the first `$from` already hold `$bytes[..$from]`, and every byte before
/// the line ending (all of them when there is none) is stored at its offset in `$to`,
/// bytes after it in its block too (within the room); with `$copy` false, `$to` is never
/// written (it may be null). The bytes before `$from` must hold no CR or LF: a last
/// partial block is looked at as the last 64 bytes of `$bytes` when there are that many
/// (overlapping bytes already looked at, or before `$from`, which add no line ending,
/// whose high bits are in the answer already or lie in blocks before the one looked at
/// anyway, and which are stored again as they are), and in a zero-padded buffer
/// otherwise (its bytes up to the line ending then copied from `$bytes`).
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
macro_rules! scan_in_blocks {
    ($bytes:expr, $to:expr, $from:expr, $copy:expr, $block:ident) => {{
        let all: &[u8] = $bytes;
        let to: *mut u8 = $to;
        let from: usize = $from;
        let bytes = &all[from..];
        let mut whole = bytes.chunks_exact(64);
        let mut high = false;
        let mut found = None;
        let mut k = 0;
        for chunk in whole.by_ref() {
            // SAFETY: `chunk` is 64 readable bytes; with `$copy` the 64 bytes at
            // `from + 64 * k` lie within `all`, so within the room of `to`; the caller of
            // the enclosing function guarantees the CPU feature the kernel is compiled for.
            let (m, h) =
                unsafe { $block::<{ $copy }>(chunk.as_ptr(), to.wrapping_add(from + 64 * k)) };
            high |= h;
            if m != 0 {
                found = Some(k * 64 + m.trailing_zeros() as usize);
                break;
            }
            k += 1;
        }
        let tail = whole.remainder();
        if found.is_none() && !tail.is_empty() && all.len() >= 64 {
            // The last 64 bytes, overlapping bytes already looked at (which hold no line
            // ending, whose high bits are already in `high`, and which are stored again as
            // they are).
            let at = all.len() - 64;
            // SAFETY: `all[at..]` is 64 readable bytes, and with `$copy` `to + at` has room
            // for them (the room is `all.len()`); the feature is guaranteed as above.
            let (m, h) = unsafe { $block::<{ $copy }>(all.as_ptr().add(at), to.wrapping_add(at)) };
            high |= h;
            if m != 0 {
                found = Some(at + m.trailing_zeros() as usize - from);
            }
        } else if found.is_none() && !tail.is_empty() {
            let mut padded = [0u8; 64];
            padded[..tail.len()].copy_from_slice(tail);
            // SAFETY: `padded` is 64 readable bytes, and nothing is stored; the feature is
            // guaranteed as above.
            let (m, h) = unsafe { $block::<false>(padded.as_ptr(), core::ptr::null_mut()) };
            high |= h;
            if m != 0 {
                found = Some(k * 64 + m.trailing_zeros() as usize);
            }
            if $copy {
                let n = found.map_or(tail.len(), |i| i - k * 64);
                // SAFETY: `n` is at most `tail.len()`, and `tail` ends where `all` does, so
                // the `n` bytes at `from + 64 * k` are within the room of `to`, which
                // `tail` does not overlap (the caller of the enclosing function vouches).
                unsafe { core::ptr::copy_nonoverlapping(tail.as_ptr(), to.add(from + 64 * k), n) };
            }
        }
        (found, high)
    }};
}

/// [`Classifier::find_line_end`] two 64-byte blocks a step: `$pair::<COPY>` (an `unsafe
/// fn(*const u8, *mut u8) -> (bool, V)` reading 128 bytes through the first pointer:
/// whether they hold a CR or LF, one test of the OR of both blocks' compares, and the OR
/// of the bytes; with `COPY` it also stores them through the second) runs over `$bytes`
/// while neither block holds a line ending, then [`scan_in_blocks`] with `$block` block
/// by block from the pair that does (its high bytes looked at, and its bytes stored,
/// again there): the same answer as block by block from the start (two pairs a step,
/// with one branch for both, while neither holds one). The ORs of the pairs run through
/// are gathered in one vector (`$zero`, `$or`), whose high bits (`$any_high`) are looked
/// at once at the end. `$to` and `$copy` as for [`scan_in_blocks`] (from 0): with `$copy`
/// the bytes up to the line ending are stored at their offsets in `$to`.
#[cfg(target_arch = "x86_64")]
macro_rules! scan_in_pairs {
    ($bytes:expr, $to:expr, $copy:expr, $pair:ident, $block:ident, $zero:ident, $or:ident, $any_high:ident) => {{
        let bytes: &[u8] = $bytes;
        let to: *mut u8 = $to;
        let mut skip = 0;
        let mut seen = $zero();
        // Two pairs a step first, with one branch on both.
        for quad in bytes.chunks_exact(256) {
            // SAFETY: `quad` is 256 readable bytes, two pairs, and with `$copy` the 256
            // bytes at `skip` lie within `bytes`, so within the room of `to`; the feature
            // is guaranteed as below.
            let ((e1, a1), (e2, a2)) = unsafe {
                (
                    $pair::<{ $copy }>(quad.as_ptr(), to.wrapping_add(skip)),
                    $pair::<{ $copy }>(quad.as_ptr().add(128), to.wrapping_add(skip + 128)),
                )
            };
            if e1 | e2 {
                break;
            }
            seen = $or(seen, $or(a1, a2));
            skip += 256;
        }
        for pair in bytes[skip..].chunks_exact(128) {
            // SAFETY: `pair` is 128 readable bytes, and with `$copy` the 128 bytes at
            // `skip` are within the room of `to` (as above); the caller of the enclosing
            // function guarantees the CPU feature the kernel is compiled for.
            let (eol, all) = unsafe { $pair::<{ $copy }>(pair.as_ptr(), to.wrapping_add(skip)) };
            if eol {
                break;
            }
            seen = $or(seen, all);
            skip += 128;
        }
        let high = $any_high(seen);
        let (found, h) = scan_in_blocks!(bytes, to, skip, $copy, $block);
        (found.map(|i| i + skip), high | h)
    }};
}

/// Runs `$block::<false>` (an `unsafe fn(*const u8, *mut u8) -> (u64, bool)` reading 64
/// bytes through the first pointer: the CR/LF mask, and whether any byte is 0x80 or more;
/// with `true` for its parameter it also stores the 64 bytes through the second, which is
/// null here) over every whole 64-byte block of `$bytes`, and over the last partial block
/// copied into a zero-padded buffer (0 is neither CR nor LF, and ASCII, so the padding
/// marks nothing). `$masks` holds exactly
/// `$bytes.len().div_ceil(64)` masks. Evaluates to the start of the block after the last
/// one with a non-ASCII byte (0 if none has one). A macro rather than a function taking
/// a closure, so that the kernel is inlined into the caller compiled for its CPU feature.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
macro_rules! each_block {
    ($bytes:expr, $masks:expr, $block:ident) => {{
        let mut whole = $bytes.chunks_exact(64);
        let mut out = $masks.iter_mut();
        let mut ascii_from = 0;
        let mut k = 0;
        for (chunk, mask) in whole.by_ref().zip(out.by_ref()) {
            // SAFETY: `chunk` is 64 readable bytes; the caller of the enclosing function
            // guarantees the CPU feature the kernel is compiled for.
            let (m, high) = unsafe { $block::<false>(chunk.as_ptr(), core::ptr::null_mut()) };
            *mask = m;
            k += 1;
            if high {
                ascii_from = k * 64;
            }
        }
        let tail = whole.remainder();
        if let Some(mask) = out.next()
            && !tail.is_empty()
        {
            let mut padded = [0u8; 64];
            padded[..tail.len()].copy_from_slice(tail);
            // SAFETY: `padded` is 64 readable bytes; the feature is guaranteed as above.
            let (m, high) = unsafe { $block::<false>(padded.as_ptr(), core::ptr::null_mut()) };
            *mask = m;
            if high {
                ascii_from = (k + 1) * 64;
            }
        }
        ascii_from
    }};
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// SSE2 (the x86_64 baseline, so no detection is needed).
    pub(super) fn classify_sse2(bytes: &[u8], masks: &mut [u64]) -> usize {
        each_block!(bytes, masks, block_sse2)
    }

    /// SSE2 [`Classifier::find_line_end`](super::Classifier::find_line_end), two blocks a
    /// step; with `COPY`, also [`copy_to_line_end`](super::Classifier::copy_to_line_end)'s
    /// copy of the bytes before the line ending to `to`.
    ///
    /// # Safety
    /// With `COPY`, `to` must have room for `bytes.len()` bytes, not overlapping `bytes`.
    pub(super) unsafe fn scan_sse2<const COPY: bool>(
        bytes: &[u8],
        to: *mut u8,
    ) -> (Option<usize>, bool) {
        let (zero, or, any_high) = (zero_sse2, or_sse2, any_high_sse2);
        scan_in_pairs!(bytes, to, COPY, pair_sse2, block_sse2, zero, or, any_high)
    }

    /// A zero vector.
    #[inline(always)]
    fn zero_sse2() -> __m128i {
        // SAFETY: SSE2 is part of every x86_64 CPU.
        unsafe { _mm_setzero_si128() }
    }

    /// The OR of two vectors.
    #[inline(always)]
    fn or_sse2(a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: SSE2 is part of every x86_64 CPU.
        unsafe { _mm_or_si128(a, b) }
    }

    /// Whether a byte of `v` is 0x80 or more.
    #[inline(always)]
    fn any_high_sse2(v: __m128i) -> bool {
        // SAFETY: SSE2 is part of every x86_64 CPU.
        unsafe { _mm_movemask_epi8(v) != 0 }
    }

    /// Whether the 128 bytes at `p` hold a CR or LF, and the OR of their 16-byte vectors;
    /// with `COPY` the bytes are also stored at `q`.
    ///
    /// # Safety
    /// `p` must point to 128 readable bytes, and with `COPY` `q` to room for 128 bytes.
    #[inline(always)]
    unsafe fn pair_sse2<const COPY: bool>(p: *const u8, q: *mut u8) -> (bool, __m128i) {
        // SAFETY: eight unaligned 16-byte loads within the 128 bytes at `p` and, with
        // `COPY`, eight unaligned stores within the 128 at `q`, which the caller vouches
        // for; SSE2 is part of every x86_64 CPU.
        unsafe {
            let cr = _mm_set1_epi8(b'\r' as i8);
            let lf = _mm_set1_epi8(b'\n' as i8);
            let mut eol = _mm_setzero_si128();
            let mut any = _mm_setzero_si128();
            for k in 0..8 {
                let v = _mm_loadu_si128(p.add(16 * k).cast::<__m128i>());
                if COPY {
                    _mm_storeu_si128(q.add(16 * k).cast::<__m128i>(), v);
                }
                eol = _mm_or_si128(
                    eol,
                    _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
                );
                any = _mm_or_si128(any, v);
            }
            (_mm_movemask_epi8(eol) != 0, any)
        }
    }

    /// The CR/LF mask of the 64 bytes at `p` and whether one of them is 0x80 or more;
    /// with `COPY` the bytes are also stored at `q`.
    ///
    /// # Safety
    /// `p` must point to 64 readable bytes, and with `COPY` `q` to room for 64 bytes.
    #[inline(always)]
    unsafe fn block_sse2<const COPY: bool>(p: *const u8, q: *mut u8) -> (u64, bool) {
        // SAFETY: four unaligned 16-byte loads within the 64 bytes at `p` and, with
        // `COPY`, four unaligned stores within the 64 at `q`, which the caller vouches
        // for; SSE2 is part of every x86_64 CPU.
        unsafe {
            let cr = _mm_set1_epi8(b'\r' as i8);
            let lf = _mm_set1_epi8(b'\n' as i8);
            let mut m = 0u64;
            let mut any = _mm_setzero_si128();
            for k in 0..4 {
                let v = _mm_loadu_si128(p.add(16 * k).cast::<__m128i>());
                if COPY {
                    _mm_storeu_si128(q.add(16 * k).cast::<__m128i>(), v);
                }
                let hit = _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf));
                m |= u64::from(_mm_movemask_epi8(hit) as u16) << (16 * k);
                any = _mm_or_si128(any, v);
            }
            (m, _mm_movemask_epi8(any) != 0)
        }
    }

    /// AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn classify_avx2(bytes: &[u8], masks: &mut [u64]) -> usize {
        each_block!(bytes, masks, block_avx2)
    }

    /// AVX2 [`scan_sse2`].
    ///
    /// # Safety
    /// The CPU must have AVX2, and with `COPY` `to` must have room for `bytes.len()`
    /// bytes, not overlapping `bytes`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn scan_avx2<const COPY: bool>(
        bytes: &[u8],
        to: *mut u8,
    ) -> (Option<usize>, bool) {
        let (zero, or) = (_mm256_setzero_si256, _mm256_or_si256);
        scan_in_pairs!(
            bytes,
            to,
            COPY,
            pair_avx2,
            block_avx2,
            zero,
            or,
            any_high_avx2
        )
    }

    /// For each value of a byte's low four bits, the one byte below 0x80 with those bits
    /// that is a line ending (`\n` for 0xA, `\r` for 0xD), or 0xFF (no byte below 0x80)
    /// for the others; twice, one copy per 128-bit lane of a shuffle.
    const EOL_BY_NIBBLE: [u8; 32] = {
        let mut table = [0xFF; 32];
        table[0xA] = b'\n';
        table[0xD] = b'\r';
        table[16 + 0xA] = b'\n';
        table[16 + 0xD] = b'\r';
        table
    };

    /// Whether a byte of `v` is 0x80 or more.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn any_high_avx2(v: __m256i) -> bool {
        _mm256_movemask_epi8(v) != 0
    }

    /// Whether the 128 bytes at `p` hold a CR or LF, and the OR of their 32-byte vectors;
    /// with `COPY` the bytes are also stored at `q`.
    ///
    /// # Safety
    /// `p` must point to 128 readable bytes, with `COPY` `q` to room for 128 bytes, and
    /// the CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn pair_avx2<const COPY: bool>(p: *const u8, q: *mut u8) -> (bool, __m256i) {
        // SAFETY: four unaligned 32-byte loads within the 128 bytes at `p` and, with
        // `COPY`, four unaligned stores within the 128 at `q`, which the caller vouches
        // for; the caller guarantees AVX2.
        unsafe {
            let table = eol_table_avx2();
            let is_eol = |v| eol_avx2(table, v);
            let a = _mm256_loadu_si256(p.cast::<__m256i>());
            let b = _mm256_loadu_si256(p.add(32).cast::<__m256i>());
            let c = _mm256_loadu_si256(p.add(64).cast::<__m256i>());
            let d = _mm256_loadu_si256(p.add(96).cast::<__m256i>());
            if COPY {
                _mm256_storeu_si256(q.cast::<__m256i>(), a);
                _mm256_storeu_si256(q.add(32).cast::<__m256i>(), b);
                _mm256_storeu_si256(q.add(64).cast::<__m256i>(), c);
                _mm256_storeu_si256(q.add(96).cast::<__m256i>(), d);
            }
            let eol = _mm256_or_si256(
                _mm256_or_si256(is_eol(a), is_eol(b)),
                _mm256_or_si256(is_eol(c), is_eol(d)),
            );
            let all = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
            (_mm256_testz_si256(eol, eol) == 0, all)
        }
    }

    /// [`EOL_BY_NIBBLE`] in a vector, for [`eol_avx2`].
    #[target_feature(enable = "avx2")]
    #[inline]
    fn eol_table_avx2() -> __m256i {
        // SAFETY: `EOL_BY_NIBBLE` is 32 readable bytes (an unaligned load).
        unsafe { _mm256_loadu_si256(EOL_BY_NIBBLE.as_ptr().cast::<__m256i>()) }
    }

    /// 0xFF in each lane of `v` that is CR or LF, 0 elsewhere: one shuffle and one compare
    /// instead of two compares. A byte is CR or LF when it equals the entry of `table`
    /// ([`eol_table_avx2`]) that its low four bits pick; the shuffle gives 0 for a byte of
    /// 0x80 or more, which equals no such byte.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn eol_avx2(table: __m256i, v: __m256i) -> __m256i {
        _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, v), v)
    }

    /// [`block_sse2`] with two 32-byte vectors.
    ///
    /// # Safety
    /// `p` must point to 64 readable bytes, with `COPY` `q` to room for 64 bytes, and the
    /// CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block_avx2<const COPY: bool>(p: *const u8, q: *mut u8) -> (u64, bool) {
        // SAFETY: two unaligned 32-byte loads within the 64 bytes at `p` and, with `COPY`,
        // two unaligned stores within the 64 at `q`, which the caller vouches for; the
        // caller guarantees AVX2.
        unsafe {
            let table = eol_table_avx2();
            let lo = _mm256_loadu_si256(p.cast::<__m256i>());
            let hi = _mm256_loadu_si256(p.add(32).cast::<__m256i>());
            if COPY {
                _mm256_storeu_si256(q.cast::<__m256i>(), lo);
                _mm256_storeu_si256(q.add(32).cast::<__m256i>(), hi);
            }
            let high = _mm256_movemask_epi8(_mm256_or_si256(lo, hi)) != 0;
            let m = u64::from(_mm256_movemask_epi8(eol_avx2(table, lo)) as u32)
                | (u64::from(_mm256_movemask_epi8(eol_avx2(table, hi)) as u32) << 32);
            (m, high)
        }
    }

    /// AVX-512BW.
    ///
    /// # Safety
    /// The CPU must have AVX-512BW (which implies AVX-512F).
    #[target_feature(enable = "avx512bw")]
    pub(super) unsafe fn classify_avx512bw(bytes: &[u8], masks: &mut [u64]) -> usize {
        each_block!(bytes, masks, block_avx512bw)
    }

    /// AVX-512BW [`scan_sse2`].
    ///
    /// # Safety
    /// The CPU must have AVX-512BW, and with `COPY` `to` must have room for `bytes.len()`
    /// bytes, not overlapping `bytes`.
    #[target_feature(enable = "avx512bw")]
    pub(super) unsafe fn scan_avx512bw<const COPY: bool>(
        bytes: &[u8],
        to: *mut u8,
    ) -> (Option<usize>, bool) {
        let (zero, or, high) = (_mm512_setzero_si512, _mm512_or_si512, any_high_avx512bw);
        scan_in_pairs!(
            bytes,
            to,
            COPY,
            pair_avx512bw,
            block_avx512bw,
            zero,
            or,
            high
        )
    }

    /// Whether the 128 bytes at `p` hold a CR or LF, and the OR of their 64-byte vectors;
    /// with `COPY` the bytes are also stored at `q`.
    ///
    /// # Safety
    /// `p` must point to 128 readable bytes, with `COPY` `q` to room for 128 bytes, and
    /// the CPU must have AVX-512BW.
    #[target_feature(enable = "avx512bw")]
    #[inline]
    unsafe fn pair_avx512bw<const COPY: bool>(p: *const u8, q: *mut u8) -> (bool, __m512i) {
        // SAFETY: two unaligned 64-byte loads within the 128 bytes at `p` and, with
        // `COPY`, two unaligned stores within the 128 at `q`, which the caller vouches
        // for; the caller guarantees AVX-512BW.
        unsafe {
            let cr = _mm512_set1_epi8(b'\r' as i8);
            let lf = _mm512_set1_epi8(b'\n' as i8);
            let a = _mm512_loadu_si512(p.cast::<__m512i>());
            let b = _mm512_loadu_si512(p.add(64).cast::<__m512i>());
            if COPY {
                _mm512_storeu_si512(q.cast::<__m512i>(), a);
                _mm512_storeu_si512(q.add(64).cast::<__m512i>(), b);
            }
            let eol = _mm512_cmpeq_epi8_mask(a, cr)
                | _mm512_cmpeq_epi8_mask(a, lf)
                | _mm512_cmpeq_epi8_mask(b, cr)
                | _mm512_cmpeq_epi8_mask(b, lf);
            (eol != 0, _mm512_or_si512(a, b))
        }
    }

    /// Whether a byte of `v` is 0x80 or more.
    #[target_feature(enable = "avx512bw")]
    #[inline]
    fn any_high_avx512bw(v: __m512i) -> bool {
        _mm512_movepi8_mask(v) != 0
    }

    /// [`block_sse2`] with one 64-byte vector.
    ///
    /// # Safety
    /// `p` must point to 64 readable bytes, with `COPY` `q` to room for 64 bytes, and the
    /// CPU must have AVX-512BW.
    #[target_feature(enable = "avx512bw")]
    #[inline]
    unsafe fn block_avx512bw<const COPY: bool>(p: *const u8, q: *mut u8) -> (u64, bool) {
        // SAFETY: one unaligned 64-byte load of the 64 bytes at `p` and, with `COPY`, one
        // unaligned store of them at `q`, which the caller vouches for; the caller
        // guarantees AVX-512BW.
        unsafe {
            let v = _mm512_loadu_si512(p.cast::<__m512i>());
            if COPY {
                _mm512_storeu_si512(q.cast::<__m512i>(), v);
            }
            let m = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\r' as i8))
                | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\n' as i8));
            (m, _mm512_movepi8_mask(v) != 0)
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon {
    use core::arch::aarch64::*;

    /// NEON (enabled for the whole target, so no detection is needed).
    pub(super) fn classify_neon(bytes: &[u8], masks: &mut [u64]) -> usize {
        each_block!(bytes, masks, block_neon)
    }

    /// NEON [`Classifier::find_line_end`](super::Classifier::find_line_end), one block a
    /// step; with `COPY`, also [`copy_to_line_end`](super::Classifier::copy_to_line_end)'s
    /// copy of the bytes before the line ending to `to`.
    ///
    /// # Safety
    /// With `COPY`, `to` must have room for `bytes.len()` bytes, not overlapping `bytes`.
    pub(super) unsafe fn scan_neon<const COPY: bool>(
        bytes: &[u8],
        to: *mut u8,
    ) -> (Option<usize>, bool) {
        scan_in_blocks!(bytes, to, 0, COPY, block_neon)
    }

    /// Bit `i % 8` for lane `i`: after masking the compare results with it, three rounds
    /// of pairwise adds fold 64 lanes into 64 bits (simdjson's `to_bitmask`).
    const BITS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];

    /// The CR/LF mask of the 64 bytes at `p` and whether one of them is 0x80 or more;
    /// with `COPY` the bytes are also stored at `q`.
    ///
    /// # Safety
    /// `p` must point to 64 readable bytes, and with `COPY` `q` to room for 64 bytes.
    #[inline(always)]
    unsafe fn block_neon<const COPY: bool>(p: *const u8, q: *mut u8) -> (u64, bool) {
        // SAFETY: four 16-byte loads within the 64 bytes at `p` and, with `COPY`, four
        // 16-byte stores within the 64 at `q`, which the caller vouches for, and one load
        // of the 16 bytes of `BITS`; NEON is enabled for the whole target.
        unsafe {
            let cr = vdupq_n_u8(b'\r');
            let lf = vdupq_n_u8(b'\n');
            let bits = vld1q_u8(BITS.as_ptr());
            let v0 = vld1q_u8(p);
            let v1 = vld1q_u8(p.add(16));
            let v2 = vld1q_u8(p.add(32));
            let v3 = vld1q_u8(p.add(48));
            if COPY {
                vst1q_u8(q, v0);
                vst1q_u8(q.add(16), v1);
                vst1q_u8(q.add(32), v2);
                vst1q_u8(q.add(48), v3);
            }
            let m0 = vandq_u8(vorrq_u8(vceqq_u8(v0, cr), vceqq_u8(v0, lf)), bits);
            let m1 = vandq_u8(vorrq_u8(vceqq_u8(v1, cr), vceqq_u8(v1, lf)), bits);
            let m2 = vandq_u8(vorrq_u8(vceqq_u8(v2, cr), vceqq_u8(v2, lf)), bits);
            let m3 = vandq_u8(vorrq_u8(vceqq_u8(v3, cr), vceqq_u8(v3, lf)), bits);
            let s0 = vpaddq_u8(m0, m1);
            let s1 = vpaddq_u8(m2, m3);
            let s = vpaddq_u8(s0, s1);
            let s = vpaddq_u8(s, s);
            let any = vorrq_u8(vorrq_u8(v0, v1), vorrq_u8(v2, v3));
            (
                vgetq_lane_u64::<0>(vreinterpretq_u64_u8(s)),
                vmaxvq_u8(any) >= 0x80,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(bytes: &[u8]) -> Vec<u64> {
        let mut masks = vec![0u64; bytes.len().div_ceil(64)];
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\r' || b == b'\n' {
                masks[i / 64] |= 1 << (i % 64);
            }
        }
        masks
    }

    #[test]
    fn every_available_classifier_marks_exactly_the_cr_and_lf_bytes() {
        // Every byte value at every position of two blocks, at every start offset.
        let mut bytes: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
        bytes.extend_from_slice(b"\r\n\n\r\r\r\n");
        for c in Classifier::available() {
            for start in 0..70 {
                for len in [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 500] {
                    let input = &bytes[start..(start + len).min(bytes.len())];
                    let mut masks = vec![u64::MAX; input.len().div_ceil(64)];
                    assert_eq!(c.classify(input, &mut masks), input.len());
                    assert_eq!(masks, reference(input), "{} at {start}+{len}", c.name());
                }
            }
        }
    }

    #[test]
    fn every_classifier_finds_where_the_ascii_tail_starts() {
        // A non-ASCII byte at each position of three blocks (or none), at every offset.
        for c in Classifier::available() {
            for hot in (0..200).map(Some).chain([None]) {
                let mut bytes = [b'a'; 200];
                if let Some(h) = hot {
                    bytes[h] = 0x80 | (h as u8);
                }
                for start in [0, 1, 7, 63] {
                    let input = &bytes[start..];
                    let mut masks = vec![0u64; 4];
                    let (len, ascii_from) = c.classify_available(input, &mut masks);
                    assert_eq!(len, input.len());
                    let expected = match hot {
                        Some(h) if h >= start => ((h - start) / 64 + 1) * 64,
                        _ => 0,
                    };
                    assert_eq!(
                        ascii_from,
                        expected.min(input.len()),
                        "{} {hot:?} {start}",
                        c.name()
                    );
                    assert!(input[ascii_from..].is_ascii());
                }
            }
        }
    }

    #[test]
    fn every_classifier_finds_the_first_line_end_and_whether_it_passed_non_ascii() {
        // A line ending (or none) and a non-ASCII byte (or none) at positions around
        // block edges, at every start offset: each path gives the portable answer, and
        // that answer is the naive one.
        let spots = [
            0, 1, 62, 63, 64, 65, 127, 128, 191, 192, 200, 255, 256, 319, 320, 383, 384, 511, 512,
            4095, 4096, 5000,
        ];
        for c in Classifier::available() {
            for eol in spots.iter().copied().map(Some).chain([None]) {
                for hot in spots.iter().copied().map(Some).chain([None]) {
                    let mut bytes = vec![b'a'; 5100];
                    if let Some(h) = hot {
                        bytes[h] = 0xC3;
                    }
                    if let Some(e) = eol {
                        bytes[e] = if e % 2 == 0 { b'\n' } else { b'\r' };
                    }
                    for start in [0, 1, 33, 63] {
                        let input = &bytes[start..];
                        let got = c.find_line_end(input);
                        assert_eq!(got, find_portable(input), "{} {eol:?} {hot:?}", c.name());
                        let first = input.iter().position(|&b| b == b'\r' || b == b'\n');
                        assert_eq!(got.0, first);
                        let upto = first.map_or(input.len(), |i| (i / 64 + 1) * 64);
                        assert_eq!(got.1, !input[..upto.min(input.len())].is_ascii());
                    }
                }
            }
        }
    }

    #[test]
    fn classify_stops_at_the_room_in_masks() {
        let input = [b'\n'; 200];
        let mut masks = [0u64; 2];
        assert_eq!(Classifier::best().classify(&input, &mut masks), 128);
        assert_eq!(masks, [u64::MAX, u64::MAX]);
        assert_eq!(Classifier::Portable.classify(&input, &mut []), 0);
    }

    #[test]
    fn the_best_classifier_is_available_and_the_portable_one_always_is() {
        assert!(Classifier::best().is_available());
        assert!(Classifier::Portable.is_available());
        assert_eq!(Classifier::available().last(), Some(Classifier::Portable));
    }
}
