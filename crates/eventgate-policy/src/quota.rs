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
use std::time::Duration;

use crate::model::Quota;
use crate::time::Timestamp;

/// Counts what a window admitted; refused when the window is full.
///
/// Implementations must be exact: between two windows' resets, the number of successful
/// [`try_take`](Self::try_take) minus [`give_back`](Self::give_back) never exceeds the limit.
/// A Redis implementation keeps one key per window; to stay cheap per event it may lease
/// blocks of events from Redis into a local counter (never admitting beyond the lease).
pub trait WindowCounter: Send + Sync + fmt::Debug {
    /// Admit one event at `now`, or say when the window resets.
    ///
    /// # Errors
    /// [`Exhausted`] when the current window is full.
    fn try_take(&self, now: Timestamp) -> Result<(), Exhausted>;
    /// Return one event taken at `now` (a no-op once that window has passed).
    fn give_back(&self, now: Timestamp);
    /// Events still available in the window containing `now`.
    fn remaining(&self, now: Timestamp) -> u64;
    /// The quota this counter enforces.
    fn quota(&self) -> Quota;
}

/// A bounded gauge of concurrent holders (connection slots).
pub trait Gauge: Send + Sync + fmt::Debug {
    /// Take a slot if one is free.
    fn try_acquire(&self) -> bool;
    /// Free a slot taken by [`try_acquire`](Self::try_acquire).
    fn release(&self);
    /// Slots in use.
    fn in_use(&self) -> u32;
}

/// A window is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhausted {
    /// When the next window starts.
    pub resets_at: Timestamp,
}

/// Where counters and gauges live. Handles are looked up once per stream (in
/// [`Gate::authorize`](crate::Gate::authorize)); the per-event cost is the handle's own.
pub trait CounterStore: Send + Sync + fmt::Debug {
    /// The window counter named `key` for `quota`. The same key and quota give the same
    /// counter, shared by every stream.
    fn window(&self, key: &str, quota: Quota) -> Arc<dyn WindowCounter>;
    /// The same counter as [`window`](Self::window) when it is an in-process
    /// [`AtomicWindow`], so meters can charge it without dynamic dispatch. Default: `None`.
    fn local_window(&self, key: &str, quota: Quota) -> Option<Arc<AtomicWindow>> {
        let _ = (key, quota);
        None
    }
    /// The gauge named `key` with `max` slots.
    fn gauge(&self, key: &str, max: u32) -> Arc<dyn Gauge>;
}

const SHARDS: usize = 16;

/// Counters by name, then by parameters (a plan change gives a fresh counter). Looked up by
/// `&str`, so a hit allocates nothing.
type Shard<P, V> = RwLock<HashMap<String, Vec<(P, Arc<V>)>>>;

/// The in-process [`CounterStore`]: lock-free atomic counters, found through a sharded map
/// (the map is touched once per stream, never per event).
///
/// Memory grows with the number of distinct keys (one per subscription, application and
/// plan change); keys are bounded by the registry the gate holds.
#[derive(Debug, Default)]
pub struct InProcessCounters {
    windows: [Shard<Quota, AtomicWindow>; SHARDS],
    gauges: [Shard<u32, AtomicGauge>; SHARDS],
}

fn shard_of(key: &str) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    // Truncation is the point: any bits pick a shard.
    #[allow(clippy::cast_possible_truncation)]
    let i = h.finish() as usize;
    i % SHARDS
}

fn get_or_insert<P: PartialEq + Copy, V>(
    lock: &Shard<P, V>,
    key: &str,
    params: P,
    make: impl FnOnce() -> V,
) -> Arc<V> {
    if let Ok(g) = lock.read()
        && let Some((_, v)) = g
            .get(key)
            .and_then(|l| l.iter().find(|(p, _)| *p == params))
    {
        return Arc::clone(v);
    }
    let mut g = match lock.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let list = g.entry(key.to_owned()).or_default();
    if let Some((_, v)) = list.iter().find(|(p, _)| *p == params) {
        return Arc::clone(v);
    }
    let v = Arc::new(make());
    list.push((params, Arc::clone(&v)));
    v
}

impl InProcessCounters {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl CounterStore for InProcessCounters {
    fn local_window(&self, key: &str, quota: Quota) -> Option<Arc<AtomicWindow>> {
        Some(get_or_insert(
            &self.windows[shard_of(key)],
            key,
            quota,
            || AtomicWindow::new(quota),
        ))
    }

    fn window(&self, key: &str, quota: Quota) -> Arc<dyn WindowCounter> {
        let w: Arc<AtomicWindow> = get_or_insert(&self.windows[shard_of(key)], key, quota, || {
            AtomicWindow::new(quota)
        });
        w
    }

    fn gauge(&self, key: &str, max: u32) -> Arc<dyn Gauge> {
        let g: Arc<AtomicGauge> = get_or_insert(&self.gauges[shard_of(key)], key, max, || {
            AtomicGauge::new(max)
        });
        g
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
struct Divisor {
    d: u64,
    magic: u64,
    shift: u32,
    pow2: bool,
}

impl Divisor {
    fn new(d: u64) -> Self {
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
    fn div(self, n: u64) -> u64 {
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

    fn reset_of(&self, idx: u64) -> Timestamp {
        Timestamp::from_unix_millis(idx.saturating_add(1).saturating_mul(self.period.d))
    }
}

impl WindowCounter for AtomicWindow {
    #[inline]
    fn try_take(&self, now: Timestamp) -> Result<(), Exhausted> {
        self.take(now)
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

    /// The final SSE event the gateway sends before closing a stream whose quota ran out:
    ///
    /// ```text
    /// event: eventgate-error
    /// retry: <milliseconds until the reset>
    /// data: {"code":"900804","message":"Message throttled out","description":"...","nextAccessTime":"2027-01-16T00:00:00.000Z"}
    ///
    /// ```
    /// The `retry:` field makes a standard `EventSource` wait until the quota resets before
    /// reconnecting. The JSON is a single line (serde_json escapes control characters).
    #[must_use]
    pub fn sse_event(&self, now: Timestamp) -> String {
        format!(
            "event: eventgate-error\nretry: {}\ndata: {}\n\n",
            self.resets_at.saturating_since(now).as_millis(),
            self.to_json()
        )
    }
}

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

/// A counter a meter charges: the in-process one without dynamic dispatch, or any other.
#[derive(Debug, Clone)]
pub(crate) enum Counter {
    Local(Arc<AtomicWindow>),
    Shared(Arc<dyn WindowCounter>),
}

impl Counter {
    #[inline]
    fn try_take(&self, now: Timestamp) -> Result<(), Exhausted> {
        match self {
            Self::Local(w) => w.take(now),
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

/// The per-stream event meter: charge it once per delivered event.
///
/// `Send + Sync`, `&self` only: the relay may share it (`Arc<Meter>`) across tasks.
///
/// # Contract
/// [`charge`](Self::charge) returns `Ok` for exactly as many events as the plans admit in
/// the current window; the first `Err` means: do not deliver this event, send
/// [`QuotaExceeded::sse_event`], close the stream. A reconnect before the reset is refused at
/// connect time with 429 and `Retry-After`.
///
/// ```
/// use eventgate_policy::{Meter, Quota, Timestamp, QuotaScope, AtomicWindow};
/// use std::{sync::Arc, time::Duration};
/// let meter = Meter::new(vec![(
///     Arc::new(AtomicWindow::new(Quota::new(2, Duration::from_secs(60)))) as _,
///     QuotaScope::Subscription,
/// )]);
/// let now = Timestamp::from_unix_secs(120);
/// assert!(meter.charge(now).is_ok());
/// assert!(meter.charge(now).is_ok());
/// let e = meter.charge(now).unwrap_err();
/// assert_eq!(e.code(), "900804");
/// assert_eq!(e.resets_at, Timestamp::from_unix_secs(180));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Meter {
    charges: Vec<Charge>,
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

    /// Charge one delivered event at `now`.
    ///
    /// # Errors
    /// [`QuotaExceeded`] when any plan's window is full; nothing is charged then.
    #[inline]
    pub fn charge(&self, now: Timestamp) -> Result<(), QuotaExceeded> {
        for (i, c) in self.charges.iter().enumerate() {
            if let Err(e) = c.counter.try_take(now) {
                for done in self.charges.iter().take(i) {
                    done.counter.get().give_back(now);
                }
                return Err(QuotaExceeded {
                    scope: c.scope,
                    quota: c.counter.get().quota(),
                    resets_at: e.resets_at,
                });
            }
        }
        Ok(())
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
            Err(Exhausted {
                resets_at: Timestamp::from_unix_secs(20)
            })
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
        let e = m.charge(t).unwrap_err();
        assert_eq!(e.scope, QuotaScope::Application);
        assert_eq!(e.code(), "900803");
        assert_eq!(sub.remaining(t), 9);
    }

    #[test]
    fn sse_event_is_one_event_with_retry_until_reset() {
        let e = QuotaExceeded {
            scope: QuotaScope::Subscription,
            quota: q(5, 60),
            resets_at: Timestamp::from_unix_secs(120),
        };
        let s = e.sse_event(Timestamp::from_unix_secs(100));
        assert!(s.starts_with("event: eventgate-error\nretry: 20000\ndata: {"));
        assert!(s.ends_with("}\n\n"));
        assert_eq!(s.matches('\n').count(), 4);
        assert!(s.contains(r#""nextAccessTime":"1970-01-01T00:02:00.000Z""#));
        assert_eq!(e.retry_after(Timestamp::from_unix_millis(100_001)), 20);
    }

    #[test]
    fn in_process_store_shares_counters_by_key_and_quota() {
        let s = InProcessCounters::new();
        let a = s.window("sub:app1:api", q(1, 60));
        let b = s.window("sub:app1:api", q(1, 60));
        let t = Timestamp::from_unix_secs(1);
        a.try_take(t).unwrap();
        assert!(b.try_take(t).is_err());
        assert!(s.window("sub:app2:api", q(1, 60)).try_take(t).is_ok());
    }
}
