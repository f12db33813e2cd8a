//! [`RedisBacklog`]: a [`SharedStore`] on Redis Streams (feature `redis`).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use eventgate_types::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Script, Value};

use crate::shared::{
    Appended, BacklogKey, Position, Record, Replayed, SharedStore, StoreError, StoreTail, Stored,
    fnv1a,
};

/// Default most events a channel's stream keeps ([`RedisSettings::maxlen`], approximately:
/// `MAXLEN ~`).
pub const DEFAULT_REDIS_MAXLEN: usize = 10_000;
/// Default time a channel's history stays in Redis after its last event
/// ([`RedisSettings::ttl`]).
pub const DEFAULT_REDIS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Settings of a [`RedisBacklog`].
///
/// ```
/// use eventgate_relay::RedisSettings;
/// use std::time::Duration;
///
/// let mut settings = RedisSettings::default();
/// settings.maxlen = 50_000;
/// settings.ttl = Duration::from_secs(3600);
/// assert_eq!(settings.prefix, "eventgate:backlog:");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisSettings {
    /// Prefix of every key. Default `eventgate:backlog:`.
    pub prefix: String,
    /// Events kept per channel, approximately (`XADD ... MAXLEN ~ n`; Redis trims whole
    /// blocks, so a few more may stay). Default [`DEFAULT_REDIS_MAXLEN`]. At least 1.
    pub maxlen: usize,
    /// Time a channel's keys live after its last append (`EXPIRE`, renewed on every
    /// append); an expired history is a new epoch. Default [`DEFAULT_REDIS_TTL`]; at least
    /// one second.
    pub ttl: Duration,
    /// Bound of one connection attempt. Default 1 s.
    pub connect_timeout: Duration,
    /// Bound of one command on the connection. Default 1 s.
    pub response_timeout: Duration,
}

impl Default for RedisSettings {
    fn default() -> RedisSettings {
        RedisSettings {
            prefix: "eventgate:backlog:".to_owned(),
            maxlen: DEFAULT_REDIS_MAXLEN,
            ttl: DEFAULT_REDIS_TTL,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
        }
    }
}

/// A backlog shared by several gateway nodes, on Redis Streams (modelled on Centrifugo's
/// Redis engine).
///
/// Per channel ([`BacklogKey`]), beside each other (one hash tag, so one Redis Cluster
/// slot):
/// - a stream `<prefix>{<hash>}:<key>:s` whose entry ids are the offsets (`<offset>-0`),
///   each holding the event's frame as received (field `f`), trimmed with `MAXLEN ~`;
/// - a hash `...:m` with the epoch (`epoch`, hex) and the last offset (`seq`);
/// - two hashes `...:d0` / `...:d1` mapping recent upstream ids to offsets (about two
///   `maxlen` windows), so that an event several nodes receive from their own upstream
///   connection is appended once and gets the same id on every node.
///
/// Every append renews the keys' TTL. Each call is one Lua script (`EVALSHA`, loaded again
/// by the client after a Redis restart): an append of a batch is one round trip and one
/// `XADD` per new event. A replay is one round trip too, `MULTI` / `HGET` of the epoch /
/// `XRANGE (offset offset COUNT n` / `EXEC` (not a script: Lua would copy every entry
/// into a table and back, three times slower for 10,000 events). When the stream
/// is missing although offsets were handed out (Redis restarted without persistence, the
/// keys expired) the next call starts a new random epoch, so ids of the old one are
/// unknown, never resumed into a gap.
///
/// The connection is redis's `ConnectionManager` (multiplexed, reconnects by itself).
///
/// For one upstream per channel across nodes
/// ([`RelayBuilder::shared_upstream`](crate::RelayBuilder::shared_upstream)) it also keeps
/// a lease per channel, `...:l` (the holder's name, `PX` the lease time; taken with `SET
/// ... NX PX` or renewed with `PEXPIRE` by its holder in one script, given back with a
/// compare-and-delete script), and a node that does not hold it follows the stream with
/// `XREAD BLOCK` on a connection of its own per channel ([`SharedStore::tail`]: a
/// blocking read would hold up every other call on the shared, multiplexed connection).
pub struct RedisBacklog {
    client: redis::Client,
    conn: ConnectionManager,
    settings: RedisSettings,
    head: Script,
    append: Script,
    lease: Script,
    release: Script,
}

impl fmt::Debug for RedisBacklog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBacklog")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Starts a new epoch when there is none, or when offsets were handed out and the stream
/// is gone (KEYS: stream, meta, dedup 0, dedup 1; ARGV[1]: an epoch candidate, ARGV[2]:
/// TTL seconds, ARGV[3]: "1" to force a new epoch). Leaves `epoch`, `seq` and `gen` set.
const ENSURE: &str = r"
local epoch = redis.call('HGET', KEYS[2], 'epoch')
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
if (not epoch) or ARGV[3] == '1' or (seq > 0 and redis.call('EXISTS', KEYS[1]) == 0) then
  epoch = ARGV[1]
  seq = 0
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'seq', 0, 'gen', 0)
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
";

const HEAD: &str = r"
return {epoch, seq}
";

/// ARGV[4]: maxlen; then pairs of (upstream id or '', frame).
const APPEND: &str = r"
local maxlen = tonumber(ARGV[4])
local gen = tonumber(redis.call('HGET', KEYS[2], 'gen') or '0')
local out = {epoch}
for i = 5, #ARGV, 2 do
  local upid = ARGV[i]
  local found = false
  if upid ~= '' then
    found = redis.call('HGET', KEYS[3], upid) or redis.call('HGET', KEYS[4], upid)
  end
  if found then
    out[#out + 1] = -tonumber(found)
  else
    seq = seq + 1
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, string.format('%d-0', seq), 'f', ARGV[i + 1])
    local g = math.floor(seq / maxlen) % 2
    if g ~= gen then
      -- A new window: forget the ids of the window before the last.
      redis.call('DEL', KEYS[3 + g])
      gen = g
    end
    if upid ~= '' then
      redis.call('HSET', KEYS[3 + g], upid, seq)
    end
    out[#out + 1] = seq
  end
end
redis.call('HSET', KEYS[2], 'seq', seq, 'gen', gen)
for k = 1, 4 do
  redis.call('EXPIRE', KEYS[k], ARGV[2])
end
return out
";

/// Takes the lease (KEYS[1]) for ARGV[1] for ARGV[2] ms when it is free, or renews it
/// when ARGV[1] holds it: 1; another holder has it: 0.
const LEASE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return 1
";

/// Deletes the lease (KEYS[1]) only if ARGV[1] holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

impl RedisBacklog {
    /// A backlog on the Redis at `url` (`redis://[user:password@]host:port[/db]`). The
    /// connection is made lazily and remade after failures, so a Redis that is down when
    /// the node starts is no error here: calls fail (and the relay serves live events)
    /// until it is reachable.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if `url` is not a Redis URL, or the settings are out of
    /// range (a zero `maxlen`, a TTL under one second).
    pub async fn connect(url: &str, settings: &RedisSettings) -> Result<RedisBacklog, StoreError> {
        if settings.maxlen == 0 || settings.ttl < Duration::from_secs(1) {
            return Err(StoreError::Unavailable(
                "redis backlog: maxlen must be at least 1 and the TTL at least 1 s".into(),
            ));
        }
        let client = redis::Client::open(url).map_err(|e| StoreError::Unavailable(e.into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        Ok(RedisBacklog {
            client,
            conn,
            settings: settings.clone(),
            head: Script::new(&format!("{ENSURE}{HEAD}")),
            append: Script::new(&format!("{ENSURE}{APPEND}")),
            lease: Script::new(LEASE),
            release: Script::new(RELEASE),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// The Redis keys of `key`'s history: stream, meta, and the two id windows.
    pub fn keys(&self, key: &BacklogKey) -> [String; 4] {
        let base = format!(
            "{}{{{:016x}}}:{}",
            self.settings.prefix,
            fnv1a(&[key.as_str().as_bytes()]),
            key.as_str()
        );
        [
            format!("{base}:s"),
            format!("{base}:m"),
            format!("{base}:d0"),
            format!("{base}:d1"),
        ]
    }

    /// The Redis key of `key`'s upstream lease (beside its history, in the same slot).
    pub fn lease_key(&self, key: &BacklogKey) -> String {
        format!(
            "{}{{{:016x}}}:{}:l",
            self.settings.prefix,
            fnv1a(&[key.as_str().as_bytes()]),
            key.as_str()
        )
    }

    fn ttl_secs(&self) -> u64 {
        self.settings.ttl.as_secs().max(1)
    }

    async fn ensure(&self, key: &BacklogKey, force: bool) -> Result<Position, StoreError> {
        let keys = self.keys(key);
        let mut inv = self.head.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(format!("{:x}", new_epoch()))
            .arg(self.ttl_secs())
            .arg(if force { "1" } else { "0" });
        let mut conn = self.conn.clone();
        let v: Value = inv.invoke_async(&mut conn).await.map_err(redis_error)?;
        let items = array(v)?;
        match items.as_slice() {
            [e, s] => Ok(Position {
                epoch: epoch_of(e)?,
                offset: u64::try_from(int(s)?).map_err(|_| protocol("negative offset"))?,
            }),
            _ => Err(protocol("head: two values expected")),
        }
    }
}

fn new_epoch() -> u64 {
    let mut b = [0u8; 8];
    let random = getrandom::getrandom(&mut b).is_ok();
    let mut e = u64::from_le_bytes(b);
    if !random {
        e = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
    }
    // 48 bits, not zero: 12 hex digits at most.
    (e & 0xFFFF_FFFF_FFFF).max(1)
}

fn redis_error(e: redis::RedisError) -> StoreError {
    if e.is_timeout() {
        StoreError::Timeout
    } else {
        StoreError::Unavailable(e.into())
    }
}

fn protocol(what: &str) -> StoreError {
    StoreError::Protocol(what.to_owned())
}

fn array(v: Value) -> Result<Vec<Value>, StoreError> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(protocol("an array expected")),
    }
}

fn int(v: &Value) -> Result<i64, StoreError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| protocol("an integer expected")),
        _ => Err(protocol("an integer expected")),
    }
}

fn epoch_of(v: &Value) -> Result<u64, StoreError> {
    let text = match v {
        Value::BulkString(b) => std::str::from_utf8(b).map_err(|_| protocol("epoch"))?,
        Value::SimpleString(s) => s.as_str(),
        _ => return Err(protocol("epoch: a string expected")),
    };
    if text.is_empty() || text.len() > 16 {
        return Err(protocol("epoch: 1 to 16 hex digits expected"));
    }
    u64::from_str_radix(text, 16).map_err(|_| protocol("epoch: hex expected"))
}

/// One `XRANGE` entry: `[id, [field, value, ...]]` with id `<offset>-0` and field `f`.
fn stored(v: Value) -> Result<Stored, StoreError> {
    let mut parts = array(v)?.into_iter();
    let (Some(Value::BulkString(id)), Some(fields)) = (parts.next(), parts.next()) else {
        return Err(protocol("stream entry"));
    };
    let offset = std::str::from_utf8(&id)
        .ok()
        .and_then(|s| s.strip_suffix("-0"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol("stream entry id"))?;
    let mut fields = array(fields)?.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if let (Value::BulkString(n), Value::BulkString(frame)) = (name, value)
            && n == b"f"
        {
            return Ok(Stored {
                offset,
                frame: Bytes::from(frame),
            });
        }
    }
    Err(protocol("stream entry without a frame"))
}

/// A [`StoreTail`] on a connection of its own: `XREAD COUNT n BLOCK ms STREAMS <stream>
/// <offset>-0` then `HGET <meta> epoch`, pipelined (one round trip; the epoch is read after
/// the entries, so entries of a newer epoch are never taken for the old one's).
struct RedisTail {
    conn: MultiplexedConnection,
    stream: String,
    meta: String,
}

/// The entries of an `XREAD` answer for one stream (nil when the block timed out).
fn xread_entries(v: Value) -> Result<Vec<Stored>, StoreError> {
    let streams = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|s| {
                let mut parts = array(s)?.into_iter();
                parts
                    .nth(1)
                    .ok_or_else(|| protocol("xread: stream entries"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
        _ => return Err(protocol("xread: an array expected")),
    };
    let mut out = Vec::new();
    for entries in streams {
        for e in array(entries)? {
            out.push(stored(e)?);
        }
    }
    Ok(out)
}

impl StoreTail for RedisTail {
    fn next<'a>(
        &'a mut self,
        after: Position,
        limit: usize,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Replayed, StoreError>> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.cmd("XREAD").arg("COUNT").arg(limit.max(1));
            if !wait.is_zero() {
                // BLOCK 0 would wait forever: at least 1 ms.
                pipe.arg("BLOCK")
                    .arg(wait.as_millis().clamp(1, u128::from(u32::MAX)) as u64);
            }
            pipe.arg("STREAMS")
                .arg(&self.stream)
                .arg(format!("{}-0", after.offset))
                .cmd("HGET")
                .arg(&self.meta)
                .arg("epoch");
            let (entries, epoch): (Value, Value) = pipe
                .query_async(&mut self.conn)
                .await
                .map_err(redis_error)?;
            if matches!(epoch, Value::Nil) || epoch_of(&epoch)? != after.epoch {
                return Ok(Replayed::Lost);
            }
            let events = xread_entries(entries)?;
            // Offsets of one epoch are contiguous: a first one further on was trimmed.
            if events
                .first()
                .is_some_and(|e| e.offset != after.offset.saturating_add(1))
            {
                return Ok(Replayed::Lost);
            }
            Ok(Replayed::Events(events))
        })
    }
}

impl SharedStore for RedisBacklog {
    fn head<'a>(&'a self, key: &'a BacklogKey) -> BoxFuture<'a, Result<Position, StoreError>> {
        Box::pin(self.ensure(key, false))
    }

    fn reset<'a>(&'a self, key: &'a BacklogKey) -> BoxFuture<'a, Result<Position, StoreError>> {
        Box::pin(self.ensure(key, true))
    }

    fn append<'a>(
        &'a self,
        key: &'a BacklogKey,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<Appended>, StoreError>> {
        Box::pin(async move {
            let keys = self.keys(key);
            let mut inv = self.append.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg(format!("{:x}", new_epoch()))
                .arg(self.ttl_secs())
                .arg("0")
                .arg(self.settings.maxlen);
            for r in records {
                // An event is the same one on every node when its upstream id and its bytes
                // are: a backend that restarts and numbers its events from 1 again sends new
                // events under old ids, which must not be taken for ones already appended.
                let dedup = r.upstream_id.as_ref().map_or_else(Vec::new, |id| {
                    let mut k = id.as_bytes().to_vec();
                    k.extend_from_slice(format!("\0{:016x}", fnv1a(&[&r.frame[..]])).as_bytes());
                    k
                });
                inv.arg(dedup).arg(&r.frame[..]);
            }
            let mut conn = self.conn.clone();
            let v: Value = inv.invoke_async(&mut conn).await.map_err(redis_error)?;
            let items = array(v)?;
            let Some((epoch, offsets)) = items.split_first() else {
                return Err(protocol("append: an epoch expected"));
            };
            let epoch = epoch_of(epoch)?;
            if offsets.len() != records.len() {
                return Err(protocol("append: one offset per record expected"));
            }
            offsets
                .iter()
                .map(|o| {
                    let n = int(o)?;
                    Ok(Appended {
                        position: Position {
                            epoch,
                            offset: n.unsigned_abs(),
                        },
                        fresh: n > 0,
                    })
                })
                .collect()
        })
    }

    fn replay<'a>(
        &'a self,
        key: &'a BacklogKey,
        after: Position,
        through: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Replayed, StoreError>> {
        Box::pin(async move {
            let keys = self.keys(key);
            let mut conn = self.conn.clone();
            let (epoch, entries): (Value, Value) = redis::pipe()
                .atomic()
                .cmd("HGET")
                .arg(&keys[1])
                .arg("epoch")
                .cmd("XRANGE")
                .arg(&keys[0])
                .arg(format!("({}-0", after.offset))
                .arg(format!("{through}-0"))
                .arg("COUNT")
                .arg(limit.max(1))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if matches!(epoch, Value::Nil) || epoch_of(&epoch)? != after.epoch {
                return Ok(Replayed::Lost);
            }
            Ok(Replayed::Events(
                array(entries)?
                    .into_iter()
                    .map(stored)
                    .collect::<Result<_, _>>()?,
            ))
        })
    }

    fn lease<'a>(
        &'a self,
        key: &'a BacklogKey,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut inv = self.lease.prepare_invoke();
            inv.key(self.lease_key(key))
                .arg(holder)
                .arg(ttl.as_millis().max(1) as u64);
            let mut conn = self.conn.clone();
            let v: Value = inv.invoke_async(&mut conn).await.map_err(redis_error)?;
            Ok(int(&v)? == 1)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a BacklogKey,
        holder: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut inv = self.release.prepare_invoke();
            inv.key(self.lease_key(key)).arg(holder);
            let mut conn = self.conn.clone();
            let _: Value = inv.invoke_async(&mut conn).await.map_err(redis_error)?;
            Ok(())
        })
    }

    fn tail<'a>(
        &'a self,
        key: &'a BacklogKey,
    ) -> BoxFuture<'a, Result<Box<dyn StoreTail>, StoreError>> {
        Box::pin(async move {
            // No response timeout of its own: a read blocks as long as its caller asks (the
            // relay bounds each call by the wait plus its shared timeout).
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.settings.connect_timeout))
                .set_response_timeout(None);
            let conn = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(redis_error)?;
            let [stream, meta, _, _] = self.keys(key);
            let tail: Box<dyn StoreTail> = Box::new(RedisTail { conn, stream, meta });
            Ok(tail)
        })
    }
}
