//! Quotas and connection limits shared between gateway nodes through Redis (feature `redis`).
//!
//! [`RedisCounters`] is a [`CounterStore`]: plug it with
//! [`GateBuilder::counters`](crate::GateBuilder::counters) on every node and authorize
//! with [`Gate::authorize_async_with`](crate::Gate::authorize_async_with) /
//! [`Gate::admit_anonymous_async`](crate::Gate::admit_anonymous_async).
//!
//! # Window quotas: leased blocks, exact
//! Redis holds one integer per counter and window, `<prefix>q:<key>:<events>:<period
//! ms>:<window index>`: the events handed out to nodes in that window. A node leases a
//! block of events with one Lua script (take at most `limit - used`, set the key's expiry
//! at the window's end plus a minute with `PEXPIREAT ... NX`) and charges streams locally
//! from it, lock-free, at in-process speed; when half a block is left it leases the next in
//! the background, so Redis sees one call per block, never per event. A charge in the last
//! quarter of a window (at most its last 2 s) leases a block of the next window ahead, so
//! streams do not wait when it starts. When the last stream
//! of a counter on the node ends, the node gives the unused part back (`DECRBY`, in a
//! script that never goes below zero). Since no node charges an event it has not leased,
//! the nodes together never admit more than the plan.
//!
//! The block is `limit / 16` events, between 1 and 1 000 (see
//! [`RedisCountersBuilder::max_block`] and [`RedisCountersBuilder::block_divisor`]): a
//! 50 000-a-day plan costs Redis one call per 1 000 events.
//!
//! A node that dies without giving its block back (crash, `kill -9`) cannot say how many
//! of its leased events it delivered; counting them as unused could deliver them twice, so
//! they stay counted until the window ends: the plan is never exceeded, and at most one
//! block per counter per dead node is lost for the rest of that window.
//!
//! # Connection limits: expiring slot leases
//! Each connection limit is a sorted set `<prefix>c:<key>` of slot holders
//! (`<node>:<n>`) scored by expiry (Redis' own clock, `TIME`). Taking a slot drops the
//! expired holders, counts the rest and adds one if there is room, in one script; the node
//! renews the slots it holds every third of [`RedisCountersBuilder::slot_ttl`] (default 30
//! s) and removes a slot when its stream ends. A node that dies stops renewing: its slots
//! come back within the lease time.
//!
//! # When Redis fails
//! A store call that fails or outlasts [`RedisCountersBuilder::response_timeout`]
//! (default 2 s) is [`StoreUnavailable`]: new streams are refused with 900900 (HTTP 500);
//! open streams go on with the events already leased, then end with
//! [`ChargeError::StoreUnavailable`](crate::ChargeError::StoreUnavailable)'s final event.
//! Slots held through an outage are added back at the next renewal.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use eventgate_types::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use crate::model::Quota;
use crate::quota::{
    CounterStore, Divisor, Exhausted, Gauge, StoreFull, StoreUnavailable, TakeError, WindowCounter,
};
use crate::time::Timestamp;

/// Default largest block of events a node leases at once: 1 000.
pub const DEFAULT_MAX_BLOCK: u64 = 1000;
/// Default share of a plan leased at once: `limit / 16`.
pub const DEFAULT_BLOCK_DIVISOR: u64 = 16;
/// Default lifetime of a connection slot lease: 30 s (renewed every 10 s).
pub const DEFAULT_SLOT_TTL: Duration = Duration::from_secs(30);
/// Default longest wait for a Redis reply: 2 s.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default key prefix: `eventgate:`.
pub const DEFAULT_PREFIX: &str = "eventgate:";
/// Default limit of counters and gauges a node holds handles for at once: 262 144.
pub const DEFAULT_MAX_ENTRIES: usize = 1 << 18;

/// How long after its window ends a window key stays in Redis: nodes whose clocks are a
/// little behind still find the count.
const WINDOW_KEY_GRACE_MS: u64 = 60_000;
/// How long a "store unavailable" or "exhausted" answer is trusted before a new stream asks
/// again.
const RECHECK_MS: u64 = 1000;
/// A charge this close to its window's end (or a quarter of the window, if shorter) leases
/// a block for the next window, so streams do not wait when it starts.
const LOOKAHEAD_MS: u64 = 2000;

const LEASE: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
local grant = limit - used
if grant > tonumber(ARGV[2]) then grant = tonumber(ARGV[2]) end
if grant < 0 then grant = 0 end
if grant > 0 then
  redis.call('INCRBY', KEYS[1], grant)
  redis.call('PEXPIREAT', KEYS[1], ARGV[3], 'NX')
end
return {grant, limit - used - grant}
";

const GIVE_BACK: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if n > used then n = used end
if n > 0 then redis.call('DECRBY', KEYS[1], n) end
return n
";

const SLOT_TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
";

/// KEYS: slot sets; ARGV: ttl, then one member per key.
const SLOT_RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  redis.call('ZADD', k, now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', k, ttl * 2)
end
return #KEYS
";

/// Slots renewed per script call.
const RENEW_BATCH: usize = 512;

/// The reasons [`RedisCountersBuilder::build`] refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The URL is not a Redis URL the client accepts.
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// `build` was called outside a tokio runtime (the store spawns its lease refills and
    /// slot renewals there).
    #[error("RedisCounters::build must run inside a tokio runtime")]
    NoRuntime,
    /// A setting is out of range.
    #[error("{setting}: {reason}")]
    Limit {
        /// The builder method.
        setting: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Builds a [`RedisCounters`].
#[must_use]
#[derive(Clone, Debug)]
pub struct RedisCountersBuilder {
    url: String,
    prefix: String,
    max_block: u64,
    block_divisor: u64,
    slot_ttl: Duration,
    response_timeout: Duration,
    max_entries: usize,
}

impl RedisCountersBuilder {
    /// Key prefix shared by every node of one deployment. Default is [`DEFAULT_PREFIX`].
    pub fn prefix(&mut self, p: impl Into<String>) -> &mut Self {
        self.prefix = p.into();
        self
    }

    /// Largest block of events leased at once. Default is [`DEFAULT_MAX_BLOCK`]; at
    /// least 1. Larger blocks mean fewer Redis calls and more events a dead node strands.
    pub fn max_block(&mut self, n: u64) -> &mut Self {
        self.max_block = n;
        self
    }

    /// A block is at most `limit / divisor` events (and at least 1). Default is
    /// [`DEFAULT_BLOCK_DIVISOR`]; at least 1.
    pub fn block_divisor(&mut self, d: u64) -> &mut Self {
        self.block_divisor = d;
        self
    }

    /// Lifetime of a connection slot lease (renewed every third of it). Default is
    /// [`DEFAULT_SLOT_TTL`]; at least 300 ms.
    pub fn slot_ttl(&mut self, d: Duration) -> &mut Self {
        self.slot_ttl = d;
        self
    }

    /// Longest wait for one Redis reply before it counts as failed. Default is
    /// [`DEFAULT_RESPONSE_TIMEOUT`]; at least 1 ms.
    pub fn response_timeout(&mut self, d: Duration) -> &mut Self {
        self.response_timeout = d;
        self
    }

    /// Most counters and gauges with live handles on this node. Default is
    /// [`DEFAULT_MAX_ENTRIES`]; at least 1.
    pub fn max_entries(&mut self, n: usize) -> &mut Self {
        self.max_entries = n;
        self
    }

    /// Builds the store. Connects lazily (the first lease or slot); must run inside a
    /// tokio runtime, where it spawns the slot renewal task (it ends when the store is
    /// dropped).
    ///
    /// # Errors
    /// [`RedisConfigError`].
    pub fn build(&self) -> Result<RedisCounters, RedisConfigError> {
        let bad = |setting, reason| Err(RedisConfigError::Limit { setting, reason });
        if self.max_block == 0 {
            return bad("max_block", "must be at least 1");
        }
        if self.block_divisor == 0 {
            return bad("block_divisor", "must be at least 1");
        }
        if self.slot_ttl < Duration::from_millis(300) {
            return bad("slot_ttl", "shorter than 300 ms");
        }
        if self.response_timeout < Duration::from_millis(1) {
            return bad("response_timeout", "shorter than 1 ms");
        }
        if self.max_entries == 0 {
            return bad("max_entries", "must be at least 1");
        }
        let rt = tokio::runtime::Handle::try_current().map_err(|_| RedisConfigError::NoRuntime)?;
        let client =
            Client::open(self.url.as_str()).map_err(|e| RedisConfigError::Url(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RedisConfigError::Url(e.to_string()))?;
        let mut id = [0u8; 8];
        // A node id only has to differ between nodes; the clock backs up a failed getrandom.
        if getrandom::getrandom(&mut id).is_err() {
            id = u64::try_from(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
                    % u128::from(u64::MAX),
            )
            .unwrap_or_default()
            .to_le_bytes();
        }
        let inner = Arc::new(Inner {
            conn,
            node: id.iter().map(|b| format!("{b:02x}")).collect(),
            prefix: self.prefix.clone(),
            max_block: self.max_block,
            block_divisor: self.block_divisor,
            slot_ttl: self.slot_ttl,
            response_timeout: self.response_timeout,
            max_entries: self.max_entries,
            rt: rt.clone(),
            windows: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            next_slot: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            lease: Script::new(LEASE),
            give_back: Script::new(GIVE_BACK),
            slot_take: Script::new(SLOT_TAKE),
            slot_renew: Script::new(SLOT_RENEW),
        });
        rt.spawn(renew_slots(Arc::downgrade(&inner), self.slot_ttl / 3));
        Ok(RedisCounters { inner })
    }
}

/// Quota counters and connection gauges shared between nodes through one Redis (see the
/// [module documentation](self)).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use eventgate_policy::{Gate, redis::RedisCounters};
/// let counters = RedisCounters::builder("redis://127.0.0.1:6379/").build()?;
/// let gate = Gate::builder().counters(Arc::new(counters)).build()?;
/// // ... gate.authorize_async_with(&facts, now, timeout).await
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisCounters {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCounters")
            .field("node", &self.inner.node)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// A builder for the Redis at `url` (`redis://host:port/db`, `rediss://` needs the
    /// client's TLS feature), with the defaults each setter names.
    pub fn builder(url: impl Into<String>) -> RedisCountersBuilder {
        RedisCountersBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            max_block: DEFAULT_MAX_BLOCK,
            block_divisor: DEFAULT_BLOCK_DIVISOR,
            slot_ttl: DEFAULT_SLOT_TTL,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }

    /// Redis calls this node has made so far (leases, returns, slot takes, releases and
    /// renewals): divide by the events delivered for the calls per event.
    #[must_use]
    pub fn redis_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// This node's id in slot leases.
    #[must_use]
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }
}

struct Inner {
    conn: ConnectionManager,
    node: String,
    prefix: String,
    max_block: u64,
    block_divisor: u64,
    slot_ttl: Duration,
    response_timeout: Duration,
    max_entries: usize,
    rt: tokio::runtime::Handle,
    windows: Mutex<HashMap<(String, Quota), Weak<SharedWindow>>>,
    /// Slots held by this node's streams: member -> slot set key.
    slots: Mutex<HashMap<String, Arc<str>>>,
    next_slot: AtomicU64,
    calls: AtomicU64,
    lease: Script,
    give_back: Script,
    slot_take: Script,
    slot_renew: Script,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Inner {
    /// Runs one script invocation within the response timeout.
    async fn call<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreUnavailable> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.response_timeout, inv.invoke_async(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) | Err(_) => Err(StoreUnavailable),
        }
    }

    fn block_for(&self, limit: u64) -> u64 {
        (limit / self.block_divisor).clamp(1, self.max_block)
    }
}

/// Renews this node's slot leases every `every` until the store is dropped.
async fn renew_slots(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let held: Vec<(String, Arc<str>)> = lock(&inner.slots)
            .iter()
            .map(|(m, k)| (m.clone(), Arc::clone(k)))
            .collect();
        let ttl = u64::try_from(inner.slot_ttl.as_millis()).unwrap_or(u64::MAX);
        for chunk in held.chunks(RENEW_BATCH) {
            let mut inv = inner.slot_renew.prepare_invoke();
            inv.arg(ttl);
            for (member, key) in chunk {
                inv.key(&**key).arg(member.as_str());
            }
            // A failed renewal is retried at the next tick; the slots expire meanwhile.
            let _ = inner.call::<i64>(inv).await;
        }
    }
}

impl CounterStore for RedisCounters {
    fn window(
        &self,
        key: &str,
        quota: Quota,
        _now: Timestamp,
    ) -> Result<Arc<dyn WindowCounter>, StoreFull> {
        let inner = &self.inner;
        let mut map = lock(&inner.windows);
        let id = (key.to_owned(), quota);
        let shared = match map.get(&id).and_then(Weak::upgrade) {
            Some(w) => w,
            None => {
                if map.len() >= inner.max_entries {
                    map.retain(|_, w| w.strong_count() > 0);
                    if map.len() >= inner.max_entries {
                        return Err(StoreFull {
                            max_entries: inner.max_entries,
                        });
                    }
                }
                let period_ms = u64::try_from(quota.per.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let w = Arc::new(SharedWindow {
                    inner: Arc::clone(inner),
                    key_base: format!("{}q:{key}:{}:{period_ms}:", inner.prefix, quota.events),
                    quota,
                    limit: quota.events,
                    period_ms,
                    period: Divisor::new(period_ms),
                    block: inner.block_for(quota.events),
                    state: AtomicU64::new(NEVER << 32),
                    idx: AtomicU64::new(u64::MAX),
                    exhausted: AtomicU64::new(0),
                    exhausted_ms: AtomicU64::new(0),
                    down: AtomicU64::new(0),
                    refilling: AtomicBool::new(false),
                    next: AtomicU64::new(NEVER << 32),
                    next_idx: AtomicU64::new(u64::MAX),
                    prefetching: AtomicBool::new(false),
                    lookahead_ms: (period_ms / 4).min(LOOKAHEAD_MS),
                    holders: AtomicU64::new(0),
                    wakers: Mutex::new(Vec::new()),
                });
                map.insert(id, Arc::downgrade(&w));
                w
            }
        };
        drop(map);
        shared.holders.fetch_add(1, Ordering::AcqRel);
        Ok(Arc::new(WindowHandle { shared }))
    }

    fn gauge(&self, key: &str, max: u32) -> Result<Arc<dyn Gauge>, StoreFull> {
        let inner = &self.inner;
        let n = inner.next_slot.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(SlotHandle {
            inner: Arc::clone(inner),
            key: format!("{}c:{key}", inner.prefix).into(),
            member: format!("{}:{n}", inner.node),
            max,
            held: AtomicBool::new(false),
        }))
    }

    fn is_shared(&self) -> bool {
        true
    }
}

const NEVER: u64 = u32::MAX as u64;
const AVAIL: u64 = 0xFFFF_FFFF;

/// One counter's leased events on this node, shared by its streams.
struct SharedWindow {
    inner: Arc<Inner>,
    key_base: String,
    quota: Quota,
    limit: u64,
    period_ms: u64,
    /// Division by `period_ms` without a `div` (the in-process counter's).
    period: Divisor,
    block: u64,
    /// `(window index mod 2^32) << 32 | events at hand`.
    state: AtomicU64,
    /// The full window index the events at hand belong to.
    idx: AtomicU64,
    /// `window index + 1` in which Redis has nothing left (0: none known).
    exhausted: AtomicU64,
    /// Wall-clock ms when `exhausted` was learnt.
    exhausted_ms: AtomicU64,
    /// Wall-clock ms of the last failed lease (0: none since the last success).
    down: AtomicU64,
    refilling: AtomicBool,
    /// `(window index mod 2^32) << 32 | events` leased ahead for the window after the
    /// current one, taken over when it starts.
    next: AtomicU64,
    /// The full window index of `next` (`u64::MAX`: none).
    next_idx: AtomicU64,
    prefetching: AtomicBool,
    /// How long before its window ends a charge leases for the next window.
    lookahead_ms: u64,
    /// Streams holding a handle.
    holders: AtomicU64,
    wakers: Mutex<Vec<Waker>>,
}

impl SharedWindow {
    /// The window `now` falls in, or the newest window this node has leased for if that is
    /// later: a caller holding a slightly older `now` than another (around a boundary)
    /// charges the newer window, as the in-process counter does, instead of leasing for a
    /// window that is over.
    #[inline]
    fn window(&self, now: Timestamp) -> u64 {
        let idx = self.period.div(now.as_unix_millis());
        let newest = self.idx.load(Ordering::Relaxed);
        if newest != u64::MAX && newest > idx {
            newest
        } else {
            idx
        }
    }

    fn tag(idx: u64) -> u64 {
        let t = idx & AVAIL;
        if t == NEVER { 0 } else { t }
    }

    fn reset_of(&self, idx: u64) -> Timestamp {
        Timestamp::from_unix_millis(idx.saturating_add(1).saturating_mul(self.period_ms))
    }

    fn at_hand(&self, idx: u64) -> u64 {
        let cur = self.state.load(Ordering::Acquire);
        if cur >> 32 == Self::tag(idx) {
            cur & AVAIL
        } else {
            0
        }
    }

    /// Redis has no event left in window `idx` (as learnt by the last lease).
    fn is_exhausted(&self, idx: u64) -> bool {
        self.exhausted.load(Ordering::Acquire) == idx.wrapping_add(1)
    }

    fn take(self: &Arc<Self>, now: Timestamp) -> Result<(), TakeError> {
        let idx = self.window(now);
        if self.take_at_hand(idx, now) {
            return Ok(());
        }
        if (self.promote(idx) || self.at_hand(idx) > 0) && self.take_at_hand(idx, now) {
            return Ok(());
        }
        if self.is_exhausted(idx) {
            return Err(TakeError::Exhausted(Exhausted {
                resets_at: self.reset_of(idx),
            }));
        }
        if self.down.load(Ordering::Acquire) != 0 {
            return Err(TakeError::StoreUnavailable(StoreUnavailable));
        }
        self.start_refill(idx);
        Err(TakeError::Pending)
    }

    /// Takes one event at hand for window `idx`; starts the refills it calls for.
    #[inline]
    fn take_at_hand(self: &Arc<Self>, idx: u64, now: Timestamp) -> bool {
        let tag = Self::tag(idx);
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur >> 32 == tag && cur & AVAIL > 0 {
            match self.state.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if (cur & AVAIL) - 1 <= self.block / 2 && !self.is_exhausted(idx) {
                        self.start_refill(idx);
                    }
                    if self
                        .reset_of(idx)
                        .as_unix_millis()
                        .saturating_sub(now.as_unix_millis())
                        <= self.lookahead_ms
                    {
                        self.start_prefetch(idx.saturating_add(1));
                    }
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// Moves the events leased ahead for window `idx` to those at hand.
    fn promote(&self, idx: u64) -> bool {
        if self.next_idx.load(Ordering::Acquire) != idx {
            return false;
        }
        let n = self.next.swap(NEVER << 32, Ordering::AcqRel);
        if n >> 32 != Self::tag(idx) || n & AVAIL == 0 {
            return false;
        }
        self.add(idx, n & AVAIL);
        true
    }

    fn start_prefetch(self: &Arc<Self>, next: u64) {
        if self.next_idx.load(Ordering::Acquire) == next
            || self.prefetching.load(Ordering::Relaxed)
            || self
                .prefetching
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let this = Arc::clone(self);
        self.inner
            .rt
            .spawn(async move { this.prefetch(next).await });
    }

    /// Leases a block for window `next` ahead of its start (failures are left to the
    /// refill when the window starts).
    async fn prefetch(self: Arc<Self>, next: u64) {
        if self.next_idx.load(Ordering::Acquire) != next {
            let mut inv = self.inner.lease.prepare_invoke();
            inv.key(format!("{}{next}", self.key_base))
                .arg(self.limit)
                .arg(self.block)
                .arg(
                    self.reset_of(next)
                        .as_unix_millis()
                        .saturating_add(WINDOW_KEY_GRACE_MS),
                );
            if let Ok((grant, _)) = self.inner.call::<(i64, i64)>(inv).await
                && grant > 0
            {
                let grant = grant.cast_unsigned().min(AVAIL);
                self.next
                    .store((Self::tag(next) << 32) | grant, Ordering::Release);
                self.next_idx.store(next, Ordering::Release);
            }
        }
        self.prefetching.store(false, Ordering::SeqCst);
        if self.holders.load(Ordering::SeqCst) == 0 {
            self.return_unused().await;
        }
    }

    fn give_back_one(&self, now: Timestamp) {
        let tag = Self::tag(self.window(now));
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur >> 32 == tag && cur & AVAIL < AVAIL {
            match self.state.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    fn poll_ready(
        self: &Arc<Self>,
        cx: &mut Context<'_>,
        now: Timestamp,
    ) -> Poll<Result<(), TakeError>> {
        let idx = self.window(now);
        let ms = now.as_unix_millis();
        self.promote(idx);
        let mut wakers = lock(&self.wakers);
        if self.at_hand(idx) > 0 {
            return Poll::Ready(Ok(()));
        }
        let refilling = self.refilling.load(Ordering::Acquire);
        if !refilling {
            // Trust a recent answer; ask again once it is a second old.
            if self.is_exhausted(idx)
                && ms.saturating_sub(self.exhausted_ms.load(Ordering::Acquire)) < RECHECK_MS
            {
                return Poll::Ready(Err(TakeError::Exhausted(Exhausted {
                    resets_at: self.reset_of(idx),
                })));
            }
            let down = self.down.load(Ordering::Acquire);
            if down != 0 && ms.saturating_sub(down) < RECHECK_MS {
                return Poll::Ready(Err(TakeError::StoreUnavailable(StoreUnavailable)));
            }
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        drop(wakers);
        self.start_refill_at(idx, ms, true);
        Poll::Pending
    }

    #[inline]
    fn start_refill(self: &Arc<Self>, idx: u64) {
        // Checked before reading the clock: chargers below half a block come here per event
        // while the lease is under way.
        if self.refilling.load(Ordering::Relaxed) {
            return;
        }
        self.start_refill_at(idx, now_ms(), false);
    }

    /// Leases the next block for window `idx` in the background unless a lease is under
    /// way. `fresh`: ask even though the last answer was "exhausted" or "unavailable".
    fn start_refill_at(self: &Arc<Self>, idx: u64, ms: u64, fresh: bool) {
        if !fresh && (self.is_exhausted(idx) || self.down.load(Ordering::Acquire) != 0) {
            return;
        }
        // A load first: chargers below half a block call this per event until the lease
        // lands, and a failed compare-exchange would take the cache line each time.
        if self.refilling.load(Ordering::Relaxed)
            || self
                .refilling
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let this = Arc::clone(self);
        self.inner
            .rt
            .spawn(async move { this.refill(idx, ms).await });
    }

    async fn refill(self: Arc<Self>, idx: u64, ms: u64) {
        let end = self.reset_of(idx).as_unix_millis();
        let mut inv = self.inner.lease.prepare_invoke();
        inv.key(format!("{}{idx}", self.key_base))
            .arg(self.limit)
            .arg(self.block)
            .arg(end.saturating_add(WINDOW_KEY_GRACE_MS));
        let answer: Result<(i64, i64), _> = self.inner.call(inv).await;
        match answer {
            Ok((grant, left)) => {
                let (grant, left) = (grant.max(0).cast_unsigned(), left.max(0));
                self.down.store(0, Ordering::Release);
                if left == 0 {
                    self.exhausted_ms.store(ms, Ordering::Release);
                    self.exhausted.store(idx.wrapping_add(1), Ordering::Release);
                } else if self.is_exhausted(idx) {
                    self.exhausted.store(0, Ordering::Release);
                }
                if grant > 0 {
                    self.add(idx, grant);
                }
            }
            Err(StoreUnavailable) => self.down.store(ms.max(1), Ordering::Release),
        }
        // SeqCst with the handle's drop: one of the two sees the other and returns.
        self.refilling.store(false, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for w in wakers {
            w.wake();
        }
        if self.holders.load(Ordering::SeqCst) == 0 {
            self.return_unused().await;
        }
    }

    /// Adds `n` leased events of window `idx` to those at hand (dropping what is left of an
    /// older window: its key expires in Redis).
    fn add(&self, idx: u64, n: u64) {
        let tag = Self::tag(idx);
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let cur_tag = cur >> 32;
            let cur_idx = self.idx.load(Ordering::Acquire);
            let next = if cur_tag == tag {
                (tag << 32) | ((cur & AVAIL) + n).min(AVAIL)
            } else if cur_idx == u64::MAX || cur_idx < idx {
                (tag << 32) | n.min(AVAIL)
            } else {
                // The lease came back after its window ended.
                return;
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.idx.store(idx, Ordering::Release);
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives the events at hand, and those leased ahead, back to Redis (the last stream on
    /// this node ended).
    async fn return_unused(&self) {
        let idx = self.idx.load(Ordering::Acquire);
        if idx != u64::MAX {
            let tag = Self::tag(idx);
            let mut cur = self.state.load(Ordering::Relaxed);
            while cur >> 32 == tag && cur & AVAIL > 0 {
                match self.state.compare_exchange_weak(
                    cur,
                    tag << 32,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        self.give_back_to_redis(idx, cur & AVAIL).await;
                        break;
                    }
                    Err(actual) => cur = actual,
                }
            }
        }
        let next_idx = self.next_idx.load(Ordering::Acquire);
        let n = self.next.swap(NEVER << 32, Ordering::AcqRel);
        if next_idx != u64::MAX && n >> 32 == Self::tag(next_idx) && n & AVAIL > 0 {
            self.give_back_to_redis(next_idx, n & AVAIL).await;
        }
    }

    async fn give_back_to_redis(&self, idx: u64, n: u64) {
        if self.reset_of(idx).as_unix_millis() <= now_ms() {
            return;
        }
        let mut inv = self.inner.give_back.prepare_invoke();
        inv.key(format!("{}{idx}", self.key_base)).arg(n);
        // A return that fails leaves the events counted: the plan is never exceeded.
        let _ = self.inner.call::<u64>(inv).await;
    }
}

fn now_ms() -> u64 {
    Timestamp::from(SystemTime::now()).as_unix_millis()
}

/// A stream's handle on a [`SharedWindow`]; the last one dropped gives the unused events
/// back.
struct WindowHandle {
    shared: Arc<SharedWindow>,
}

impl fmt::Debug for WindowHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisWindow")
            .field("key", &self.shared.key_base)
            .field("quota", &self.shared.quota)
            .finish_non_exhaustive()
    }
}

impl WindowCounter for WindowHandle {
    #[inline]
    fn try_take(&self, now: Timestamp) -> Result<(), TakeError> {
        self.shared.take(now)
    }

    fn give_back(&self, now: Timestamp) {
        self.shared.give_back_one(now);
    }

    fn remaining(&self, now: Timestamp) -> u64 {
        let idx = self.shared.window(now);
        let ahead = if self.shared.next_idx.load(Ordering::Acquire) == idx {
            self.shared.next.load(Ordering::Acquire)
        } else {
            NEVER << 32
        };
        let ahead = if ahead >> 32 == SharedWindow::tag(idx) {
            ahead & AVAIL
        } else {
            0
        };
        self.shared.at_hand(idx) + ahead
    }

    fn quota(&self) -> Quota {
        self.shared.quota
    }

    fn poll_ready(&self, cx: &mut Context<'_>, now: Timestamp) -> Poll<Result<(), TakeError>> {
        self.shared.poll_ready(cx, now)
    }
}

impl Drop for WindowHandle {
    fn drop(&mut self) {
        if self.shared.holders.fetch_sub(1, Ordering::SeqCst) == 1
            && !self.shared.refilling.load(Ordering::SeqCst)
            && !self.shared.prefetching.load(Ordering::SeqCst)
        {
            let shared = Arc::clone(&self.shared);
            self.shared
                .inner
                .rt
                .spawn(async move { shared.return_unused().await });
        }
    }
}

/// One stream's connection slot in a shared limit.
struct SlotHandle {
    inner: Arc<Inner>,
    key: Arc<str>,
    member: String,
    max: u32,
    held: AtomicBool,
}

impl fmt::Debug for SlotHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSlot")
            .field("key", &self.key)
            .field("member", &self.member)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Gauge for SlotHandle {
    fn try_acquire(&self) -> bool {
        // A shared slot needs a store call: see `acquire`.
        false
    }

    fn release(&self) {
        if !self.held.swap(false, Ordering::AcqRel) {
            return;
        }
        lock(&self.inner.slots).remove(&self.member);
        let inner = Arc::clone(&self.inner);
        let key = Arc::clone(&self.key);
        let member = self.member.clone();
        self.inner.rt.spawn(async move {
            inner.calls.fetch_add(1, Ordering::Relaxed);
            let mut conn = inner.conn.clone();
            // A failed removal leaves the slot to expire within the lease time.
            let _ = tokio::time::timeout(
                inner.response_timeout,
                redis::cmd("ZREM")
                    .arg(&*key)
                    .arg(&member)
                    .query_async::<i64>(&mut conn),
            )
            .await;
        });
    }

    fn in_use(&self) -> u32 {
        u32::from(self.held.load(Ordering::Acquire))
    }

    fn acquire(&self) -> BoxFuture<'_, Result<bool, StoreUnavailable>> {
        Box::pin(async move {
            if self.held.load(Ordering::Acquire) {
                return Ok(false);
            }
            let ttl = u64::try_from(self.inner.slot_ttl.as_millis()).unwrap_or(u64::MAX);
            let mut inv = self.inner.slot_take.prepare_invoke();
            inv.key(&*self.key)
                .arg(self.max)
                .arg(ttl)
                .arg(self.member.as_str());
            let taken: i64 = self.inner.call(inv).await?;
            if taken == 1 {
                self.held.store(true, Ordering::Release);
                lock(&self.inner.slots).insert(self.member.clone(), Arc::clone(&self.key));
            }
            Ok(taken == 1)
        })
    }
}
