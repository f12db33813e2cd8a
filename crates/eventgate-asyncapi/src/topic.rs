//! Topic templates: RFC 6570 level-1 path templates such as `/stocks/{symbol}` or `/*`,
//! matched against request paths with parameter extraction, expanded into backend paths, and
//! ordered by a documented precedence when several topics overlap.
//!
//! # Syntax
//! A template starts with `/`; it is a list of `/`-separated segments. A segment is literal text,
//! `{name}` variables (level 1 only: no operators such as `{+x}` or `{?x}`; a name is ASCII
//! letters, digits, `_` and `.`), or a mix (`{symbol}.json`). A variable matches one or more
//! characters other than `/`. A last segment of exactly `*` matches the rest of the path (zero
//! or more segments): `/*` is WSO2's "every topic".
//!
//! # Precedence
//! When several templates match one path, the most specific wins. Templates are compared segment
//! by segment from the left; at the first segment where they differ, a literal segment beats a
//! mixed segment (literal text with variables), which beats a pure `{variable}` segment, which
//! beats `*`. If one template runs out of segments first and the other continues with literals,
//! the first difference decides the same way (`*` ranks after everything, so `/a/*` loses to
//! `/a/b/c`). Remaining ties are broken by the template text (byte order), so the order topics
//! were declared in never matters. [`TopicSet`] keeps templates in this order and returns the
//! first match.

use std::cmp::Ordering;
use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::fmt;

/// A template that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Templates must start with `/`.
    #[error("topic template '{0}' must start with '/'")]
    NoLeadingSlash(String),
    /// `{` without `}`, nested braces, or `}` alone.
    #[error("topic template '{0}' has unbalanced braces")]
    Braces(String),
    /// An empty name, an operator (`{+x}`: levels 2 to 4 are not supported), or a character
    /// outside `A-Z a-z 0-9 _ .`.
    #[error(
        "topic template '{template}' has an invalid variable '{{{name}}}' (level 1 names only: letters, digits, '_' and '.')"
    )]
    BadVariable {
        /// The template.
        template: String,
        /// The variable text.
        name: String,
    },
    /// The same variable twice.
    #[error("topic template '{template}' uses variable '{name}' twice")]
    DuplicateVariable {
        /// The template.
        template: String,
        /// The variable.
        name: String,
    },
    /// Two variables with no literal text between them (`{a}{b}`), which is ambiguous.
    #[error("topic template '{0}' has two adjacent variables")]
    AdjacentVariables(String),
    /// `*` anywhere but as the whole last segment.
    #[error("topic template '{0}' may use '*' only as its whole last segment")]
    Wildcard(String),
    /// `?` or `#` in the template.
    #[error("topic template '{0}' must not contain a query or fragment")]
    QueryOrFragment(String),
    /// Expansion needs a value that was not given.
    #[error("no value for variable '{0}'")]
    MissingValue(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Lit(String),
    Var(String),
}

/// A segment: its literal and variable parts (none for an empty segment), or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Parts(Vec<Part>),
    Rest,
}

impl Segment {
    /// The text of a literal segment.
    fn literal(&self) -> Option<&str> {
        match self {
            Segment::Parts(p) => match p.as_slice() {
                [] => Some(""),
                [Part::Lit(l)] => Some(l),
                _ => None,
            },
            Segment::Rest => None,
        }
    }

    /// Literal (0), mixed (1), variable (2), `*` (4).
    fn rank(&self) -> u8 {
        match self {
            _ if self.literal().is_some() => 0,
            Segment::Parts(p) if p.len() > 1 => 1,
            Segment::Parts(_) => 2,
            Segment::Rest => 4,
        }
    }
}

/// A parsed topic template (`/stocks/{symbol}`, `/*`).
///
/// ```
/// use eventgate_asyncapi::TopicTemplate;
/// let t = TopicTemplate::new("/stocks/{symbol}").unwrap();
/// let m = t.match_path("/stocks/IBM").unwrap();
/// assert_eq!(m.get("symbol"), Some("IBM"));
/// assert!(t.match_path("/stocks/IBM/x").is_none());
/// let backend = TopicTemplate::new("/quotes/{symbol}/live").unwrap();
/// assert_eq!(backend.expand(&m).unwrap(), "/quotes/IBM/live");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicTemplate {
    raw: String,
    segments: Vec<Segment>,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

impl TopicTemplate {
    /// Parses a template.
    ///
    /// # Errors
    /// [`TopicError`] naming what is wrong.
    pub fn new(template: &str) -> Result<Self, TopicError> {
        let t = template.to_owned();
        let Some(body) = template.strip_prefix('/') else {
            return Err(TopicError::NoLeadingSlash(t));
        };
        if template.contains(['?', '#']) {
            return Err(TopicError::QueryOrFragment(t));
        }
        let pieces: Vec<&str> = body.split('/').collect();
        let mut segments = Vec::with_capacity(pieces.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, seg) in pieces.iter().enumerate() {
            if *seg == "*" && i + 1 == pieces.len() {
                segments.push(Segment::Rest);
                continue;
            }
            if seg.contains('*') {
                return Err(TopicError::Wildcard(t));
            }
            let mut parts = Vec::new();
            let mut rest = *seg;
            while let Some(pos) = rest.find(['{', '}']) {
                let after = &rest[pos + 1..];
                let close = after.find('}').filter(|_| rest[pos..].starts_with('{'));
                let Some(name) = close.map(|c| &after[..c]).filter(|n| !n.contains('{')) else {
                    return Err(TopicError::Braces(t));
                };
                let (template, owned) = (t.clone(), name.to_owned());
                if !valid_name(name) {
                    return Err(TopicError::BadVariable {
                        template,
                        name: owned,
                    });
                }
                if names.contains(&name) {
                    return Err(TopicError::DuplicateVariable {
                        template,
                        name: owned,
                    });
                }
                if pos > 0 {
                    parts.push(Part::Lit(rest[..pos].to_owned()));
                } else if matches!(parts.last(), Some(Part::Var(_))) {
                    return Err(TopicError::AdjacentVariables(t));
                }
                names.push(name);
                parts.push(Part::Var(owned));
                rest = &after[name.len() + 1..];
            }
            if !rest.is_empty() {
                parts.push(Part::Lit(rest.to_owned()));
            }
            segments.push(Segment::Parts(parts));
        }
        Ok(TopicTemplate { raw: t, segments })
    }

    /// WSO2's catch-all topic `/*`, the topic of a new API.
    #[must_use]
    pub fn catch_all() -> Self {
        TopicTemplate {
            raw: "/*".to_owned(),
            segments: vec![Segment::Rest],
        }
    }

    /// The template as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Names of the variables, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        let parts = self.segments.iter().flat_map(|s| match s {
            Segment::Parts(parts) => parts.as_slice(),
            Segment::Rest => &[],
        });
        parts.filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// True when the last segment is `*`.
    #[must_use]
    pub fn has_wildcard(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Rest))
    }

    /// True when `path` matches, without allocating.
    #[must_use]
    pub fn is_match(&self, path: &str) -> bool {
        self.walk(path, &mut |_, _| {})
    }

    /// Matches a request path (the part after `/{context}/{version}`), giving the variables.
    #[must_use]
    pub fn match_path<'t, 'p>(&'t self, path: &'p str) -> Option<Captures<'t, 'p>> {
        let mut caps = Captures::new();
        let ok = self.walk(path, &mut |name, value| match name {
            Some(n) => caps.insert(n, value),
            None => caps.rest = Some(value),
        });
        ok.then_some(caps)
    }

    /// The matching core: calls `found(Some(name), value)` per variable and `found(None, rest)`
    /// for the wildcard.
    fn walk<'t, 'p>(
        &'t self,
        path: &'p str,
        found: &mut dyn FnMut(Option<&'t str>, &'p str),
    ) -> bool {
        let Some(mut rest) = path.strip_prefix('/').map(Some) else {
            return false;
        };
        for seg in &self.segments {
            let Segment::Parts(parts) = seg else {
                // `*` also accepts an empty rest: `/a/*` matches `/a`.
                found(None, rest.unwrap_or_default());
                return true;
            };
            let Some((cur, next)) = rest.map(first_segment) else {
                return false;
            };
            if !match_parts(parts, cur, found) {
                return false;
            }
            rest = next;
        }
        rest.is_none()
    }

    /// Expands the template with captured values (RFC 6570 simple expansion: characters outside
    /// the unreserved set are percent-encoded, existing `%XX` triplets are kept). A `*` segment
    /// expands to the wildcard rest of `values`, unencoded.
    ///
    /// # Errors
    /// [`TopicError::MissingValue`] when a variable has no value.
    pub fn expand(&self, values: &Captures<'_, '_>) -> Result<String, TopicError> {
        let mut out = String::with_capacity(self.raw.len() + 16);
        for seg in &self.segments {
            out.push('/');
            match seg {
                Segment::Parts(parts) => {
                    for p in parts {
                        match p {
                            Part::Lit(l) => out.push_str(l),
                            Part::Var(v) => encode_into(&mut out, lookup(values, v)?),
                        }
                    }
                }
                // An empty rest drops the `/` just pushed, unless it is all there is.
                Segment::Rest => match values.rest.filter(|r| !r.is_empty()) {
                    Some(rest) => out.push_str(rest),
                    None if out.len() > 1 => _ = out.pop(),
                    None => {}
                },
            }
        }
        Ok(out)
    }

    /// Compares by precedence (see the module documentation): `Less` means `self` wins.
    #[must_use]
    pub fn precedence(&self, other: &Self) -> Ordering {
        // A template that ends ranks its end (3) between a variable and a trailing wildcard: it
        // beats a longer template that only adds the wildcard (both can match the same path),
        // and against anything else (which cannot match the same paths) the fixed place keeps
        // the order total and transitive, as sorting needs.
        let rank = |t: &Self, i: usize| t.segments.get(i).map_or(3, Segment::rank);
        let len = self.segments.len().max(other.segments.len());
        let first_difference = (0..len)
            .map(|i| rank(self, i).cmp(&rank(other, i)))
            .find(|o| o.is_ne());
        first_difference.unwrap_or_else(|| self.raw.cmp(&other.raw))
    }
}

/// A path split at its first `/`: the segment before it and the rest after it, if there is one.
/// (A byte search: shorter than `str::split_once`'s searcher for path segments.)
fn first_segment(path: &str) -> (&str, Option<&str>) {
    match path.bytes().position(|b| b == b'/') {
        Some(p) => (&path[..p], Some(&path[p + 1..])),
        None => (path, None),
    }
}

fn lookup<'p>(values: &Captures<'_, 'p>, name: &str) -> Result<&'p str, TopicError> {
    values
        .get(name)
        .ok_or_else(|| TopicError::MissingValue(name.to_owned()))
}

fn encode_into(out: &mut String, value: &str) {
    let b = value.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let keep = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        let triplet = c == b'%'
            && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if keep {
            out.push(char::from(c));
        } else if triplet {
            out.push_str(&value[i..i + 3]);
            i += 3;
            continue;
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 0xf)]));
        }
        i += 1;
    }
}

/// Matches one path segment against a template segment's parts.
fn match_parts<'t, 'p>(
    parts: &'t [Part],
    seg: &'p str,
    found: &mut dyn FnMut(Option<&'t str>, &'p str),
) -> bool {
    // The common one-part segments directly (the loop below gives the same answers).
    match parts {
        [Part::Lit(l)] => return l == seg,
        [Part::Var(v)] => {
            found(Some(v), seg);
            return !seg.is_empty();
        }
        _ => {}
    }
    let mut pos = 0;
    let mut i = 0;
    while let Some(part) = parts.get(i) {
        let Some(rest) = seg.get(pos..) else {
            return false;
        };
        match part {
            Part::Lit(l) => {
                if !rest.starts_with(l.as_str()) {
                    return false;
                }
                pos += l.len();
            }
            Part::Var(v) => {
                // A variable runs to the next literal (shortest match), or to the end.
                let end = match parts.get(i + 1) {
                    Some(Part::Lit(next)) => {
                        // at least one character
                        match rest.get(1..).and_then(|r| r.find(next.as_str())) {
                            Some(p) => p + 1,
                            None => return false,
                        }
                    }
                    _ => rest.len(),
                };
                if end == 0 {
                    return false;
                }
                found(Some(v), &rest[..end]);
                pos += end;
            }
        }
        i += 1;
    }
    pos == seg.len()
}

impl fmt::Display for TopicTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for TopicTemplate {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Variables a match keeps inline; more spill to the heap.
const INLINE_CAPTURES: usize = 4;

/// Variables captured by a match (borrowing the template names and the path). Up to four
/// are kept inline, so matching a template allocates nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Captures<'t, 'p> {
    /// Slots past `len` keep their default (nothing removes a value), so the derived equality
    /// is equality of the values in order.
    inline: [(&'t str, &'p str); INLINE_CAPTURES],
    len: usize,
    spill: Vec<(&'t str, &'p str)>,
    rest: Option<&'p str>,
}

impl fmt::Debug for Captures<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captures")
            .field("values", &self.iter().collect::<Vec<_>>())
            .field("rest", &self.rest)
            .finish()
    }
}

impl<'t, 'p> IntoIterator for Captures<'t, 'p> {
    type Item = (&'t str, &'p str);
    type IntoIter = std::iter::Chain<
        std::iter::Take<std::array::IntoIter<(&'t str, &'p str), INLINE_CAPTURES>>,
        std::vec::IntoIter<(&'t str, &'p str)>,
    >;

    /// The `(name, value)` pairs in template order.
    fn into_iter(self) -> Self::IntoIter {
        self.inline.into_iter().take(self.len).chain(self.spill)
    }
}

impl<'t, 'p> Captures<'t, 'p> {
    /// An empty set of values (for [`TopicTemplate::expand`] with values from elsewhere).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value.
    pub fn insert(&mut self, name: &'t str, value: &'p str) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = (name, value);
                self.len += 1;
            }
            None => self.spill.push((name, value)),
        }
    }

    /// Sets the wildcard rest.
    pub fn set_rest(&mut self, rest: &'p str) {
        self.rest = Some(rest);
    }

    /// The value of a variable.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.iter().find_map(|(n, v)| (n == name).then_some(v))
    }

    /// What the `*` segment matched (without its leading `/`), if the template has one.
    #[must_use]
    pub fn rest(&self) -> Option<&'p str> {
        self.rest
    }

    /// All `(name, value)` pairs in template order.
    pub fn iter(&self) -> impl Iterator<Item = (&'t str, &'p str)> + '_ {
        self.inline
            .iter()
            .take(self.len)
            .chain(&self.spill)
            .copied()
    }

    /// Number of captured variables (the wildcard rest not counted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len + self.spill.len()
    }

    /// True when no variable was captured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A set of topic templates kept in precedence order, for routing.
///
/// ```
/// use eventgate_asyncapi::{TopicSet, TopicTemplate};
/// let set = TopicSet::new(["/*", "/stocks/{symbol}", "/stocks/ibm"].map(|t| TopicTemplate::new(t).unwrap()));
/// assert_eq!(set.find("/stocks/ibm").unwrap().0, 2);
/// assert_eq!(set.find("/stocks/msft").unwrap().0, 1);
/// assert_eq!(set.find("/news").unwrap().0, 0);
/// ```
///
/// Lookup is indexed by the first path segment: templates whose first segment is literal are
/// bucketed by it (and, by the precedence rules, always beat templates whose first segment is
/// not literal), so a lookup tries only the templates sharing the path's first segment, then the
/// few whose first segment is a variable or `*`.
#[derive(Debug, Clone, Default)]
pub struct TopicSet {
    /// (template, index given at construction), sorted by precedence.
    entries: Vec<(TopicTemplate, usize)>,
    /// First literal segment -> positions in `entries`, ascending.
    by_first: HashMap<String, Vec<usize>, RandomState>,
    /// Positions of templates whose first segment is not literal, ascending.
    other: Vec<usize>,
}

impl TopicSet {
    /// Builds the set; each template keeps its position in the input as its index.
    pub fn new(templates: impl IntoIterator<Item = TopicTemplate>) -> Self {
        let mut entries: Vec<(TopicTemplate, usize)> = templates.into_iter().zip(0..).collect();
        entries.sort_by(|a, b| a.0.precedence(&b.0).then(a.1.cmp(&b.1)));
        let mut by_first: HashMap<String, Vec<usize>, RandomState> = HashMap::default();
        let mut other = Vec::new();
        for (pos, (t, _)) in entries.iter().enumerate() {
            match t.segments.first().and_then(Segment::literal) {
                Some(l) => by_first.entry(l.to_owned()).or_default().push(pos),
                None => other.push(pos),
            }
        }
        TopicSet {
            entries,
            by_first,
            other,
        }
    }

    /// The most specific template matching `path`: its input index and the captures.
    #[must_use]
    pub fn find<'s, 'p>(&'s self, path: &'p str) -> Option<(usize, Captures<'s, 'p>)> {
        let (first, _) = first_segment(path.strip_prefix('/')?);
        let bucket = self.by_first.get(first).map(Vec::as_slice).unwrap_or(&[]);
        bucket.iter().chain(&self.other).find_map(|&pos| {
            let (t, i) = self.entries.get(pos)?;
            t.match_path(path).map(|c| (*i, c))
        })
    }

    /// Templates in precedence order.
    pub fn iter(&self) -> impl Iterator<Item = &TopicTemplate> {
        self.entries.iter().map(|(t, _)| t)
    }

    /// Number of templates.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TopicTemplate {
        TopicTemplate::new(s).unwrap()
    }

    #[test]
    fn variable_matches_one_nonempty_segment() {
        let tt = t("/stocks/{symbol}");
        assert!(tt.is_match("/stocks/A"));
        assert!(!tt.is_match("/stocks/"));
        assert!(!tt.is_match("/stocks"));
        assert!(!tt.is_match("/stocks/a/b"));
        assert!(!tt.is_match("stocks/a"));
    }

    #[test]
    fn catch_all_matches_everything_including_root() {
        let tt = TopicTemplate::catch_all();
        for p in ["/", "/a", "/a/b/c"] {
            assert!(tt.is_match(p), "{p}");
        }
        assert_eq!(tt.match_path("/a/b").unwrap().rest(), Some("a/b"));
    }

    #[test]
    fn trailing_wildcard_accepts_empty_rest() {
        let tt = t("/feed/*");
        assert_eq!(tt.match_path("/feed").unwrap().rest(), Some(""));
        assert_eq!(tt.match_path("/feed/x/y").unwrap().rest(), Some("x/y"));
        assert!(!tt.is_match("/feeds"));
    }

    #[test]
    fn mixed_segment_extracts_around_literals() {
        let tt = t("/q/{sym}.{fmt}");
        let m = tt.match_path("/q/IBM.json").unwrap();
        assert_eq!(m.get("sym"), Some("IBM"));
        assert_eq!(m.get("fmt"), Some("json"));
        assert!(!tt.is_match("/q/.json"));
    }

    #[test]
    fn bad_templates_are_rejected_with_reason() {
        let cases = [
            ("a", TopicError::NoLeadingSlash("a".into())),
            ("/{a", TopicError::Braces("/{a".into())),
            ("/a}", TopicError::Braces("/a}".into())),
            ("/{a}{b}", TopicError::AdjacentVariables("/{a}{b}".into())),
            ("/*/a", TopicError::Wildcard("/*/a".into())),
            ("/a*", TopicError::Wildcard("/a*".into())),
            ("/a?b=1", TopicError::QueryOrFragment("/a?b=1".into())),
        ];
        for (template, want) in cases {
            assert_eq!(TopicTemplate::new(template), Err(want), "{template}");
        }
        let (template, name) = ("/{+a}".to_owned(), "+a".to_owned());
        let err = TopicError::BadVariable { template, name };
        assert_eq!(TopicTemplate::new("/{+a}"), Err(err));
        let (template, name) = ("/{a}/{a}".to_owned(), "a".to_owned());
        let err = TopicError::DuplicateVariable { template, name };
        assert_eq!(TopicTemplate::new("/{a}/{a}"), Err(err));
    }

    #[test]
    fn expand_percent_encodes_reserved_but_keeps_triplets() {
        let tt = t("/b/{x}");
        let mut c = Captures::new();
        c.insert("x", "a b/c%2F");
        assert_eq!(tt.expand(&c).unwrap(), "/b/a%20b%2Fc%2F");
        assert!(matches!(
            tt.expand(&Captures::new()),
            Err(TopicError::MissingValue(_))
        ));
    }

    #[test]
    fn expand_wildcard_appends_rest_like_wso2() {
        let tt = TopicTemplate::catch_all();
        let m = tt.match_path("/memory").unwrap();
        assert_eq!(tt.expand(&m).unwrap(), "/memory");
        let m = tt.match_path("/").unwrap();
        assert_eq!(tt.expand(&m).unwrap(), "/");
        let mapped = t("/api/*");
        assert_eq!(mapped.expand(&m).unwrap(), "/api");
    }

    #[test]
    fn precedence_literal_then_mixed_then_variable_then_wildcard() {
        let order = ["/a/b", "/a/{x}.json", "/a/{x}", "/a/*", "/*"];
        let set = TopicSet::new(order.iter().rev().map(|s| t(s)));
        let got: Vec<&str> = set.iter().map(TopicTemplate::as_str).collect();
        assert_eq!(got, order);
    }

    #[test]
    fn precedence_is_independent_of_declaration_order() {
        let a = TopicSet::new(["/x/{a}", "/x/{b}"].map(t));
        let b = TopicSet::new(["/x/{b}", "/x/{a}"].map(t));
        let ta: Vec<_> = a.iter().collect();
        let tb: Vec<_> = b.iter().collect();
        assert_eq!(ta, tb);
        assert_eq!(ta[0].as_str(), "/x/{a}");
    }

    /// Templates of every kind of segment and every overlap.
    const TEMPLATES: [&str; 17] = [
        "/",
        "/*",
        "/a",
        "/b",
        "/a/*",
        "/a/{x}",
        "/a/b",
        "/{x}/b",
        "/{x}.json",
        "/a/{x}.json",
        "/n/{v0}.json",
        "/a/{v0}",
        "/b/*",
        "/{x}",
        "/{x}/*",
        "/a/b/c",
        "/a/{x}/c",
    ];

    /// Sorting needs a total order: a cycle (a < b < c < a) made topic order depend on
    /// declaration order and can make `sort_by` panic.
    #[test]
    fn precedence_is_a_total_order() {
        let all = TEMPLATES.map(t);
        for a in &all {
            assert_eq!(a.precedence(a), Ordering::Equal);
            for b in &all {
                assert_eq!(a.precedence(b), b.precedence(a).reverse(), "{a:?} vs {b:?}");
                for c in &all {
                    if a.precedence(b) == Ordering::Less && b.precedence(c) == Ordering::Less {
                        assert_eq!(a.precedence(c), Ordering::Less, "{a:?} < {b:?} < {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn indexed_find_agrees_with_a_linear_scan_in_precedence_order() {
        let set = TopicSet::new(TEMPLATES.map(t));
        let sorted: Vec<TopicTemplate> = set.iter().cloned().collect();
        for path in [
            "/",
            "/a",
            "/a/b",
            "/a/c",
            "/a/c.json",
            "/z/b",
            "/q.json",
            "/b",
            "/b/c/d",
            "/a/b/c",
            "/a/q/c",
            "/n/1.json",
            "x",
        ] {
            let linear = sorted
                .iter()
                .find(|tt| tt.is_match(path))
                .map(|tt| tt.as_str().to_owned());
            let indexed = set.find(path).map(|(i, _)| TEMPLATES[i].to_owned());
            assert_eq!(indexed, linear, "{path}");
        }
    }

    #[test]
    fn longer_literal_path_beats_shorter_wildcard() {
        let set = TopicSet::new(["/a/*", "/a/b/c"].map(t));
        assert_eq!(set.find("/a/b/c").unwrap().0, 1);
        assert_eq!(set.find("/a/b").unwrap().0, 0);
    }
}
