//! Event quotas (fixed windows, exact) and connection limits, behind traits.
//!
//! # Algorithm: fixed windows aligned to the epoch
//! A quota of `N` events per `T` admits at most `N` events in each window
//! `[k·T, (k+1)·T)` of Unix time (UTC; a daily plan resets at 00:00 UTC). Chosen over GCRA
//! because it is what a WSO2 plan means ("50000 events per day", stop on quota reach), it
//! gives a single, communicable reset instant for the `Retry-After` / `nextAccessTime` the
//! client sees, it is exact with one atomic word per counter, and it maps one-to-one on Redis
//! (`INCR` of key `<counter>:<k>` with `EXPIREAT` at the window end, in one script). The known
//! cost of fixed windows (up to `2N` events around a boundary) is accepted as WSO2 accepts it;
//! a plan that must also smooth short bursts adds [`Plan::burst`](crate::Plan), a second, short
//! window.
//!
//! # Exactness
//! The in-process counter packs `(window index, count)` in one `AtomicU64` and admits with a
//! compare-and-swap that never moves the count past the limit, so no interleaving of threads
//! over-admits. A [`Meter`] charging several counters (subscription, application, bursts)
//! takes from each in turn and gives back what it took when a later one refuses; that can
//! momentarily refuse an event that a different interleaving would have admitted (under-admit
//! by at most the number of concurrent chargers), never admit one too many.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use eventgate_sse::{EventBuilder, Frame};
use eventgate_types::BoxFuture;

use crate::error::ConfigError;
use crate::model::Quota;
use crate::time::Timestamp;

/// Counts what a window admitted; refused when the window is full.
///
/// Implementations must be exact: between two windows' resets, the number of successful
/// [`try_take`](Self::try_take) minus [`give_back`](Self::give_back) never exceeds the limit.
///
/// # Shared stores: leases
/// A counter shared between nodes (such as `redis::RedisCounters`, feature `redis`)
/// cannot ask its store per event. It leases a block of events
/// from the store and charges locally from it: [`try_take`](Self::try_take) never does I/O
/// and answers [`TakeError::Pending`] when the block is used up and the next one has not
/// arrived yet (its refill is under way); [`poll_ready`](Self::poll_ready) waits for it.
/// In-process counters are always ready.
pub trait WindowCounter: Send + Sync + fmt::Debug {
    /// Admit one event at `now`, without I/O.
    ///
    /// # Errors
    /// [`TakeError::Exhausted`] when the current window is full; for a leasing counter,
    /// [`TakeError::Pending`] when no leased event is at hand (poll
    /// [`poll_ready`](Self::poll_ready)) and [`TakeError::StoreUnavailable`] when the store
    /// failed to lease more.
    fn try_take(&self, now: Timestamp) -> Result<(), TakeError>;
    /// Return one event taken at `now` (a no-op once that window has passed).
    fn give_back(&self, now: Timestamp);
    /// Events still available in the window containing `now`, as far as this node knows
    /// (for a leasing counter: what it holds at hand).
    fn remaining(&self, now: Timestamp) -> u64;
    /// The quota this counter enforces.
    fn quota(&self) -> Quota;
    /// Ready when [`try_take`](Self::try_take) at `now` will not answer
    /// [`TakeError::Pending`]: a leasing counter starts a refill from its store and wakes
    /// `cx` when it is done. Default: always ready.
    ///
    /// # Errors
    /// [`TakeError::Exhausted`] when the store has no event left in the window,
    /// [`TakeError::StoreUnavailable`] when it could not be asked.
    fn poll_ready(&self, cx: &mut Context<'_>, now: Timestamp) -> Poll<Result<(), TakeError>> {
        let _ = (cx, now);
        Poll::Ready(Ok(()))
    }
}

/// A bounded gauge of concurrent holders (connection slots).
///
/// In-process gauges answer [`try_acquire`](Self::try_acquire) at once. A gauge shared
/// between nodes answers [`acquire`](Self::acquire) (one store call); its
/// `try_acquire` refuses.
pub trait Gauge: Send + Sync + fmt::Debug {
    /// Take a slot if one is free, without I/O.
    fn try_acquire(&self) -> bool;
    /// Free a slot taken by [`try_acquire`](Self::try_acquire) or
    /// [`acquire`](Self::acquire) (a shared gauge frees it in the background).
    fn release(&self);
    /// Slots in use (as far as this node knows).
    fn in_use(&self) -> u32;
    /// Take a slot if one is free, asking the store when the gauge is shared. Default:
    /// [`try_acquire`](Self::try_acquire).
    ///
    /// # Errors
    /// [`StoreUnavailable`] when a shared store could not be asked.
    fn acquire(&self) -> BoxFuture<'_, Result<bool, StoreUnavailable>> {
        Box::pin(std::future::ready(Ok(self.try_acquire())))
    }
}

/// A window is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the window is full until {resets_at:?}")]
pub struct Exhausted {
    /// When the next window starts.
    pub resets_at: Timestamp,
}

/// A shared counter store could not be asked (connection refused or lost, timeout, error
/// reply). The gate answers new streams with WSO2's 900900 (HTTP 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the shared counter store is unavailable")]
pub struct StoreUnavailable;

/// Why a [`WindowCounter`] did not admit an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TakeError {
    /// The window is full.
    #[error(transparent)]
    Exhausted(#[from] Exhausted),
    /// A leasing counter has no event at hand; its refill is under way (see
    /// [`WindowCounter::poll_ready`]).
    #[error("no leased event at hand; the refill is under way")]
    Pending,
    /// A leasing counter's store failed to lease more.
    #[error(transparent)]
    StoreUnavailable(#[from] StoreUnavailable),
}

/// A [`CounterStore`] holds as many counters as it may and cannot free one without losing
/// a count: the stream asking for a new one is refused (the gate answers 503, 900801).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the counter store is full ({max_entries} entries, all in use)")]
pub struct StoreFull {
    /// The store's limit.
    pub max_entries: usize,
}

/// Where counters and gauges live. Handles are looked up once per stream (in
/// [`Gate::authorize`](crate::Gate::authorize)); the per-event cost is the handle's own.
pub trait CounterStore: Send + Sync + fmt::Debug {
    /// The window counter named `key` for `quota`, looked up at `now`. The same key and
    /// quota give the same count, shared by every stream, for as long as the counter
    /// holds a count of the current window or a stream holds it. No I/O: a shared store
    /// hands out a handle and talks to its server in
    /// [`WindowCounter::poll_ready`].
    ///
    /// # Errors
    /// [`StoreFull`] when the store is at its limit and no counter can be freed.
    fn window(
        &self,
        key: &str,
        quota: Quota,
        now: Timestamp,
    ) -> Result<Arc<dyn WindowCounter>, StoreFull>;
    /// The same counter as [`window`](Self::window) when it is an in-process
    /// [`AtomicWindow`], so meters can charge it without dynamic dispatch. Default: `None`.
    ///
    /// # Errors
    /// As [`window`](Self::window).
    fn local_window(
        &self,
        key: &str,
        quota: Quota,
        now: Timestamp,
    ) -> Option<Result<Arc<AtomicWindow>, StoreFull>> {
        let _ = (key, quota, now);
        None
    }
    /// The gauge named `key` with `max` slots. A shared store hands out one handle per
    /// holder (per stream), taken with [`Gauge::acquire`].
    ///
    /// # Errors
    /// As [`window`](Self::window).
    fn gauge(&self, key: &str, max: u32) -> Result<Arc<dyn Gauge>, StoreFull>;
    /// True when the store is shared between nodes and must be used through
    /// [`Gate::authorize_async`](crate::Gate::authorize_async) (its counters lease, its
    /// gauges need [`Gauge::acquire`]). Default: `false`.
    fn is_shared(&self) -> bool {
        false
    }
}

const SHARDS: usize = 16;

/// Default limit of counters and gauges an [`InProcessCounters`] holds: 262 144 (about 40
/// MiB at the most; a subscription needs one to three).
pub const DEFAULT_MAX_COUNTER_ENTRIES: usize = 1 << 18;

/// Counters by name, then by parameters (a plan change gives a fresh counter), with the
/// number of counters held. Looked up by `&str`, so a hit allocates nothing.
#[derive(Debug)]
struct ShardMap<P, V> {
    map: HashMap<String, Vec<(P, Arc<V>)>>,
    entries: usize,
}

impl<P, V> Default for ShardMap<P, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            entries: 0,
        }
    }
}

type Shard<P, V> = RwLock<ShardMap<P, V>>;

/// The in-process [`CounterStore`]: lock-free atomic counters, found through a sharded map
/// (the map is touched once per stream, never per event).
///
/// Bounded: at most `max_entries` counters and gauges (default
/// [`DEFAULT_MAX_COUNTER_ENTRIES`], split evenly over 16 shards). When a shard is full, the
/// entries no stream holds and that count nothing in their current window (expired
/// windows, idle gauges) are dropped; an entry a stream holds, or a window with events
/// counted in it, is never dropped (its count would be lost and the quota overshot), so when
/// nothing can be dropped the new entry is refused with [`StoreFull`].
#[derive(Debug)]
pub struct InProcessCounters {
    windows: [Shard<Quota, AtomicWindow>; SHARDS],
    gauges: [Shard<u32, AtomicGauge>; SHARDS],
    per_shard: usize,
    max_entries: usize,
}

impl Default for InProcessCounters {
    fn default() -> Self {
        Self::with_max_entries(DEFAULT_MAX_COUNTER_ENTRIES)
    }
}

fn shard_of(key: &str) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    // Truncation is the point: any bits pick a shard.
    #[allow(clippy::cast_possible_truncation)]
    let i = h.finish() as usize;
    i % SHARDS
}

impl InProcessCounters {
    /// An empty store with the default limit.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with the defaults.
    pub fn builder() -> InProcessCountersBuilder {
        InProcessCountersBuilder::new()
    }

    fn with_max_entries(max_entries: usize) -> Self {
        Self {
            windows: Default::default(),
            gauges: Default::default(),
            // Windows and gauges share the limit, half each per shard, at least one each.
            per_shard: max_entries.div_ceil(2 * SHARDS).max(1),
            max_entries,
        }
    }

    /// Counters and gauges held now.
    #[must_use]
    pub fn len(&self) -> usize {
        fn count<P, V>(shards: &[Shard<P, V>]) -> usize {
            shards
                .iter()
                .map(|s| match s.read() {
                    Ok(g) => g.entries,
                    Err(p) => p.into_inner().entries,
                })
                .sum()
        }
        count(&self.windows) + count(&self.gauges)
    }

    /// No counter or gauge held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get_or_insert<P: PartialEq + Copy, V>(
        &self,
        lock: &Shard<P, V>,
        key: &str,
        params: P,
        make: impl FnOnce() -> V,
        idle: impl Fn(&V) -> bool,
    ) -> Result<Arc<V>, StoreFull> {
        if let Ok(g) = lock.read()
            && let Some((_, v)) = g
                .map
                .get(key)
                .and_then(|l| l.iter().find(|(p, _)| *p == params))
        {
            return Ok(Arc::clone(v));
        }
        let mut g = match lock.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some((_, v)) = g
            .map
            .get(key)
            .and_then(|l| l.iter().find(|(p, _)| *p == params))
        {
            return Ok(Arc::clone(v));
        }
        if g.entries >= self.per_shard {
            // Under the write lock nobody can clone an entry out of the map, so a count of
            // one means no stream holds it.
            let ShardMap { map, entries } = &mut *g;
            map.retain(|_, list| {
                list.retain(|(_, v)| {
                    let keep = Arc::strong_count(v) > 1 || !idle(v);
                    if !keep {
                        *entries -= 1;
                    }
                    keep
                });
                !list.is_empty()
            });
            if g.entries >= self.per_shard {
                return Err(StoreFull {
                    max_entries: self.max_entries,
                });
            }
        }
        let v = Arc::new(make());
        g.map
            .entry(key.to_owned())
            .or_default()
            .push((params, Arc::clone(&v)));
        g.entries += 1;
        Ok(v)
    }

    fn atomic_window(
        &self,
        key: &str,
        quota: Quota,
        now: Timestamp,
    ) -> Result<Arc<AtomicWindow>, StoreFull> {
        self.get_or_insert(
            &self.windows[shard_of(key)],
            key,
            quota,
            || AtomicWindow::new(quota),
            |w| w.is_idle(now),
        )
    }
}

/// Builds an [`InProcessCounters`].
#[must_use]
#[derive(Clone, Debug)]
pub struct InProcessCountersBuilder {
    max_entries: usize,
}

impl Default for InProcessCountersBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessCountersBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self {
            max_entries: DEFAULT_MAX_COUNTER_ENTRIES,
        }
    }

    /// Most counters and gauges held (rounded up to a multiple of 32: 16 shards, windows
    /// and gauges apart). Default is [`DEFAULT_MAX_COUNTER_ENTRIES`] (262 144); at least 1.
    pub fn max_entries(&mut self, n: usize) -> &mut Self {
        self.max_entries = n;
        self
    }

    /// Builds the store.
    ///
    /// # Errors
    /// [`ConfigError::Limit`] for a limit of 0.
    pub fn build(&self) -> Result<InProcessCounters, ConfigError> {
        if self.max_entries == 0 {
            return Err(ConfigError::Limit {
                setting: "max_entries",
                reason: "must be at least 1",
            });
        }
        Ok(InProcessCounters::with_max_entries(self.max_entries))
    }
}

impl CounterStore for InProcessCounters {
    fn local_window(
        &self,
        key: &str,
        quota: Quota,
        now: Timestamp,
    ) -> Option<Result<Arc<AtomicWindow>, StoreFull>> {
        Some(self.atomic_window(key, quota, now))
    }

    fn window(
        &self,
        key: &str,
        quota: Quota,
        now: Timestamp,
    ) -> Result<Arc<dyn WindowCounter>, StoreFull> {
        let w: Arc<dyn WindowCounter> = self.atomic_window(key, quota, now)?;
        Ok(w)
    }

    fn gauge(&self, key: &str, max: u32) -> Result<Arc<dyn Gauge>, StoreFull> {
        let g: Arc<dyn Gauge> = self.get_or_insert(
            &self.gauges[shard_of(key)],
            key,
            max,
            || AtomicGauge::new(max),
            |g| g.in_use() == 0,
        )?;
        Ok(g)
    }
}

/// Window tags are window indexes modulo this; `NEVER` marks an unused counter.
const TAG_SPACE: u64 = u32::MAX as u64;
const NEVER: u64 = u32::MAX as u64;

/// A lock-free exact fixed-window counter: `(window index mod 2^32) << 32 | count` in one
/// `AtomicU64`. Limits up to `u32::MAX - 1`.
#[derive(Debug)]
pub struct AtomicWindow {
    state: AtomicU64,
    limit: u64,
    period: Divisor,
    quota: Quota,
}

/// Division by a window length fixed at construction, by multiply-and-shift (a 64-bit `div`
/// costs more than the rest of a charge). For `d` not a power of two, with
/// `k = floor(log2 d)` and `m = ceil(2^(64+k) / d) < 2^64`, `floor(n·m / 2^(64+k))` equals
/// `floor(n / d)` for every `n < 2^63` (the error term `n·(m − 2^(64+k)/d) / 2^(64+k)` stays
/// below `1/d`). Larger `n` fall back to `div`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Divisor {
    d: u64,
    magic: u64,
    shift: u32,
    pow2: bool,
}

impl Divisor {
    pub(crate) fn new(d: u64) -> Self {
        let d = d.max(1);
        let k = 63 - d.leading_zeros();
        if d.is_power_of_two() {
            return Self {
                d,
                magic: 0,
                shift: k,
                pow2: true,
            };
        }
        let m = (1u128 << (64 + k)) / u128::from(d) + 1;
        Self {
            d,
            magic: u64::try_from(m).unwrap_or(u64::MAX),
            shift: k,
            pow2: false,
        }
    }

    #[inline]
    pub(crate) fn div(self, n: u64) -> u64 {
        if self.pow2 {
            n >> self.shift
        } else if n < 1 << 63 {
            let hi = (u128::from(n) * u128::from(self.magic)) >> 64;
            // `hi < 2^64` because `magic < 2^64`.
            #[allow(clippy::cast_possible_truncation)]
            let hi = hi as u64;
            hi >> self.shift
        } else {
            n / self.d
        }
    }
}

impl AtomicWindow {
    /// A counter for `quota` (its `events` are clamped to `u32::MAX - 1`, its window to at
    /// least 1 ms).
    #[must_use]
    pub fn new(quota: Quota) -> Self {
        let period = Divisor::new(u64::try_from(quota.per.as_millis()).unwrap_or(u64::MAX));
        Self {
            // Window tag u32::MAX never matches a real index below 2^32 - 1, so the first
            // charge always opens a fresh window.
            state: AtomicU64::new(NEVER << 32),
            limit: quota.events.min(crate::model::MAX_QUOTA_EVENTS),
            period,
            quota,
        }
    }

    #[inline]
    fn window_of(&self, now: Timestamp) -> (u64, u64) {
        let idx = self.period.div(now.as_unix_millis());
        // Mask to 32 bits for the tag; u32::MAX is reserved for "never used".
        let tag = idx % TAG_SPACE;
        (idx, tag)
    }

    /// [`WindowCounter::try_take`] without dynamic dispatch.
    ///
    /// # Errors
    /// [`Exhausted`] when the current window is full.
    #[inline]
    pub fn take(&self, now: Timestamp) -> Result<(), Exhausted> {
        let (idx, tag) = self.window_of(now);
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let cur_tag = cur >> 32;
            // How many windows the stored window is ahead of ours (mod the tag space); a
            // charger holding a slightly older `now` counts into the newer window instead of
            // resetting it, so no window ever admits more than the limit.
            let ahead = (cur_tag + TAG_SPACE - tag) % TAG_SPACE;
            let next = if cur_tag != NEVER && ahead < TAG_SPACE / 2 {
                let count = cur & 0xFFFF_FFFF;
                if count >= self.limit {
                    return Err(Exhausted {
                        resets_at: self.reset_of(idx.saturating_add(ahead)),
                    });
                }
                cur + 1
            } else {
                (tag << 32) | 1
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Nothing counted in the window containing `now` (or in a later one): dropping the
    /// counter loses no count.
    fn is_idle(&self, now: Timestamp) -> bool {
        let cur = self.state.load(Ordering::Acquire);
        let cur_tag = cur >> 32;
        if cur_tag == NEVER {
            return true;
        }
        let (_, tag) = self.window_of(now);
        let ahead = (cur_tag + TAG_SPACE - tag) % TAG_SPACE;
        ahead >= TAG_SPACE / 2 || cur & 0xFFFF_FFFF == 0
    }

    fn reset_of(&self, idx: u64) -> Timestamp {
        Timestamp::from_unix_millis(idx.saturating_add(1).saturating_mul(self.period.d))
    }
}

impl WindowCounter for AtomicWindow {
    #[inline]
    fn try_take(&self, now: Timestamp) -> Result<(), TakeError> {
        self.take(now).map_err(TakeError::Exhausted)
    }

    fn give_back(&self, now: Timestamp) {
        let (_, tag) = self.window_of(now);
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur >> 32 == tag && cur & 0xFFFF_FFFF > 0 {
            match self.state.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    fn remaining(&self, now: Timestamp) -> u64 {
        let (_, tag) = self.window_of(now);
        let cur = self.state.load(Ordering::Acquire);
        if cur >> 32 == tag {
            self.limit.saturating_sub(cur & 0xFFFF_FFFF)
        } else {
            self.limit
        }
    }

    fn quota(&self) -> Quota {
        self.quota
    }
}

/// A lock-free bounded gauge.
#[derive(Debug)]
pub struct AtomicGauge {
    used: AtomicU32,
    max: u32,
}

impl AtomicGauge {
    /// A gauge with `max` slots.
    #[must_use]
    pub fn new(max: u32) -> Self {
        Self {
            used: AtomicU32::new(0),
            max,
        }
    }
}

impl Gauge for AtomicGauge {
    fn try_acquire(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < self.max).then_some(u + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_sub(1));
    }

    fn in_use(&self) -> u32 {
        self.used.load(Ordering::Acquire)
    }
}

/// A held connection slot; dropping it frees the slot.
#[derive(Debug)]
pub struct SlotGuard {
    gauge: Arc<dyn Gauge>,
}

impl SlotGuard {
    /// Take a slot from `gauge`, or `None` if it is full.
    #[must_use]
    pub fn acquire(gauge: Arc<dyn Gauge>) -> Option<Self> {
        gauge.try_acquire().then_some(Self { gauge })
    }

    /// Take a slot from `gauge` through [`Gauge::acquire`] (a shared gauge asks its store),
    /// or `None` if it is full.
    ///
    /// # Errors
    /// [`StoreUnavailable`] when a shared store could not be asked.
    pub async fn acquire_async(gauge: Arc<dyn Gauge>) -> Result<Option<Self>, StoreUnavailable> {
        let taken = gauge.acquire().await?;
        Ok(taken.then_some(Self { gauge }))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.gauge.release();
    }
}

/// Which quota refused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuotaScope {
    /// The subscription's plan (WSO2 code 900804).
    Subscription,
    /// The application's plan (WSO2 code 900803).
    Application,
}

impl QuotaScope {
    /// WSO2 error code for this scope.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Subscription => "900804",
            Self::Application => "900803",
        }
    }
}

/// An event was refused because a quota ran out. Carries what the gateway needs for the
/// final SSE event (see [`QuotaExceeded::sse_event`]) or a 429 response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("quota exceeded ({scope:?}), resets at {resets_at:?}")]
pub struct QuotaExceeded {
    /// Which plan refused.
    pub scope: QuotaScope,
    /// The quota that ran out.
    pub quota: Quota,
    /// When the refusing window resets.
    pub resets_at: Timestamp,
}

impl QuotaExceeded {
    /// WSO2 error code: `900804` (subscription) or `900803` (application).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        self.scope.code()
    }

    /// WSO2 message: `Message throttled out`.
    #[must_use]
    pub const fn message(&self) -> &'static str {
        "Message throttled out"
    }

    /// Seconds from `now` to the reset, rounded up (for `Retry-After`).
    #[must_use]
    pub fn retry_after(&self, now: Timestamp) -> u64 {
        self.resets_at
            .saturating_since(now)
            .as_millis()
            .div_ceil(1000)
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// The JSON body: WSO2's error shape plus `nextAccessTime`.
    #[must_use]
    pub fn to_json(&self) -> String {
        wso2_error_json(
            self.code(),
            self.message(),
            &format!(
                "You have exceeded your quota of {} events per {}s",
                self.quota.events,
                self.quota.per.as_secs_f64()
            ),
            Some(self.resets_at),
        )
    }

    /// The final SSE event the gateway sends before closing a stream whose quota ran out,
    /// as written by `eventgate-sse`'s encoder:
    ///
    /// ```text
    /// retry: <milliseconds until the reset>
    /// event: eventgate-error
    /// data: {"code":"900804","message":"Message throttled out","description":"...","nextAccessTime":"2027-01-16T00:00:00.000Z"}
    ///
    /// ```
    /// The `retry:` field makes a standard `EventSource` wait until the quota resets before
    /// reconnecting; the `data:` line is [`QuotaExceeded::to_json`] (one line: serde_json
    /// escapes control characters).
    ///
    /// ```
    /// # use eventgate_policy::{Quota, QuotaExceeded, QuotaScope, Timestamp};
    /// # use std::time::Duration;
    /// # let e = eventgate_policy::Meter::new(vec![(
    /// #     std::sync::Arc::new(eventgate_policy::AtomicWindow::new(Quota::new(1, Duration::from_secs(60)))) as _,
    /// #     QuotaScope::Subscription)]);
    /// # let now = Timestamp::from_unix_secs(100);
    /// # e.charge(now).unwrap();
    /// let Err(eventgate_policy::ChargeError::Exceeded(over)) = e.charge(now) else { panic!() };
    /// let frame = over.sse_event(now);
    /// assert!(frame.as_bytes().starts_with(b"retry: 20000\nevent: eventgate-error\ndata: {\"code\":\"900804\""));
    /// ```
    #[must_use]
    pub fn sse_event(&self, now: Timestamp) -> Frame {
        let retry = self.resets_at.saturating_since(now);
        let json = self.to_json();
        EventBuilder::new()
            .event(ERROR_EVENT)
            .retry(retry)
            .data(&json)
            .build()
            // The encoder refuses only an id or event type holding a line break; the event
            // type is the constant above and there is no id, so this arm never runs. Should
            // it, the client still learns when to come back.
            .unwrap_or_else(|_| Frame::retry(retry))
    }
}

/// The event type of the final event of a stream the gateway ends (quota exhausted,
/// credential expired): `eventgate-error`.
pub const ERROR_EVENT: &str = "eventgate-error";

/// WSO2's error body, members in WSO2's order: `code`, `message`, `description`, then
/// `nextAccessTime` when given.
pub(crate) fn wso2_error_json(
    code: &str,
    message: &str,
    description: &str,
    next_access: Option<Timestamp>,
) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = format!(
        "{{\"code\":{},\"message\":{},\"description\":{}",
        q(code),
        q(message),
        q(description)
    );
    if let Some(t) = next_access {
        out.push_str(&format!(",\"nextAccessTime\":{}", q(&t.to_rfc3339())));
    }
    out.push('}');
    out
}

/// Why [`Meter::charge`] refused an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChargeError {
    /// A plan's quota ran out: do not deliver; send [`QuotaExceeded::sse_event`]; close.
    #[error(transparent)]
    Exceeded(#[from] QuotaExceeded),
    /// A leasing counter (shared store) has no event at hand and its refill is under way:
    /// wait for [`Meter::poll_ready`] / [`Meter::ready`], then charge again. Never
    /// returned by in-process counters.
    #[error("the quota lease is being refilled; wait for Meter::ready")]
    Pending,
    /// A leasing counter's store could not lease more: the stream has used its leased
    /// events. Send [`ChargeError::sse_event`] (900900) and close.
    #[error("the shared counter store is unavailable")]
    StoreUnavailable,
}

impl ChargeError {
    /// WSO2 error code: the quota's (`900804` / `900803`), or `900900` for a store that
    /// could not be asked or has not answered yet.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Exceeded(q) => q.code(),
            Self::Pending | Self::StoreUnavailable => "900900",
        }
    }

    /// The final SSE event for a stream ended by this error: [`QuotaExceeded::sse_event`]
    /// for a quota; for a store error an `eventgate-error` event with code 900900 and a
    /// `retry:` of one second (the client comes back to a node that can lease).
    #[must_use]
    pub fn sse_event(&self, now: Timestamp) -> Frame {
        let description = match self {
            Self::Exceeded(q) => return q.sse_event(now),
            Self::Pending => "The quota store has not answered yet; reconnect",
            Self::StoreUnavailable => "The quota store is unavailable; reconnect later",
        };
        let retry = Duration::from_secs(1);
        let json = wso2_error_json(
            "900900",
            "Unclassified Authentication Failure",
            description,
            None,
        );
        EventBuilder::new()
            .event(ERROR_EVENT)
            .retry(retry)
            .data(&json)
            .build()
            // As in QuotaExceeded::sse_event: a constant event type and no id.
            .unwrap_or_else(|_| Frame::retry(retry))
    }
}

/// A counter a meter charges: the in-process one without dynamic dispatch, or any other.
#[derive(Debug, Clone)]
pub(crate) enum Counter {
    Local(Arc<AtomicWindow>),
    Shared(Arc<dyn WindowCounter>),
}

impl Counter {
    #[inline]
    fn try_take(&self, now: Timestamp) -> Result<(), TakeError> {
        match self {
            Self::Local(w) => w.take(now).map_err(TakeError::Exhausted),
            Self::Shared(c) => c.try_take(now),
        }
    }

    fn get(&self) -> &dyn WindowCounter {
        match self {
            Self::Local(w) => &**w,
            Self::Shared(c) => &**c,
        }
    }
}

#[derive(Debug, Clone)]
struct Charge {
    counter: Counter,
    scope: QuotaScope,
}

impl Charge {
    fn error(&self, e: TakeError) -> ChargeError {
        match e {
            TakeError::Exhausted(x) => ChargeError::Exceeded(QuotaExceeded {
                scope: self.scope,
                quota: self.counter.get().quota(),
                resets_at: x.resets_at,
            }),
            TakeError::Pending => ChargeError::Pending,
            TakeError::StoreUnavailable(_) => ChargeError::StoreUnavailable,
        }
    }
}

/// The per-stream event meter: charge it once per delivered event.
///
/// `Send + Sync`, `&self` only: the relay may share it (`Arc<Meter>`) across tasks.
///
/// # Contract
/// [`charge`](Self::charge) returns `Ok` for exactly as many events as the plans admit in
/// the current window; [`ChargeError::Exceeded`] means: do not deliver this event, send
/// [`QuotaExceeded::sse_event`], close the stream. A reconnect before the reset is refused at
/// connect time with 429 and `Retry-After`. With a shared store (leases), `charge` may also
/// answer [`ChargeError::Pending`] (wait for [`ready`](Self::ready), charge again) or
/// [`ChargeError::StoreUnavailable`] (end the stream with [`ChargeError::sse_event`]).
///
/// ```
/// use eventgate_policy::{ChargeError, Meter, Quota, Timestamp, QuotaScope, AtomicWindow};
/// use std::{sync::Arc, time::Duration};
/// let meter = Meter::new(vec![(
///     Arc::new(AtomicWindow::new(Quota::new(2, Duration::from_secs(60)))) as _,
///     QuotaScope::Subscription,
/// )]);
/// let now = Timestamp::from_unix_secs(120);
/// assert!(meter.charge(now).is_ok());
/// assert!(meter.charge(now).is_ok());
/// let Err(ChargeError::Exceeded(e)) = meter.charge(now) else { panic!() };
/// assert_eq!(e.code(), "900804");
/// assert_eq!(e.resets_at, Timestamp::from_unix_secs(180));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Meter {
    charges: Charges,
}

/// How many charges a meter holds in itself: an application's quota and burst and a plan's
/// quota and burst, the most a grant charges.
const INLINE_CHARGES: usize = 4;

/// A meter's charges: the first [`INLINE_CHARGES`] in the meter itself, so that charging an
/// event reads the stream's own memory and the shared counters, and no separate allocation
/// (a cache miss per event when thousands of streams are charged in turn); any more in a
/// `Vec`.
#[derive(Debug, Clone, Default)]
struct Charges {
    inline: [Option<Charge>; INLINE_CHARGES],
    more: Vec<Charge>,
}

impl Charges {
    #[inline]
    fn iter(&self) -> impl Iterator<Item = &Charge> {
        self.inline
            .iter()
            .map_while(Option::as_ref)
            .chain(&self.more)
    }
}

impl FromIterator<Charge> for Charges {
    fn from_iter<I: IntoIterator<Item = Charge>>(iter: I) -> Self {
        let mut charges = Self::default();
        for (i, c) in iter.into_iter().enumerate() {
            match charges.inline.get_mut(i) {
                Some(slot) => *slot = Some(c),
                None => charges.more.push(c),
            }
        }
        charges
    }
}

impl Meter {
    /// A meter over counters, charged in the given order.
    #[must_use]
    pub fn new(counters: Vec<(Arc<dyn WindowCounter>, QuotaScope)>) -> Self {
        Self {
            charges: counters
                .into_iter()
                .map(|(counter, scope)| Charge {
                    counter: Counter::Shared(counter),
                    scope,
                })
                .collect(),
        }
    }

    pub(crate) fn from_counters(counters: Vec<(Counter, QuotaScope)>) -> Self {
        Self {
            charges: counters
                .into_iter()
                .map(|(counter, scope)| Charge { counter, scope })
                .collect(),
        }
    }

    /// A meter that admits everything.
    #[must_use]
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Charge one delivered event at `now`. Never does I/O.
    ///
    /// # Errors
    /// A [`ChargeError`]; nothing is charged then.
    #[inline]
    pub fn charge(&self, now: Timestamp) -> Result<(), ChargeError> {
        for (i, c) in self.charges.iter().enumerate() {
            if let Err(e) = c.counter.try_take(now) {
                for done in self.charges.iter().take(i) {
                    done.counter.get().give_back(now);
                }
                return Err(c.error(e));
            }
        }
        Ok(())
    }

    /// Ready when every counter can charge an event at `now` without
    /// [`ChargeError::Pending`]: leasing counters refill from their store and wake `cx`.
    /// In-process counters are always ready (this checks nothing for them: see
    /// [`check`](Self::check)).
    ///
    /// # Errors
    /// [`ChargeError::Exceeded`] when a store has no event left in the window,
    /// [`ChargeError::StoreUnavailable`] when it could not be asked.
    pub fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        now: Timestamp,
    ) -> Poll<Result<(), ChargeError>> {
        let mut pending = false;
        for c in self.charges.iter() {
            if let Counter::Shared(w) = &c.counter {
                match w.poll_ready(cx, now) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(c.error(e))),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    /// [`poll_ready`](Self::poll_ready) as a future.
    ///
    /// # Errors
    /// As [`poll_ready`](Self::poll_ready).
    pub async fn ready(&self, now: Timestamp) -> Result<(), ChargeError> {
        std::future::poll_fn(|cx| self.poll_ready(cx, now)).await
    }

    /// True when a counter leases from a shared store (so [`charge`](Self::charge) may
    /// answer [`ChargeError::Pending`]).
    #[must_use]
    pub fn is_leasing(&self) -> bool {
        self.charges
            .iter()
            .any(|c| matches!(c.counter, Counter::Shared(_)))
    }

    /// Would an event at `now` be refused? (Used at connect time; charges nothing.)
    #[must_use]
    pub fn check(&self, now: Timestamp) -> Option<QuotaExceeded> {
        self.charges
            .iter()
            .find(|c| c.counter.get().remaining(now) == 0)
            .map(|c| QuotaExceeded {
                scope: c.scope,
                quota: c.counter.get().quota(),
                resets_at: Timestamp::from_unix_millis(
                    (now.as_unix_millis() / period_ms(c.counter.get().quota().per))
                        .saturating_add(1)
                        .saturating_mul(period_ms(c.counter.get().quota().per)),
                ),
            })
    }

    /// [`check`](Self::check) over the in-process counters only (a leasing counter's
    /// local view says nothing of its store; [`ready`](Self::ready) asks it).
    pub(crate) fn check_local(&self, now: Timestamp) -> Option<QuotaExceeded> {
        Meter {
            charges: self
                .charges
                .iter()
                .filter(|c| matches!(c.counter, Counter::Local(_)))
                .cloned()
                .collect(),
        }
        .check(now)
    }

    /// Events still admissible now (the smallest remainder over the plans; `u64::MAX` when
    /// unlimited).
    #[must_use]
    pub fn remaining(&self, now: Timestamp) -> u64 {
        self.charges
            .iter()
            .map(|c| c.counter.get().remaining(now))
            .min()
            .unwrap_or(u64::MAX)
    }
}

fn period_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: u64, secs: u64) -> Quota {
        Quota::new(n, Duration::from_secs(secs))
    }

    proptest::proptest! {
        #[test]
        fn divisor_agrees_with_division(d in 1u64..=u64::MAX, n in 0u64..=u64::MAX, small in 0u64..(1 << 45)) {
            let div = Divisor::new(d);
            proptest::prop_assert_eq!(div.div(n), n / d);
            proptest::prop_assert_eq!(div.div(small), small / d);
        }
    }

    #[test]
    fn divisor_is_exact_at_window_edges_for_common_periods() {
        for d in [
            1u64,
            3,
            7,
            1000,
            60_000,
            3_600_000,
            86_400_000,
            2_592_000_000,
            (1 << 40) + 1,
        ] {
            let div = Divisor::new(d);
            for k in [0u64, 1, 2, 20_000, 1 << 20, (1 << 62) / d] {
                for n in [k * d, (k * d).saturating_sub(1), k * d + 1] {
                    assert_eq!(div.div(n), n / d, "n={n} d={d}");
                }
            }
        }
    }

    #[test]
    fn window_resets_at_the_epoch_aligned_boundary() {
        let w = AtomicWindow::new(q(1, 10));
        assert!(w.try_take(Timestamp::from_unix_millis(19_999)).is_ok());
        assert_eq!(
            w.try_take(Timestamp::from_unix_millis(19_999)),
            Err(TakeError::Exhausted(Exhausted {
                resets_at: Timestamp::from_unix_secs(20)
            }))
        );
        assert!(w.try_take(Timestamp::from_unix_secs(20)).is_ok());
    }

    #[test]
    fn give_back_only_affects_the_same_window() {
        let w = AtomicWindow::new(q(1, 10));
        let t = Timestamp::from_unix_secs(5);
        w.try_take(t).unwrap();
        w.give_back(Timestamp::from_unix_secs(15));
        assert_eq!(w.remaining(t), 0);
        w.give_back(t);
        assert_eq!(w.remaining(t), 1);
    }

    #[test]
    fn gauge_frees_its_slot_when_the_guard_drops() {
        let g: Arc<dyn Gauge> = Arc::new(AtomicGauge::new(1));
        let a = SlotGuard::acquire(Arc::clone(&g));
        assert!(a.is_some());
        assert!(SlotGuard::acquire(Arc::clone(&g)).is_none());
        drop(a);
        assert!(SlotGuard::acquire(g).is_some());
    }

    #[test]
    fn meter_rolls_back_earlier_charges_when_a_later_plan_refuses() {
        let sub: Arc<dyn WindowCounter> = Arc::new(AtomicWindow::new(q(10, 60)));
        let app: Arc<dyn WindowCounter> = Arc::new(AtomicWindow::new(q(1, 60)));
        let m = Meter::new(vec![
            (Arc::clone(&sub), QuotaScope::Subscription),
            (app, QuotaScope::Application),
        ]);
        let t = Timestamp::from_unix_secs(1);
        m.charge(t).unwrap();
        let Err(ChargeError::Exceeded(e)) = m.charge(t) else {
            panic!()
        };
        assert_eq!(e.scope, QuotaScope::Application);
        assert_eq!(e.code(), "900803");
        assert_eq!(sub.remaining(t), 9);
    }

    /// The first four charges live in the meter, any more in a `Vec`: a meter over six
    /// counters charges all six, refuses on the sixth, and rolls back the five before it.
    #[test]
    fn meter_past_its_inline_charges_charges_and_rolls_back_every_counter() {
        let counters: Vec<Arc<AtomicWindow>> = (0..6)
            .map(|i| Arc::new(AtomicWindow::new(q(if i == 5 { 2 } else { 10 }, 60))))
            .collect();
        let m = Meter::new(
            counters
                .iter()
                .map(|c| {
                    (
                        Arc::clone(c) as Arc<dyn WindowCounter>,
                        QuotaScope::Subscription,
                    )
                })
                .collect(),
        );
        let t = Timestamp::from_unix_secs(1);
        m.charge(t).unwrap();
        m.charge(t).unwrap();
        assert_eq!(m.remaining(t), 0, "the sixth counter is the tightest");
        assert!(matches!(m.charge(t), Err(ChargeError::Exceeded(_))));
        for (i, c) in counters.iter().enumerate() {
            let left = if i == 5 { 0 } else { 8 };
            assert_eq!(c.remaining(t), left, "counter {i}");
        }
        assert!(m.check(t).is_some());
    }

    #[test]
    fn sse_event_is_one_event_with_retry_until_reset() {
        let e = QuotaExceeded {
            scope: QuotaScope::Subscription,
            quota: q(5, 60),
            resets_at: Timestamp::from_unix_secs(120),
        };
        let frame = e.sse_event(Timestamp::from_unix_secs(100));
        // Read back with eventgate-sse's parser: one event, its type, its data, the retry.
        let mut p = eventgate_sse::Parser::new();
        p.feed(frame.as_bytes().clone());
        let items: Vec<_> = p.by_ref().map(Result::unwrap).collect();
        let [
            eventgate_sse::Item::Retry(retry),
            eventgate_sse::Item::Event(ev),
        ] = &items[..]
        else {
            panic!("{items:?}");
        };
        assert_eq!(*retry, Duration::from_secs(20));
        assert_eq!(ev.event_type(), "eventgate-error");
        assert_eq!(ev.data(), e.to_json());
        let s = std::str::from_utf8(frame.as_bytes()).unwrap();
        assert_eq!(
            s,
            format!(
                "retry: 20000\nevent: eventgate-error\ndata: {}\n\n",
                e.to_json()
            )
        );
        assert!(s.contains(r#""nextAccessTime":"1970-01-01T00:02:00.000Z""#));
        assert_eq!(e.retry_after(Timestamp::from_unix_millis(100_001)), 20);
    }

    #[test]
    fn in_process_store_shares_counters_by_key_and_quota() {
        let s = InProcessCounters::new();
        let t = Timestamp::from_unix_secs(1);
        let a = s.window("sub:app1:api", q(1, 60), t).unwrap();
        let b = s.window("sub:app1:api", q(1, 60), t).unwrap();
        a.try_take(t).unwrap();
        assert!(b.try_take(t).is_err());
        assert!(
            s.window("sub:app2:api", q(1, 60), t)
                .unwrap()
                .try_take(t)
                .is_ok()
        );
    }

    fn small_store() -> InProcessCounters {
        // 32 entries: one window and one gauge slot... per shard, 16 shards.
        InProcessCounters::builder()
            .max_entries(32)
            .build()
            .unwrap()
    }

    #[test]
    fn store_stays_bounded_under_many_keys_once_their_windows_expire() {
        let s = small_store();
        for round in 0..50u64 {
            let t = Timestamp::from_unix_secs(round * 60);
            for i in 0..200 {
                // Each key is charged once in its window, then its stream ends.
                match s.window(&format!("sub:app{round}-{i}:api"), q(5, 60), t) {
                    Ok(w) => w.try_take(t).unwrap(),
                    Err(StoreFull { max_entries }) => assert_eq!(max_entries, 32),
                }
                assert!(s.len() <= 32, "{} entries", s.len());
            }
        }
        // In a later window every counter of the last round is expired: all can go.
        let later = Timestamp::from_unix_secs(50 * 60);
        for i in 0..200 {
            s.window(&format!("fresh{i}"), q(5, 60), later).unwrap();
            assert!(s.len() <= 32);
        }
    }

    #[test]
    fn store_never_drops_a_window_with_a_count_in_it_or_held_by_a_stream() {
        let s = small_store();
        let t = Timestamp::from_unix_secs(10);
        // Counted in the current window, no stream holds it.
        s.window("active", q(3, 60), t)
            .unwrap()
            .try_take(t)
            .unwrap();
        // Held by a stream, nothing counted yet.
        let held = s.window("held", q(3, 60), t).unwrap();
        for i in 0..5000 {
            // Idle newcomers: charged nothing, dropped at the next sweep.
            let _ = s.window(&format!("idle{i}"), q(3, 60), t);
        }
        assert_eq!(s.window("active", q(3, 60), t).unwrap().remaining(t), 2);
        held.try_take(t).unwrap();
        assert_eq!(s.window("held", q(3, 60), t).unwrap().remaining(t), 2);
    }

    #[test]
    fn full_store_of_active_windows_refuses_a_new_key() {
        let s = small_store();
        let t = Timestamp::from_unix_secs(10);
        let mut refused = 0;
        for i in 0..1000 {
            match s.window(&format!("k{i}"), q(3, 60), t) {
                Ok(w) => w.try_take(t).unwrap(),
                Err(_) => refused += 1,
            }
        }
        assert!(s.len() <= 32);
        assert!(refused >= 1000 - 16, "{refused}");
        // Once the window is over, the same keys fit again.
        let next = Timestamp::from_unix_secs(70);
        assert!(s.window("k-next", q(3, 60), next).is_ok());
    }

    #[test]
    fn idle_gauges_are_dropped_and_held_ones_kept() {
        let s = small_store();
        let held = SlotGuard::acquire(s.gauge("g-held", 1).unwrap()).unwrap();
        let mut stored = 0;
        for i in 0..1000 {
            // Only the held gauge's shard is full for good.
            if s.gauge(&format!("g{i}"), 1).is_ok() {
                stored += 1;
            }
            assert!(s.len() <= 32);
        }
        assert!(stored > 900, "{stored}");
        assert!(SlotGuard::acquire(s.gauge("g-held", 1).unwrap()).is_none());
        drop(held);
    }
}
