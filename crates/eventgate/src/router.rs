//! The router: `Host` -> vhost -> context and version -> topic template -> [`Route`]. A
//! [`Router`] is an immutable snapshot built by the [`Registry`](crate::Registry); lookups
//! take no lock and do no I/O.
//!
//! # Rules
//! - **Host**: the `Host` header (or, for HTTP/2, the URI authority) with its port and one
//!   trailing dot removed, compared case-insensitively with the vhosts of every environment.
//!   A host that matches none, or a request without one, goes to the environment marked
//!   [`fallback`](crate::Environment::fallback) (its first vhost) if there is one, else
//!   [`RouteError::UnknownHost`].
//! - **Path**: the query (after the first `?`) is split off before matching and handed back
//!   by [`Route::query`]. The whole path is checked first ([`RouteError::InvalidPath`]): no
//!   `.` or `..` segment in any spelling (`%2e%2E`), no `%2F` / `%5C`, no `\`, no malformed
//!   `%`, visible ASCII only, at most [`DEFAULT_MAX_PATH_LEN`] bytes. A captured variable
//!   that is itself a dot segment (possible inside mixed segments, `{x}.json` on `...json`)
//!   is refused the same way. So no expanded backend path can climb out of its endpoint.
//! - **Context and version**: each deployment is mounted at its versioned path
//!   (`/observer/1.0.0`, or the `{version}` context expanded: `/1.0.0/events`) and, for the
//!   default version, also at its default path (`/observer`, `/events`). A lookup tries the
//!   path's whole-segment prefixes of each base depth present on the vhost, longest first
//!   (one probe per distinct depth, whatever the number of APIs), so the longest matching
//!   base wins (`/a/b/1` over `/a`). There is no fall-through: when the winning API has no
//!   matching topic the answer is [`RouteError::NoTopic`].
//! - **Lifecycle**: PUBLISHED and DEPRECATED APIs route; BLOCKED gives
//!   [`RouteError::Blocked`] (WSO2 700700); CREATED, PRE-RELEASED and RETIRED give
//!   [`RouteError::NotFound`].
//! - **Topic**: the rest of the path (`/` when empty) is matched against the revision's
//!   topics in eventgate-asyncapi's precedence order (literal, mixed, variable, `*`).
//!
//! # How a lookup runs
//! The rules above are the contract; the snapshot is laid out so that a lookup reads few,
//! mostly adjacent, bytes. When the router is built, every base path and every literal
//! topic becomes a record in one byte vector (`flat.rs`), found through open-addressing
//! indexes keyed by (vhost, path):
//! - a literal topic is keyed by its full path (base and topic, both `/a` and `/a/` for the
//!   topic `/`), so most literal lookups are one probe. Such a record is kept only when the
//!   lookup by the rules gives the same answer for that path (it does not when a longer base
//!   shadows it, or the API is not routable), so it can only answer what the rules would;
//! - a base path's record holds its mount (deployment, lifecycle answer, default version)
//!   and the API's templated topics compiled in precedence order (segment counts, literal
//!   bytes inline), which the rest of the path is matched against when no literal record
//!   matched. A literal topic of the winning API always has a record, so it is never
//!   needed there.
//!
//! The path check, the split at `?` and the slash positions are one pass over the target;
//! the `Host` is lower-cased and its port found eight bytes at a time. A [`Route`] keeps a
//! request target of up to 62 bytes inline (no allocation). The lookup by the rules as
//! written (longest base, then the revision's [`TopicSet`](eventgate_asyncapi::TopicSet))
//! stays beside it: it answers for paths of more than 16 segments and for APIs whose
//! templates do not fit the compiled form (a segment literal over 255 bytes, more than 255
//! segments, a topic index over 65,535), and debug builds check every lookup against it.

mod flat;

use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::fmt;
use std::sync::Arc;

use eventgate_asyncapi::{Captures, TopicTemplate};
use eventgate_policy::KeyType;

use crate::error::{PathProblem, RouteError};
use crate::model::path::{Slashes, check_target, is_dot_segment};
use crate::model::{Api, ApiId, Environment, Lifecycle, Revision, Routability, Topic, Vhost};
use crate::registry::RouteSignal;

use flat::{Flat, Index, LiteralRec, MountRec, TopicPath};

/// The longest request path (without the query) the router looks at, in bytes.
pub const DEFAULT_MAX_PATH_LEN: usize = 8 * 1024;

/// What a mount leads to: one deployment as it stands in this snapshot.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) revision: Arc<Revision>,
    pub(crate) environment: Arc<Environment>,
    /// The vhost deployed to, and its index in the router's tables.
    pub(crate) vhost: Vhost,
    pub(crate) table: usize,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) signal: Arc<RouteSignal>,
}

/// What a lookup found, before the [`Route`] is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    target: usize,
    topic: usize,
    base_len: usize,
    default_version: bool,
}

impl From<LiteralRec> for Found {
    fn from(r: LiteralRec) -> Self {
        Found {
            target: r.target,
            topic: r.topic,
            base_len: r.base_len,
            default_version: r.default_version,
        }
    }
}

/// An immutable routing snapshot. Get the current one from
/// [`Registry::router`](crate::Registry::router); it stays valid (and unchanged) for as long
/// as it is held, whatever the registry does meanwhile.
///
/// ```
/// use eventgate::{Api, ApiContext, Endpoint, Environment, EnvironmentType, Hostname,
///     LifecycleAction, Registry, Vhost};
/// use eventgate_asyncapi::ApiVersion;
///
/// let registry = Registry::new();
/// let mut env = Environment::new("Default", EnvironmentType::Hybrid);
/// env.vhosts.push(Vhost::new(Hostname::new("localhost")?));
/// registry.add_environment(env)?;
/// let mut api = Api::new("Observer", ApiContext::new("/observer")?, ApiVersion::new("1.0.0")?);
/// api.endpoints.production = Some(Endpoint::new("http://localhost:8080")?);
/// let id = registry.create_api(api)?;
/// let rev = registry.create_revision(&id, None)?;
/// registry.deploy(&id, rev, "Default", &Hostname::new("localhost")?)?;
/// registry.change_lifecycle(&id, LifecycleAction::Publish)?;
///
/// let route = registry.router().route(Some("LocalHost:8280"), "/observer/1.0.0/memory?x=1")?;
/// assert_eq!(route.api().name, "Observer");
/// assert_eq!(route.topic().template.as_str(), "/*");
/// assert_eq!(route.query(), Some("x=1"));
/// assert_eq!(route.backend_url(eventgate_policy::KeyType::Production, None)?,
///            "http://localhost:8080/memory?x=1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Router {
    generation: u64,
    /// Lower-case host name bytes -> vhost index.
    hosts: HashMap<Box<[u8]>, usize, RandomState>,
    /// The same when there are at most [`FEW_HOSTS`] (compared one by one: cheaper than
    /// hashing the name).
    few_hosts: Option<Box<[HostEntry]>>,
    vhosts: Vec<(Arc<Environment>, Vhost)>,
    fallback: Option<usize>,
    /// Per vhost, the distinct segment counts of its base paths, largest first: a lookup
    /// tries the path's prefix of each length, so it costs one probe per distinct depth (a
    /// handful), whatever the number of APIs.
    depths: Vec<Box<[usize]>>,
    /// Every deployment mounted, by index (a default version's two mounts share one).
    targets: Vec<Arc<Target>>,
    /// Base paths and literal topics, with each mount's compiled topic matcher.
    flat: Flat,
    max_path_len: usize,
    mounts: usize,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("generation", &self.generation)
            .field("vhosts", &self.vhosts.len())
            .field("mounts", &self.mounts)
            .finish_non_exhaustive()
    }
}

/// Builds a router (crate-internal: the registry is its only user).
pub(crate) struct RouterBuilder {
    router: Router,
    /// (vhost, base path, target, default version), in the order mounted.
    mounts: Vec<(usize, String, usize, bool)>,
    depths: Vec<Vec<usize>>,
}

impl RouterBuilder {
    pub(crate) fn new(generation: u64, max_path_len: usize) -> Self {
        RouterBuilder {
            router: Router {
                generation,
                hosts: HashMap::default(),
                few_hosts: None,
                vhosts: Vec::new(),
                fallback: None,
                depths: Vec::new(),
                targets: Vec::new(),
                flat: Flat::new(),
                max_path_len,
                mounts: 0,
            },
            mounts: Vec::new(),
            depths: Vec::new(),
        }
    }

    /// Adds an environment's vhosts; returns the index of each.
    pub(crate) fn environment(&mut self, env: &Arc<Environment>) -> Vec<usize> {
        let r = &mut self.router;
        let mut idx = Vec::with_capacity(env.vhosts.len());
        for (i, v) in env.vhosts.iter().enumerate() {
            let n = r.vhosts.len();
            r.vhosts.push((Arc::clone(env), v.clone()));
            self.depths.push(Vec::new());
            r.hosts.insert(v.host.as_str().as_bytes().into(), n);
            if env.fallback && i == 0 {
                r.fallback = Some(n);
            }
            idx.push(n);
        }
        idx
    }

    /// Mounts a deployment at its versioned path and, for the default version, at its
    /// default path. The registry has checked that no other API has the same base (if one
    /// did, the later mount would replace the earlier).
    pub(crate) fn mount(&mut self, target: Arc<Target>) {
        let api = target.revision.api();
        let mut bases = vec![(api.versioned_path(), false)];
        if api.default_version {
            bases.push((api.context.default_path(), true));
        }
        let vhost = target.table;
        let Some(depths) = self.depths.get_mut(vhost) else {
            return;
        };
        let t = self.router.targets.len();
        self.router.targets.push(target);
        for (base, default_version) in bases {
            let depth = segments(&base);
            if !depths.contains(&depth) {
                depths.push(depth);
                depths.sort_unstable_by(|a, b| b.cmp(a));
            }
            self.mounts.push((vhost, base, t, default_version));
            self.router.mounts += 1;
        }
    }

    /// Lays out the flat table: one record per base path (its mount and compiled topic
    /// matcher), then one per literal topic keyed by its full path, kept only where the
    /// reference lookup (longest base, then the topic set) gives the same answer.
    pub(crate) fn build(self) -> Router {
        let RouterBuilder {
            mut router,
            mounts,
            depths,
        } = self;
        router.depths = depths.into_iter().map(Vec::into_boxed_slice).collect();
        if router.hosts.len() <= FEW_HOSTS {
            let few = router.hosts.iter().map(|(h, &i)| (h.clone(), i)).collect();
            router.few_hosts = Some(few);
        }
        // The last mount of a base wins, as a map insert would.
        let mut last: HashMap<(usize, &str), usize, RandomState> = HashMap::default();
        for (i, (vhost, base, _, _)) in mounts.iter().enumerate() {
            last.insert((*vhost, base.as_str()), i);
        }
        let mut base_entries = Vec::with_capacity(last.len());
        let mut live = Vec::with_capacity(last.len());
        let mut program = Vec::new();
        for (i, (vhost, base, t, default_version)) in mounts.iter().enumerate() {
            if last.get(&(*vhost, base.as_str())) != Some(&i) {
                continue;
            }
            let Some(target) = router.targets.get(*t) else {
                continue;
            };
            let routability = match target.lifecycle.routability() {
                Routability::Routable => flat::ROUTABLE,
                Routability::Blocked => flat::BLOCKED,
                Routability::NotFound => flat::NOT_FOUND,
            };
            program.clear();
            let compiled = compile_topics(target.revision.api(), &mut program).is_some();
            let at = router.flat.push_mount(
                *vhost,
                base,
                *t,
                routability,
                *default_version,
                compiled.then_some(&program[..]),
            );
            base_entries.push((router.flat.hash(*vhost, base.as_bytes()), at));
            live.push((at, i));
        }
        let (index, all) = Index::build(&base_entries);
        router.flat.set_bases(index);
        if !all {
            // Only past 2^48 bytes of records: answer with an empty table rather than a
            // partial one.
            router.flat = Flat::new();
            return router;
        }
        // Literal topics, by full path; each kept only if the reference lookup agrees.
        let mut literals = Vec::new();
        for &(mount_at, i) in &live {
            let Some((vhost, base, t, default_version)) = mounts.get(i) else {
                continue;
            };
            let Some(target) = router.targets.get(*t) else {
                continue;
            };
            if target.lifecycle.routability() != Routability::Routable {
                continue;
            }
            for (topic, tp) in target.revision.api().topics.iter().enumerate() {
                let raw = tp.template.as_str();
                if !is_literal(&tp.template) {
                    continue;
                }
                let mut keys = vec![format!("{base}{raw}")];
                if raw == "/" {
                    keys.push(base.clone());
                }
                for key in keys {
                    let rec = LiteralRec {
                        target: *t,
                        topic,
                        base_len: base.len(),
                        default_version: *default_version,
                    };
                    if router.find_reference(*vhost, &key) == Ok(Found::from(rec)) {
                        literals.push((*vhost, key, rec, mount_at));
                    }
                }
            }
        }
        let mut literal_entries = Vec::with_capacity(literals.len());
        for (vhost, key, rec, mount_at) in literals {
            if router.flat.literal(vhost, key.as_bytes()).is_some() {
                continue;
            }
            match router.flat.push_literal(vhost, &key, rec) {
                Some(at) => literal_entries.push((router.flat.hash(vhost, key.as_bytes()), at)),
                None => router.flat.uncompile(mount_at),
            }
        }
        let (index, all) = Index::build(&literal_entries);
        router.flat.set_literals(index);
        if !all {
            router.flat.set_literals(Index::default());
            for &(mount_at, _) in &live {
                router.flat.uncompile(mount_at);
            }
        }
        router
    }
}

/// True when a template has neither a variable nor `*`: it matches one path, its own text.
fn is_literal(t: &TopicTemplate) -> bool {
    t.variables().next().is_none() && !t.has_wildcard()
}

/// The program of an API's templated topics, in precedence order (the topic set's order:
/// precedence, then declaration).
fn compile_topics(api: &Api, out: &mut Vec<u8>) -> Option<()> {
    let topics = &api.topics;
    let mut order: Vec<usize> = (0..topics.len()).collect();
    order.sort_by(|&a, &b| {
        topics[a]
            .template
            .precedence(&topics[b].template)
            .then(a.cmp(&b))
    });
    for i in order {
        let t = &topics.get(i)?.template;
        if !is_literal(t) {
            flat::compile_template(t.as_str(), i, out)?;
        }
    }
    Some(())
}

/// Number of segments of a path that starts with `/`.
fn segments(path: &str) -> usize {
    path.bytes().filter(|b| *b == b'/').count()
}

/// The prefix of `path` made of its first `n` segments, if it has that many.
fn prefix(path: &str, n: usize) -> Option<&str> {
    let mut seen = 0;
    for (i, b) in path.bytes().enumerate().skip(1) {
        if b == b'/' {
            seen += 1;
            if seen == n {
                return path.get(..i);
            }
        }
    }
    (seen + 1 == n).then_some(path)
}

/// The base paths a revision is mounted at on a vhost (for the registry's conflict check).
pub(crate) fn bases_of(api: &Api) -> Vec<String> {
    let mut v = vec![api.versioned_path()];
    if api.default_version {
        v.push(api.context.default_path());
    }
    v
}

/// A lower-case host name and its vhost.
type HostEntry = (Box<[u8]>, usize);

/// Up to this many vhosts, a host name is compared with each in turn.
const FEW_HOSTS: usize = 8;

/// `Host` values up to this many bytes are lower-cased eight bytes at a time.
const SHORT_HOST: usize = 64;

/// [`host_part`] of a short `Host` value (not an IPv6 literal), lower-cased into `buf`
/// eight bytes at a time; `None` for the others.
#[inline]
fn lower_host_part<'b>(host: &str, buf: &'b mut [u8; SHORT_HOST]) -> Option<&'b [u8]> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let h = host.as_bytes();
    if h.first() == Some(&b'[') {
        return None;
    }
    buf.get_mut(..h.len())?.copy_from_slice(h);
    let mut end = h.len();
    for (i, chunk) in buf.chunks_exact_mut(8).enumerate() {
        if i * 8 >= end {
            break;
        }
        let Some(word) = chunk.first_chunk_mut::<8>() else {
            break;
        };
        let w = u64::from_le_bytes(*word);
        // The first `:` (the port): a byte equal to 0x3a has its top bit set in `colon`.
        let x = w ^ (LO * u64::from(b':'));
        let colon = !(((x & !HI) + !HI) | x) & HI;
        if colon != 0 {
            end = end.min(i * 8 + (colon.trailing_zeros() / 8) as usize);
        }
        // `A`..=`Z` (ASCII only) get 0x20 added.
        let low7 = w & !HI;
        let upper = (low7 + LO * (0x80 - u64::from(b'A')))
            & !(low7 + LO * (0x80 - u64::from(b'Z') - 1))
            & !w
            & HI;
        *word = (w | (upper >> 2)).to_le_bytes();
    }
    let host = buf.get(..end)?;
    Some(host.strip_suffix(b".").unwrap_or(host))
}

/// The host part of a `Host` value: port and one trailing dot removed.
fn host_part(host: &str) -> &str {
    let b = host.as_bytes();
    let end = if b.first() == Some(&b'[') {
        b.iter().position(|&c| c == b']').map_or(b.len(), |e| e + 1)
    } else {
        b.iter().position(|&c| c == b':').unwrap_or(b.len())
    };
    let h = host.get(..end).unwrap_or(host);
    h.strip_suffix('.').unwrap_or(h)
}

impl Router {
    /// A router with nothing mounted (generation 0).
    #[must_use]
    pub fn empty() -> Self {
        RouterBuilder::new(0, DEFAULT_MAX_PATH_LEN).build()
    }

    /// The registry generation this snapshot was built at (it grows by one per committed
    /// change).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of mounts (a default-version deployment counts twice).
    #[must_use]
    pub fn mount_count(&self) -> usize {
        self.mounts
    }

    /// The vhost of a lower-case host name.
    #[inline]
    fn host(&self, name: &[u8]) -> Option<usize> {
        match &self.few_hosts {
            Some(few) => few
                .iter()
                .find(|(h, _)| h.len() == name.len() && **h == *name)
                .map(|&(_, i)| i),
            None => self.hosts.get(name).copied(),
        }
    }

    fn vhost_index(&self, host: Option<&str>) -> Result<usize, RouteError> {
        let found = host.and_then(|h| {
            let mut short = [0u8; SHORT_HOST];
            if let Some(lower) = lower_host_part(h, &mut short) {
                return self.host(lower);
            }
            let h = host_part(h);
            // Lower-case on the stack: host names are at most 253 bytes.
            let mut buf = [0u8; 256];
            let lower = buf.get_mut(..h.len())?;
            for (d, s) in lower.iter_mut().zip(h.bytes()) {
                *d = s.to_ascii_lowercase();
            }
            self.host(lower)
        });
        found.or(self.fallback).ok_or(RouteError::UnknownHost)
    }

    /// Routes a request: `host` is the `Host` header value (port allowed), `path_and_query`
    /// the request target in origin form (`/observer/1.0.0/memory?x=1`).
    ///
    /// # Errors
    /// [`RouteError`]: see the [module documentation](self) for each rule.
    pub fn route(&self, host: Option<&str>, path_and_query: &str) -> Result<Route, RouteError> {
        let mut slashes = Slashes::new();
        let path_len = check_target(path_and_query, self.max_path_len, &mut slashes)?;
        let path = path_and_query.get(..path_len).unwrap_or(path_and_query);
        let vhost = self.vhost_index(host)?;
        let found = self.find(vhost, path, &slashes);
        debug_assert_eq!(
            found,
            self.find_reference(vhost, path),
            "flat table and reference lookup disagree on {path:?}"
        );
        let found = found?;
        let target = self.targets.get(found.target).ok_or(RouteError::NotFound)?;
        Ok(Route {
            target: Arc::clone(target),
            topic: found.topic,
            text: Text::new(path_and_query),
            topic_start: found.base_len,
            path_len: path.len(),
            default_version: found.default_version,
            generation: self.generation,
        })
    }

    /// The lookup on the flat table: the literal topics' full paths first (one probe), then
    /// the base paths, longest first, and the winning mount's compiled matcher.
    #[inline]
    fn find(&self, vhost: usize, path: &str, slashes: &Slashes) -> Result<Found, RouteError> {
        let p = path.as_bytes();
        if let Some(hit) = self.flat.literal(vhost, p) {
            return Ok(hit.into());
        }
        let Some(all) = slashes.all() else {
            return self.find_reference(vhost, path);
        };
        let depths = self.depths.get(vhost).map_or(&[][..], |d| &d[..]);
        for &d in depths {
            // The prefix of `d` segments ends at the path's slash number `d`, or is the
            // whole path when it has exactly `d` segments.
            let end = match all.get(d) {
                _ if d == 0 => continue,
                Some(&e) => e,
                None if d == all.len() => p.len(),
                None => continue,
            };
            let Some(m) = p.get(..end).and_then(|k| self.flat.mount(vhost, k)) else {
                continue;
            };
            self.check_lifecycle(&m)?;
            if !m.compiled {
                return self.topic_reference(&m, path, end);
            }
            let rest = all.get(d..).unwrap_or(&[]);
            let tp = if rest.is_empty() {
                TopicPath {
                    path: b"/",
                    slashes: &[0],
                }
            } else {
                TopicPath {
                    path: p,
                    slashes: rest,
                }
            };
            let (topic, dot) =
                flat::find_topic(m.program, tp).ok_or_else(|| self.no_topic(m.target))?;
            if dot {
                return Err(PathProblem::DotSegment.into());
            }
            return Ok(Found {
                target: m.target,
                topic,
                base_len: end,
                default_version: m.default_version,
            });
        }
        Err(RouteError::NotFound)
    }

    /// The lookup by the rules as written, on the same base paths: the longest base, then
    /// the revision's topic set. The flat table's literal records are checked against it
    /// when built, debug builds compare every lookup with it, and it answers for paths of
    /// more than [`SLASHES`](crate::model::path::SLASHES) segments.
    fn find_reference(&self, vhost: usize, path: &str) -> Result<Found, RouteError> {
        let depths = self.depths.get(vhost).map_or(&[][..], |d| &d[..]);
        let (base_len, m) = depths
            .iter()
            .find_map(|&d| {
                let p = prefix(path, d)?;
                self.flat.mount(vhost, p.as_bytes()).map(|m| (p.len(), m))
            })
            .ok_or(RouteError::NotFound)?;
        self.check_lifecycle(&m)?;
        self.topic_reference(&m, path, base_len)
    }

    fn topic_reference(
        &self,
        m: &MountRec<'_>,
        path: &str,
        base_len: usize,
    ) -> Result<Found, RouteError> {
        let target = self.targets.get(m.target).ok_or(RouteError::NotFound)?;
        let rel = path.get(base_len..).unwrap_or("");
        let topic_path = if rel.is_empty() { "/" } else { rel };
        let (topic, caps) = target
            .revision
            .topic_set()
            .find(topic_path)
            .ok_or_else(|| self.no_topic(m.target))?;
        // Captures are not kept: a stream asks for them once (its backend URL), and the
        // route matches its topic path again then; a lookup stores nothing but the text.
        if caps.iter().any(|(_, v)| is_dot_segment(v)) {
            return Err(PathProblem::DotSegment.into());
        }
        Ok(Found {
            target: m.target,
            topic,
            base_len,
            default_version: m.default_version,
        })
    }

    fn check_lifecycle(&self, m: &MountRec<'_>) -> Result<(), RouteError> {
        match m.routability {
            flat::ROUTABLE => Ok(()),
            flat::BLOCKED => Err(match self.targets.get(m.target) {
                Some(t) => RouteError::Blocked(t.revision.id().clone()),
                None => RouteError::NotFound,
            }),
            _ => Err(RouteError::NotFound),
        }
    }

    #[cold]
    fn no_topic(&self, target: usize) -> RouteError {
        match self.targets.get(target) {
            Some(t) => RouteError::NoTopic(t.revision.id().clone()),
            None => RouteError::NotFound,
        }
    }

    /// Routes an `http::Request`: the `Host` header, or the URI's authority when there is
    /// none (HTTP/2 `:authority`), and the URI's path and query.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn route_request<B>(&self, req: &http::Request<B>) -> Result<Route, RouteError> {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(http::uri::Authority::as_str));
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        self.route(host, pq)
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::empty()
    }
}

/// A routed request: the deployed revision (an `Arc` into the snapshot), the topic, the
/// captured variables and the query. Cheap to keep for a stream's lifetime; it does not keep
/// the rest of the snapshot alive.
pub struct Route {
    target: Arc<Target>,
    topic: usize,
    /// The request's path and query.
    text: Text,
    topic_start: usize,
    path_len: usize,
    default_version: bool,
    generation: u64,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("api", self.api_id())
            .field("revision", &self.revision().number())
            .field("topic", &self.topic().template.as_str())
            .field("topic_path", &self.topic_path())
            .field("environment", &self.environment().name)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// The topic's match of the topic path, made again (the lookup checked that it matches).
    fn matched(&self) -> Captures<'_, '_> {
        self.matched_in(self.topic_path())
    }

    fn matched_in<'a>(&'a self, topic_path: &'a str) -> Captures<'a, 'a> {
        self.topic()
            .template
            .match_path(topic_path)
            .unwrap_or_default()
    }

    /// The topic path within the request target `text` (see [`Route::topic_path`]).
    fn topic_path_in<'a>(&self, text: &'a str) -> &'a str {
        match text.get(self.topic_start..self.path_len) {
            None | Some("") => "/",
            Some(p) => p,
        }
    }

    /// The deployed revision.
    #[must_use]
    pub fn revision(&self) -> &Arc<Revision> {
        &self.target.revision
    }

    /// The API, as deployed.
    #[must_use]
    pub fn api(&self) -> &Api {
        self.target.revision.api()
    }

    /// The API's id.
    #[must_use]
    pub fn api_id(&self) -> &ApiId {
        self.target.revision.id()
    }

    /// The matched topic.
    #[must_use]
    pub fn topic(&self) -> &Topic {
        // The index comes from the revision's own topic set.
        &self.api().topics[self.topic]
    }

    /// The topic's position in [`Api::topics`].
    #[must_use]
    pub fn topic_index(&self) -> usize {
        self.topic
    }

    /// The path after the context and version (`/memory`; `/` when nothing follows).
    #[must_use]
    pub fn topic_path(&self) -> &str {
        self.topic_path_in(self.text.as_str())
    }

    /// The query string (without `?`), if the request had one.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.text.as_str().get(self.path_len..)?.strip_prefix('?')
    }

    /// Captured variables as `(name, value)`, in template order. Values are as sent
    /// (percent-encoded).
    pub fn captures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.matched().into_iter()
    }

    /// The value of one variable.
    #[must_use]
    pub fn capture(&self, name: &str) -> Option<&str> {
        self.captures().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// What the topic's `*` matched (no leading `/`), if it has one.
    #[must_use]
    pub fn rest(&self) -> Option<&str> {
        self.matched().rest()
    }

    /// The environment the revision is deployed to.
    #[must_use]
    pub fn environment(&self) -> &Arc<Environment> {
        &self.target.environment
    }

    /// The vhost it was reached on (the fallback vhost for an unknown host).
    #[must_use]
    pub fn vhost(&self) -> &Vhost {
        &self.target.vhost
    }

    /// The lifecycle state when the snapshot was built (PUBLISHED or DEPRECATED).
    #[must_use]
    pub fn lifecycle(&self) -> Lifecycle {
        self.target.lifecycle
    }

    /// True when new subscriptions may be made (PUBLISHED; not DEPRECATED).
    #[must_use]
    pub fn accepts_subscriptions(&self) -> bool {
        self.target.lifecycle.accepts_subscriptions()
    }

    /// True when the request came through the default-version path (no version in it).
    #[must_use]
    pub fn via_default_version(&self) -> bool {
        self.default_version
    }

    /// True when the environment serves credentials of this key type.
    #[must_use]
    pub fn serves_key_type(&self, key_type: KeyType) -> bool {
        self.target.environment.kind.accepts(key_type)
    }

    /// The snapshot generation the route was found in.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The deployment's signal: [`RouteSignal::is_current`] turns false, and
    /// [`RouteSignal::ended`] completes, when this deployment stops serving (undeployed,
    /// replaced by another revision, API blocked, demoted or retired). Deployments of other
    /// APIs have their own signals.
    #[must_use]
    pub fn signal(&self) -> &Arc<RouteSignal> {
        &self.target.signal
    }

    /// Shorthand for `self.signal().is_current()`.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.target.signal.is_current()
    }

    /// The mapped backend path: the topic's backend template expanded with the captures
    /// (values percent-encoded where needed, `%XX` kept), or the topic path itself when the
    /// topic has no mapping.
    #[must_use]
    pub fn backend_path(&self) -> String {
        self.backend_path_in(self.topic_path())
    }

    fn backend_path_in(&self, topic_path: &str) -> String {
        match &self.topic().backend {
            None => topic_path.to_owned(),
            Some(tpl) => self.expand(tpl, topic_path),
        }
    }

    fn expand(&self, tpl: &TopicTemplate, topic_path: &str) -> String {
        let caps = self.matched_in(topic_path);
        // Validation ensures every backend variable is captured; fall back to the topic
        // path if that ever fails.
        tpl.expand(&caps).unwrap_or_else(|_| topic_path.to_owned())
    }

    /// The backend URL for a credential of `key_type`: the endpoint, the mapped backend path
    /// and the client's query. Query parameters the API strips
    /// ([`StripSettings`](crate::StripSettings)) are left out; `consumed_query_param` is the
    /// parameter the credential was read from, if any.
    ///
    /// # Errors
    /// [`RouteError::KeyTypeNotServed`] when the environment does not serve the key type,
    /// [`RouteError::NoEndpoint`] when the API has no endpoint for it.
    pub fn backend_url(
        &self,
        key_type: KeyType,
        consumed_query_param: Option<&str>,
    ) -> Result<String, RouteError> {
        if !self.serves_key_type(key_type) {
            return Err(RouteError::KeyTypeNotServed(key_type));
        }
        let api = self.api();
        let endpoint = match key_type {
            KeyType::Production => api.endpoints.production.as_ref(),
            KeyType::Sandbox => api.endpoints.sandbox.as_ref(),
        }
        .ok_or_else(|| RouteError::NoEndpoint {
            api: self.api_id().clone(),
            key_type,
        })?;
        // The target is read once (an inline one is checked as UTF-8 on each read).
        let text = self.text.as_str();
        let path = self.backend_path_in(self.topic_path_in(text));
        let mut url = String::with_capacity(endpoint.as_str().len() + path.len() + 16);
        url.push_str(endpoint.as_str());
        url.push_str(&path);
        if let Some(q) = text.get(self.path_len..).and_then(|q| q.strip_prefix('?')) {
            let mut first = true;
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let name = pair.split_once('=').map_or(pair, |(n, _)| n);
                if api.strip.strips_query_param(name, consumed_query_param) {
                    continue;
                }
                url.push(if first { '?' } else { '&' });
                first = false;
                url.push_str(pair);
            }
        }
        Ok(url)
    }
}

/// Request targets up to this many bytes are kept inside the [`Route`] (no allocation).
const INLINE_TEXT: usize = 62;

/// A route's copy of the request target: inline when short, else on the heap.
enum Text {
    Inline(u8, [u8; INLINE_TEXT]),
    Heap(Box<str>),
}

impl Text {
    #[inline]
    fn new(s: &str) -> Self {
        let b = s.as_bytes();
        let mut buf = [0u8; INLINE_TEXT];
        match buf.get_mut(..b.len()) {
            Some(d) => {
                d.copy_from_slice(b);
                // At most INLINE_TEXT (62) bytes.
                #[allow(clippy::cast_possible_truncation)]
                Text::Inline(b.len() as u8, buf)
            }
            None => Text::Heap(s.into()),
        }
    }

    #[inline]
    fn as_str(&self) -> &str {
        match self {
            // The bytes were copied from a `&str`, whole.
            Text::Inline(len, buf) => buf
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
            Text::Heap(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time lower-casing gives `host_part` lower-cased, for every byte value
    /// around the port, the letters and the dot, at every position of both words.
    #[test]
    fn lower_host_part_is_host_part_lower_cased() {
        let bytes = [
            '@', 'A', 'M', 'Z', '[', '`', 'a', 'z', '{', ':', '.', '9', '\u{e9}', '\u{7f}',
        ];
        let mut hosts = vec![String::new(), "GW.Example.COM:8243".into(), "a.:1".into()];
        for c in bytes {
            for pos in 0..17 {
                let mut h: String = "x".repeat(pos);
                h.push(c);
                h.push_str("Ab.");
                hosts.push(h.clone());
                h.push_str(":80");
                hosts.push(h);
            }
        }
        hosts.push("h".repeat(SHORT_HOST));
        for h in &hosts {
            let mut buf = [0u8; SHORT_HOST];
            let want = host_part(h).to_ascii_lowercase();
            let want = (!h.starts_with('[')).then_some(want.as_bytes());
            assert_eq!(lower_host_part(h, &mut buf), want, "{h:?}");
        }
        let mut buf = [0u8; SHORT_HOST];
        assert_eq!(
            lower_host_part("[::1]:80", &mut buf),
            None,
            "IPv6 takes the long way"
        );
        assert_eq!(lower_host_part(&"h".repeat(SHORT_HOST + 1), &mut buf), None);
    }

    #[test]
    fn host_part_strips_port_and_trailing_dot_and_keeps_ipv6_brackets() {
        assert_eq!(host_part("localhost:8280"), "localhost");
        assert_eq!(host_part("example.com."), "example.com");
        assert_eq!(host_part("example.com.:443"), "example.com");
        assert_eq!(host_part("[::1]:8080"), "[::1]");
        assert_eq!(host_part("[::1]"), "[::1]");
        assert_eq!(host_part(""), "");
    }

    #[test]
    fn prefixes_end_at_segment_boundaries() {
        assert_eq!(prefix("/observer/1.0.0/memory", 2), Some("/observer/1.0.0"));
        assert_eq!(
            prefix("/observer/1.0.0/memory", 3),
            Some("/observer/1.0.0/memory")
        );
        assert_eq!(prefix("/observer/1.0.0/memory", 4), None);
        assert_eq!(prefix("/observer/", 1), Some("/observer"));
        assert_eq!(prefix("/", 1), Some("/"));
        assert_eq!(segments("/{version}/events"), 2);
    }

    #[test]
    fn empty_router_knows_no_host() {
        let r = Router::empty();
        assert_eq!(r.generation(), 0);
        assert_eq!(
            r.route(Some("localhost"), "/a").unwrap_err(),
            RouteError::UnknownHost
        );
        assert_eq!(
            r.route(Some("localhost"), "/a/../b").unwrap_err(),
            RouteError::InvalidPath(PathProblem::DotSegment),
            "the path is checked before the host"
        );
    }

    #[test]
    fn overlong_uppercase_host_is_unknown_not_a_panic() {
        let r = Router::empty();
        let host = "A".repeat(300);
        assert_eq!(
            r.route(Some(&host), "/a").unwrap_err(),
            RouteError::UnknownHost
        );
    }
}
